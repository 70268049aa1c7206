"""``--env-manager`` for ``mlnb models serve|predict|prepare-env``, and ``mlnb models env``.

``local`` runs the model in the current Python environment. ``uv`` and ``virtualenv`` restore the
model's own environment (its Python version and requirements.txt) into mlnb's cache and run the
same command again there, with mlnb's code on the path. Without the flag, the model's environment
is restored with uv (virtualenv when uv is not installed) unless the current environment already
meets its requirements (see :mod:`mlnb.environments.choice`). ``conda`` is MLflow's choice mlnb
does not offer. The flags that only make sense in a restored environment (--install-mlflow,
--pip-requirements-override, --env) are refused with ``local`` instead of being ignored.
"""

from __future__ import annotations

import os
import re
import sys

import click

from mlnb.commands.output import fail, one_line_errors

ENV_MANAGERS = ("local", "virtualenv", "uv", "conda")
_ENV_PARAMS = {"env_manager", "install_mlflow", "pip_requirements_override", "extra_envs", "allow_python_mismatch"}


def _key_value(ctx, param, values: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for value in values:
        if "=" not in value:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", ctx=ctx, param=param)
        key, _, val = value.partition("=")
        pairs[key] = val
    return pairs


def environment_options(overrides: bool = True):
    """MLflow's flags for the environment a model runs in: --env-manager, --install-mlflow and
    mlnb's --allow-python-mismatch, and with ``overrides`` (as ``models predict`` has them)
    -r/--pip-requirements-override and --env KEY=VALUE. The command passes their values to
    ``enter_environment``."""
    options = [
        click.option("--env-manager", default=None, type=click.Choice(ENV_MANAGERS),
                     help="Environment to run the model in: local (the current one), or the model's own "
                          "Python and requirements restored with uv or virtualenv (venv + pip) into mlnb's cache. "
                          "Default: restore with uv (virtualenv without uv), or local when the current "
                          "environment already meets the model's requirements."),
        click.option("--install-mlflow", is_flag=True, default=False,
                     help="Also install MLflow into a restored environment (not available with local)."),
        click.option("--allow-python-mismatch", is_flag=True, default=False,
                     help="When no interpreter of the model's Python version is installed, restore the "
                          "environment with this Python (with a warning) instead of failing."),
    ]
    if overrides:
        options += [
            click.option("-r", "--pip-requirements-override", default=None,
                         help="Comma-separated requirements (x==y,z==a) to install into a restored environment "
                              "(not available with local)."),
            click.option("--env", "extra_envs", multiple=True, callback=_key_value, metavar="KEY=VALUE",
                         help="Environment variables for a restored environment (not available with local)."),
        ]

    def decorate(command):
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def check_environment(env_manager: str | None = None, install_mlflow: bool = False,
                      pip_requirements_override: str | None = None, extra_envs: dict | None = None,
                      allow_python_mismatch: bool = False) -> None:
    """Exit with one line unless the options make sense: conda is not offered, and the flags that
    change a restored environment need one."""
    if env_manager == "conda":
        fail("--env-manager conda is not available: mlnb restores environments with uv or virtualenv "
             "(venv + pip). Use --env-manager uv (or virtualenv, or local for the current environment).")
    if env_manager != "local":
        return
    for flag, given in (("--install-mlflow", install_mlflow), ("--pip-requirements-override", pip_requirements_override),
                        ("--env", extra_envs)):
        if given:
            fail(f"{flag} needs a restored environment (--env-manager uv or virtualenv); with --env-manager local "
                 f"install into (or set in) the current environment instead.")


def needs_restore(install_mlflow: bool = False, pip_requirements_override: str | None = None,
                  extra_envs: dict | None = None, **_: object) -> bool:
    """True when the options change a restored environment, so the default cannot be local."""
    return bool(install_mlflow or pip_requirements_override or extra_envs)


def choose_manager(model_path: str, **environment) -> str:
    """The manager the command runs the model with: --env-manager when given, else the default
    (restore, unless the current environment meets the model's requirements)."""
    from mlnb.environments import choose

    return choose(model_path, environment.get("env_manager"), restore_only=needs_restore(**environment),
                  log=lambda line: click.echo(line, err=True))


def restore(model_path: str, env_manager: str, install_mlflow: bool = False,
            pip_requirements_override: str | None = None, allow_python_mismatch: bool = False, **_: object):
    """The model's restored environment (built now unless cached), or exit with one line saying why not."""
    from mlnb.environments import prepare
    from mlnb.errors import MlnbError

    extra = [r.strip() for r in (pip_requirements_override or "").split(",") if r.strip()]
    try:
        return prepare(model_path, env_manager, allow_python_mismatch=allow_python_mismatch,
                       extra_requirements=extra, install_mlflow=install_mlflow)
    except MlnbError as exc:
        fail(str(exc))


def enter_environment(model_uri: str, **environment) -> None:
    """Return when the running command should go on here (``--env-manager local``, or the default
    when the current environment meets the model's requirements). Otherwise restore the model's
    environment and replace this process with the same command run there (with the model's local
    path and ``--env-manager local``); it never returns."""
    check_environment(**environment)
    if environment.get("env_manager") == "local":
        return
    from mlnb.models.uri import local_path

    try:
        path = str(local_path(model_uri))
    except Exception as exc:  # any failure to find the model is reported the same way
        fail(f"could not load the model at '{model_uri}': {exc}")
    environment["env_manager"] = choose_manager(path, **environment)
    if environment["env_manager"] == "local":
        return
    env = restore(path, **environment)
    ctx = click.get_current_context()
    names, node = [], ctx
    while node.parent is not None:  # the subcommand path below ``mlnb``: ["models", "serve"]
        names.insert(0, node.info_name)
        node = node.parent
    args = [*names, *_same_options(ctx, {"model_uri": path}), "--env-manager", "local"]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(str(env.python), env.mlnb_command(*args), env.environ(extra=environment.get("extra_envs") or {}))


def _same_options(ctx: click.Context, replace: dict) -> list[str]:
    """The command line that gives ``ctx``'s command the options it was given (environment ones left out)."""
    out: list[str] = []
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name in _ENV_PARAMS:
            continue
        value = replace.get(param.name, ctx.params.get(param.name))
        flag = max(param.opts, key=len)
        if param.is_flag:
            out += [flag] if value else []
        elif value is not None:
            out += [item for v in (value if param.multiple else [value]) for item in (flag, str(v))]
    return out


@click.command("prepare-env")
@click.option("-m", "--model-uri", required=True, help="Model URI or path.")
@environment_options(overrides=False)
@one_line_errors
def prepare_env(model_uri: str, **environment) -> None:
    """Prepare the environment a model runs in: with uv or virtualenv, build its cache entry now;
    with local, check the current environment against the model's requirements."""
    from mlnb.models.environment import check_versions, installed_version, read_requirements
    from mlnb.models.reading import read_model

    check_environment(**environment)
    path, mlmodel = read_model(model_uri, warn_versions=False)
    if environment["env_manager"] is None:
        environment["env_manager"] = choose_manager(str(path), **environment)
    if environment["env_manager"] != "local":
        env = restore(str(path), **environment)
        click.echo(f"The environment of '{model_uri}' is ready ({env.manager}, Python {env.spec.python}): {env.root}")
        return
    missing = [req for req in read_requirements(path)
               if not req.startswith("-") and installed_version(re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0]) is None]
    notes = check_versions(path, mlmodel.flavors)
    for req in missing:
        click.echo(f"Not installed: {req}", err=True)
    for note in notes:
        click.echo(f"Other version: {note}", err=True)
    if missing:
        fail(f"the current environment lacks {len(missing)} of the model's requirements; "
             f"install them with: pip install -r {path / 'requirements.txt'}")
    click.echo(f"The model at '{model_uri}' runs in the current environment (--env-manager local): "
               f"nothing to prepare{' (library versions differ, see above)' if notes else ''}.")


@click.command("env")
@click.option("-m", "--model-uri", default=None, help="Model URI or path: show what its environment installs.")
@click.option("--env-manager", default=None, type=click.Choice(["uv", "virtualenv"]),
              help="The manager that would build it (default: uv when installed, else virtualenv).")
@click.option("--prune", is_flag=True, default=False, help="Remove cached environments unused for --days days.")
@click.option("--days", default=30.0, show_default=True, type=click.FloatRange(min=0), help="Age for --prune.")
@one_line_errors
def env_command(model_uri: str | None, env_manager: str | None, prune: bool, days: float) -> None:
    """Show the cache of restored environments, what a model's environment would install, or prune the cache."""
    from mlnb import environments

    root = environments.cache_root()
    if prune:
        removed = environments.prune(days)
        for folder in removed:
            click.echo(f"Removed {folder}")
        click.echo(f"Pruned {len(removed)} entr{'y' if len(removed) == 1 else 'ies'} unused for {days:g} days "
                   f"from {root}.")
        return
    click.echo(f"Cache: {root}")
    if model_uri is None:
        for entry in environments.entries():
            state = "corrupt (rebuilt on next use)" if entry.get("corrupt") else (
                f"Python {entry.get('python')}, {len(entry.get('requirements', []))} requirements, {entry.get('manager')}")
            click.echo(f"{entry['key']}  {state}  {entry['path']}")
        return
    from mlnb.models.reading import read_model

    path, _ = read_model(model_uri, warn_versions=False)
    spec = environments.spec_of(path)
    entry = environments.entry_path(spec)
    built = (entry / "mlnb-environment.json").is_file()
    click.echo(f"Manager: {env_manager or environments.default_manager()}")
    click.echo(f"Python: {spec.python}")
    click.echo("Model requirements:" + "".join(f"\n  {r}" for r in spec.requirements) + ("" if spec.requirements else " none"))
    if spec.constraints:
        click.echo("Constraints:" + "".join(f"\n  {c}" for c in spec.constraints))
    click.echo("mlnb's runtime:" + "".join(f"\n  {r}" for r in spec.runtime))
    click.echo(f"Environment: {entry} ({'built' if built else 'not built yet: mlnb models prepare-env builds it'})")


def _docker_options(command):
    for option in reversed([
        click.option("-m", "--model-uri", default=None,
                     help="Model URI or path, copied into the image. Without it, the image serves the model "
                          "directory mounted at /opt/ml/model when the container starts."),
        click.option("--env-manager", default="virtualenv", show_default=True, type=click.Choice(["virtualenv", "uv"]),
                     help="Installer of the model's requirements: pip, or uv (faster). With a model they are "
                          "installed at build time; without one, when the container starts."),
        click.option("--install-mlflow", is_flag=True, default=False, help="Also install MLflow into the image."),
        click.option("--install-java", is_flag=True, default=None,
                     help="Install Java in the image (default: for Spark and H2O models)."),
        click.option("--base-image", default=None,
                     help="Base image with python and pip (default: python:<the model's version>-slim, "
                          "or this Python's without a model)."),
    ]):
        command = option(command)
    return command


@click.command("generate-dockerfile")
@_docker_options
@click.option("-d", "--output-directory", default="mlnb-dockerfile", show_default=True,
              help="Folder to write the Dockerfile and its build context into.")
@one_line_errors
def generate_dockerfile_command(model_uri: str | None, env_manager: str, install_mlflow: bool,
                                install_java: bool | None, base_image: str | None, output_directory: str) -> None:
    """Write a Dockerfile (and its context) that serves the model from its own environment, or without
    -m one that serves a model mounted at /opt/ml/model, restoring its environment when it starts."""
    from mlnb.environments.docker import generate_dockerfile

    dockerfile = generate_dockerfile(model_uri, output_directory, env_manager, install_mlflow, install_java,
                                     base_image)
    click.echo(f"Wrote {dockerfile}; build it with: docker build -t mlnb-pyfunc-servable {dockerfile.parent}")


@click.command("build-docker")
@_docker_options
@click.option("-n", "--name", default="mlnb-pyfunc-servable", show_default=True, help="Name of the image.")
@one_line_errors
def build_docker_command(model_uri: str | None, env_manager: str, install_mlflow: bool, install_java: bool | None,
                         base_image: str | None, name: str) -> None:
    """Build a container image that serves the model on port 8080 (docker run -p 5001:8080 NAME), or
    without -m one that serves a model mounted at /opt/ml/model (docker run -v /path/to/model:/opt/ml/model)."""
    from mlnb.environments.docker import MODEL_DIR, build_docker

    build_docker(model_uri, name, env_manager, install_java=install_java, install_mlflow=install_mlflow,
                 base_image=base_image)
    mount = "" if model_uri else f" -v /path/to/model:{MODEL_DIR}:ro"
    click.echo(f"Built the image '{name}'; run it with: docker run -p 5001:8080{mount} {name}")

"""``--env-manager`` for ``mlnb models predict|prepare-env``: MLflow's choices, and what mlnb does with them.

mlnb runs models in the current Python environment (``local``). Restoring a model's own
environment with virtualenv, uv or conda is not built yet; asking for it is refused with one line
instead of being ignored, and so are the flags that only make sense inside a restored
environment (--install-mlflow, --pip-requirements-override, --env).
"""

from __future__ import annotations

import re

import click

from mlnb.commands.output import fail, one_line_errors

ENV_MANAGERS = ("local", "virtualenv", "uv", "conda")

def _key_value(ctx, param, values: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for value in values:
        if "=" not in value:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", ctx=ctx, param=param)
        key, _, val = value.partition("=")
        pairs[key] = val
    return pairs


def environment_options(overrides: bool = True):
    """MLflow's flags for the environment a model runs in: --env-manager and --install-mlflow, and
    with ``overrides`` (as ``models predict`` has them) -r/--pip-requirements-override and
    --env KEY=VALUE. The command passes their values to ``check_environment``."""
    options = [
        click.option("--env-manager", default="local", show_default=True, type=click.Choice(ENV_MANAGERS),
                     help="Environment to run the model in. Only 'local' (the current environment) is available yet."),
        click.option("--install-mlflow", is_flag=True, default=False,
                     help="Also install MLflow into a restored environment (not available with local)."),
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


def check_environment(env_manager: str = "local", install_mlflow: bool = False,
                      pip_requirements_override: str | None = None, extra_envs: dict | None = None) -> None:
    """Exit with one line unless the model can run in the current environment as asked."""
    if env_manager != "local":
        fail(f"--env-manager {env_manager} is not available yet: mlnb runs models in the current "
             f"environment. Use --env-manager local, after installing the model's requirements.txt.")
    for flag, given in (("--install-mlflow", install_mlflow), ("--pip-requirements-override", pip_requirements_override),
                        ("--env", extra_envs)):
        if given:
            fail(f"{flag} needs a restored environment, which is not available yet; with --env-manager local "
                 f"install into (or set in) the current environment instead.")


@click.command("prepare-env")
@click.option("-m", "--model-uri", required=True, help="Model URI or path.")
@environment_options(overrides=False)
@one_line_errors
def prepare_env(model_uri: str, **environment) -> None:
    """Prepare the environment a model runs in; with local, check the current one against the model's."""
    from mlnb.models.environment import check_versions, installed_version, read_requirements
    from mlnb.models.reading import read_model

    check_environment(**environment)
    path, mlmodel = read_model(model_uri, warn_versions=False)
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

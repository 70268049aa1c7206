"""``--env-manager`` for ``mlnb models predict|prepare-env``: MLflow's choices, and what mlnb does with them.

mlnb runs models in the current Python environment (``local``). Restoring a model's own
environment with virtualenv, uv or conda is not built yet; asking for it is refused with one line
instead of being ignored.
"""

from __future__ import annotations

import re

import click

from mlnb.commands.output import fail, one_line_errors

ENV_MANAGERS = ("local", "virtualenv", "uv", "conda")

env_manager_option = click.option(
    "--env-manager", default="local", show_default=True, type=click.Choice(ENV_MANAGERS),
    help="Environment to run the model in. Only 'local' (the current environment) is available yet.",
)
install_mlflow_option = click.option(
    "--install-mlflow", is_flag=True, default=False,
    help="With a restored environment, also install MLflow into it (needs an --env-manager other than local).",
)


def check_env_manager(env_manager: str, install_mlflow: bool = False) -> None:
    """Exit with one line unless the model can run in the current environment."""
    if env_manager != "local":
        fail(f"--env-manager {env_manager} is not available yet: mlnb runs models in the current "
             f"environment. Use --env-manager local, after installing the model's requirements.txt.")
    if install_mlflow:
        fail("--install-mlflow needs a restored environment, which is not available yet; "
             "drop it and use --env-manager local.")


@click.command("prepare-env")
@click.option("-m", "--model-uri", required=True, help="Model URI or path.")
@env_manager_option
@install_mlflow_option
@one_line_errors
def prepare_env(model_uri: str, env_manager: str, install_mlflow: bool) -> None:
    """Prepare the environment a model runs in; with local, check the current one against the model's."""
    from mlnb.models.environment import check_versions, installed_version, read_requirements
    from mlnb.models.reading import read_model

    check_env_manager(env_manager, install_mlflow)
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

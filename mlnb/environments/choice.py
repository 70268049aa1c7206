"""Which environment a model runs in when the caller does not say (``env_manager=None``).

The default restores the model's environment with uv when uv is installed, else with virtualenv
(venv + pip), as MLflow restores with virtualenv by default. One case is left out: when the current
environment already meets everything the model asks for (its Python major.minor, each requirement
installed in a version its specifier accepts, its constraints), restoring would build an
environment with the same versions, so the model runs here. A model saved in this environment is
served at once and offline; a model that pins other versions gets them.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Callable

LOCAL = "local"


def unmet_requirements(model_path: str | os.PathLike) -> list[str]:
    """What the current environment lacks of the model's: requirement lines not installed in an
    accepted version (or that cannot be checked here: URLs, paths, options), and its Python
    version when the major.minor differs. Empty when the model can run here as it asks."""
    from mlnb.environments.spec import model_environment

    python, requirements, constraints = model_environment(Path(model_path))
    here = ".".join(platform.python_version_tuple()[:2])
    unmet = [] if python == here else [f"Python {python} (this is Python {here})"]
    unmet += [r for r in requirements if not _met(r, required=True)]
    unmet += [f"{c} (constraint)" for c in constraints if not _met(c, required=False)]
    return unmet


def _met(line: str, required: bool) -> bool:
    """True when the installed distributions satisfy ``line`` (a requirement, or a constraint,
    which only bounds a distribution that is installed)."""
    from mlnb.models.environment import installed_version

    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # without packaging only name and name==version are checked
        name, _, version = line.partition("==")
        if not name.strip() or any(c in line for c in "<>!~;@[ "):
            return False
        have = installed_version(name.strip())
        return (have is not None or not required) and (not version or have is None
                                                        or have.partition("+")[0] == version.strip())
    try:
        req = Requirement(line)
    except InvalidRequirement:
        return False
    if req.url:
        return False
    if req.marker is not None and not req.marker.evaluate():
        return True  # not meant for this platform
    have = installed_version(req.name)
    if have is None:
        return not required
    return req.specifier.contains(have, prereleases=True)


def choose(model_path: str | os.PathLike, env_manager: str | None, *, restore_only: bool = False,
           log: Callable[[str], None] | None = None) -> str:
    """The environment manager to use: ``env_manager`` when given; otherwise ``"local"`` when the
    current environment meets the model's requirements (and ``restore_only`` is false: options such
    as ``install_mlflow`` need a restored environment), else uv when installed, else virtualenv."""
    if env_manager is not None:
        return env_manager
    from mlnb.environments.installers import default_manager

    unmet = [] if restore_only else unmet_requirements(model_path)
    if not restore_only and not unmet:
        return LOCAL
    manager = default_manager()
    if log is not None and unmet:
        shown = ", ".join(unmet[:3]) + (f" and {len(unmet) - 3} more" if len(unmet) > 3 else "")
        log(f"The current environment does not meet the model's requirements ({shown}); restoring its "
            f"environment with {manager} (--env-manager local runs it here instead).")
    return manager


__all__ = ["choose", "unmet_requirements", "LOCAL"]

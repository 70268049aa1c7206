"""The environment files of a model, written in one place.

``requirements.txt`` pins the distributions the model really needs: the flavor names the modules
it imports, and each module is mapped to its installed distribution in-process (no subprocess,
no re-loading the model). ``python_env.yaml`` and ``conda.yaml`` follow MLflow's layout.
"""

from __future__ import annotations

import functools
import importlib.metadata as md
import os
import platform
from pathlib import Path
from typing import Iterable, Sequence

from mlnb.errors import InvalidParameterError

REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"
CONDA_FILE = "conda.yaml"

# Modules whose distribution name differs from the import name (the common ones, looked up first).
_KNOWN_DISTS = {
    "sklearn": "scikit-learn", "skops": "skops", "yaml": "pyyaml", "PIL": "pillow",
    "cv2": "opencv-python", "mlnb": "mlnb", "google": "protobuf",
}
_STDLIB_LIKE = {"builtins", "__main__", "copyreg", "collections", "functools", "numbers", "typing"}


@functools.lru_cache(maxsize=None)
def _module_dists() -> dict[str, list[str]]:
    return md.packages_distributions()


@functools.lru_cache(maxsize=512)
def distribution_of(module: str) -> str | None:
    """The installed distribution providing top-level ``module``, or None (stdlib, local code)."""
    top = module.split(".")[0]
    if top in _STDLIB_LIKE or top in getattr(__import__("sys"), "stdlib_module_names", ()):
        return None
    name = _KNOWN_DISTS.get(top, top)
    if installed_version(name) is not None:
        return name
    dists = _module_dists().get(top)
    return dists[0] if dists else None


@functools.lru_cache(maxsize=512)
def installed_version(dist: str) -> str | None:
    """The installed version of ``dist``, read from its ``.dist-info`` directory name when it has
    one (parsing METADATA costs milliseconds per distribution), else from its metadata."""
    try:
        found = md.distribution(dist)
    except md.PackageNotFoundError:
        return None
    folder = getattr(found, "_path", None)
    if folder is not None and folder.name.endswith(".dist-info"):
        _, _, version = folder.name[: -len(".dist-info")].partition("-")
        if version:
            return version
    return found.version


def pinned(dist: str) -> str:
    """``name==version`` for an installed distribution (the bare name when not installed). A local
    version label (``2.13.0+cpu``) is left out, as MLflow does, so the pin installs from PyPI."""
    v = installed_version(dist)
    return f"{dist}=={v.partition('+')[0]}" if v else dist


def infer_requirements(modules: Iterable[str]) -> list[str]:
    """Pinned requirements for the distributions behind ``modules``, sorted, without duplicates."""
    dists = {d for m in modules if (d := distribution_of(m))}
    return sorted((pinned(d) for d in dists), key=str.lower)


def _read_requirements(spec: str | os.PathLike | Sequence[str]) -> list[str]:
    if isinstance(spec, (str, os.PathLike)) and Path(spec).is_file():
        lines = Path(spec).read_text(encoding="utf-8").splitlines()
    elif isinstance(spec, str):
        lines = [spec]
    elif isinstance(spec, (list, tuple)):
        lines = list(spec)
    else:
        raise InvalidParameterError(
            f"pip requirements must be a list of strings or a path to a requirements file, got {type(spec).__name__}."
        )
    out = [ln.strip() for ln in lines if ln and ln.strip() and not ln.strip().startswith("#")]
    for ln in out:
        if not isinstance(ln, str):
            raise InvalidParameterError(f"Requirement {ln!r} is not a string.")
    return out


def resolve_requirements(default: Iterable[str], pip_requirements=None, extra_pip_requirements=None) -> list[str]:
    """MLflow's rules: ``pip_requirements`` replaces the inferred list; ``extra_pip_requirements`` adds to it."""
    if pip_requirements is not None and extra_pip_requirements is not None:
        raise InvalidParameterError("Pass either pip_requirements or extra_pip_requirements, not both.")
    if pip_requirements is not None:
        return _read_requirements(pip_requirements)
    reqs = list(default)
    if extra_pip_requirements is not None:
        extra = _read_requirements(extra_pip_requirements)
        names = {_req_name(r) for r in extra}
        reqs = [r for r in reqs if _req_name(r) not in names] + extra
    return reqs


def _req_name(req: str) -> str:
    import re

    return re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower().replace("_", "-")


def write(model_dir: str | os.PathLike, requirements: Sequence[str]) -> dict[str, str]:
    """Write requirements.txt, python_env.yaml and conda.yaml; return the pyfunc ``env`` entry."""
    import yaml

    d = Path(model_dir)
    py = platform.python_version()
    (d / REQUIREMENTS_FILE).write_text("".join(f"{r}\n" for r in requirements), encoding="utf-8")
    python_env = {
        "python": py,
        "build_dependencies": [pinned("pip"), pinned("setuptools"), "wheel"],
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: same text, much faster
    (d / PYTHON_ENV_FILE).write_text(yaml.dump(python_env, Dumper=dumper, default_flow_style=False, sort_keys=False),
                                     encoding="utf-8")
    pip_v = installed_version("pip")
    conda = {
        "channels": ["conda-forge"],
        "dependencies": [f"python={py}", f"pip<={pip_v}" if pip_v else "pip", {"pip": list(requirements)}],
        "name": "mlflow-env",
    }
    (d / CONDA_FILE).write_text(yaml.dump(conda, Dumper=dumper, default_flow_style=False), encoding="utf-8")
    return {"conda": CONDA_FILE, "virtualenv": PYTHON_ENV_FILE}


def read_requirements(model_dir: str | os.PathLike) -> list[str]:
    f = Path(model_dir) / REQUIREMENTS_FILE
    return _read_requirements(f) if f.is_file() else []


# Flavor keys that record the version of the library a model was saved with (MLflow's names).
_FLAVOR_VERSION_KEYS = {"sklearn_version": "scikit-learn", "xgb_version": "xgboost"}


def check_versions(model_dir: str | os.PathLike, flavors: dict | None = None) -> list[str]:
    """Describe each recorded library version that differs from the installed one (for a
    load-time warning): pinned requirements, the flavors' ``*_version`` keys and Python's
    major.minor version."""
    recorded: dict[str, str] = {}
    for req in read_requirements(model_dir):
        if "==" in req:
            name, want = req.split("==", 1)
            recorded[name.strip()] = want.strip()
    for conf in (flavors or {}).values():
        for key, dist in _FLAVOR_VERSION_KEYS.items():
            if conf.get(key) and _req_name(dist) not in {_req_name(n) for n in recorded}:
                recorded[dist] = str(conf[key])
    notes = []
    for name, want in recorded.items():
        have = installed_version(name)
        if have is not None and have != want and have.partition("+")[0] != want:  # 2.13.0+cpu is 2.13.0
            notes.append(f"{name} (saved with {want}, installed {have})")
    saved_py = str(((flavors or {}).get("python_function") or {}).get("python_version") or "")
    if saved_py and saved_py.split(".")[:2] != platform.python_version().split(".")[:2]:
        notes.append(f"Python (saved with {saved_py}, installed {platform.python_version()})")
    return notes

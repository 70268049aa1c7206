"""``infer_pip_requirements``: the pip requirements a saved model needs, read from its files.

MLflow loads the model in a subprocess and records what it imported. mlnb reaches the same list
without running the model's code (model files are untrusted input): the flavor's own library,
every module the model's pickles name (read from their opcodes, nothing is unpickled) and every
module a skops file's schema names, each mapped to its installed distribution and pinned.
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

from mlnb.errors import InvalidParameterError, MlnbError

#: the library each flavor stands for (the pyfunc flavor alone names none)
FLAVOR_MODULES = {"sklearn": "sklearn", "xgboost": "xgboost", "pytorch": "torch", "keras": "keras",
                  "onnx": "onnx", "h2o": "h2o", "spark": "pyspark", "lightgbm": "lightgbm",
                  "tensorflow": "tensorflow", "statsmodels": "statsmodels", "catboost": "catboost"}
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".cloudpickle", ".joblib")
_MAX_FILE_BYTES = 512 << 20


def _skops_modules(path: Path) -> set[str]:
    """The modules a skops file's schema names (``__module__`` entries), read as JSON."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            module = node.get("__module__")
            if isinstance(module, str):
                found.add(module)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    with zipfile.ZipFile(path) as archive:
        if "schema.json" in archive.namelist():
            walk(json.loads(archive.read("schema.json")))
    return found


def model_modules(folder: Path, flavor: str, conf: dict | None = None) -> set[str]:
    """Top-level modules the model in ``folder`` needs, for ``flavor`` (configured as ``conf`` in
    MLmodel: a ``serialization_format`` of cloudpickle or skops names the library that reads the file)."""
    from mlnb.models.environment import pickled_modules

    modules = {FLAVOR_MODULES[flavor]} if flavor in FLAVOR_MODULES else set()
    if (conf or {}).get("serialization_format") in ("cloudpickle", "skops"):
        modules.add(conf["serialization_format"])
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.stat().st_size > _MAX_FILE_BYTES:
            continue
        if path.suffix in _PICKLE_SUFFIXES:
            modules |= pickled_modules(path.read_bytes())
        elif path.suffix == ".skops":
            modules |= _skops_modules(path)
    return {m.split(".", 1)[0] for m in modules if m} - {"builtins", "copyreg", "__main__"}


def infer_pip_requirements(model_uri: str | os.PathLike, flavor: str, fallback: list[str] | None = None,
                           timeout: int | None = None, extra_env_vars: dict | None = None,
                           uv_project_dir: Any = None, uv_groups: Any = None, uv_extras: Any = None) -> list[str]:
    """Pinned pip requirements of the model at ``model_uri`` saved with ``flavor`` (``"sklearn"``...).

    With ``fallback``, a failure is reported as a warning and ``fallback`` is returned (MLflow's
    rule); without it the error is raised. ``timeout`` and ``extra_env_vars`` concern MLflow's
    subprocess, which mlnb does not start, so they change nothing; the uv keywords name a uv
    project, which mlnb does not read, so they are refused.
    """
    from mlnb.models.environment import infer_requirements
    from mlnb.models.mlmodel import Model
    from mlnb.models.uri import local_path

    if any(v is not None for v in (uv_project_dir, uv_groups, uv_extras)):
        raise InvalidParameterError(
            "infer_pip_requirements(uv_project_dir=, uv_groups=, uv_extras=) reads a uv project, which mlnb does "
            "not; leave them unset.")
    try:
        folder = local_path(os.fspath(model_uri))
        model = Model.load(folder)
        if flavor not in (model.flavors or {}):
            raise InvalidParameterError(
                f"The model at '{model_uri}' has no flavor '{flavor}'; it has {sorted(model.flavors or {})}.")
        found = infer_requirements(model_modules(folder, flavor, model.flavors[flavor]))
        if not found:
            raise InvalidParameterError(f"No requirement of the model at '{model_uri}' could be inferred.")
        return found
    except (MlnbError, OSError, ValueError, zipfile.BadZipFile) as exc:
        if fallback is None:
            raise
        warnings.warn(f"Could not infer the requirements of '{model_uri}' ({exc}); using the fallback {fallback}.",
                      stacklevel=2)
        return list(fallback)


__all__ = ["FLAVOR_MODULES", "infer_pip_requirements", "model_modules"]

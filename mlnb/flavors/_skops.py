"""Import ``skops.io`` without paying its start-up cost twice.

On import, skops computes its default trusted-type lists by importing every scikit-learn estimator
and scanning NumPy and SciPy for ufuncs: about 1.8 s, before the first model is saved or loaded.
The lists only change with the installed versions of skops, scikit-learn, NumPy and SciPy, so mlnb
keeps them in a small JSON cache keyed by those versions (``~/.cache/mlnb`` or ``$MLNB_CACHE_DIR``)
and hands them to skops as its ``_trusted_types`` module. The lists are exactly the ones skops
computed; if the cache is missing, stale or does not fit the installed skops, skops computes them
itself as usual and the cache is rewritten.
"""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

_MODULE = "skops.io._trusted_types"
_KEYED_ON = ("skops", "scikit-learn", "numpy", "scipy")


def _cache_file() -> Path | None:
    from mlnb.models.environment import installed_version

    versions = [installed_version(d) for d in _KEYED_ON]
    if None in versions:
        return None
    key = "-".join(f"{d}{v}" for d, v in zip(_KEYED_ON, versions))
    root = os.environ.get("MLNB_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "mlnb")
    return Path(root) / f"skops-trusted-types-{key}-py{sys.version_info[0]}{sys.version_info[1]}.json"


def _string_lists(module: types.ModuleType) -> dict[str, list[str]]:
    return {
        name: value for name, value in vars(module).items()
        if name.isupper() and isinstance(value, list) and all(isinstance(v, str) for v in value)
    }


def _write_cache(file: Path) -> None:
    try:
        lists = _string_lists(sys.modules[_MODULE])
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(lists), encoding="utf-8")
        os.replace(tmp, file)
    except (OSError, KeyError):
        pass  # a cache is an optimisation; skops works without it


def _forget_skops_io() -> None:
    for name in [m for m in sys.modules if m == "skops.io" or m.startswith("skops.io.")]:
        del sys.modules[name]


def skops_io() -> types.ModuleType:
    """``skops.io``, imported with cached trusted-type lists when they are available."""
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    file = _cache_file()
    if file is not None and file.is_file():
        try:
            lists = json.loads(file.read_text(encoding="utf-8"))
            stub = types.ModuleType(_MODULE, "skops's default trusted types (cached by mlnb)")
            stub.PRIMITIVES_TYPES = [int, float, str, bool]
            stub.CONTAINER_TYPES = [list, set, map, tuple]
            vars(stub).update(lists)
            sys.modules[_MODULE] = stub
            import skops.io

            skops.io._trusted_types = stub
            return skops.io
        except (OSError, ValueError, ImportError, AttributeError):
            _forget_skops_io()  # the cache does not fit this skops: let skops compute the lists
    import skops.io

    if file is not None:
        _write_cache(file)
    return skops.io

"""Custom artifacts of evaluate(): user functions' figures, tables, arrays and files, written by type.

As MLflow: a matplotlib Figure becomes a PNG, a DataFrame a CSV, a NumPy array ``.npy``, JSON text or
a dict/list a JSON file, and a path to an existing file is copied. Other objects are refused (MLflow
would pickle them).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from mlnb.errors import InvalidParameterError


def _write_custom(name: str, obj: Any, folder: Path) -> tuple[Path, str, Any]:
    if isinstance(obj, (str, Path)) and Path(obj).is_file():
        src = Path(obj)
        dst = folder / f"{name}{src.suffix}"
        shutil.copy2(src, dst)
        kind = {".png": "image", ".csv": "csv", ".json": "json", ".npy": "npy"}.get(src.suffix.lower(), "file")
        return dst, kind, dst.read_bytes() if kind == "image" else None
    if hasattr(obj, "savefig"):
        from mlnb.evaluation.plots import render_png

        png = render_png(obj)
        dst = folder / f"{name}.png"
        dst.write_bytes(png)
        return dst, "image", png
    if isinstance(obj, pd.DataFrame):
        dst = folder / f"{name}.csv"
        obj.to_csv(dst, index=False)
        return dst, "csv", obj
    if isinstance(obj, np.ndarray):
        dst = folder / f"{name}.npy"
        np.save(dst, obj, allow_pickle=False)
        return dst, "npy", obj
    if isinstance(obj, str):
        try:
            json.loads(obj)
        except ValueError:
            raise InvalidParameterError(
                f"Custom artifact {name!r} is a string that is neither an existing file nor JSON."
            ) from None
        dst = folder / f"{name}.json"
        dst.write_text(obj)
        return dst, "json", None
    if isinstance(obj, (dict, list)):
        dst = folder / f"{name}.json"
        dst.write_text(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
        return dst, "json", obj
    raise InvalidParameterError(
        f"Custom artifact {name!r} is a {type(obj).__name__}; return a file path, a matplotlib Figure, "
        "a DataFrame, a NumPy array, JSON text, or a dict/list."
    )


def custom_artifacts_files(fns, predictions, targets, metrics, folder: Path) -> dict[str, tuple[Path, str, Any]]:
    """Run each ``fn(eval_df, builtin_metrics, artifacts_dir)`` and write what it returns into
    ``folder``: name -> (file, kind, content)."""
    out = {}
    eval_df = pd.DataFrame({"prediction": predictions, "target": targets})
    for fn in fns or []:
        with tempfile.TemporaryDirectory() as scratch:
            produced = fn(eval_df.copy(), dict(metrics), scratch)
            if produced is None:
                continue
            if not isinstance(produced, Mapping):
                raise InvalidParameterError(
                    f"Custom artifact function {getattr(fn, '__name__', fn)!r} must return a dict of name -> artifact."
                )
            for name, obj in produced.items():
                if name in out:
                    raise InvalidParameterError(f"Two custom artifacts are named {name!r}.")
                out[name] = _write_custom(str(name), obj, folder)
    return out

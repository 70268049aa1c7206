"""Input examples: ``input_example.json`` and ``serving_input_example.json`` as MLflow writes them."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from mlnb.errors import InvalidParameterError
from mlnb.models.encoding import json_default

if TYPE_CHECKING:
    import pandas as pd
    from scipy.sparse import csc_matrix, csr_matrix

EXAMPLE_FILE = "input_example.json"
SERVING_EXAMPLE_FILE = "serving_input_example.json"
#: what ``input_example=`` takes (MLflow's type): a DataFrame, an array, a sparse matrix, a dict,
#: a list, a scalar, a string or bytes
ModelInputExample = Union["pd.DataFrame", np.ndarray, "csr_matrix", "csc_matrix", dict, list, str, bytes, int,
                          float, bool]


def _nan_to_none(arr: np.ndarray):
    if np.issubdtype(arr.dtype, np.number) and arr.dtype.kind == "f":
        return np.where(np.isnan(arr), None, arr).tolist()
    return arr.tolist()


def _sparse_format(example: Any) -> str | None:
    """``"csr"`` or ``"csc"`` for scipy's sparse matrices (and arrays) of those formats, else None."""
    fmt = getattr(example, "format", None)
    if fmt in ("csr", "csc") and type(example).__module__.startswith("scipy.sparse"):
        return fmt
    return None


def encode(example: Any) -> tuple[dict[str, Any], Any, Any]:
    """Return ``(info, example_json_obj, serving_json_obj)`` for an input example."""
    import pandas as pd

    info: dict[str, Any] = {"artifact_path": EXAMPLE_FILE}
    if isinstance(example, pd.Series):
        example = example.to_frame()
    if isinstance(example, pd.DataFrame):
        body = example.astype(object).where(example.notna(), None).to_dict(orient="split")
        del body["index"]
        if list(example.columns) == list(range(example.shape[1])):
            del body["columns"]
        info.update(type="dataframe", pandas_orient="split" if "columns" in body else "values")
        serving = {"dataframe_split": body}
    elif isinstance(example, np.ndarray):
        body = _nan_to_none(example)
        info["type"] = "ndarray"
        serving = {"inputs": body}
    elif isinstance(example, dict) and any(isinstance(v, np.ndarray) for v in example.values()):
        if not all(isinstance(v, np.ndarray) for v in example.values()):
            raise InvalidParameterError("An input example dict must hold only numpy arrays or no arrays at all.")
        body = {k: _nan_to_none(v) for k, v in example.items()}
        info["type"] = "ndarray"
        serving = {"inputs": body}
    elif _sparse_format(example) is not None:   # scipy's csr/csc matrices, kept sparse as MLflow does
        csr = example.tocsr() if _sparse_format(example) == "csr" else example.tocsc()
        body = {"data": _nan_to_none(np.asarray(csr.data)), "indices": csr.indices.tolist(),
                "indptr": csr.indptr.tolist(), "shape": list(csr.shape)}
        info["type"] = f"sparse_matrix_{_sparse_format(example)}"
        serving = {"inputs": _nan_to_none(csr.toarray())}
    elif isinstance(example, (dict, list)) or np.isscalar(example) or isinstance(example, dt.datetime):
        body = example
        info["type"] = "json_object"
        serving = {"inputs": body}
    else:
        raise InvalidParameterError(
            f"Unsupported input example type {type(example).__name__}: pass a pandas DataFrame, a numpy "
            f"array, a dict of arrays, a dict, a list or a scalar."
        )
    info["serving_input_path"] = SERVING_EXAMPLE_FILE
    return info, body, serving


def save(example: Any, model_dir: str | os.PathLike) -> dict[str, Any]:
    """Write the example files into ``model_dir`` and return ``saved_input_example_info``."""
    info, body, serving = encode(example)
    d = Path(model_dir)
    (d / EXAMPLE_FILE).write_text(json.dumps(body, default=json_default), encoding="utf-8")
    (d / SERVING_EXAMPLE_FILE).write_text(json.dumps(serving, default=json_default, indent=2), encoding="utf-8")
    return info


def load(model_dir: str | os.PathLike, info: dict[str, Any] | None) -> Any:
    """Read a saved input example back as the object the model takes (DataFrame, array, ...)."""
    if not info:
        return None
    import pandas as pd

    data = json.loads((Path(model_dir) / info.get("artifact_path", EXAMPLE_FILE)).read_text(encoding="utf-8"))
    if isinstance(data, dict) and "inputs" in data and "params" in data:
        data = data["inputs"]
    kind = info.get("type")
    if kind == "dataframe":
        return pd.DataFrame(data.get("data"), columns=data.get("columns"))
    if kind in ("sparse_matrix_csr", "sparse_matrix_csc"):
        from scipy import sparse

        try:
            build = sparse.csr_matrix if kind == "sparse_matrix_csr" else sparse.csc_matrix
            return build((data["data"], data["indices"], data["indptr"]), shape=tuple(data["shape"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidParameterError(f"The saved sparse input example is malformed: {exc}.") from None
    if kind == "ndarray":
        if isinstance(data, dict):
            return {k: np.asarray(v) for k, v in data.items()}
        return np.asarray(data)
    return data

"""Predictions and errors as the bytes MLflow's scoring server would send, but always valid JSON.

Predictions are shaped as MLflow shapes them: a DataFrame becomes a list of row objects, a Series
a list of one-key row objects, an ndarray nested lists, anything else goes as is. NaN and
infinity become ``null`` (MLflow writes bare ``NaN``/``Infinity`` tokens, which JSON parsers
reject). Errors are ``{"error_code": ..., "message": ...}``, with ``stack_trace`` when the model
itself failed.
"""

from __future__ import annotations

from typing import Any

from mlnb.models.encoding import json_default as _default


def _orjson():
    import orjson

    return orjson


def jsonable(raw: Any) -> Any:
    """Predictions in MLflow's response shape, ready for orjson."""
    import sys

    pd = sys.modules.get("pandas")
    if pd is not None:
        if isinstance(raw, pd.Series):
            raw = raw.to_frame()
        if isinstance(raw, pd.DataFrame):
            labels = list(raw.columns)
            columns = [raw.iloc[:, i].tolist() for i in range(raw.shape[1])]
            return [dict(zip(labels, row)) for row in zip(*columns)]
    return raw


_OPTIONS = None


def _dumps(obj: Any) -> bytes:
    global _OPTIONS
    orjson = _orjson()
    if _OPTIONS is None:
        _OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    return orjson.dumps(obj, default=_default, option=_OPTIONS)


def predictions_body(raw: Any) -> bytes:
    """``{"predictions": ...}`` as bytes; NaN and infinity are written as ``null``."""
    return _dumps({"predictions": jsonable(raw)})


def error_body(error_code: str, message: str, stack_trace: str | None = None) -> bytes:
    """MLflow's error JSON."""
    doc = {"error_code": error_code, "message": message}
    if stack_trace:
        doc["stack_trace"] = stack_trace
    return _dumps(doc)


__all__ = ["jsonable", "predictions_body", "error_body"]

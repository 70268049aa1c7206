"""A ready-to-paste ``curl`` request for a served model, built from its signature."""

from __future__ import annotations

import json
import shlex
from typing import Any

_PLACEHOLDERS = {"double": 0.0, "float": 0.0, "long": 0, "integer": 0, "boolean": False,
                 "string": "", "binary": "", "datetime": "2024-01-01T00:00:00"}


#: Bodies up to this long go inline in the curl command; longer ones are read from a file.
INLINE_BODY_MAX = 160


def _saved_example_row(model: Any) -> dict | None:
    """The first row of the input example saved with the model, as ``dataframe_split``, if any."""
    meta = getattr(model, "metadata", None)
    model_dir = getattr(model, "model_dir", None)
    if meta is None or model_dir is None or not getattr(meta, "saved_input_example_info", None):
        return None
    try:
        example = meta.load_input_example(model_dir)
        import pandas as pd

        if not isinstance(example, pd.DataFrame) or example.empty:
            return None
        row = example.head(1)
        return {"dataframe_split": {"columns": [str(c) for c in row.columns],
                                    "data": [[v.item() if hasattr(v, "item") else v for v in row.iloc[0]]]}}
    except Exception:  # an unreadable example falls back to placeholders
        return None


def example_payload(model: Any) -> dict:
    """One request body the model accepts: the first row of the model's saved input example, else a
    one-row ``dataframe_split`` of placeholders (or ``inputs`` for tensors)."""
    saved = _saved_example_row(model)
    if saved is not None:
        return saved
    meta = getattr(model, "metadata", None)
    sig = meta.get_signature() if meta is not None and hasattr(meta, "get_signature") else None
    schema = sig.inputs if sig is not None else None
    if schema is None or not schema.inputs:
        return {"inputs": [[0.0]]}
    if schema.is_tensor_spec():
        spec = schema.inputs[0]
        width = [max(d, 1) for d in spec.shape[1:]]
        row: Any = 0.0 if spec.dtype.kind == "f" else 0
        for n in reversed(width):
            row = [row] * n
        return {"inputs": [row]}
    row = [_PLACEHOLDERS.get(s.type if isinstance(s.type, str) else "", None) for s in schema.inputs]
    if not schema.has_input_names():
        return {"inputs": [row]}
    return {"dataframe_split": {"columns": schema.input_names(), "data": [row]}}


def example_body(model: Any) -> str:
    """The example request body as compact JSON."""
    return json.dumps(example_payload(model), separators=(",", ":"))


def curl_example(url: str, model: Any, body_file: str | None = None) -> str:
    """A shell command that scores one example row against ``url``: the body inline when it is
    short, else ``-d @body_file`` (the caller writes :func:`example_body` there)."""
    body = example_body(model)
    data = f"@{body_file}" if body_file and len(body) > INLINE_BODY_MAX else body
    return (f"curl -X POST {url}/invocations -H 'Content-Type: application/json' "
            f"-d {shlex.quote(data)}")


__all__ = ["example_payload", "example_body", "curl_example"]

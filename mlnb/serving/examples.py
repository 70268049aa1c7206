"""A ready-to-paste ``curl`` request for a served model, built from its signature."""

from __future__ import annotations

import json
import shlex
from typing import Any

_PLACEHOLDERS = {"double": 0.0, "float": 0.0, "long": 0, "integer": 0, "boolean": False,
                 "string": "", "binary": "", "datetime": "2024-01-01T00:00:00"}


def example_payload(model: Any) -> dict:
    """One request body the model accepts: a one-row ``dataframe_split`` (or ``inputs`` for tensors)."""
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


def curl_example(url: str, model: Any) -> str:
    """A shell command that scores one example row against ``url``."""
    body = json.dumps(example_payload(model), separators=(",", ":"))
    return (f"curl -X POST {url}/invocations -H 'Content-Type: application/json' "
            f"-d {shlex.quote(body)}")


__all__ = ["example_payload", "curl_example"]

"""Request bodies -> model input, by the rules of MLflow's scoring protocol.

Content types: ``application/json``, ``text/csv`` and ``application/vnd.apache.parquet``, with
``charset=utf-8`` the only parameter accepted. A JSON body is an object with exactly one of
``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs``, and optionally ``params``.

When the model's signature is all named ``double`` columns (the common case for tabular models),
rows are read straight into one float64 block in the signature's column order: no per-row pandas
work, and the signature accepts the block as it is. Anything else takes the
general path, which builds what MLflow builds and lets the signature enforcement decide.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlnb.errors import ServingError
from mlnb.serving import bulk

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = (JSON, CSV, PARQUET)
INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_SPLIT_KEYS = {"columns", "data", "index"}


@dataclass(frozen=True)
class InputPlan:
    """What the parser knows of the model's input ahead of time, computed once per model."""

    float_columns: tuple[str, ...] | None = None  # all-double named signature: the fast path
    column_types: dict[str, str] | None = None  # CSV dtypes, as MLflow reads them

    @classmethod
    def for_model(cls, model: Any) -> "InputPlan":
        schema = None
        meta = getattr(model, "metadata", None)
        if meta is not None and hasattr(meta, "get_signature"):
            sig = meta.get_signature()
            schema = sig.inputs if sig is not None else None
        if schema is None or not schema.inputs or schema.is_tensor_spec() or not schema.has_input_names():
            return cls()
        types = {s.name: s.type for s in schema.inputs if isinstance(s.type, str)}
        floats = all(getattr(s, "type", None) == "double" and s.required for s in schema.inputs)
        return cls(tuple(schema.input_names()) if floats else None, types)


def media_type(header: str | None) -> str:
    """The media type of a Content-Type header, or a 415 ServingError saying what is accepted."""
    if not header:
        raise ServingError(
            f"The request has no Content-Type header. Send one of {list(CONTENT_TYPES)}.", 415)
    mime, *parameters = (part.strip() for part in header.split(";"))
    mime = mime.lower()
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        key, value = key.strip().lower(), value.strip().strip('"').lower()
        if key == "charset":
            if value != "utf-8":
                raise ServingError(f"The scoring server only supports UTF-8; got charset={value!r}.", 415)
        elif key or value:
            raise ServingError(
                f"Unrecognized content type parameter {parameter!r}; only 'charset=utf-8' is accepted.", 415)
    if mime not in CONTENT_TYPES:
        raise ServingError(
            f"This predictor only supports the following content types: {list(CONTENT_TYPES)}. "
            f"Got {header!r}.", 415)
    return mime


def parse_request(body: bytes, mime: str, plan: InputPlan = InputPlan()) -> tuple[Any, dict | None]:
    """``(model_input, params)`` from a request body of media type ``mime``."""
    if mime == JSON:
        return parse_json(body, plan)
    if mime == CSV:
        return parse_csv(body, plan), None
    if mime == PARQUET:
        return parse_parquet(body), None
    raise ServingError(f"Unsupported content type {mime!r}; send one of {list(CONTENT_TYPES)}.", 415)


# -- JSON ------------------------------------------------------------------------------------
def _loads(body: bytes) -> Any:
    import orjson

    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:  # MLflow's own clients may write bare NaN / Infinity tokens, which orjson refuses
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ServingError(f"Invalid input. Ensure that input is a valid JSON formatted string. Error: {exc}") from None


def parse_json(body: bytes | bytearray, plan: InputPlan = InputPlan()) -> tuple[Any, dict | None]:
    if plan.float_columns and len(body) > bulk.LARGE:
        parsed = _large_json(body, plan)
        if parsed is not None:
            return parsed
    doc = _loads(body)
    key, params = _input_key(doc)
    value = doc[key]
    if key == "dataframe_split":
        return _dataframe_split(value, plan), params
    if key == "dataframe_records":
        return _dataframe_records(value, plan), params
    if plan.float_columns and isinstance(value, list) and value and isinstance(value[0], list):
        rows = _float_rows(value, plan)  # positional rows for a named signature: mlnb accepts them
        if rows is not None:
            return rows, params
    if key == "instances":
        return _instances(value, plan), params
    return _inputs(value, plan), params


def _input_key(doc: Any) -> tuple[str, dict | None]:
    """The one input key of a request document, and its params; a ServingError for anything else."""
    if not isinstance(doc, dict):
        kind = "a list" if isinstance(doc, list) else f"a {type(doc).__name__}"
        raise ServingError(
            f"The input must be a JSON object with exactly one of the input fields {list(INPUT_KEYS)}. "
            f"Received {kind}.")
    keys = [k for k in INPUT_KEYS if k in doc]
    if len(keys) != 1:
        raise ServingError(
            f"The input must be a JSON object with exactly one of the input fields {list(INPUT_KEYS)}. "
            f"Received an object with fields {list(doc)}.")
    params = doc.get("params")
    if params is not None and not isinstance(params, dict):
        raise ServingError(f"'params' must be a JSON object of name -> value, received {type(params).__name__}.")
    return keys[0], params


def _large_json(body: bytes | bytearray, plan: InputPlan) -> tuple[Any, dict | None] | None:
    """A large body's rows read piecewise into one block, when they take the fast path; else None."""

    def to_block(key: str, rows: list):
        if not rows:
            return None
        if isinstance(rows[0], dict):
            return None if key == "dataframe_split" else _records_rows(rows, plan)
        return None if key == "dataframe_records" else _float_rows(rows, plan)

    found = bulk.json_rows(body, len(plan.float_columns), to_block)
    if found is None:
        return None
    key, rows, skeleton = found
    try:
        if _input_key(skeleton)[0] != key:
            return None
    except ServingError:
        return None  # the whole parse says what is wrong
    params = skeleton.get("params")
    if key == "dataframe_split":
        split = skeleton[key]
        if set(split) - _SPLIT_KEYS or split.get("index") is not None \
                or split.get("columns") not in (None, list(plan.float_columns)):
            return None
    return rows.view(FloatRows), params


class FloatRows(np.ndarray):
    """A float64 block of rows in the signature's column order, which the signature accepts as is."""


def _float_rows(rows: Any, plan: InputPlan) -> FloatRows | None:
    """Rows as a FloatRows block, when they are a plain numeric matrix of the right width; else None."""
    try:
        arr = np.array(rows, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        return None
    if arr.ndim != 2 or arr.shape[1] != len(plan.float_columns) or not arr.shape[0]:
        return None
    return arr.view(FloatRows)


def _dataframe_split(value: Any, plan: InputPlan):
    import pandas as pd

    if not isinstance(value, dict):
        raise ServingError(f"Invalid input. Dataframe split format must be a dictionary. Got {_kind(value)}.")
    if "data" not in value or set(value) - _SPLIT_KEYS:
        raise ServingError(
            "Invalid input. Dataframe split format must have a 'data' field and optionally 'columns' "
            f"and 'index' fields. Got {sorted(value)}.")
    columns, index, data = value.get("columns"), value.get("index"), value["data"]
    if plan.float_columns and index is None and columns in (None, list(plan.float_columns)) \
            and isinstance(data, list) and data and isinstance(data[0], list):
        rows = _float_rows(data, plan)
        if rows is not None:
            return rows
    try:
        return pd.DataFrame(data=data, columns=columns, index=index)
    except Exception as exc:  # pandas raises many types for malformed shapes
        raise ServingError(
            "Invalid input. Provided dataframe_split field is not a valid dataframe representation in "
            f"'split' format. Error: {exc}") from None


def _dataframe_records(value: Any, plan: InputPlan):
    import pandas as pd

    if not isinstance(value, list):
        raise ServingError(f"Invalid input. Dataframe records format must be a list of records. Got {_kind(value)}.")
    rows = _records_rows(value, plan)
    if rows is not None:
        return rows
    try:
        return pd.DataFrame(data=value)
    except Exception as exc:
        raise ServingError(
            "Invalid input. Provided dataframe_records field is not a valid dataframe representation "
            f"in 'records' format. Error: {exc}") from None


def _records_rows(records: list, plan: InputPlan):
    """The fast path for a list of row objects holding exactly the signature's double columns."""
    if not plan.float_columns or not records or not isinstance(records[0], dict):
        return None
    names = plan.float_columns
    try:
        rows = [[r[n] for n in names] for r in records]
    except (KeyError, TypeError):
        return None
    if any(len(r) != len(names) for r in records):
        return None  # extra columns: let enforcement warn about them as it does in-process
    return _float_rows(rows, plan)


def _instances(value: Any, plan: InputPlan):
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        rows = _records_rows(value, plan)
        if rows is not None:
            return rows
        columns: dict[str, list] = {}
        for row in value:
            for name, cell in row.items():
                columns.setdefault(name, []).append(cell)
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise ServingError("Invalid input. The length of values for each input/column name are not the same.")
        return {name: _array(cells) for name, cells in columns.items()}
    return _inputs(value, plan)


def _inputs(value: Any, plan: InputPlan):
    if isinstance(value, dict):
        return {str(name): _array(v) for name, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(r, dict) for r in value):  # records, which MLflow passes on as they are
            rows = _records_rows(value, plan)
            return value if rows is None else rows
        return _array(value)
    return value


def _array(value: Any) -> np.ndarray:
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ServingError(f"Invalid input. Ensure that the input is a valid tensor (a rectangular list). Error: {exc}") from None


def _kind(value: Any) -> str:
    return {dict: "dictionary", list: "list"}.get(type(value), f"type {type(value).__name__}")


# -- CSV and Parquet -------------------------------------------------------------------------
_PANDAS_TYPES = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32",
                 "boolean": "bool", "string": "object"}


def parse_csv(body: bytes, plan: InputPlan = InputPlan()):
    """A DataFrame from CSV text (UTF-8), read with the signature's column types as MLflow does."""
    import pandas as pd

    if plan.float_columns:  # rows it accepts are ASCII numbers under the signature's own header: valid UTF-8
        rows = _csv_float_rows(body, plan)
        if rows is not None:
            return rows
    try:
        if len(body) > bulk.LARGE:
            bulk.check_utf8(body)
        else:
            body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ServingError(f"Invalid input. Ensure that input is a valid UTF-8 encoded string. Error: {exc}") from None
    dtypes = {n: _PANDAS_TYPES[t] for n, t in (plan.column_types or {}).items() if t in _PANDAS_TYPES}
    try:
        frame = pd.read_csv(_reader(body), dtype=dtypes or None)
    except Exception as exc:  # the C parser raises several types for malformed text
        raise ServingError(
            "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid CSV-formatted "
            f"Pandas DataFrame produced using the `pandas.DataFrame.to_csv()` method. Error: '{exc}'") from None
    if plan.float_columns and tuple(frame.columns) == plan.float_columns and len(frame) \
            and all(dtype == np.float64 for dtype in frame.dtypes):
        return frame.to_numpy().view(FloatRows)
    return frame


def _csv_float_rows(body: bytes, plan: InputPlan) -> FloatRows | None:
    """The fast path for CSV whose header is exactly the signature's double columns: one float64 block.

    Reads only numbers (no missing-value detection, no header parsing); anything else, an empty
    cell, a quoted header, a ragged row, returns None and takes the general path, which reads the
    body as MLflow does.
    """
    end = body.find(b"\n")
    if end < 0 or body[:end].rstrip(b"\r").decode("utf-8", "replace") != ",".join(plan.float_columns):
        return None
    if len(body) > bulk.LARGE:
        rows = bulk.csv_rows(body, end + 1, len(plan.float_columns))
    else:
        rows = bulk.csv_block(body, end + 1, len(plan.float_columns))
    return None if rows is None else rows.view(FloatRows)


def _reader(body: bytes | bytearray):
    """A file over the body for pandas; without a copy of a large bytearray."""
    return io.BytesIO(body) if isinstance(body, bytes) else bulk.BufferReader(body)


def parse_parquet(body: bytes):
    """A DataFrame from a Parquet file's bytes."""
    from mlnb.errors import require

    require("pyarrow", "serve", "Reading Parquet requests")
    import pandas as pd

    try:
        return pd.read_parquet(io.BytesIO(body))
    except Exception as exc:
        raise ServingError(
            "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid Parquet "
            f"Pandas DataFrame produced using the `pandas.DataFrame.to_parquet()` method. Error: '{exc}'") from None


__all__ = ["CONTENT_TYPES", "FloatRows", "InputPlan", "media_type", "parse_request", "parse_json", "parse_csv", "parse_parquet"]

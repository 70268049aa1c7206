"""Model signatures: infer them from data, read and write MLflow's JSON, enforce them at predict.

The JSON is MLflow's: ``inputs``/``outputs``/``params`` are JSON strings of column specs
(``{"type": "double", "name": "x", "required": true}``), tensor specs
(``{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}``) or param specs.

Enforcement is strict about losing information and lenient about everything else: safe upcasts
pass (int32 to int64, float32 to float64, integers to floating point when every value is exactly
representable), lossy casts are refused with an error naming the column and both types, missing
required columns are an error, extra columns are dropped with a warning.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from mlnb.errors import SchemaError

# MLflow's column types and the numpy dtype each one holds.
COLUMN_TYPES: dict[str, Any] = {
    "boolean": np.dtype(bool),
    "integer": np.dtype(np.int32),
    "long": np.dtype(np.int64),
    "float": np.dtype(np.float32),
    "double": np.dtype(np.float64),
    "string": np.dtype(object),
    "binary": np.dtype(object),
    "datetime": np.dtype("datetime64[ns]"),
}
_EXACT_INT_LIMIT = {"float": 2**24, "double": 2**53}
_NUMERIC = ("boolean", "integer", "long", "float", "double")


# -- specs -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColSpec:
    """A named (or unnamed) column of an MLflow type; ``type`` may also be a dict for arrays/objects."""

    type: Any
    name: str | None = None
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = dict(self.type) if isinstance(self.type, Mapping) else {"type": self.type}
        if self.name is not None:
            d["name"] = self.name
        d["required"] = self.required
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ColSpec":
        d = dict(d)
        name = d.pop("name", None)
        required = d.pop("required", True)
        typ = d["type"] if set(d) == {"type"} else d
        if isinstance(typ, str) and typ not in COLUMN_TYPES and typ != "any":
            raise SchemaError(f"Unknown column type '{typ}'; expected one of {sorted(COLUMN_TYPES)}.")
        return cls(type=typ, name=name, required=required)


@dataclass(frozen=True)
class TensorSpec:
    """An n-dimensional array of one numpy dtype; ``-1`` in ``shape`` means any size."""

    dtype: np.dtype
    shape: tuple[int, ...]
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.name is not None:
            d["name"] = self.name
        d["type"] = "tensor"
        d["tensor-spec"] = {"dtype": str(np.dtype(self.dtype)), "shape": list(self.shape)}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TensorSpec":
        spec = d.get("tensor-spec") or {}
        try:
            dtype = np.dtype(spec["dtype"])
        except (KeyError, TypeError) as exc:
            raise SchemaError(f"Malformed tensor spec {dict(d)!r}: {exc}") from None
        return cls(dtype=dtype, shape=tuple(spec.get("shape") or ()), name=d.get("name"))

    @property
    def type(self) -> str:
        return "tensor"


@dataclass(frozen=True)
class ParamSpec:
    """An inference parameter passed to ``predict(..., params=)`` with its type and default."""

    name: str
    type: str
    default: Any = None
    shape: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        default = self.default.tolist() if isinstance(self.default, np.ndarray) else self.default
        return {
            "name": self.name,
            "default": default,
            "shape": list(self.shape) if self.shape is not None else None,
            "type": self.type,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ParamSpec":
        shape = d.get("shape")
        return cls(name=d["name"], type=d["type"], default=d.get("default"),
                   shape=tuple(shape) if shape is not None else None)


def _spec_from_dict(d: Mapping[str, Any]):
    if not isinstance(d, Mapping) or "type" not in d:
        raise SchemaError(f"Malformed schema entry {d!r}: every entry needs a 'type'.")
    return TensorSpec.from_dict(d) if d["type"] == "tensor" else ColSpec.from_dict(d)


class Schema:
    """An ordered list of column specs or of tensor specs (never a mix)."""

    def __init__(self, inputs: Sequence[ColSpec | TensorSpec]) -> None:
        self.inputs = list(inputs)
        kinds = {isinstance(s, TensorSpec) for s in self.inputs}
        if len(kinds) > 1:
            raise SchemaError("A schema holds either column specs or tensor specs, not both.")
        names = [s.name for s in self.inputs]
        if any(n is None for n in names) and any(n is not None for n in names):
            raise SchemaError("Either every entry of a schema has a name or none does.")
        # Cached views used on the hot path of enforcement.
        self._names = [n for n in names if n is not None]
        self._required = [s.name for s in self.inputs if getattr(s, "required", True) and s.name is not None]
        # Exact numpy dtypes of a frame that needs no checks (numeric and boolean columns only:
        # they cannot hold values of another type, and NaN is a valid float).
        exact = [COLUMN_TYPES.get(s.type) if isinstance(s, ColSpec) and s.type in _NUMERIC else None
                 for s in self.inputs]
        self._exact_dtypes = exact if self._names and all(e is not None for e in exact) else None

    @property
    def is_tensor_spec(self) -> bool:
        return bool(self.inputs) and isinstance(self.inputs[0], TensorSpec)

    @property
    def has_input_names(self) -> bool:
        return bool(self._names)

    def input_names(self) -> list[str]:
        return list(self._names)

    def required_input_names(self) -> list[str]:
        return list(self._required)

    def to_dict(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.inputs]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str | list) -> "Schema":
        data = json.loads(text) if isinstance(text, str) else text
        if not isinstance(data, list):
            raise SchemaError(f"A schema is a JSON list of specs, found {type(data).__name__}.")
        return cls([_spec_from_dict(d) for d in data])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return "\n".join(_describe(s) for s in self.inputs) or "(empty)"


class ParamSchema:
    def __init__(self, params: Sequence[ParamSpec]) -> None:
        self.params = list(params)

    def to_json(self) -> str:
        return json.dumps([p.to_dict() for p in self.params])

    @classmethod
    def from_json(cls, text: str) -> "ParamSchema":
        return cls([ParamSpec.from_dict(d) for d in json.loads(text)])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParamSchema) and self.to_json() == other.to_json()


def _describe(spec) -> str:
    if isinstance(spec, TensorSpec):
        return f"{spec.name or '-'}: tensor {spec.dtype} {list(spec.shape)}"
    opt = "" if spec.required else " (optional)"
    return f"{spec.name or '-'}: {spec.type}{opt}"


@dataclass
class ModelSignature:
    """What a model takes and returns, and which inference params it accepts."""

    inputs: Schema | None = None
    outputs: Schema | None = None
    params: ParamSchema | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs.to_json() if self.inputs is not None else None,
            "outputs": self.outputs.to_json() if self.outputs is not None else None,
            "params": self.params.to_json() if self.params is not None else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelSignature":
        def parse(key, kind):
            v = d.get(key)
            if v in (None, "", "null"):
                return None
            try:
                return kind.from_json(v)
            except (ValueError, KeyError, TypeError) as exc:
                raise SchemaError(f"Malformed signature '{key}': {exc}") from None

        return cls(inputs=parse("inputs", Schema), outputs=parse("outputs", Schema),
                   params=parse("params", ParamSchema))

    def __repr__(self) -> str:
        parts = [f"inputs:\n  {self.inputs!r}".replace("\n", "\n  ") if self.inputs else "inputs: None"]
        parts.append(f"outputs:\n  {self.outputs!r}".replace("\n", "\n  ") if self.outputs else "outputs: None")
        if self.params:
            parts.append("params: " + ", ".join(f"{p.name}: {p.type}={p.default!r}" for p in self.params.params))
        return "\n".join(parts)


# -- inference -------------------------------------------------------------------------------
def _column_type(values) -> str:
    """The MLflow column type of a pandas Series or 1-d array."""
    import pandas as pd

    dtype = values.dtype
    kind = dtype.kind
    if kind == "b" or str(dtype) == "boolean":
        return "boolean"
    if kind in "iu" or str(dtype) in {"Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32"}:
        return "integer" if dtype.itemsize <= 4 and not (kind == "u" and dtype.itemsize == 4) else "long"
    if kind == "f":
        return "float" if dtype.itemsize <= 4 else "double"
    if kind == "M" or isinstance(dtype, pd.DatetimeTZDtype):
        return "datetime"
    if kind in "OSU" or isinstance(dtype, pd.StringDtype) or str(dtype) == "str":
        sample = pd.Series(values).dropna()
        if sample.empty or all(isinstance(v, str) for v in sample[:1000]):
            return "string"
        if all(isinstance(v, (bytes, bytearray)) for v in sample[:1000]):
            return "binary"
        if all(isinstance(v, (bool, np.bool_)) for v in sample[:1000]):
            return "boolean"
        raise SchemaError(
            f"Cannot infer a column type for values of mixed or unsupported Python types "
            f"({sorted({type(v).__name__ for v in sample[:1000]})}); convert the column to one type."
        )
    if isinstance(dtype, pd.CategoricalDtype):
        return _column_type(np.asarray(values.astype(dtype.categories.dtype)))
    raise SchemaError(f"Cannot infer a column type for dtype {dtype}.")


def _infer_schema(data: Any) -> Schema:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        specs = []
        for name in data.columns:
            col = data[name]
            specs.append(ColSpec(_column_type(col), str(name), required=not bool(col.isna().any())))
        return Schema(specs)
    if isinstance(data, pd.Series):
        name = str(data.name) if data.name is not None else None
        return Schema([ColSpec(_column_type(data), name)])
    if isinstance(data, np.ndarray):
        if data.dtype.kind in "OU" and data.ndim == 1:
            return Schema([ColSpec(_column_type(data))])
        return Schema([TensorSpec(data.dtype, (-1,) + data.shape[1:])])
    if isinstance(data, Mapping):
        if all(isinstance(v, (np.ndarray, list)) for v in data.values()):
            if all(isinstance(v, list) and v and not isinstance(v[0], (list, dict)) for v in data.values()):
                return _infer_schema(pd.DataFrame(data))
            return Schema([TensorSpec(np.asarray(v).dtype, (-1,) + np.asarray(v).shape[1:], str(k))
                           for k, v in data.items()])
        return _infer_schema(pd.DataFrame([data]))
    if isinstance(data, (list, tuple)):
        if data and all(isinstance(r, Mapping) for r in data):
            return _infer_schema(pd.DataFrame(list(data)))
        if data and all(isinstance(r, str) for r in data):
            return Schema([ColSpec("string")])
        return _infer_schema(np.asarray(data))
    if isinstance(data, (str, bytes, bool, int, float, np.generic)):
        return _infer_schema(pd.Series([data]))
    raise SchemaError(
        f"Cannot infer a schema from {type(data).__name__}; pass a pandas DataFrame, a numpy array, "
        f"a dict of arrays or a list of records."
    )


def _infer_param_schema(params: Mapping[str, Any]) -> ParamSchema:
    specs = []
    for name, value in params.items():
        arr = np.asarray(value)
        if arr.ndim > 1:
            raise SchemaError(f"Param '{name}': only scalars and 1-d lists are supported.")
        scalar = arr.reshape(-1)[0] if arr.ndim == 1 and arr.size else value
        if isinstance(scalar, (bool, np.bool_)):
            typ = "boolean"
        elif isinstance(scalar, (int, np.integer)):
            typ = "long"
        elif isinstance(scalar, (float, np.floating)):
            typ = "double"
        elif isinstance(scalar, str):
            typ = "string"
        else:
            raise SchemaError(f"Param '{name}': unsupported type {type(value).__name__}.")
        specs.append(ParamSpec(name, typ, value, (-1,) if arr.ndim == 1 else None))
    return ParamSchema(specs)


def infer_signature(model_input: Any = None, model_output: Any = None,
                    params: Mapping[str, Any] | None = None) -> ModelSignature:
    """Infer a signature from example input, output and params (MLflow's ``infer_signature``)."""
    return ModelSignature(
        inputs=_infer_schema(model_input) if model_input is not None else None,
        outputs=_infer_schema(model_output) if model_output is not None else None,
        params=_infer_param_schema(params) if params else None,
    )


# -- enforcement -----------------------------------------------------------------------------
def _cast_column(values, spec: ColSpec):
    """Return ``values`` cast to the spec's type, or raise SchemaError if it would lose information."""
    import pandas as pd

    want = spec.type
    if not isinstance(want, str) or want == "any":
        return values
    dtype = values.dtype
    have = None
    try:
        have = _column_type(values) if len(values) else want
    except SchemaError:
        pass
    if have == want:
        return values
    target = COLUMN_TYPES[want]
    ok = False
    if want in ("long", "integer") and have in ("integer", "long"):
        ok = want == "long" or (len(values) == 0 or np.abs(values.to_numpy()).max() < 2**31)
    elif want in ("double", "float") and have in ("float", "double"):
        ok = want == "double" or (have == "float")
    elif want in ("double", "float") and have in ("integer", "long", "boolean"):
        limit = _EXACT_INT_LIMIT[want]
        arr = np.asarray(values, dtype=np.float64)
        ok = have == "boolean" or bool(np.all(np.abs(arr) <= limit))
    elif want in ("integer", "long") and dtype.kind == "f":
        ok = False  # floats into integer columns lose information; refuse even 1.0
    elif want == "datetime" and have == "string":
        try:
            return pd.to_datetime(values)
        except (ValueError, TypeError):
            ok = False
    elif want == "string" and have is None:
        ok = False
    if not ok:
        raise SchemaError(
            f"Column '{spec.name}': expected {want}, received {have or dtype} ({dtype}); "
            f"converting would lose information. Convert the column to {want} before predicting."
        )
    if want == "boolean" or dtype.kind == "O":
        return values
    return values.astype(target)


def _enforce_columns(data, schema: Schema):
    import pandas as pd

    if isinstance(data, np.ndarray) and data.ndim == 2 and schema.has_input_names:
        if data.shape[1] != len(schema.inputs):
            raise SchemaError(
                f"Input has {data.shape[1]} columns; the model expects {len(schema.inputs)}: "
                f"{schema.input_names()}. Pass a DataFrame with those columns."
            )
        data = pd.DataFrame(data, columns=schema.input_names())
    elif isinstance(data, Mapping):
        data = pd.DataFrame(data if all(np.ndim(v) >= 1 for v in data.values()) else [data])
    elif isinstance(data, (list, tuple)):
        if data and all(isinstance(r, Mapping) for r in data):
            data = pd.DataFrame(list(data))
        else:
            data = pd.DataFrame(np.asarray(data, dtype=object) if data and isinstance(data[0], str) else data)
            if schema.has_input_names and data.shape[1] == len(schema.inputs):
                data.columns = schema.input_names()
    elif isinstance(data, pd.Series):
        data = data.to_frame()
    elif isinstance(data, np.ndarray) and data.ndim == 1:
        data = pd.DataFrame({schema.inputs[0].name or 0: data})
    if not isinstance(data, pd.DataFrame):
        raise SchemaError(f"Expected a DataFrame (or records, or a 2-d array), received {type(data).__name__}.")

    if not schema.has_input_names:
        if data.shape[1] != len(schema.inputs):
            raise SchemaError(f"Input has {data.shape[1]} columns; the model expects {len(schema.inputs)}.")
        for i, spec in enumerate(schema.inputs):
            col = data.iloc[:, i]
            cast = _cast_column(col, ColSpec(spec.type, name=str(data.columns[i]), required=True))
            if cast is not col:
                data = data.copy() if data is not None else data
                data.isetitem(i, cast)
        return data

    columns = data.columns
    names = schema._names
    if len(columns) == len(names) and all(a == b for a, b in zip(columns, names)):
        exact = schema._exact_dtypes
        if exact is not None and all(a == b for a, b in zip(data.dtypes.array, exact)):
            return data  # the fast path: already the model's columns and dtypes
        frame = data
    else:
        present = set(map(str, columns))
        missing = [n for n in schema._required if n not in present]
        if missing:
            raise SchemaError(
                f"Missing required column{'s' if len(missing) > 1 else ''} {missing}. "
                f"The model expects {names}; received {list(map(str, columns))}."
            )
        extra = [c for c in map(str, columns) if c not in set(names)]
        if extra:
            warnings.warn(f"Dropping columns the model's signature does not list: {extra}", stacklevel=4)
        if any(not isinstance(c, str) for c in columns):
            data = data.rename(columns=str)
        frame = data[[n for n in names if n in present]]
    for spec in schema.inputs:
        if spec.name not in frame.columns:
            continue
        col = frame[spec.name]
        if not spec.required and col.isna().any():
            continue
        if spec.required and col.isna().any() and spec.type not in ("float", "double"):
            raise SchemaError(f"Column '{spec.name}' is required but has missing values.")
        cast = _cast_column(col, spec)
        if cast is not col:
            if frame is data:
                frame = data.copy()
            frame[spec.name] = cast
    return frame


def _enforce_tensor(data, schema: Schema):
    import pandas as pd

    if len(schema.inputs) > 1 or schema.has_input_names and isinstance(data, Mapping):
        if not isinstance(data, Mapping):
            raise SchemaError(f"The model expects named tensors {schema.input_names()}; pass a dict of arrays.")
        out = {}
        for spec in schema.inputs:
            if spec.name not in data:
                raise SchemaError(f"Missing tensor '{spec.name}'. The model expects {schema.input_names()}.")
            out[spec.name] = _check_tensor(np.asarray(data[spec.name]), spec)
        return out
    spec = schema.inputs[0]
    if isinstance(data, pd.DataFrame):
        data = data.to_numpy()
    elif not isinstance(data, np.ndarray):
        data = np.asarray(data)
    return _check_tensor(data, spec)


def _check_tensor(arr: np.ndarray, spec: TensorSpec) -> np.ndarray:
    if arr.dtype != spec.dtype:
        if np.can_cast(arr.dtype, spec.dtype, casting="safe"):
            arr = arr.astype(spec.dtype)
        elif arr.dtype.kind in "iu" and spec.dtype.kind == "f" and arr.size and \
                np.abs(arr).max() <= 2 ** (np.finfo(spec.dtype).nmant + 1):
            arr = arr.astype(spec.dtype)
        else:
            name = f"Tensor '{spec.name}'" if spec.name else "Input tensor"
            raise SchemaError(
                f"{name}: expected dtype {spec.dtype}, received {arr.dtype}; the cast would lose "
                f"information. Convert the input with .astype('{spec.dtype}')."
            )
    shape = spec.shape
    if len(shape) != arr.ndim or any(s != -1 and s != a for s, a in zip(shape, arr.shape)):
        raise SchemaError(f"Expected a tensor of shape {list(shape)}, received shape {list(arr.shape)}.")
    return arr


def enforce_schema(data: Any, schema: Schema):
    """Return ``data`` checked against ``schema`` and cast where that is safe."""
    if schema is None or not schema.inputs:
        return data
    if schema.is_tensor_spec:
        return _enforce_tensor(data, schema)
    return _enforce_columns(data, schema)


_PARAM_CASTS = {"boolean": bool, "long": int, "integer": int, "double": float, "float": float, "string": str}


def enforce_params(params: Mapping[str, Any] | None, schema: ParamSchema | None) -> dict[str, Any] | None:
    """Apply defaults and check types of inference params; unknown params are ignored with a warning."""
    if schema is None:
        if params:
            warnings.warn(f"The model's signature declares no params; ignoring {sorted(params)}.", stacklevel=3)
        return None
    params = dict(params or {})
    out = {}
    for spec in schema.params:
        if spec.name not in params:
            out[spec.name] = spec.default
            continue
        value = params.pop(spec.name)
        cast = _PARAM_CASTS.get(spec.type, lambda v: v)
        try:
            if spec.shape is not None:
                out[spec.name] = [cast(v) for v in value]
            elif spec.type == "boolean" and not isinstance(value, (bool, np.bool_)):
                raise ValueError
            elif spec.type in ("long", "integer") and isinstance(value, float) and not value.is_integer():
                raise ValueError
            else:
                out[spec.name] = cast(value)
        except (TypeError, ValueError):
            raise SchemaError(
                f"Param '{spec.name}': expected {spec.type}{' list' if spec.shape else ''}, "
                f"received {value!r}."
            ) from None
    if params:
        warnings.warn(f"Ignoring params the signature does not declare: {sorted(params)}", stacklevel=3)
    return out


__all__ = [
    "ColSpec", "TensorSpec", "ParamSpec", "Schema", "ParamSchema", "ModelSignature",
    "infer_signature", "enforce_schema", "enforce_params",
]

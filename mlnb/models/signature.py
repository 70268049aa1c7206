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
from enum import Enum
from typing import Any, Mapping, Sequence

import numpy as np

from mlnb.errors import InvalidParameterError, SchemaError

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


class DataType(str, Enum):
    """MLflow's scalar column types; a member equals its name (``DataType.double == "double"``)."""

    boolean = "boolean"
    integer = "integer"
    long = "long"
    float = "float"
    double = "double"
    string = "string"
    binary = "binary"
    datetime = "datetime"

    def __repr__(self) -> str:
        return self.value

    def __str__(self) -> str:
        return f"DataType.{self.value}"

    def __format__(self, spec: str) -> str:  # f-strings and messages show the bare name
        return format(self.value, spec)

    __hash__ = str.__hash__

    def to_numpy(self) -> np.dtype:
        """The numpy dtype of this type (``string`` is ``<U0``, as in MLflow)."""
        return np.dtype(str) if self is DataType.string else \
            np.dtype(bytes) if self is DataType.binary else COLUMN_TYPES[self.value]

    def to_pandas(self):
        return COLUMN_TYPES[self.value]

    def to_python(self) -> type:
        import builtins
        import datetime as dt

        return {"boolean": bool, "integer": int, "long": int, "float": builtins.float,
                "double": builtins.float, "string": str, "binary": bytes,
                "datetime": dt.datetime}[self.value]


def _as_type(t: Any):
    """A column type from its JSON form or a Python value: DataType, Array, Object, Map or AnyType."""
    if isinstance(t, (DataType, Array, Object, Map, AnyType)):
        return t
    if isinstance(t, str):
        if t == "any":
            return AnyType()
        try:
            return DataType(t)
        except ValueError:
            raise SchemaError(f"Unknown column type '{t}'; expected one of {sorted(COLUMN_TYPES)}, "
                              f"array, object, map or any.") from None
    if isinstance(t, Mapping):
        kind = t.get("type")
        if kind == "array":
            return Array(_as_type(_bare(t.get("items") or {})))
        if kind == "object":
            props = t.get("properties")
            if not isinstance(props, Mapping):
                raise SchemaError(f"Malformed object type {dict(t)!r}: it needs 'properties'.")
            return Object([Property(n, _as_type(_bare(p)), bool(p.get("required", True)))
                           for n, p in props.items()])
        if kind == "map":
            return Map(_as_type(_bare(t.get("values") or {})))
        if kind in ("any", *COLUMN_TYPES):
            return _as_type(kind)
    raise SchemaError(f"Malformed column type {t!r}.")


def _bare(d: Mapping[str, Any]):
    """A nested type's JSON without its ``required`` flag (``{"type": "long"}`` -> ``"long"``)."""
    d = {k: v for k, v in dict(d).items() if k != "required"}
    return d["type"] if set(d) == {"type"} else d


def _type_json(t: Any) -> dict[str, Any]:
    return t.to_dict() if hasattr(t, "to_dict") else {"type": str.__str__(t) if isinstance(t, str) else t}


def _type_repr(t: Any) -> str:
    return t.value if isinstance(t, DataType) else repr(t)


class _Compound:
    """What Array, Property, Object and Map share: equal when of the same class with equal ``_key()``,
    unhashable (they are mutable)."""

    def _key(self) -> Any:
        return self.to_dict()  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, type(self)) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]


class Array(_Compound):
    """A list whose items all have one type (MLflow's ``Array``): ``Array(DataType.string)``."""

    def __init__(self, dtype: Any) -> None:
        self.dtype = _as_type(dtype)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "array", "items": _type_json(self.dtype)}

    def _key(self) -> Any:
        return self.dtype

    def __repr__(self) -> str:
        return f"Array({_type_repr(self.dtype)})"


class Property(_Compound):
    """A named field of an :class:`Object`, with its type and whether it must be present."""

    def __init__(self, name: str, dtype: Any, required: bool = True) -> None:
        self.name, self.dtype, self.required = name, _as_type(dtype), required

    def to_dict(self) -> dict[str, Any]:
        return {self.name: {**_type_json(self.dtype), "required": self.required}}

    def __repr__(self) -> str:
        return f"{self.name}: {_type_repr(self.dtype)} ({'required' if self.required else 'optional'})"


class Object(_Compound):
    """A dict with known keys (MLflow's ``Object``); properties are kept sorted by name."""

    def __init__(self, properties: Sequence[Property]) -> None:
        self.properties = sorted(properties, key=lambda p: p.name)
        names = [p.name for p in self.properties]
        if len(set(names)) != len(names):
            raise SchemaError(f"An object type lists a property twice: {names}.")

    def to_dict(self) -> dict[str, Any]:
        props: dict[str, Any] = {}
        for p in self.properties:
            props.update(p.to_dict())
        return {"type": "object", "properties": props}

    def __repr__(self) -> str:
        return "{" + ", ".join(repr(p) for p in self.properties) + "}"


class Map(_Compound):
    """A dict of string keys to values of one type (MLflow's ``Map``)."""

    def __init__(self, value_type: Any) -> None:
        self.value_type = _as_type(value_type)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "map", "values": _type_json(self.value_type)}

    def _key(self) -> Any:
        return self.value_type

    def __repr__(self) -> str:
        inner = str(self.value_type) if isinstance(self.value_type, DataType) else repr(self.value_type)
        return f"Map(str -> {inner})"


class AnyType:
    """Any value; nothing is checked (MLflow's ``AnyType``)."""

    def to_dict(self) -> dict[str, Any]:
        return {"type": "any"}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnyType)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "Any"


# -- specs -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColSpec:
    """A named (or unnamed) column: a :class:`DataType` or an Array, Object, Map or AnyType."""

    type: Any
    name: str | None = None
    required: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", _as_type(self.type))

    def to_dict(self) -> dict[str, Any]:
        d = _type_json(self.type)
        if self.name is not None:
            d["name"] = self.name
        d["required"] = self.required
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ColSpec":
        d = dict(d)
        name = d.pop("name", None)
        required = d.pop("required", True)
        return cls(type=_bare(d), name=name, required=required)

    @classmethod
    def from_json_dict(cls, **kwargs: Any) -> "ColSpec":
        """MLflow's spelling of :meth:`from_dict`, taking the entry's keys as keywords."""
        return cls.from_dict(kwargs)

    def __repr__(self) -> str:
        desc = f"{_type_repr(self.type)} ({'required' if self.required else 'optional'})"
        return f"{self.name!r}: {desc}" if self.name is not None else desc


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

    @classmethod
    def from_json_dict(cls, **kwargs: Any) -> "TensorSpec":
        """MLflow's spelling of :meth:`from_dict`, taking the entry's keys as keywords."""
        return cls.from_dict(kwargs)

    @property
    def required(self) -> bool:
        """A tensor input is always required."""
        return True

    @property
    def type(self) -> str:
        return "tensor"

    def __repr__(self) -> str:
        desc = f"Tensor({str(np.dtype(self.dtype))!r}, {tuple(self.shape)!r})"
        return f"{self.name!r}: {desc}" if self.name is not None else desc


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

    @classmethod
    def from_json_dict(cls, **kwargs: Any) -> "ParamSpec":
        """MLflow's spelling of :meth:`from_dict`, taking the entry's keys as keywords."""
        return cls.from_dict(kwargs)

    def __repr__(self) -> str:
        shape = f" (shape: {tuple(self.shape)!r})" if self.shape is not None else ""
        return f"{self.name!r}: {self.type} (default: {self.default}){shape}"


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

    def is_tensor_spec(self) -> bool:
        return bool(self.inputs) and isinstance(self.inputs[0], TensorSpec)

    def has_input_names(self) -> bool:
        return bool(self._names)

    def input_names(self) -> list[str]:
        return list(self._names)

    def required_input_names(self) -> list[str]:
        return list(self._required)

    def optional_input_names(self) -> list[str | int]:
        """Names of the optional columns (their positions when the schema has no names)."""
        return [s.name if s.name is not None else i for i, s in enumerate(self.inputs) if not s.required]

    def input_types(self) -> list[Any]:
        """Each entry's type: a :class:`DataType` (or Array, Object...) per column, a numpy dtype per tensor."""
        return [np.dtype(s.dtype) if isinstance(s, TensorSpec) else s.type for s in self.inputs]

    def input_dict(self) -> dict[str, ColSpec | TensorSpec]:
        """The entries by name; only for a schema whose entries have names."""
        self._need_names("an input dict")
        return {s.name: s for s in self.inputs}

    def input_types_dict(self) -> dict[str, Any]:
        """The entries' types by name (see :meth:`input_types`); only for a schema with names."""
        self._need_names("input types as a dict")
        return dict(zip(self._names, self.input_types()))

    def numpy_types(self) -> list[np.dtype]:
        """The numpy dtype of each entry; every column must have a plain :class:`DataType`."""
        if self.is_tensor_spec():
            return self.input_types()
        self._need_plain_types("numpy")
        return [s.type.to_numpy() for s in self.inputs]

    def pandas_types(self) -> list[Any]:
        """The pandas dtype of each column; tensors have numpy types only (see :meth:`numpy_types`)."""
        if self.is_tensor_spec():
            raise SchemaError("A tensor schema has numpy types only: call numpy_types() instead.")
        self._need_plain_types("pandas")
        return [s.type.to_pandas() for s in self.inputs]

    def _need_names(self, what: str) -> None:
        if not self.has_input_names():
            raise SchemaError(f"Cannot get {what} for a schema without names.")

    def _need_plain_types(self, kind: str) -> None:
        if not all(isinstance(s.type, DataType) for s in self.inputs):
            raise SchemaError(f"Cannot get {kind} types: some columns are Array, Object, Map or Any, "
                              "which have no single dtype.")

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
        return "[" + ", ".join(repr(s) for s in self.inputs) + "]"


class ParamSchema:
    def __init__(self, params: Sequence[ParamSpec]) -> None:
        self.params = list(params)

    def to_dict(self) -> list[dict[str, Any]]:
        """The JSON-ready list of parameter specs."""
        return [p.to_dict() for p in self.params]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> "ParamSchema":
        return cls([ParamSpec.from_dict(d) for d in json.loads(text)])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParamSchema) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return "[" + ", ".join(repr(p) for p in self.params) + "]"


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
        """MLflow's layout: each part on its own line, its schema indented below it."""
        return "".join(f"{part}: \n  {getattr(self, part)!r}\n" for part in ("inputs", "outputs", "params"))


# -- inference -------------------------------------------------------------------------------
_NESTED = (list, tuple, np.ndarray, Mapping)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, (float, np.floating)) and v != v)


def _nested_type(values: Sequence[Any]):
    """The one MLflow type of Python values that may nest: lists become ``Array``, dicts ``Object``
    (a key missing or None in some dict is an optional property), scalars a :class:`DataType`."""
    present = [v for v in values if not _missing(v)]
    if not present:
        return AnyType()
    if all(isinstance(v, (list, tuple, np.ndarray)) for v in present):
        return Array(_nested_type([x for v in present for x in v]))
    if all(isinstance(v, Mapping) for v in present):
        keys = sorted({str(k) for v in present for k in v})
        return Object([
            Property(k, _nested_type([v.get(k) for v in present]),
                     all(not _missing(v.get(k)) for v in present))
            for k in keys])
    kinds = set()
    for v in present:
        if isinstance(v, (bool, np.bool_)):
            kinds.add(DataType.boolean)
        elif isinstance(v, (int, np.integer)):
            kinds.add(DataType.integer if isinstance(v, np.int32) else DataType.long)
        elif isinstance(v, (np.float32,)):
            kinds.add(DataType.float)
        elif isinstance(v, (float, np.floating)):
            kinds.add(DataType.double)
        elif isinstance(v, str):
            kinds.add(DataType.string)
        elif isinstance(v, (bytes, bytearray)):
            kinds.add(DataType.binary)
        elif isinstance(v, (np.datetime64,)) or type(v).__name__ in ("datetime", "Timestamp", "date"):
            kinds.add(DataType.datetime)
        else:
            kinds.add(type(v).__name__)
    if len(kinds) == 1 and isinstance(next(iter(kinds)), DataType):
        return kinds.pop()
    if kinds and kinds <= {DataType.integer, DataType.long, DataType.float, DataType.double}:
        return DataType.double
    raise SchemaError(
        f"Cannot infer one type for values of mixed or unsupported types ({sorted(map(repr, kinds))}); "
        f"convert them to one type, or pass a signature built with mlnb.types.")


def _is_sparse(data: Any) -> bool:
    return type(data).__module__.startswith("scipy.sparse") and hasattr(data, "tocsr")


def _column_type(values):
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
        if any(isinstance(v, _NESTED) for v in sample[:1000]):
            return _nested_type(list(sample))
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
    if isinstance(data, np.ndarray) or _is_sparse(data):
        if data.dtype.kind in "OU" and data.ndim == 1:
            return Schema([ColSpec(_column_type(data))])
        return Schema([TensorSpec(data.dtype, (-1,) + data.shape[1:])])
    if isinstance(data, Mapping):
        if data and all(isinstance(v, np.ndarray) for v in data.values()):
            return Schema([TensorSpec(v.dtype, (-1,) + v.shape[1:], str(k)) for k, v in data.items()])
        # one example row, as MLflow reads a dict: lists are Array columns, dicts Object columns
        return Schema([ColSpec(_column_type(v) if isinstance(v, pd.Series) else _nested_type([v]), str(k),
                               required=not _missing(v)) for k, v in data.items()])
    if isinstance(data, (list, tuple)):
        if data and all(isinstance(r, Mapping) for r in data):  # records: a key missing or None is optional
            keys = list(dict.fromkeys(k for r in data for k in r))
            return Schema([ColSpec(_nested_type([r.get(k) for r in data]), str(k),
                                   required=all(not _missing(r.get(k)) for r in data)) for k in keys])
        if data and all(isinstance(r, str) for r in data):
            return Schema([ColSpec("string")])
        try:
            return Schema([ColSpec(_nested_type(list(data)))])
        except SchemaError as exc:  # MLflow's fallback: accept anything, check nothing
            warnings.warn(f"{exc} The input schema is set to Any.", stacklevel=3)
            return Schema([ColSpec(AnyType())])
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


def infer_signature_from_example(input_example: Any, prediction: Any = None) -> ModelSignature:
    """The signature a model gets when it is saved with an input example and no signature: the
    example's schema, and the schema of the model's ``prediction`` on it. As in MLflow, a 1-D array
    predicted from column input is one value per row, so it becomes a single column, not a tensor."""
    signature = infer_signature(input_example, None)
    if prediction is not None:
        if (signature.inputs is not None and not signature.inputs.is_tensor_spec()
                and isinstance(prediction, np.ndarray) and prediction.ndim == 1):
            import pandas as pd

            prediction = pd.Series(prediction)
        signature.outputs = _infer_schema(prediction)
    return signature


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

    if isinstance(data, np.ndarray) and data.ndim == 2 and schema.has_input_names():
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
            if schema.has_input_names() and data.shape[1] == len(schema.inputs):
                data.columns = schema.input_names()
    elif isinstance(data, pd.Series):
        data = data.to_frame()
    elif isinstance(data, np.ndarray) and data.ndim == 1:
        data = pd.DataFrame({schema.inputs[0].name or 0: data})
    if not isinstance(data, pd.DataFrame):
        raise SchemaError(f"Expected a DataFrame (or records, or a 2-d array), received {type(data).__name__}.")

    if not schema.has_input_names():
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

    if len(schema.inputs) > 1 or schema.has_input_names() and isinstance(data, Mapping):
        if not isinstance(data, Mapping):
            raise SchemaError(f"The model expects named tensors {schema.input_names()}; pass a dict of arrays.")
        out = {}
        for spec in schema.inputs:
            if spec.name not in data:
                raise SchemaError(f"Missing tensor '{spec.name}'. The model expects {schema.input_names()}.")
            out[spec.name] = _check_tensor(np.asarray(data[spec.name]), spec)
        return out
    spec = schema.inputs[0]
    if _is_sparse(data):  # checked as is: densifying a sparse matrix could need far more memory
        return _check_tensor(data, spec)
    if isinstance(data, pd.DataFrame):
        data = data.to_numpy()
    elif not isinstance(data, np.ndarray):
        data = np.asarray(data)
    return _check_tensor(data, spec)


def _check_tensor(arr, spec: TensorSpec):
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
    if schema.is_tensor_spec():
        return _enforce_tensor(data, schema)
    if isinstance(data, (list, tuple, Mapping)) and any(
            isinstance(s.type, (Array, Object, Map, AnyType)) for s in schema.inputs):
        return _enforce_nested(data, schema)
    return _enforce_columns(data, schema)


def validate_schema(data: Any, expected_schema: Schema) -> None:
    """Raise SchemaError (an MlflowException) naming the first mismatch when ``data`` does not
    match ``expected_schema``, by the rules a model's predict applies (safe casts pass)."""
    if not isinstance(expected_schema, Schema):
        raise InvalidParameterError(
            f"validate_schema takes a Schema (signature.inputs), got {type(expected_schema).__name__}.")
    enforce_schema(data, expected_schema)


def _enforce_nested(data, schema: Schema):
    """Lists and dicts for a schema with Array, Object, Map or Any columns reach the model as they
    came (a frame would split the lists); required names must be present."""
    rows = [data] if isinstance(data, Mapping) else list(data)
    if schema.has_input_names():
        for row in rows:
            if not isinstance(row, Mapping):
                raise SchemaError(f"The model expects records with fields {schema.input_names()}; "
                                  f"received {type(row).__name__}.")
            missing = [n for n in schema._required if _missing(row.get(n))]
            if missing:
                raise SchemaError(f"Missing required field{'s' if len(missing) > 1 else ''} {missing}. "
                                  f"The model expects {schema.input_names()}.")
    return data


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
    "DataType", "Array", "Object", "Property", "Map", "AnyType",
    "ColSpec", "TensorSpec", "ParamSpec", "Schema", "ParamSchema", "ModelSignature",
    "infer_signature", "enforce_schema", "enforce_params",
]

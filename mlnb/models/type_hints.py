"""A custom model's ``predict`` type hints as its signature, read as MLflow reads them.

``def predict(self, model_input: list[str]) -> list[str]`` gives the input schema
``[string]`` and the output schema ``[string]``; at predict time the input is turned into the
hinted list (a one-column DataFrame becomes its values, a wider one its records) and checked
against the hint, and the model's answer is returned as it is.
Supported element hints: ``str int float bool bytes datetime``, ``list[...]``, ``dict[str, ...]``
and ``Any``.
"""

from __future__ import annotations

import datetime
import inspect
import typing
from typing import Any

from mlnb.errors import SchemaError
from mlnb.models.signature import AnyType, Array, ColSpec, DataType, Map, ModelSignature, Schema

_SCALARS = {str: DataType.string, int: DataType.long, float: DataType.double, bool: DataType.boolean,
            bytes: DataType.binary, datetime.datetime: DataType.datetime}


class UnsupportedHint(Exception):
    """A hint mlnb cannot turn into a schema: the model keeps working without hint handling."""


def _column_type(hint: Any):
    if hint is Any:
        return AnyType()
    if hint is dict:
        return Map(AnyType())
    if hint in _SCALARS:
        return _SCALARS[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list and len(args) == 1:
        return Array(_column_type(args[0]))
    if origin is dict and len(args) == 2 and args[0] is str:
        return Map(_column_type(args[1]))
    raise UnsupportedHint(hint)


def input_hint(predict_fn: Any) -> Any:
    """The ``list[...]`` hint of ``predict``'s input parameter, or None when there is no usable hint."""
    try:
        params = [p for p in inspect.signature(predict_fn).parameters.values() if p.name not in ("self",)]
        hints = typing.get_type_hints(predict_fn)
    except Exception:  # unresolvable forward references, builtins without signatures
        return None
    if params and params[0].name == "context":
        params = params[1:]
    hint = hints.get(params[0].name) if params else None
    if typing.get_origin(hint) is not list or len(typing.get_args(hint)) != 1:
        return None
    try:
        _column_type(typing.get_args(hint)[0])
    except UnsupportedHint:
        return None
    return hint


def signature_from_hints(predict_fn: Any) -> ModelSignature | None:
    """The signature ``predict``'s hints describe, or None when its input has no supported hint."""
    hint = input_hint(predict_fn)
    if hint is None:
        return None
    inputs = Schema([ColSpec(_column_type(typing.get_args(hint)[0]))])
    outputs = None
    try:
        out = typing.get_type_hints(predict_fn).get("return")
        if out is Any:
            outputs = Schema([ColSpec(AnyType())])
        elif typing.get_origin(out) is list and len(typing.get_args(out)) == 1:
            outputs = Schema([ColSpec(_column_type(typing.get_args(out)[0]))])
    except (UnsupportedHint, Exception):
        outputs = None
    return ModelSignature(inputs=inputs, outputs=outputs)


def _check(value: Any, hint: Any) -> str | None:
    """Why ``value`` does not match ``hint``, or None."""
    if hint is Any:
        return None
    if hint in _SCALARS:
        ok = isinstance(value, hint) and not (hint is int and isinstance(value, bool))
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        return None if ok else f"Expected {hint.__name__}, but got {type(value).__name__}"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            return f"Expected list, but got {type(value).__name__}"
        return next((r for v in value if (r := _check(v, args[0]))), None)
    if origin is dict:
        if not isinstance(value, dict):
            return f"Expected dict, but got {type(value).__name__}"
        return next((r for v in value.values() if (r := _check(v, args[1]))), None)
    return None


def to_hinted_input(data: Any, hint: Any) -> list:
    """``data`` (a list, a DataFrame, a Series, an array) as the list ``hint`` asks for, checked."""
    item = typing.get_args(hint)[0]
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a DataFrame
        if item is dict or typing.get_origin(item) is dict:
            data = data.iloc[:, 0].tolist() if list(data.columns) == [0] else data.to_dict("records")
        else:
            if len(data.columns) != 1:
                import warnings

                warnings.warn(f"The model's predict takes {hint}: only the first of the frame's "
                              f"{len(data.columns)} columns is passed, as MLflow does.", stacklevel=4)
            data = data.iloc[:, 0].tolist()
    elif hasattr(data, "tolist"):  # a Series or an ndarray
        data = data.tolist()
    if not isinstance(data, (list, tuple)):
        raise SchemaError(f"The model's predict takes {hint}; got {type(data).__name__}. Pass a list.")
    data = list(data)
    bad = [(str(i + 1), reason) for i, v in enumerate(data) if (reason := _check(v, item))]
    if bad:
        raise SchemaError(f"Input does not match the model's type hint {hint}: invalid elements {bad[:5]}.")
    return data


__all__ = ["input_hint", "signature_from_hints", "to_hinted_input"]

"""Signatures: inference from data, MLflow's JSON both ways, enforcement at predict time."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from mlnb.errors import SchemaError
from mlnb.models.signature import (
    ColSpec, ModelSignature, ParamSchema, ParamSpec, Schema, TensorSpec, enforce_params, enforce_schema,
    infer_signature,
)


@pytest.fixture
def frame():
    return pd.DataFrame({
        "a": [1.0, np.nan], "b": [1, 2], "c": ["x", "y"], "d": [True, False],
        "e": np.array([1, 2], dtype="int32"), "f": np.array([1.0, 2.0], dtype="float32"),
        "t": pd.to_datetime(["2020-01-01", "2021-01-01"]),
    })


PARAMS = {"k": 3, "name": "x", "flags": [1.0, 2.0], "on": True}


def test_inferred_from_a_dataframe_as_mlflow_infers_it(frame):
    import mlflow.models

    ours = infer_signature(frame, np.array([0, 1]), params=PARAMS)
    theirs = mlflow.models.infer_signature(frame, np.array([0, 1]), params=PARAMS)
    assert ours.to_dict() == theirs.to_dict()
    assert [s.type for s in ours.inputs.inputs] == ["double", "long", "string", "boolean", "integer", "float", "datetime"]
    assert ours.inputs.inputs[0].required is False  # a column with NaN is optional


@pytest.mark.parametrize("data", [
    np.zeros((3, 4), dtype="float32"),
    {"x": np.zeros((2, 3)), "y": np.ones(2)},
    [{"a": 1, "b": "s"}, {"a": 2, "b": "t"}],
    ["s1", "s2"],
    pd.Series([1.5, 2.5], name="v"),
], ids=["ndarray", "dict-of-arrays", "records", "list-of-strings", "series"])
def test_inferred_from_arrays_dicts_and_lists_as_mlflow_infers_them(data):
    import mlflow.models

    assert infer_signature(data).to_dict() == mlflow.models.infer_signature(data).to_dict()


def test_tensor_spec_from_an_ndarray():
    sig = infer_signature(np.zeros((5, 3), dtype="float32"), np.zeros(5))
    spec = sig.inputs.inputs[0]
    assert isinstance(spec, TensorSpec) and spec.dtype == np.float32 and spec.shape == (-1, 3)
    assert sig.outputs.inputs[0].shape == (-1,)


def test_mlflow_json_round_trips_through_both_libraries(frame):
    from mlflow.models.signature import ModelSignature as MlflowSignature

    ours = infer_signature(frame, np.array([0, 1]), params=PARAMS)
    theirs = MlflowSignature.from_dict(ours.to_dict())
    back = ModelSignature.from_dict(theirs.to_dict())
    assert back.to_dict() == ours.to_dict()
    assert back.inputs == ours.inputs and back.params == ours.params


def test_optional_column_survives_the_round_trip():
    schema = Schema([ColSpec("double", "x"), ColSpec("string", "note", required=False)])
    text = schema.to_json()
    assert '"required": false' in text
    back = Schema.from_json(text)
    assert back.required_input_names() == ["x"] and back.input_names() == ["x", "note"]


def test_param_spec_json_matches_mlflow():
    spec = ParamSpec("temperature", "double", 0.5)
    assert spec.to_dict() == {"name": "temperature", "default": 0.5, "shape": None, "type": "double"}
    assert ParamSchema.from_json(ParamSchema([spec]).to_json()).params == [spec]


def test_malformed_schema_json_is_a_schema_error():
    with pytest.raises(SchemaError, match="Malformed signature 'inputs'"):
        ModelSignature.from_dict({"inputs": "[{\"name\": \"x\"}]"})
    with pytest.raises(SchemaError, match="Unknown column type 'complex'"):
        Schema.from_json('[{"type": "complex", "name": "x"}]')
    with pytest.raises(SchemaError, match="either column specs or tensor specs"):
        Schema([ColSpec("double", "x"), TensorSpec(np.dtype("float32"), (-1,), "y")])


# -- enforcement -----------------------------------------------------------------------------
@pytest.fixture
def schema(frame):
    return infer_signature(frame.drop(columns=["t", "d"])).inputs


def test_matching_frame_passes_unchanged(frame, schema):
    data = frame.drop(columns=["t", "d"])
    assert enforce_schema(data, schema) is data


def test_safe_upcasts_are_applied(frame, schema):
    data = frame.drop(columns=["t", "d"]).assign(b=np.array([1, 2], dtype="int32"), a=[1, 2])
    out = enforce_schema(data, schema)
    assert out["b"].dtype == np.int64 and out["a"].dtype == np.float64
    assert out["a"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize("column,value,expected,received", [
    ("b", [1.5, 2.0], "long", "double"),
    ("a", [2**60, 2], "double", "long"),
    ("c", [1, 2], "string", "long"),
    ("f", [1.0, 2.0], "float", "double"),
])
def test_lossy_casts_are_refused_naming_column_and_types(frame, schema, column, value, expected, received):
    data = frame.drop(columns=["t", "d"]).assign(**{column: value})
    with pytest.raises(SchemaError, match=rf"Column '{column}': expected {expected}, received {received}"):
        enforce_schema(data, schema)


def test_missing_required_column_is_named(frame, schema):
    with pytest.raises(SchemaError, match=r"Missing required column \['b'\]"):
        enforce_schema(frame.drop(columns=["t", "d", "b"]), schema)


def test_missing_optional_column_is_fine(frame, schema):
    out = enforce_schema(frame.drop(columns=["t", "d", "a"]), schema)
    assert list(out.columns) == ["b", "c", "e", "f"]


def test_missing_values_in_a_required_column_are_refused(frame, schema):
    with pytest.raises(SchemaError, match="Column 'c' is required but has missing values"):
        enforce_schema(frame.drop(columns=["t", "d"]).assign(c=["x", None]), schema)


def test_extra_columns_are_dropped_with_a_warning(frame, schema):
    with pytest.warns(UserWarning, match=r"\['t', 'd'\]"):
        out = enforce_schema(frame[["t", "a", "b", "c", "d", "e", "f"]], schema)
    assert list(out.columns) == ["a", "b", "c", "e", "f"]


def test_records_and_2d_arrays_are_turned_into_frames():
    schema = infer_signature(pd.DataFrame({"x": [1.0], "y": [2.0]})).inputs
    assert enforce_schema([{"x": 1.0, "y": 2.0}], schema).shape == (1, 2)
    out = enforce_schema(np.array([[1.0, 2.0], [3.0, 4.0]]), schema)
    assert list(out.columns) == ["x", "y"]
    with pytest.raises(SchemaError, match="Input has 3 columns; the model expects 2"):
        enforce_schema(np.zeros((1, 3)), schema)


def test_tensor_enforcement_upcasts_safely_and_refuses_lossy_casts_and_bad_shapes():
    schema = Schema([TensorSpec(np.dtype("float32"), (-1, 3))])
    assert enforce_schema(np.zeros((2, 3), dtype="int16"), schema).dtype == np.float32
    with pytest.raises(SchemaError, match="expected dtype float32, received float64"):
        enforce_schema(np.zeros((2, 3)), schema)
    with pytest.raises(SchemaError, match=r"shape \[-1, 3\], received shape \[2, 4\]"):
        enforce_schema(np.zeros((2, 4), dtype="float32"), schema)


def test_params_get_defaults_types_checked_and_unknown_ones_ignored():
    schema = infer_signature(pd.DataFrame({"x": [1.0]}), params=PARAMS).params
    assert enforce_params(None, schema) == PARAMS
    assert enforce_params({"k": 5, "flags": [1, 2]}, schema) == {**PARAMS, "k": 5, "flags": [1.0, 2.0]}
    with pytest.raises(SchemaError, match=r"Param 'k': expected long, received 2.5"):
        enforce_params({"k": 2.5}, schema)
    with pytest.raises(SchemaError, match=r"Param 'on': expected boolean, received 'yes'"):
        enforce_params({"on": "yes"}, schema)
    with pytest.warns(UserWarning, match="zzz"):
        assert enforce_params({"zzz": 1}, schema) == PARAMS


def test_params_without_a_param_schema_are_ignored_with_a_warning():
    with pytest.warns(UserWarning, match="declares no params"):
        assert enforce_params({"k": 1}, None) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert enforce_params(None, None) is None

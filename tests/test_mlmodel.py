"""The MLmodel manifest: MLflow's fields, key order and YAML style; unknown keys kept."""

from __future__ import annotations

import pytest
import yaml

from mlnb.errors import FlavorNotFoundError, ModelFormatError
from mlnb.models.mlmodel import MLMODEL_FILE, Model

MLFLOW_WRITTEN = """\
artifact_path: model
env_vars:
- API_TOKEN
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.skops
    predict_fn: predict
    python_version: 3.11.7
  sklearn:
    code: null
    pickled_model: model.skops
    serialization_format: skops
    sklearn_version: 1.9.1
    skops_trusted_types: null
future_field:
  nested:
  - 1
  - 2
is_signature_from_type_hint: false
metadata:
  owner: fraud-team
mlflow_version: 3.17.2
model_id: m-0123
model_size_bytes: 12383
model_uuid: 6f286c674534449c8326d0a1863104b0
prompts: null
resources:
  api_version: '1'
run_id: 0a1b2c
saved_input_example_info:
  artifact_path: input_example.json
  pandas_orient: split
  serving_input_path: serving_input_example.json
  type: dataframe
signature:
  inputs: '[{"type": "double", "name": "f0", "required": true}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]'
  params: null
type_hint_from_example: false
utc_time_created: '2026-11-26 04:23:43.447938'
"""


def test_an_mlflow_manifest_reads_and_writes_back_byte_for_byte(tmp_path):
    (tmp_path / MLMODEL_FILE).write_text(MLFLOW_WRITTEN)
    model = Model.load(tmp_path)
    assert model.run_id == "0a1b2c" and model.artifact_path == "model" and model.model_id == "m-0123"
    assert model.metadata == {"owner": "fraud-team"}
    assert model.extra["future_field"] == {"nested": [1, 2]}
    assert model.get_signature().inputs.input_names() == ["f0"]
    assert model.to_yaml() == MLFLOW_WRITTEN


def test_mlflow_reads_what_mlnb_writes(tmp_path):
    from mlflow.models import Model as MlflowModel

    Model(flavors={"python_function": {"loader_module": "mlflow.sklearn"}},
          run_id="r1", metadata={"k": "v"}).save(tmp_path)
    theirs = MlflowModel.load(str(tmp_path))
    assert theirs.run_id == "r1" and theirs.metadata == {"k": "v"}
    assert theirs.flavors["python_function"]["loader_module"] == "mlflow.sklearn"


def test_always_written_fields_are_those_of_mlflow(tmp_path):
    data = yaml.safe_load(Model(flavors={"x": {}}).to_yaml())
    assert set(data) == {"flavors", "mlflow_version", "model_uuid", "utc_time_created", "model_id", "prompts"}
    assert len(data["model_uuid"]) == 32 and data["model_id"] is None
    assert data["utc_time_created"].count(":") == 2 and "T" not in data["utc_time_created"]


def test_keys_are_sorted_as_mlflow_sorts_them():
    text = Model(flavors={"b": {"z": 1, "a": 2}, "a": {}}, run_id="r").to_yaml()
    top = [line.split(":")[0] for line in text.splitlines() if line and not line.startswith(" ")]
    assert top == sorted(top)
    assert text.index("  a: {}") < text.index("  b:") < text.index("    a: 2") < text.index("    z: 1")


def test_flavor_lookup_names_what_the_model_has():
    model = Model(flavors={"sklearn": {}})
    assert model.flavor("sklearn") == {}
    with pytest.raises(FlavorNotFoundError, match=r"no 'xgboost' flavor \(it has: sklearn\)"):
        model.flavor("xgboost")


@pytest.mark.parametrize("text,message", [
    ("- just\n- a list\n", "expected a YAML mapping"),
    ("mlflow_version: 3.17.2\n", "'flavors' is missing"),
    ("flavors:\n  sklearn: 3\n", "flavor 'sklearn' must be a mapping"),
    ("flavors:\n  python_function:\n    model_path: m\n", "no 'loader_module'"),
    ("flavors: {x: {}}\nsignature: 5\n", "'signature' must be a mapping"),
    ("flavors: [unclosed\n", "not valid YAML"),
])
def test_malformed_manifests_are_format_errors(tmp_path, text, message):
    (tmp_path / MLMODEL_FILE).write_text(text)
    with pytest.raises(ModelFormatError, match=message):
        Model.load(tmp_path)


def test_save_is_atomic_and_leaves_no_temp_file(tmp_path):
    Model(flavors={"x": {}}).save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [MLMODEL_FILE]


def test_type_hint_flags_written_by_mlflow_are_kept(tmp_path):
    text = MLFLOW_WRITTEN.replace("is_signature_from_type_hint: false", "is_signature_from_type_hint: true")
    (tmp_path / MLMODEL_FILE).write_text(text)
    assert Model.load(tmp_path).to_yaml() == text


def test_schema_and_example_accessors_use_mlflows_names(tmp_path):
    import mlnb.sklearn
    from _models import estimator
    from mlnb.models.signature import infer_signature

    model, X = estimator("logistic_regression")
    meta = mlnb.sklearn.save_model(model, tmp_path / "m", input_example=X.iloc[:3],
                                   signature=infer_signature(X, model.predict(X), params={"k": 1}))
    loaded = Model.load(tmp_path / "m")
    assert loaded.get_input_schema().input_names() == list(X.columns)
    assert loaded.get_output_schema().inputs[0].shape == (-1,)
    assert loaded.get_params_schema().params[0].name == "k"
    assert loaded.load_input_example(tmp_path / "m").equals(X.iloc[:3].reset_index(drop=True))
    assert Model(flavors={"x": {}}).get_input_schema() is None
    assert meta.model_uuid == loaded.model_uuid

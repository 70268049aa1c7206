"""mlnb.pyfunc: custom PythonModels with artifacts, code paths, model_config and params; PyFuncModel."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

import mlnb.pyfunc
import mlnb.sklearn
from _models import custom_expected, custom_model, estimator
from mlnb.errors import InvalidParameterError
from mlnb.models.signature import infer_signature
from mlnb.pyfunc import PyFuncModel, PythonModel, PythonModelContext

X = pd.DataFrame(np.arange(12, dtype=float).reshape(4, 3), columns=["a", "b", "c"])


def test_custom_model_with_artifacts_and_code_paths(tmp_path):
    instance, module_file, artifacts = custom_model(tmp_path)
    mlnb.pyfunc.save_model(tmp_path / "m", python_model=instance, artifacts=artifacts, code_paths=[module_file])
    conf = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())["flavors"]["python_function"]
    assert conf["loader_module"] == "mlnb.pyfunc" and conf["python_model"] == "python_model.pkl"
    assert conf["artifacts"] == {"weights": {"path": "artifacts/weights.json", "uri": artifacts["weights"]}}
    assert conf["code"] == "code" and (tmp_path / "m" / "code" / module_file.name).is_file()
    assert json.loads((tmp_path / "m" / "artifacts" / "weights.json").read_text()) == {"weight": 2.5}
    model = mlnb.pyfunc.load_model(tmp_path / "m")
    np.testing.assert_allclose(model.predict(X), custom_expected(X))
    assert type(model.unwrap_python_model()).__name__ == "ScaledSum"
    assert model.unwrap_python_model().weight == 2.5  # load_context ran


class Recorder(PythonModel):
    def load_context(self, context):
        self.seen = {"artifacts": context.artifacts, "config": context.model_config}

    def predict(self, context, model_input, params=None):
        return {"config": context.model_config, "params": params, "rows": len(model_input)}


def test_context_gives_absolute_artifact_paths_inside_the_model(tmp_path):
    (tmp_path / "vocab").mkdir()
    (tmp_path / "vocab" / "words.txt").write_text("a\nb\n")
    mlnb.pyfunc.save_model(tmp_path / "m", python_model=Recorder(), artifacts={"vocab": str(tmp_path / "vocab")})
    (tmp_path / "vocab" / "words.txt").unlink()  # the model holds its own copy
    seen = mlnb.pyfunc.load_model(tmp_path / "m").unwrap_python_model().seen
    path = seen["artifacts"]["vocab"]
    assert path == str((tmp_path / "m" / "artifacts" / "vocab").absolute())
    assert (tmp_path / "m" / "artifacts" / "vocab" / "words.txt").read_text() == "a\nb\n"


def test_model_config_is_saved_and_can_be_overridden_at_load(tmp_path):
    mlnb.pyfunc.save_model(tmp_path / "m", python_model=Recorder(), model_config={"k": 1, "mode": "fast"})
    assert mlnb.pyfunc.load_model(tmp_path / "m").predict(X)["config"] == {"k": 1, "mode": "fast"}
    override = mlnb.pyfunc.load_model(tmp_path / "m", model_config={"k": 2})
    assert override.predict(X)["config"] == {"k": 2, "mode": "fast"}


def test_params_follow_the_signature(tmp_path):
    sig = infer_signature(X, params={"top_k": 3, "label": "x"})
    mlnb.pyfunc.save_model(tmp_path / "m", python_model=Recorder(), signature=sig)
    model = mlnb.pyfunc.load_model(tmp_path / "m")
    assert model.predict(X)["params"] == {"top_k": 3, "label": "x"}
    assert model.predict(X, params={"top_k": 5})["params"] == {"top_k": 5, "label": "x"}


class NoContext:
    """An object with MLflow's context-free predict shape, not a PythonModel subclass."""

    def predict(self, model_input):
        return model_input["a"].to_numpy() * 10


def test_a_context_free_predict_is_supported(tmp_path):
    mlnb.pyfunc.save_model(tmp_path / "m", python_model=NoContext())
    np.testing.assert_array_equal(mlnb.pyfunc.load_model(tmp_path / "m").predict(X), X["a"].to_numpy() * 10)


def test_input_example_infers_the_signature_by_predicting(tmp_path):
    instance, _, artifacts = custom_model(tmp_path)
    meta = mlnb.pyfunc.save_model(tmp_path / "m", python_model=instance, artifacts=artifacts, input_example=X.iloc[:2])
    sig = meta.get_signature()
    assert sig.inputs.input_names() == ["a", "b", "c"]
    assert sig.outputs.to_dict() == [{"type": "double", "required": True}]  # a 1-D prediction is a column, as in MLflow


def test_pyfunc_model_surface_for_other_flavors(tmp_path):
    model, Xc = estimator("logistic_regression")
    mlnb.sklearn.save_model(model, tmp_path / "m")
    loaded = mlnb.pyfunc.load_model(str(tmp_path / "m"))
    assert isinstance(loaded, PyFuncModel)
    assert loaded.get_raw_model().get_params() == model.get_params()
    assert loaded.metadata.flavors["sklearn"]["serialization_format"] == "skops"
    assert loaded.loader_module == "mlflow.sklearn"
    assert loaded.model_dir.name == "m"
    assert "flavor: sklearn" in repr(loaded)
    with pytest.raises(InvalidParameterError, match="unwrap_python_model"):
        loaded.unwrap_python_model()


def test_file_uri_is_accepted(tmp_path):
    mlnb.pyfunc.save_model(tmp_path / "m", python_model=NoContext())
    loaded = mlnb.pyfunc.load_model((tmp_path / "m").absolute().as_uri())
    assert loaded.predict(X).shape == (4,)


def test_python_model_without_predict_or_bad_artifacts_is_refused(tmp_path):
    with pytest.raises(InvalidParameterError, match="predict"):
        mlnb.pyfunc.save_model(tmp_path / "m", python_model=object())
    with pytest.raises(InvalidParameterError, match="artifacts must be a dict"):
        mlnb.pyfunc.save_model(tmp_path / "m", python_model=NoContext(), artifacts=["x"])
    assert not (tmp_path / "m").exists()


def test_context_object():
    ctx = PythonModelContext({"a": "/x"}, {"k": 1})
    assert ctx.artifacts == {"a": "/x"} and ctx.model_config == {"k": 1}
    with pytest.raises(NotImplementedError):
        PythonModel().predict(ctx, X)

"""MLflow's keywords on mlnb's functions: each one accepted does what MLflow's does, or fails
with an error saying why. Files and values are compared with MLflow 3.17.2."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LinearRegression, LogisticRegression

import mlnb
from mlnb.exceptions import MlflowException


def _yaml(path):
    return yaml.safe_load(path.read_text())


def _without_mlflow(reqs):
    return [r for r in reqs if not r.startswith(("mlflow", "mlnb"))]


@pytest.fixture
def linear():
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0]})
    return LinearRegression().fit(X, [1.0, 2.0, 3.5]), X


CONDA_ENV = {"name": "team-env", "channels": ["defaults"],
             "dependencies": ["python=3.10.4", "pip", {"pip": ["scikit-learn==1.9.1", "-r extra.txt"]}]}


def test_conda_env_writes_conda_yaml_and_requirements_as_mlflow(tmp_path, linear):
    import mlflow

    model, _ = linear
    (tmp_path / "extra.txt").write_text("pandas\n")
    mlnb.sklearn.save_model(model, tmp_path / "ours", conda_env=CONDA_ENV)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(model, str(tmp_path / "theirs"), conda_env=CONDA_ENV)
    ours, theirs = _yaml(tmp_path / "ours" / "conda.yaml"), _yaml(tmp_path / "theirs" / "conda.yaml")
    assert ours["name"] == theirs["name"] == "team-env" and ours["channels"] == theirs["channels"]
    assert ours["dependencies"][:-1] == theirs["dependencies"][:-1] == ["python=3.10.4", "pip"]
    assert ours["dependencies"][-1]["pip"] == _without_mlflow(theirs["dependencies"][-1]["pip"]) \
        == ["scikit-learn==1.9.1", "pandas"]
    read = lambda d: (tmp_path / d / "requirements.txt").read_text().split()  # noqa: E731
    assert read("ours") == _without_mlflow(read("theirs"))


def test_conda_env_with_pip_requirements_is_refused(tmp_path, linear):
    with pytest.raises(MlflowException, match="conda_env or pip_requirements"):
        mlnb.sklearn.save_model(linear[0], tmp_path / "m", conda_env=CONDA_ENV, pip_requirements=["x"])


def test_requirement_and_constraint_files_are_expanded_as_mlflow(tmp_path, linear):
    import mlflow

    model, _ = linear
    (tmp_path / "req.txt").write_text("numpy>=1.0\n# comment\n-r more.txt\n")
    (tmp_path / "more.txt").write_text("pandas\n")
    (tmp_path / "cons.txt").write_text("numpy<3\n")
    reqs = ["-r req.txt", "-c cons.txt", "scikit-learn"]
    mlnb.sklearn.save_model(model, tmp_path / "ours", pip_requirements=reqs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(model, str(tmp_path / "theirs"), pip_requirements=reqs,
                                  serialization_format="cloudpickle")
    for name in ("requirements.txt", "constraints.txt"):
        ours = (tmp_path / "ours" / name).read_text().split("\n")
        theirs = (tmp_path / "theirs" / name).read_text().split("\n")
        assert [r for r in ours if r] == _without_mlflow([r for r in theirs if r]), name
    assert (tmp_path / "ours" / "requirements.txt").read_text().split("\n")[:-1] == [
        "numpy>=1.0", "pandas", "scikit-learn", "-c constraints.txt"]
    ours_pip = _yaml(tmp_path / "ours" / "conda.yaml")["dependencies"][-1]["pip"]
    assert ours_pip == _without_mlflow(_yaml(tmp_path / "theirs" / "conda.yaml")["dependencies"][-1]["pip"])


def test_extra_files_and_metadata_land_where_mlflow_puts_them(tmp_path, linear):
    import mlflow

    model, _ = linear
    notes = tmp_path / "notes.txt"
    notes.write_text("trained on 2026 data")
    mlnb.sklearn.save_model(model, tmp_path / "ours", extra_files=[str(notes)], metadata={"team": "fraud"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(model, str(tmp_path / "theirs"), extra_files=[str(notes)],
                                  metadata={"team": "fraud"}, serialization_format="cloudpickle")
    ours, theirs = _yaml(tmp_path / "ours" / "MLmodel"), _yaml(tmp_path / "theirs" / "MLmodel")
    assert ours["flavors"]["sklearn"]["extra_files"] == theirs["flavors"]["sklearn"]["extra_files"] == [
        {"path": "extra_files/notes.txt"}]
    assert ours["metadata"] == theirs["metadata"] == {"team": "fraud"}
    assert (tmp_path / "ours" / "extra_files" / "notes.txt").read_text() == "trained on 2026 data"
    assert mlflow.pyfunc.load_model(str(tmp_path / "ours")).predict(linear[1]).tolist() == \
        pytest.approx(model.predict(linear[1]).tolist())


def test_log_model_takes_mlflow3s_keywords_on_every_flavor_entry_point(linear):
    model, X = linear
    with mlnb.start_run():
        info = mlnb.sklearn.log_model(model, name="m", params={"alpha": 0.1}, tags={"stage": "dev"},
                                      model_type="regressor", step=3, metadata={"k": "v"},
                                      await_registration_for=0, conda_env=CONDA_ENV | {"dependencies": ["pip"]})
        assert mlnb.sklearn.log_model(model, name="m2", registered_model_name="prod").registered_model_version == 1
        with pytest.raises(MlflowException, match="model_id="):
            mlnb.sklearn.log_model(model, name="m3", model_id="m-123")
        with pytest.raises(MlflowException, match="step= must be an integer"):
            mlnb.sklearn.log_model(model, name="m4", step="3")
    assert (info.params, info.tags, info.model_type, info.step) == ({"alpha": "0.1"}, {"stage": "dev"}, "regressor", 3)
    assert info.metadata == {"k": "v"}
    assert mlnb.pyfunc.load_model(info.model_uri).predict(X).tolist() == pytest.approx(model.predict(X).tolist())
    import inspect

    for flavor in ("sklearn", "xgboost", "onnx", "h2o", "pytorch", "keras", "spark", "pyfunc"):
        module = getattr(mlnb, flavor)
        assert "registered_model_name" in inspect.signature(module.log_model).parameters, flavor
        if flavor != "pyfunc":
            params = inspect.signature(module.save_model).parameters
            assert {"conda_env", "extra_files", "metadata"} <= set(params), flavor


class Echo(mlnb.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


def test_pyfunc_save_model_takes_conda_env_and_log_model_passes_keywords(tmp_path):
    mlnb.pyfunc.save_model(tmp_path / "m", python_model=Echo(), conda_env={"dependencies": ["python=3.11", {"pip": ["pandas"]}]})
    assert _yaml(tmp_path / "m" / "conda.yaml")["dependencies"] == ["python=3.11", {"pip": ["pandas"]}]
    assert (tmp_path / "m" / "requirements.txt").read_text() == "pandas\n"
    with mlnb.start_run():
        info = mlnb.pyfunc.log_model(name="echo", python_model=Echo(), tags={"a": "b"}, extra_pip_requirements=["rich"])
    assert info.tags == {"a": "b"}
    assert "rich" in (mlnb.pyfunc.get_model_dependencies(info.model_uri) and
                      open(mlnb.pyfunc.get_model_dependencies(info.model_uri)).read())


def test_evaluate_takes_mlflows_evaluators_and_env_manager(classification_data):
    X, y = classification_data
    df = X.assign(label=y)
    model = LogisticRegression().fit(X, y)
    with mlnb.start_run():
        plain = mlnb.evaluate(model, df, targets="label", model_type="classifier")
    with mlnb.start_run():
        named = mlnb.models.evaluate(model, df, targets="label", model_type="classifier",
                                     evaluators=["default"], env_manager="local",
                                     evaluator_config={"default": {"log_explainer": False}})
    assert named.metrics["accuracy_score"] == plain.metrics["accuracy_score"]
    with pytest.raises(MlflowException, match="one evaluator, 'default'"):
        mlnb.evaluate(model, df, targets="label", model_type="classifier", evaluators=["shap_only"])
    with pytest.raises(MlflowException, match="env_manager='virtualenv'"):
        mlnb.evaluate(model, df, targets="label", model_type="classifier", env_manager="virtualenv")
    with pytest.raises(MlflowException, match="inference_params"):
        mlnb.evaluate(model, df, targets="label", model_type="classifier", inference_params={"k": 1})


def test_autolog_pos_label_gives_mlflows_binary_scores(classification_data):
    import mlflow

    X, y = classification_data
    labels = np.where(y == 1, "yes", "no")
    mlnb.sklearn.autolog(pos_label="no", log_models=False, log_datasets=False)
    try:
        with mlnb.start_run() as run:
            LogisticRegression().fit(X, labels)
    finally:
        mlnb.sklearn.autolog(disable=True)
    ours = mlnb.get_run(run.info.run_id).data.metrics
    mlflow.sklearn.autolog(pos_label="no", log_models=False, log_datasets=False)
    try:
        with mlflow.start_run() as theirs_run:
            LogisticRegression().fit(X, labels)
    finally:
        mlflow.sklearn.autolog(disable=True)
    theirs = mlflow.get_run(theirs_run.info.run_id).data.metrics
    for key in ("training_precision_score", "training_recall_score", "training_f1_score", "training_accuracy_score"):
        assert ours[key] == pytest.approx(theirs[key]), key
    assert mlnb.autologging.get_autologging_config("sklearn") is None


def test_autolog_log_datasets_false_is_a_no_op_and_true_says_what_happens(classification_data):
    from mlnb.autologging import AutologWarning
    from mlnb.autologging.datasets import datasets_supported

    X, y = classification_data
    mlnb.autolog(log_datasets=False, log_models=False)
    try:
        with mlnb.start_run() as run:
            LogisticRegression().fit(X, y)
        assert "training_accuracy_score" in mlnb.get_run(run.info.run_id).data.metrics
        assert mlnb.autologging.get_autologging_config("sklearn", "log_datasets") is False
    finally:
        mlnb.autolog(disable=True)
    if datasets_supported():
        return  # the datasets tests check what gets logged
    with pytest.warns(AutologWarning, match="log_datasets=True"):
        mlnb.sklearn.autolog(log_datasets=True, log_models=False)
    mlnb.sklearn.autolog(disable=True)
    with pytest.raises(MlflowException, match="log_datasets"):
        mlnb.sklearn.autolog(log_datasets="yes")


class Shifted(mlnb.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        shift = (params or {}).get("shift", 0.0) + context.model_config.get("bias", 0.0)
        return model_input["x"].to_numpy() + shift


def test_evaluate_passes_model_config_and_inference_params_to_a_saved_model():
    from mlnb.models.signature import infer_signature

    df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 3.0]})
    sig = infer_signature(df[["x"]], df["x"].to_numpy(), params={"shift": 0.0})
    with mlnb.start_run():
        info = mlnb.pyfunc.log_model(name="m", python_model=Shifted(), signature=sig, model_config={"bias": 0.0})
    with mlnb.start_run():
        exact = mlnb.evaluate(info.model_uri, df, targets="y", model_type="regressor", feature_names=["x"])
    with mlnb.start_run():
        shifted = mlnb.evaluate(info.model_uri, df, targets="y", model_type="regressor", feature_names=["x"],
                                inference_params={"shift": 1.0}, model_config={"bias": 1.0})
    assert exact.metrics["mean_absolute_error"] == 0.0
    assert shifted.metrics["mean_absolute_error"] == pytest.approx(2.0)
    with pytest.raises(MlflowException, match="model_config"):
        mlnb.evaluate(Shifted(), df, targets="y", model_type="regressor", model_config={"bias": 1.0})

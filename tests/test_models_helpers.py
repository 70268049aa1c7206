"""mlflow.models' helpers under mlnb.models, checked against MLflow 3.17.2: set_signature and
update_model_requirements wherever a model is stored (a path, runs:/, models:/<model_id>, an MLflow
Tracking Server), validate_schema, infer_pip_requirements, the flavors' default requirements,
list_evaluators, mlnb.data.get_source and MlflowNotImplementedException."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import mlnb
import mlnb.data
import mlnb.pyfunc
import mlnb.sklearn
from mlnb.errors import InvalidParameterError, ResourceNotFoundError, SchemaError
from mlnb.exceptions import MlflowException, MlflowNotImplementedException
from mlnb.models import (
    infer_pip_requirements, infer_signature, list_evaluators, set_signature, update_model_requirements,
    validate_schema,
)


@pytest.fixture
def fitted(classification_data):
    X, y = classification_data
    return LogisticRegression(max_iter=200).fit(X, y), X


@pytest.fixture
def mlflow(tmp_path):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return mlflow


def _signature(X):
    return infer_signature(X.astype("float32"), np.zeros(len(X), dtype="int64"))


def test_set_signature_wherever_the_model_is_and_mlflow_reads_it(tmp_path, fitted, mlflow):
    model, X = fitted
    mlnb.sklearn.save_model(model, tmp_path / "local")
    with mlnb.start_run():
        ours = mlnb.sklearn.log_model(model, name="ours")
    with mlflow.start_run() as run:
        theirs = mlflow.sklearn.log_model(model, name="theirs")
    signature = _signature(X)
    for uri in (str(tmp_path / "local"), f"runs:/{ours.run_id}/ours", f"models:/{theirs.model_id}",
                f"runs:/{run.info.run_id}/theirs"):
        set_signature(uri, signature)
        got = mlflow.models.get_model_info(uri).signature
        assert got.to_dict() == signature.to_dict(), uri
    assert mlnb.models.get_model_info(f"models:/{ours.model_id}").signature.to_dict() == signature.to_dict()


def test_update_model_requirements_of_logged_models_mlflow_reads(fitted, mlflow):
    model, _ = fitted
    with mlnb.start_run():
        ours = mlnb.sklearn.log_model(model, name="ours")
    with mlflow.start_run():
        theirs = mlflow.sklearn.log_model(model, name="theirs")
    for uri in (ours.model_uri, f"runs:/{ours.run_id}/ours", theirs.model_uri):
        update_model_requirements(uri, "add", ["pyarrow==14.0.2", "scikit-learn>=1.0"])
        update_model_requirements(uri, "remove", ["pyarrow"])
        update_model_requirements(uri, "add", ["rich"])
        reqs = open(mlflow.pyfunc.get_model_dependencies(uri)).read().split()
        assert "rich" in reqs and "scikit-learn>=1.0" in reqs and not any(r.startswith("pyarrow") for r in reqs)
        assert not any(r.startswith("scikit-learn==") for r in reqs)
        conda = mlflow.pyfunc.get_model_dependencies(uri, format="conda")
        assert "rich" in open(conda).read()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests._tracking import mlflow_server

    with mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


def test_in_place_changes_on_an_mlflow_tracking_server(server, monkeypatch, fitted):
    import mlflow

    model, X = fitted
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    mlflow.set_tracking_uri(server)
    with mlnb.start_run():
        ours = mlnb.sklearn.log_model(model, name="ours")
    with mlflow.start_run():
        theirs = mlflow.sklearn.log_model(model, name="theirs")
    for uri in (ours.model_uri, f"runs:/{ours.run_id}/ours", theirs.model_uri):
        update_model_requirements(uri, "add", ["rich==13.0.0"])
        assert "rich==13.0.0" in open(mlflow.pyfunc.get_model_dependencies(uri)).read().split()
        set_signature(uri, _signature(X))
        assert mlflow.models.get_model_info(uri).signature.to_dict() == _signature(X).to_dict()


@pytest.mark.parametrize("call, error, match", [
    (lambda s, p: set_signature(p, {"inputs": "[]"}), InvalidParameterError, "ModelSignature"),
    (lambda s, p: set_signature("models:/churn/1", s), InvalidParameterError, "registered model version"),
    (lambda s, p: set_signature("/no/such/model", s), ResourceNotFoundError, "no/such/model"),
    (lambda s, p: update_model_requirements(p, "replace", ["x"]), InvalidParameterError, "'add' or 'remove'"),
    (lambda s, p: update_model_requirements(p, "add", "pandas"), InvalidParameterError, "list of requirement"),
    (lambda s, p: update_model_requirements(p, "add", ["pan das"]), InvalidParameterError, "not a pip requirement"),
    (lambda s, p: update_model_requirements("models:/churn@champion", "add", ["x"]), InvalidParameterError,
     "registered model version"),
])
def test_bad_in_place_changes_get_typed_errors(tmp_path, fitted, call, error, match):
    model, X = fitted
    mlnb.sklearn.save_model(model, tmp_path / "m")
    before = {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir() if p.is_file()}
    with pytest.raises(error, match=match):
        call(_signature(X), str(tmp_path / "m"))
    assert {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir() if p.is_file()} == before


@pytest.mark.parametrize("data, ok", [
    (pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), True),
    (pd.DataFrame({"a": [1.5, 2.5], "b": ["x", "y"]}), False),     # float into a long column
    (pd.DataFrame({"b": ["x"]}), False),                           # a column missing
    (pd.DataFrame({"a": np.array([1, 2], dtype="int32"), "b": ["x", "y"]}), True),   # a safe widening
])
def test_validate_schema_agrees_with_mlflow(data, ok):
    import mlflow.models

    schema = infer_signature(pd.DataFrame({"a": [1, 2], "b": ["p", "q"]})).inputs
    theirs_schema = mlflow.models.infer_signature(pd.DataFrame({"a": [1, 2], "b": ["p", "q"]})).inputs
    if ok:
        validate_schema(data, schema)
        mlflow.models.validate_schema(data, theirs_schema)
    else:
        with pytest.raises(SchemaError):
            validate_schema(data, schema)
        with pytest.raises(mlflow.exceptions.MlflowException):
            mlflow.models.validate_schema(data, theirs_schema)
    with pytest.raises(InvalidParameterError, match="takes a Schema"):
        validate_schema(data, "a long")


@pytest.mark.parametrize("fmt", ["skops", "cloudpickle", "pickle"])
def test_infer_pip_requirements_pins_what_mlflow_pins(tmp_path, fitted, fmt):
    import mlflow.models
    import mlflow.sklearn

    model, _ = fitted
    mlnb.sklearn.save_model(model, tmp_path / "ours", serialization_format=fmt)
    ours = infer_pip_requirements(str(tmp_path / "ours"), "sklearn")
    theirs_fmt = "cloudpickle" if fmt == "skops" else fmt
    mlflow.sklearn.save_model(model, str(tmp_path / "theirs"), serialization_format=theirs_fmt)
    from_their_files = infer_pip_requirements(str(tmp_path / "theirs"), "sklearn")
    theirs = mlflow.models.infer_pip_requirements(str(tmp_path / "theirs"), "sklearn")
    sklearn_pin = next(r for r in theirs if r.startswith("scikit-learn=="))
    assert sklearn_pin in ours and sklearn_pin in from_their_files
    assert any(r.startswith("numpy==") for r in ours)
    if fmt != "pickle":
        assert any(r.startswith(f"{'skops' if fmt == 'skops' else 'cloudpickle'}==") for r in ours)


def test_infer_pip_requirements_falls_back_or_says_why(tmp_path, fitted):
    model, _ = fitted
    mlnb.sklearn.save_model(model, tmp_path / "m")
    with pytest.raises(InvalidParameterError, match="no flavor 'xgboost'"):
        infer_pip_requirements(str(tmp_path / "m"), "xgboost")
    with pytest.warns(UserWarning, match="fallback"):
        assert infer_pip_requirements(str(tmp_path / "nowhere"), "sklearn", fallback=["scikit-learn"]) == \
            ["scikit-learn"]
    with pytest.raises(InvalidParameterError, match="uv project"):
        infer_pip_requirements(str(tmp_path / "m"), "sklearn", uv_project_dir=".")


@pytest.mark.parametrize("flags", [(), (True, False), (False, True), (True, True)])
def test_default_requirements_match_mlflow(flags):
    import mlflow.sklearn

    assert mlnb.sklearn.get_default_pip_requirements(*flags) == mlflow.sklearn.get_default_pip_requirements(*flags)
    ours, theirs = mlnb.sklearn.get_default_conda_env(*flags), mlflow.sklearn.get_default_conda_env(*flags)
    assert ours["channels"] == theirs["channels"] and ours["dependencies"][:2] == theirs["dependencies"][:2]
    assert ours["dependencies"][2]["pip"] == [r for r in theirs["dependencies"][2]["pip"] if not r.startswith("mlflow")]


def test_pyfunc_default_requirements_match_mlflow():
    import mlflow.pyfunc

    assert mlnb.pyfunc.get_default_pip_requirements() == mlflow.pyfunc.get_default_pip_requirements()
    assert mlnb.pyfunc.get_default_conda_env()["dependencies"][2]["pip"] == mlnb.pyfunc.get_default_pip_requirements()


def test_list_evaluators_names_the_one_evaluate_takes():
    import mlflow.models

    assert list_evaluators() == ["default"] and "default" in mlflow.models.list_evaluators()


@pytest.mark.parametrize("source", [None, "s3://bucket/train.csv", "https://example.com/t.csv", "data/t.csv"])
def test_get_source_reads_what_mlflow_reads(mlflow, source):
    df = pd.DataFrame({"x": [1, 2, 3]})
    ours = mlnb.data.from_pandas(df, source=source, name="train")
    theirs = mlflow.data.from_pandas(df, source=source, name="train")
    got, want = mlnb.data.get_source(ours), mlflow.data.get_source(theirs)
    assert got.source_type == want._get_source_type()
    if source is not None:
        assert got.to_dict() == want.to_dict()
    assert mlnb.data.get_source(theirs).to_dict() == want.to_dict()
    with mlnb.start_run() as run:
        mlnb.log_input(ours, context="training")
    logged = mlnb.get_run(run.info.run_id).inputs.dataset_inputs[0]
    assert mlnb.data.get_source(logged) == got
    assert mlflow.data.get_source(mlflow.get_run(run.info.run_id).inputs.dataset_inputs[0]).to_dict() == got.to_dict()
    with pytest.raises(InvalidParameterError, match="get_source takes"):
        mlnb.data.get_source(df)


def test_not_implemented_is_an_mlflow_exception():
    error = MlflowNotImplementedException("no such thing")
    assert isinstance(error, MlflowException) and isinstance(error, NotImplementedError)
    assert error.error_code == "NOT_IMPLEMENTED"


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_input_examples_are_written_and_read_as_mlflow(tmp_path, fmt):
    import json

    import mlflow.sklearn
    import scipy.sparse as sp
    from mlflow.models import Model as TheirModel

    from mlnb.models.mlmodel import Model

    X = sp.random(30, 6, density=0.3, format=fmt, random_state=0)
    y = np.arange(30) % 2
    model = LogisticRegression(max_iter=200).fit(X, y)
    mlnb.sklearn.save_model(model, tmp_path / "ours", input_example=X[:4])
    mlflow.sklearn.save_model(model, str(tmp_path / "theirs"), input_example=X[:4])
    for name in ("input_example.json", "serving_input_example.json"):
        assert json.loads((tmp_path / "ours" / name).read_text()) == json.loads((tmp_path / "theirs" / name).read_text())
    assert Model.load(tmp_path / "ours").saved_input_example_info["type"] == f"sparse_matrix_{fmt}"
    assert Model.load(tmp_path / "ours").get_signature().to_dict() == \
        TheirModel.load(str(tmp_path / "theirs")).signature.to_dict()
    for folder in ("ours", "theirs"):
        for loaded in (Model.load(tmp_path / folder).load_input_example(tmp_path / folder),
                       TheirModel.load(str(tmp_path / folder)).load_input_example(str(tmp_path / folder))):
            assert loaded.format == fmt and (loaded != X[:4]).nnz == 0
    served = json.loads((tmp_path / "ours" / "serving_input_example.json").read_text())["inputs"]
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(str(tmp_path / "ours")).predict(np.array(served)),
                                  model.predict(X[:4]))


def test_save_model_takes_mlflows_mlflow_model_keyword(tmp_path, fitted):
    import mlflow.models

    from mlnb.models.mlmodel import Model

    model, X = fitted
    theirs = mlflow.models.Model(metadata={"owner": "risk"})
    mlnb.sklearn.save_model(model, tmp_path / "sk", mlflow_model=theirs)
    assert Model.load(tmp_path / "sk").metadata == {"owner": "risk"}
    assert mlflow.models.Model.load(str(tmp_path / "sk")).metadata == {"owner": "risk"}

    class Echo(mlnb.pyfunc.PythonModel):
        def predict(self, context, model_input):
            return model_input

    mlnb.pyfunc.save_model(tmp_path / "py", python_model=Echo(), mlflow_model=Model(metadata={"kind": "echo"}))
    assert mlflow.models.Model.load(str(tmp_path / "py")).metadata == {"kind": "echo"}
    with pytest.raises(InvalidParameterError, match="not both"):
        mlnb.sklearn.save_model(model, tmp_path / "x", mlflow_model=Model(), mlmodel=Model())
    with pytest.raises(InvalidParameterError, match="takes a Model"):
        mlnb.sklearn.save_model(model, tmp_path / "y", mlflow_model={"metadata": {}})

"""Bugs seen running MLflow's examples on mlnb, each pinned by a test that failed before the fix."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import mlnb
from mlnb.models.signature import infer_signature


class Doubler(mlnb.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input * 2


def test_code_paths_of_the_working_directory_does_not_copy_the_model_into_itself(tmp_path):
    (tmp_path / "helpers.py").write_text("FACTOR = 2\n")
    with mlnb.start_run():
        mlnb.log_metric("x", 1.0)  # the store and its artifacts now live under the working directory
        info = mlnb.pyfunc.log_model(name="model", python_model=Doubler(), code_paths=[os.getcwd()])
    model_dir = mlnb.download_artifacts(info.model_uri)
    code = os.path.join(model_dir, "code", tmp_path.name)
    assert os.path.isfile(os.path.join(code, "helpers.py"))
    assert not os.path.exists(os.path.join(code, "mlnb-artifacts"))  # the folder the model was written into
    assert mlnb.pyfunc.load_model(info.model_uri).predict(pd.DataFrame({"a": [1]}))["a"].tolist() == [2]


class XgbWrapper(mlnb.pyfunc.PythonModel):
    def __init__(self, booster):
        self.booster = booster

    def predict(self, context, model_input, params=None):
        import xgboost

        return self.booster.predict(xgboost.DMatrix(model_input))


def test_requirements_of_a_python_model_wrapping_xgboost_list_xgboost(tmp_path):
    import xgboost

    X = np.random.RandomState(0).rand(20, 3)
    booster = xgboost.train({"objective": "reg:squarederror"}, xgboost.DMatrix(X, label=X.sum(axis=1)), 2)
    mlnb.pyfunc.save_model(tmp_path / "m", python_model=XgbWrapper(booster))
    reqs = (tmp_path / "m" / "requirements.txt").read_text().split()
    assert f"xgboost=={xgboost.__version__}" in reqs
    assert any(r.startswith("cloudpickle==") for r in reqs)


def test_infer_code_paths_copies_the_local_modules_the_model_uses(tmp_path, monkeypatch):
    (tmp_path / "localmodel.py").write_text(
        "import mlnb\n"
        "class Plus(mlnb.pyfunc.PythonModel):\n"
        "    def predict(self, context, model_input, params=None):\n"
        "        return model_input + 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import localmodel

    mlnb.pyfunc.save_model(tmp_path / "m", python_model=localmodel.Plus(), infer_code_paths=True)
    assert (tmp_path / "m" / "code" / "localmodel.py").is_file()
    assert "localmodel" not in (tmp_path / "m" / "requirements.txt").read_text()
    with pytest.raises(mlnb.exceptions.MlflowException, match="not both"):
        mlnb.pyfunc.save_model(tmp_path / "m2", python_model=localmodel.Plus(), infer_code_paths=True,
                               code_paths=[str(tmp_path / "localmodel.py")])


NESTED = [
    sp.csr_matrix(np.eye(3)),
    sp.csc_matrix(np.eye(3, dtype=np.float32)),
    [["a", "b"], ["c"]],
    [[1, 2], [3]],
    pd.DataFrame({"a": [[1, 2], [3]], "b": ["x", "y"]}),
    pd.DataFrame({"a": [{"x": 1, "y": "s"}, {"x": 2, "y": "t"}]}),
    pd.DataFrame({"m": [{"a": 1}, {"b": 2}]}),
    [{"q": "hi", "meta": {"k": 1.5, "tags": ["a", "b"]}}],
    {"messages": [{"role": "user", "content": "hi"}]},
    {"a": {"b": 1}},
    {"x": [[1.0, 2.0]]},
    [[{"a": 1}]],
    [{"a": 1}, {"b": "s"}],
    [{"a": None}],
    [1, 2],
    [True],
]


@pytest.mark.parametrize("data", NESTED, ids=[f"case{i}" for i in range(len(NESTED))])
def test_sparse_and_nested_values_are_inferred_as_mlflow_infers_them(data):
    import mlflow.models

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = mlflow.models.infer_signature(data)
    assert infer_signature(data).to_dict() == theirs.to_dict()


def test_sparse_input_is_enforced_without_densifying(tmp_path):
    from sklearn.linear_model import LogisticRegression

    X = sp.csr_matrix(np.random.RandomState(0).rand(30, 4))
    y = (X.toarray().sum(axis=1) > 2).astype(int)
    model = LogisticRegression().fit(X, y)
    mlnb.sklearn.save_model(model, tmp_path / "m", signature=infer_signature(X, model.predict(X)))
    loaded = mlnb.pyfunc.load_model(tmp_path / "m")
    assert loaded.predict(X).tolist() == model.predict(X).tolist()
    with pytest.raises(mlnb.exceptions.MlflowException, match="shape"):
        loaded.predict(sp.csr_matrix(np.ones((2, 5))))


def test_printed_signatures_read_exactly_as_mlflows():
    import mlflow.models

    frame = pd.DataFrame({"a": [1.0], "b": ["x"]})
    cases = [(frame, np.array([1, 2]), {"k": 3}), (np.zeros((2, 3), dtype=np.float32), None, None),
             ([{"q": "hi", "meta": {"k": 1.5, "tags": ["a"]}}], ["y"], {"temp": 0.5, "names": ["a", "b"]})]
    for data, output, params in cases:
        theirs = mlflow.models.infer_signature(data, output, params=params)
        ours = infer_signature(data, output, params=params)
        assert repr(ours) == repr(theirs)
        assert json.loads(json.dumps(ours.to_dict())) == theirs.to_dict()

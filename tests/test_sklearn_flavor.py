"""mlnb.sklearn: formats, the skops trust policy, pyfunc options and what MLmodel records."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.linear_model import LogisticRegression

import mlnb.pyfunc
import mlnb.sklearn
from _models import assert_same, classification, double, estimator
from mlnb.errors import InvalidParameterError, UntrustedTypesError


def test_mlnb_sklearn_is_the_flavor_module():
    import mlnb
    import mlnb.flavors.sklearn

    assert mlnb.sklearn is mlnb.flavors.sklearn
    assert mlnb.sklearn.__name__ == "mlnb.flavors.sklearn"


@pytest.mark.parametrize("fmt,file", [("skops", "model.skops"), ("cloudpickle", "model.pkl"), ("pickle", "model.pkl")])
def test_each_format_writes_mlflows_files_and_keys(fmt, file, tmp_path):
    model, X = estimator("logistic_regression")
    meta = mlnb.sklearn.save_model(model, tmp_path / "m", serialization_format=fmt)
    conf = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())["flavors"]
    assert conf["sklearn"]["serialization_format"] == fmt and conf["sklearn"]["pickled_model"] == file
    assert conf["python_function"]["loader_module"] == "mlflow.sklearn"
    assert conf["python_function"]["model_path"] == file
    assert ("skops_trusted_types" in conf["sklearn"]) == (fmt == "skops")
    assert meta.flavors == conf
    assert_same(mlnb.sklearn.load_model(tmp_path / "m").predict(X), model.predict(X))


def test_default_skops_records_the_sklearn_types_it_trusted(tmp_path):
    model, X = estimator("gradient_boosting")
    meta = mlnb.sklearn.save_model(model, tmp_path / "m")
    trusted = meta.flavors["sklearn"]["skops_trusted_types"]
    assert trusted and all(t.startswith(("sklearn.", "numpy.", "scipy.")) for t in trusted)
    assert_same(mlnb.sklearn.load_model(tmp_path / "m").predict(X), model.predict(X))


@pytest.fixture
def foreign():
    """A pipeline holding a function from outside scikit-learn, NumPy and SciPy."""
    X, y = classification()
    return make_pipeline(FunctionTransformer(double), LogisticRegression()).fit(X, y), X


def test_foreign_types_fall_back_to_cloudpickle_with_a_warning(foreign, tmp_path):
    model, X = foreign
    with pytest.warns(UserWarning, match="saved with cloudpickle"):
        meta = mlnb.sklearn.save_model(model, tmp_path / "m")
    assert meta.flavors["sklearn"]["serialization_format"] == "cloudpickle"
    assert_same(mlnb.sklearn.load_model(tmp_path / "m").predict(X), model.predict(X))


def test_explicit_skops_with_foreign_types_needs_consent_on_save_and_load(foreign, tmp_path):
    model, X = foreign
    with pytest.raises(UntrustedTypesError, match=r"_models\.double.*skops_trusted_types"):
        mlnb.sklearn.save_model(model, tmp_path / "refused", serialization_format="skops")
    assert not (tmp_path / "refused").exists()
    meta = mlnb.sklearn.save_model(model, tmp_path / "m", serialization_format="skops",
                                   skops_trusted_types=["_models.double"])
    assert "_models.double" in meta.flavors["sklearn"]["skops_trusted_types"]
    with pytest.raises(UntrustedTypesError, match=r"load it with skops_trusted_types=\['_models.double'\]"):
        mlnb.sklearn.load_model(tmp_path / "m")
    loaded = mlnb.sklearn.load_model(tmp_path / "m", skops_trusted_types=["_models.double"])
    assert_same(loaded.predict(X), model.predict(X))


def test_pyfunc_predict_fn_selects_the_method(tmp_path):
    model, X = estimator("logistic_regression")
    mlnb.sklearn.save_model(model, tmp_path / "m", pyfunc_predict_fn="predict_proba")
    assert_same(mlnb.pyfunc.load_model(tmp_path / "m").predict(X), model.predict_proba(X))
    with pytest.raises(InvalidParameterError, match="no method 'score_samples'"):
        mlnb.sklearn.save_model(model, tmp_path / "bad", pyfunc_predict_fn="score_samples")


def test_input_example_writes_the_example_and_infers_the_signature(tmp_path):
    model, X = estimator("logistic_regression")
    meta = mlnb.sklearn.save_model(model, tmp_path / "m", input_example=X.iloc[:2], metadata={"owner": "me"})
    sig = meta.get_signature()
    assert sig.inputs.input_names() == list(X.columns)
    assert sig.outputs.to_dict() == [{"type": "long", "required": True}]  # a 1-D prediction is a column, as in MLflow
    assert meta.metadata == {"owner": "me"}
    example = json.loads((tmp_path / "m" / "input_example.json").read_text())
    assert example["columns"] == list(X.columns) and len(example["data"]) == 2
    serving = json.loads((tmp_path / "m" / "serving_input_example.json").read_text())
    assert serving == {"dataframe_split": example}


def test_requirements_pin_the_libraries_the_model_needs(tmp_path):
    import importlib.metadata as md

    model, _ = estimator("logistic_regression")
    mlnb.sklearn.save_model(model, tmp_path / "m")
    reqs = (tmp_path / "m" / "requirements.txt").read_text().splitlines()
    assert f"scikit-learn=={md.version('scikit-learn')}" in reqs
    assert f"skops=={md.version('skops')}" in reqs
    mlnb.sklearn.save_model(model, tmp_path / "p", serialization_format="cloudpickle",
                            extra_pip_requirements=["pandas>=2"])
    reqs = (tmp_path / "p" / "requirements.txt").read_text().splitlines()
    assert f"cloudpickle=={md.version('cloudpickle')}" in reqs and "pandas>=2" in reqs and not any("skops" in r for r in reqs)


def test_code_paths_are_copied_and_recorded(tmp_path):
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "__init__.py").write_text("X = 1\n")
    (tmp_path / "util.py").write_text("Y = 2\n")
    model, _ = estimator("logistic_regression")
    meta = mlnb.sklearn.save_model(model, tmp_path / "m", code_paths=[tmp_path / "helpers", tmp_path / "util.py"])
    assert meta.flavors["sklearn"]["code"] == "code" and meta.flavors["python_function"]["code"] == "code"
    assert sorted(p.name for p in (tmp_path / "m" / "code").iterdir()) == ["helpers", "util.py"]


def test_bad_arguments_are_refused_before_anything_is_written(tmp_path):
    model, _ = estimator("logistic_regression")
    with pytest.raises(InvalidParameterError, match="Unknown serialization_format 'joblib'"):
        mlnb.sklearn.save_model(model, tmp_path / "m", serialization_format="joblib")
    with pytest.raises(InvalidParameterError, match="code_paths: .* does not exist"):
        mlnb.sklearn.save_model(model, tmp_path / "m", code_paths=[tmp_path / "nope.py"])
    assert list(tmp_path.iterdir()) == []


def test_functions_from_trusted_libraries_still_need_consent(tmp_path):
    """A function in a hyperparameter runs at predict time: only classes are trusted by policy."""
    X, y = classification()
    model = make_pipeline(FunctionTransformer(np.around), LogisticRegression()).fit(X, y)
    with pytest.raises(UntrustedTypesError, match="around") as info:
        mlnb.sklearn.save_model(model, tmp_path / "refused", serialization_format="skops")
    name = next(t for t in str(info.value).split("'") if t.endswith("around"))
    mlnb.sklearn.save_model(model, tmp_path / "m", serialization_format="skops", skops_trusted_types=[name])
    with pytest.raises(UntrustedTypesError, match="around"):
        mlnb.sklearn.load_model(tmp_path / "m")
    assert_same(mlnb.sklearn.load_model(tmp_path / "m", skops_trusted_types=[name]).predict(X), model.predict(X))


def test_skops_is_used_through_its_public_api_only(tmp_path):
    """No stub replaces skops' private trusted-type module, and no trust list lives on disk."""
    import sys

    model, X = estimator("random_forest")
    mlnb.sklearn.save_model(model, tmp_path / "m")
    assert_same(mlnb.sklearn.load_model(tmp_path / "m").predict(X), model.predict(X))
    assert getattr(sys.modules["skops.io._trusted_types"], "__file__", None)  # skops' own module

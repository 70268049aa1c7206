"""mlnb.lightgbm beyond the conformance suite (tests/conformance.py runs CHECKS on its cases): the
trust policy per format, bad input, and logging to a run."""

from __future__ import annotations

import pytest
import yaml

import mlnb
from _models import classification, regression
from mlnb.errors import InvalidParameterError, ModelFormatError, UnsafeModelError


@pytest.fixture
def classifier():
    import lightgbm

    X, y = classification()
    return lightgbm.LGBMClassifier(n_estimators=5, num_leaves=7, random_state=0, n_jobs=1, verbose=-1).fit(X, y), X


def test_a_booster_and_a_skops_model_load_without_pickle_consent(tmp_path, classifier):
    model, X = classifier
    mlnb.lightgbm.save_model(model.booster_, tmp_path / "booster")
    mlnb.lightgbm.save_model(model, tmp_path / "skops")
    assert (tmp_path / "booster" / "model.lgb").is_file() and (tmp_path / "skops" / "model.skops").is_file()
    booster = mlnb.lightgbm.load_model(tmp_path / "booster", allow_pickle=False)
    assert (booster.predict(X) == model.booster_.predict(X)).all()
    assert (mlnb.lightgbm.load_model(tmp_path / "skops", allow_pickle=False).predict(X) == model.predict(X)).all()
    assert (mlnb.pyfunc.load_model(tmp_path / "skops", allow_pickle=False).predict(X) == model.predict(X)).all()


def test_a_model_fitted_with_an_eval_set_is_saved_with_skops(tmp_path):
    """Its evaluation history is an OrderedDict, which skops builds as a plain dict (no code): the
    model is saved in skops, loads without pickle consent in mlnb and loads in MLflow."""
    import warnings

    import lightgbm
    import mlflow.lightgbm

    X, y = regression()
    model = lightgbm.LGBMRegressor(n_estimators=5, num_leaves=7, random_state=0, n_jobs=1, verbose=-1)
    model.fit(X[:60], y[:60], eval_set=[(X[60:], y[60:])])
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no fallback to cloudpickle, no warning
        mlnb.lightgbm.save_model(model, tmp_path / "m")
    conf = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())["flavors"]["lightgbm"]
    assert conf["serialization_format"] == "skops" and conf["data"] == "model.skops"
    assert (mlnb.lightgbm.load_model(tmp_path / "m", allow_pickle=False).predict(X) == model.predict(X)).all()
    assert (mlflow.lightgbm.load_model(str(tmp_path / "m")).predict(X) == model.predict(X)).all()


def test_a_pickled_model_follows_the_pickle_policy(tmp_path, classifier):
    model, X = classifier
    mlnb.lightgbm.save_model(model, tmp_path / "m", serialization_format="cloudpickle")
    conf = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())["flavors"]["lightgbm"]
    assert conf["serialization_format"] == "cloudpickle" and conf["data"] == "model.pkl"
    with pytest.raises(UnsafeModelError, match="allow_pickle=True"):
        mlnb.lightgbm.load_model(tmp_path / "m", allow_pickle=False)
    with pytest.raises(UnsafeModelError, match="allow_pickle=True"):
        mlnb.pyfunc.load_model(tmp_path / "m", allow_pickle=False)
    assert (mlnb.lightgbm.load_model(tmp_path / "m", allow_pickle=True).predict(X) == model.predict(X)).all()


def test_the_wrong_model_type_is_refused_clearly(tmp_path):
    from sklearn.linear_model import LinearRegression

    X, y = regression()
    with pytest.raises(InvalidParameterError, match="lightgbm.Booster or a LightGBM scikit-learn model.*LinearRegression"):
        mlnb.lightgbm.save_model(LinearRegression().fit(X, y), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_a_damaged_booster_file_is_a_format_error(tmp_path, classifier):
    mlnb.lightgbm.save_model(classifier[0].booster_, tmp_path / "m")
    (tmp_path / "m" / "model.lgb").write_text("tree\nversion=v99\nnot a model\n")
    with pytest.raises(ModelFormatError, match="LightGBM cannot read"):
        mlnb.lightgbm.load_model(tmp_path / "m")


def test_log_model_logs_a_lightgbm_model_to_the_run(classifier):
    model, X = classifier
    with mlnb.start_run():
        info = mlnb.lightgbm.log_model(model, name="lgb", params={"n_estimators": 5})
    assert info.flavors["lightgbm"]["model_class"] == "lightgbm.sklearn.LGBMClassifier"
    assert (mlnb.pyfunc.load_model(info.model_uri).predict(X) == model.predict(X)).all()

"""mlnb.catboost beyond the conformance suite (tests/conformance.py runs CHECKS on its cases): the
trust policy, bad input (a file from a newer CatBoost, the wrong model type) and logging to a run."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

import mlnb
from _models import classification, regression
from mlnb.errors import InvalidParameterError, ModelFormatError


@pytest.fixture
def classifier():
    import catboost

    X, y = classification()
    model = catboost.CatBoostClassifier(iterations=5, depth=3, random_seed=0, thread_count=1, verbose=0,
                                        allow_writing_files=False).fit(X, y)
    return model, X


def test_a_cbm_model_loads_without_pickle_consent(tmp_path, classifier):
    model, X = classifier
    mlnb.catboost.save_model(model, tmp_path / "m")
    assert (tmp_path / "m" / "model.cb").read_bytes()[:4] == b"CBM1"
    loaded = mlnb.catboost.load_model(tmp_path / "m")
    assert type(loaded).__name__ == "CatBoostClassifier"
    assert (loaded.predict(X) == model.predict(X)).all()
    np.testing.assert_array_equal(mlnb.pyfunc.load_model(tmp_path / "m", allow_pickle=False).predict(X),
                                  model.predict(X))


def test_a_model_from_a_newer_catboost_is_a_format_error_carrying_catboost_message(tmp_path, classifier):
    """A newer CatBoost writes another core format version into the cbm file; this one refuses it."""
    mlnb.catboost.save_model(classifier[0], tmp_path / "m")
    file = tmp_path / "m" / "model.cb"
    data = file.read_bytes()
    assert b"FlabuffersModel_v1" in data   # the format version CatBoost 1.x writes (its spelling)
    file.write_bytes(data.replace(b"FlabuffersModel_v1", b"FlabuffersModel_v2"))
    with pytest.raises(ModelFormatError, match=r"cannot read .*Unsupported model format: FlabuffersModel_v2.*newer"):
        mlnb.catboost.load_model(tmp_path / "m")
    with pytest.raises(ModelFormatError, match="Unsupported model format"):
        mlnb.pyfunc.load_model(tmp_path / "m")


def test_the_wrong_model_type_is_refused_clearly(tmp_path):
    from sklearn.linear_model import LinearRegression

    X, y = regression()
    with pytest.raises(InvalidParameterError, match="must be a CatBoost model.*got LinearRegression"):
        mlnb.catboost.save_model(LinearRegression().fit(X, y), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_a_format_catboost_cannot_load_back_is_refused(tmp_path, classifier):
    with pytest.raises(InvalidParameterError, match="format='python' is an export CatBoost cannot load back"):
        mlnb.catboost.save_model(classifier[0], tmp_path / "m", format="python")
    assert not (tmp_path / "m").exists()


def test_model_type_must_name_a_catboost_class(tmp_path, classifier):
    mlnb.catboost.save_model(classifier[0], tmp_path / "m")
    mlmodel = tmp_path / "m" / "MLmodel"
    data = yaml.safe_load(mlmodel.read_text())
    data["flavors"]["catboost"]["model_type"] = "Popen"
    mlmodel.write_text(yaml.safe_dump(data))
    with pytest.raises(ModelFormatError, match="model_type 'Popen'.*not one of CatBoost's model classes"):
        mlnb.catboost.load_model(tmp_path / "m")


def test_log_model_logs_a_catboost_model_to_the_run(classifier):
    model, X = classifier
    with mlnb.start_run():
        info = mlnb.catboost.log_model(model, name="cb", format="json")
    assert info.flavors["catboost"]["save_format"] == "json"
    np.testing.assert_array_equal(mlnb.pyfunc.load_model(info.model_uri).predict(X), model.predict(X))

"""The flavor registry: plug-ins as data, MLflow's loader modules mapped, importable loader modules."""

from __future__ import annotations

import importlib

import pytest
import yaml

import mlnb
from mlnb.errors import InvalidParameterError, UntrustedTypesError
from mlnb.flavors import flavor_for_loader, get_flavor, registered


def test_registered_flavors():
    assert {"sklearn", "python_function", "xgboost"} <= set(registered())


@pytest.mark.parametrize("loader,flavor", [
    ("mlflow.sklearn", "sklearn"), ("mlflow.pyfunc.model", "python_function"), ("mlnb.pyfunc", "python_function"),
    ("mlflow.xgboost", "xgboost"), ("mlnb.flavors.sklearn", "sklearn"),
])
def test_mlflow_loader_modules_map_to_mlnb_flavors(loader, flavor):
    assert flavor_for_loader(loader).name == flavor
    assert flavor_for_loader("mlflow.unknown_thing") is None


@pytest.mark.parametrize("name", ["sklearn", "python_function", "xgboost"])
def test_written_loader_modules_are_importable_with_load_pyfunc(name):
    """MLflow imports the loader_module mlnb writes and calls its _load_pyfunc."""
    flavor = get_flavor(name)
    assert callable(importlib.import_module(flavor.loader_module)._load_pyfunc)
    assert callable(flavor.load()._load_pyfunc)


def test_flavors_are_reached_by_mlflow_names():
    import mlnb.flavors.xgboost
    import mlnb.xgboost

    assert mlnb.xgboost is mlnb.flavors.xgboost
    assert mlnb.sklearn.FLAVOR_NAME == "sklearn"


def test_xgboost_refuses_a_model_class_outside_xgboost(tmp_path):
    import xgboost

    from _models import classification

    X, y = classification()
    model = xgboost.XGBRegressor(n_estimators=3, n_jobs=1).fit(X, y)
    mlnb.xgboost.save_model(model, tmp_path / "m")
    data = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    assert data["flavors"]["xgboost"]["model_class"] == "xgboost.sklearn.XGBRegressor"
    data["flavors"]["xgboost"]["model_class"] = "os.system"
    (tmp_path / "m" / "MLmodel").write_text(yaml.safe_dump(data))
    with pytest.raises(UntrustedTypesError, match="'os.system', which is not an XGBoost class"):
        mlnb.xgboost.load_model(tmp_path / "m")
    with pytest.raises(InvalidParameterError, match="Unknown model_format 'deprecated'"):
        mlnb.xgboost.save_model(model, tmp_path / "n", model_format="deprecated")
    with pytest.raises(InvalidParameterError, match="xgboost.Booster"):
        mlnb.xgboost.save_model(object(), tmp_path / "n")

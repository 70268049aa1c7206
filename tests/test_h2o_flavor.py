"""The H2O flavor: conformance, MLflow's layout both ways, runs:/ URIs, bad input, one private cluster."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

import mlnb
import mlnb.h2o
import mlnb.pyfunc
from _models import assert_same, classification, regression
from conformance import CHECKS, FlavorCase, Subject
from mlnb.errors import InvalidParameterError, ModelFormatError

MLFLOW_PIP = ["h2o", "pandas"]
pytestmark = [pytest.mark.java, pytest.mark.filterwarnings("ignore::h2o.exceptions.H2ODependencyWarning")]


@pytest.fixture(scope="module", autouse=True)
def h2o_cluster(tmp_path_factory):
    """One H2O cluster for the module, started the way mlnb starts its private one; shut down at the end."""
    import h2o

    from mlnb.flavors.h2o import _connect

    assert h2o.connection() is None or not h2o.connection().connected
    with pytest.MonkeyPatch.context() as mp:  # H2O writes the JVM's logs to a fresh temp dir
        mp.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("h2o-logs")))
        _connect(None)
    conn = h2o.connection()
    server = conn.local_server
    assert conn.base_url.startswith("http://127.0.0.1:")
    yield conn.base_url
    h2o.cluster().shutdown()
    server.shutdown()  # waits for the JVM to exit
    assert not server.is_running()


def _trained(kind: str):
    """A small GBM (seeded) on sklearn data, and the feature frame it was trained on."""
    import h2o
    from h2o.estimators import H2OGradientBoostingEstimator

    X, y = classification() if kind == "classifier" else regression()
    frame = h2o.H2OFrame(X.assign(y=y))
    if kind == "classifier":
        frame["y"] = frame["y"].asfactor()
    model = H2OGradientBoostingEstimator(ntrees=5, max_depth=3, seed=0)
    model.train(x=list(X.columns), y="y", training_frame=frame)
    return model, X


def _predict(model, X: pd.DataFrame) -> pd.DataFrame:
    import h2o

    return model.predict(h2o.H2OFrame(X)).as_data_frame()


def _settings() -> dict:
    """Where MLflow's pyfunc loader (which always calls h2o.init) finds this module's cluster."""
    import h2o

    return {"init": {"url": h2o.connection().base_url}}


def h2o_case(kind: str) -> FlavorCase:
    @functools.cache
    def trained():
        return _trained(kind)

    def make(directory: Path, library: str) -> Subject:
        model, X = trained()
        return Subject(model, X, _predict(model, X))

    def save(subject, path, **kw):
        return mlnb.h2o.save_model(subject.model, path, settings=_settings(), **kw)

    def mlflow_save(subject, path, **kw):
        import mlflow.h2o

        mlflow.h2o.save_model(subject.model, str(path), settings=_settings(), pip_requirements=MLFLOW_PIP, **kw)

    def mlflow_load_native(path):
        import mlflow.h2o

        return mlflow.h2o.load_model(str(path))

    return FlavorCase(f"h2o-gbm-{kind}", make, save, mlnb.h2o.load_model, _predict, mlflow_save, mlflow_load_native)


CASES = [h2o_case("classifier"), h2o_case("regressor")]
CLASSIFIER = CASES[0]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("case", CASES, ids=str)
def test_h2o_flavor_conforms(case, check, tmp_path):
    check(case, tmp_path)


def test_layout_and_settings_are_mlflows(tmp_path):
    subject = CLASSIFIER.make(tmp_path, "mlnb")
    mlnb.h2o.save_model(subject.model, tmp_path / "m", settings={"init": {"nthreads": 1}, "note": "kept"})
    meta = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    assert meta["flavors"]["python_function"]["loader_module"] == "mlflow.h2o"
    assert meta["flavors"]["python_function"]["data"] == "model.h2o"
    assert meta["flavors"]["h2o"]["data"] == "model.h2o"
    settings = yaml.safe_load((tmp_path / "m" / "model.h2o" / "h2o.yaml").read_text())
    assert settings["init"] == {"nthreads": 1} and settings["note"] == "kept"
    assert (tmp_path / "m" / "model.h2o" / settings["model_file"]).is_file()
    # the recorded locations are the final ones, not the staging directory
    assert settings["model_dir"] == str((tmp_path / "m" / "model.h2o").absolute())
    assert settings["full_file"] == str(Path(settings["model_dir"]) / settings["model_file"])
    assert "h2o==" in (tmp_path / "m" / "requirements.txt").read_text()


def test_pyfunc_returns_a_frame_indexed_like_the_input(tmp_path):
    subject = CLASSIFIER.make(tmp_path, "mlnb")
    mlnb.h2o.save_model(subject.model, tmp_path / "m")
    X = subject.X.iloc[10:20]
    out = mlnb.pyfunc.load_model(tmp_path / "m").predict(X)
    assert list(out.columns) == ["predict", "p0", "p1"]
    assert list(out.index) == list(X.index)
    assert_same(out, subject.expected.iloc[10:20])


def test_predicting_leaves_no_frames_in_the_cluster(tmp_path):
    import h2o

    subject = CASES[1].make(tmp_path, "mlnb")
    mlnb.h2o.save_model(subject.model, tmp_path / "m")
    model = mlnb.pyfunc.load_model(tmp_path / "m")
    model.predict(subject.X)
    before = set(h2o.ls()["key"])
    model.predict(subject.X)
    assert set(h2o.ls()["key"]) == before


def test_logged_model_loads_back_through_its_runs_uri(tmp_path):
    subject = CASES[1].make(tmp_path, "mlnb")
    with mlnb.start_run() as run:
        info = mlnb.h2o.log_model(subject.model, name="gbm", input_example=subject.X.iloc[:3])
    assert info.model_uri == f"models:/{info.model_id}"
    runs_uri = f"runs:/{run.info.run_id}/gbm"   # the run's path to the same model
    assert "h2o" in info.flavors and info.signature is not None
    assert_same(_predict(mlnb.h2o.load_model(runs_uri), subject.X), subject.expected)
    assert_same(mlnb.pyfunc.load_model(runs_uri).predict(subject.X), subject.expected)


def test_not_an_h2o_model_is_refused(tmp_path):
    from sklearn.linear_model import LinearRegression

    X, y = regression()
    with pytest.raises(InvalidParameterError, match="trained H2O model"):
        mlnb.h2o.save_model(LinearRegression().fit(X, y), tmp_path / "m")
    subject = CLASSIFIER.make(tmp_path, "mlnb")
    with pytest.raises(InvalidParameterError, match="settings must be a dict"):
        mlnb.h2o.save_model(subject.model, tmp_path / "m", settings={"init": "127.0.0.1"})
    assert not (tmp_path / "m").exists()


def test_missing_model_directory_is_a_format_error(tmp_path):
    import shutil

    subject = CLASSIFIER.make(tmp_path, "mlnb")
    mlnb.h2o.save_model(subject.model, tmp_path / "m")
    settings = yaml.safe_load((tmp_path / "m" / "model.h2o" / "h2o.yaml").read_text())
    (tmp_path / "m" / "model.h2o" / settings["model_file"]).unlink()
    with pytest.raises(ModelFormatError, match="missing"):
        mlnb.h2o.load_model(tmp_path / "m")
    shutil.rmtree(tmp_path / "m" / "model.h2o")
    with pytest.raises(ModelFormatError, match="model.h2o"):
        mlnb.h2o.load_model(tmp_path / "m")
    with pytest.raises(ModelFormatError, match="model.h2o"):
        mlnb.pyfunc.load_model(tmp_path / "m")


def test_import_mlnb_does_not_import_h2o():
    code = "import sys, mlnb, mlnb.h2o, mlnb.pyfunc; assert 'h2o' not in sys.modules, 'h2o imported'"
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy())


def test_mlflows_loader_module_maps_to_the_h2o_flavor():
    import mlnb.flavors.h2o
    from mlnb.flavors import flavor_for_loader

    assert flavor_for_loader("mlflow.h2o").name == "h2o"
    assert mlnb.h2o is mlnb.flavors.h2o


def test_the_private_cluster_is_small_local_and_off_the_default_port(h2o_cluster):
    """The module's cluster was started by mlnb's loader path (no connection, no saved settings)."""
    import h2o

    assert h2o_cluster.startswith("http://127.0.0.1:") and not h2o_cluster.endswith(":54321")
    assert h2o.cluster().nodes[0]["max_mem"] <= 2**30

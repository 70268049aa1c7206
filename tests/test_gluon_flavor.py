"""MXNet Gluon models (MLflow 2.x's gluon flavor), tested in the MXNet environment tests/run.sh builds.

MXNet 1.9.1 imports only with NumPy < 1.24, so it cannot live in this environment. The data is made
here (scikit-learn) and handed over as a file; one process in the MXNet environment
(tests/_gluon_side.py) trains a HybridBlock with a fixed seed and runs the conformance checks that
apply (MLflow 2.19, the last MLflow with ``mlflow.gluon``, plays MLflow's part) and the gluon
scenarios; each is reported here as a test of its own. Serving runs ``mlnb models serve`` in that
environment, scored over HTTP from here. This environment, without MXNet, gets a clear error.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import mlnb.gluon
import mlnb.pyfunc
from _gluon_side import CONFORMANCE, SCENARIOS, SERVED_EXPECTED, SERVED_MODEL
from mlnb.environments.installers import env_python
from mlnb.errors import MissingDependencyError
from mlnb.models.reading import VersionMismatchWarning
from tests._serving import start, stop
from tests._tiers import GLUON_ENV, REPO
from tests.conftest import free_port


def in_mxnet_env(test):
    """The tests that need the MXNet environment tests/run.sh builds (the install tier)."""
    return pytest.mark.install(pytest.mark.slow(test))


SIDE = REPO / "tests" / "_gluon_side.py"
#: the MXNet environment runs this checkout's mlnb (it is not installed there) and tests/ helpers
SIDE_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}


def gluon_python() -> str:
    return str(env_python(GLUON_ENV))


@pytest.fixture(scope="module")
def mxnet_run(tmp_path_factory) -> Path:
    """Everything tests/_gluon_side.py does, run once: its work directory with results.json."""
    from sklearn.datasets import make_classification

    work = tmp_path_factory.mktemp("gluon")
    X, y = make_classification(n_samples=120, n_features=4, n_informative=3, n_redundant=0, random_state=0)
    np.savez(work / "data.npz", X=X, y=y)
    done = subprocess.run([gluon_python(), str(SIDE), str(work / "data.npz"), str(work)], cwd=work, env=SIDE_ENV,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0 and (work / "results.json").is_file(), done.stderr[-3000:]
    return work


def _result(work: Path, name: str) -> str:
    return json.loads((work / "results.json").read_text())[name]


@in_mxnet_env
@pytest.mark.parametrize("check", [c.__name__ for c in CONFORMANCE])
def test_conformance_in_the_mxnet_environment(check, mxnet_run):
    assert _result(mxnet_run, f"conformance:{check}") == "ok"


@in_mxnet_env
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_gluon_in_the_mxnet_environment(scenario, mxnet_run):
    assert _result(mxnet_run, scenario) == "ok"


@in_mxnet_env
def test_served_by_mlnb_in_the_mxnet_environment_and_scored_over_http(mxnet_run, tmp_path):
    expected = json.loads((mxnet_run / SERVED_EXPECTED).read_text())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start([gluon_python(), "-m", "mlnb.cli", "models", "serve", "-m", str(mxnet_run / SERVED_MODEL),
                    "-p", str(port), "-h", "127.0.0.1"], url, tmp_path / "server.log", env=SIDE_ENV)
    try:
        body = json.dumps({"dataframe_split": {"columns": expected["columns"], "data": expected["data"]}}).encode()
        request = urllib.request.Request(f"{url}/invocations", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        rows = [[row[key] for key in ("0", "1")] for row in answer["predictions"]]
        # float32 predictions cross JSON exactly: the served model answers what the block computed
        np.testing.assert_array_equal(np.asarray(rows, dtype=np.float32),
                                      np.asarray(expected["predictions"], dtype=np.float32))
        missing = json.dumps({"dataframe_split": {"columns": ["f0"], "data": [[1.0]]}}).encode()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(f"{url}/invocations", missing,
                                                          {"Content-Type": "application/json"}), timeout=60)
        assert refused.value.code == 400
        error = json.loads(refused.value.read())
        assert error["error_code"] == "INVALID_PARAMETER_VALUE" and "f1" in error["message"]   # the signature's
    finally:
        stop(server)


# -- this environment: no MXNet ----------------------------------------------------------------
@in_mxnet_env
def test_without_mxnet_loading_names_the_environment_it_needs(mxnet_run):
    assert importlib.util.find_spec("mxnet") is None   # the test environment keeps its NumPy
    model = mxnet_run / SERVED_MODEL
    for load in (mlnb.gluon.load_model, mlnb.pyfunc.load_model):
        with pytest.warns(VersionMismatchWarning, match=r"numpy \(saved with 1\.23\.5"), \
                pytest.raises(MissingDependencyError, match=r"MXNet is not installed here.*'mxnet==1\.9\.1' 'numpy<1\.24'"):
            load(model)
    done = subprocess.run([sys.executable, "-m", "mlnb.cli", "models", "predict", "-m", str(model),
                           "--env-manager", "local"],   # here, not in a restored environment
                          input="{}", capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode != 0 and "MXNet is not installed here" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_flavor_imports_without_mxnet_and_saving_names_the_environment(tmp_path):
    assert importlib.util.find_spec("mxnet") is None
    assert "mxnet" not in sys.modules and mlnb.gluon.FLAVOR_NAME == "gluon"
    with pytest.raises(MissingDependencyError, match=r"MXNet 1\.9\.1 \(its last release\) imports only with NumPy < 1\.24"):
        mlnb.gluon.save_model(object(), tmp_path / "model")
    assert not (tmp_path / "model").exists()

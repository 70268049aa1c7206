"""R functions as models (MLflow R's crate flavor): saved with Rscript, predicted and served from
Python through a persistent R worker; R's errors, a missing R and the trust policy.

Every test checks that no R worker outlives its models.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import mlnb.crate
import mlnb.pyfunc
from conformance import (CHECKS, FlavorCase, Subject, check_mlmodel_keys_match_mlflow,
                         check_mlnb_loads_mlflow_model)
from mlnb.errors import InvalidParameterError, MissingDependencyError, PredictionError, UnsafeModelError

#: a model with a helper defined beside it: both travel in the crate
SOURCE = """
weights <- c(a = 2.5, b = -1.25)
function(df) df$a * weights[["a"]] + df$b * weights[["b"]] + 0.1
"""


def _frame(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})


def _expected(X: pd.DataFrame) -> np.ndarray:
    return (X["a"] * 2.5 + X["b"] * -1.25 + 0.1).to_numpy()


def _r_workers() -> list[int]:
    """R processes started by this test process (the workers and any one-shot Rscript)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            argv0 = Path(entry.path, "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and argv0.endswith((b"/R", b"Rscript")):
            found.append(int(entry.name))
    return found


@pytest.fixture(autouse=True)
def no_worker_left():
    yield
    gc.collect()
    assert _r_workers() == [], "an R worker outlived its model"


# -- conformance -------------------------------------------------------------------------------
def crate_case() -> FlavorCase:
    def make(directory: Path, library: str) -> Subject:
        X = _frame()
        return Subject(SOURCE, X, _expected(X))

    def save(subject, path, **kw):
        return mlnb.crate.save_model(subject.model, path, **kw)

    def predict_native(model, X):
        with model:
            return model.predict(X)

    def not_in_mlflow(*args, **kwargs):
        raise AssertionError("MLflow's Python package cannot save R crates")

    return FlavorCase("crate-r_function", make, save, mlnb.crate.load_model, predict_native, not_in_mlflow)


#: MLflow's Python package cannot write a crate, so the two checks that need one do not apply; MLflow's
#: pyfunc loader does load mlnb's crates (check_mlflow_loads_mlnb_model), through mlnb.crate.
APPLICABLE = [c for c in CHECKS if c not in (check_mlnb_loads_mlflow_model, check_mlmodel_keys_match_mlflow)]


@pytest.mark.parametrize("check", APPLICABLE, ids=lambda c: c.__name__)
def test_conformance(check, tmp_path):
    check(crate_case(), tmp_path)


# -- MLflow R's format ---------------------------------------------------------------------------
def _rscript(program: str, *args: str) -> str:
    return subprocess.run(["Rscript", "--vanilla", "-e", program, *args], capture_output=True, text=True,
                          check=True).stdout


def test_the_files_are_those_mlflow_r_writes_and_base_r_loads_them_as_mlflow_r_does(tmp_path):
    X = _frame(5)
    mlnb.crate.save_model(SOURCE, tmp_path / "model")
    spec = yaml.safe_load((tmp_path / "model" / "MLmodel").read_text())
    assert spec["flavors"]["crate"] == {"version": "0.1.0", "model": "crate.bin"}
    X.to_csv(tmp_path / "x.csv", index=False)
    # mlflow_load_flavor.mlflow_flavor_crate, then mlflow_predict.crate, written out in base R
    out = _rscript("""
        args <- commandArgs(trailingOnly = TRUE)
        model <- unserialize(readRDS(file.path(args[1], "crate.bin")))
        stopifnot(inherits(model, "crate"), is.function(model))
        cat(sprintf("%.17g", do.call(model, list(utils::read.csv(args[2])))), sep = "\\n")
    """, str(tmp_path / "model"), str(tmp_path / "x.csv"))
    np.testing.assert_array_equal(np.array(out.split(), dtype=float), _expected(X))


def test_a_crate_written_as_mlflow_r_writes_it_loads_in_mlnb(tmp_path):
    """mlflow_save_model.crate: saveRDS(serialize(fn, NULL)) and an MLmodel with only the crate flavor."""
    model_dir = tmp_path / "from-r"
    model_dir.mkdir()
    _rscript('saveRDS(serialize(function(df) df$a - df$b, NULL), file.path(commandArgs(TRUE)[1], "crate.bin"))',
             str(model_dir))
    (model_dir / "MLmodel").write_text(yaml.safe_dump({"flavors": {"crate": {"version": "0.1.0", "model": "crate.bin"}}}))
    X = _frame(7)
    with mlnb.crate.load_model(model_dir) as model:
        np.testing.assert_array_equal(np.asarray(model.predict(X)), (X["a"] - X["b"]).to_numpy())


def test_an_rds_file_and_an_r_file_are_taken_too(tmp_path):
    _rscript('saveRDS(function(df) data.frame(total = df$a + df$b, label = ifelse(df$a > 0, "up", "down")), '
             'commandArgs(TRUE)[1])', str(tmp_path / "f.rds"))
    (tmp_path / "f.R").write_text("function(df) nrow(df):1\n")
    X = _frame(6)
    mlnb.crate.save_model(tmp_path / "f.rds", tmp_path / "rds-model")
    mlnb.crate.save_model(str(tmp_path / "f.R"), tmp_path / "r-model")
    frame = mlnb.pyfunc.load_model(tmp_path / "rds-model").predict(X)
    assert list(frame.columns) == ["total", "label"]
    np.testing.assert_array_equal(frame["total"].to_numpy(), (X["a"] + X["b"]).to_numpy())
    assert frame["label"].tolist() == ["up" if a > 0 else "down" for a in X["a"]]
    assert mlnb.pyfunc.load_model(tmp_path / "r-model").predict(X).tolist() == [6, 5, 4, 3, 2, 1]


def test_source_that_does_not_end_with_a_function_is_refused_with_rs_message(tmp_path):
    with pytest.raises(InvalidParameterError, match="must end with a function.*numeric"):
        mlnb.crate.save_model("x <- 1\nx + 1", tmp_path / "model")
    with pytest.raises(InvalidParameterError, match="unexpected"):
        mlnb.crate.save_model("function(df) {", tmp_path / "model")
    assert not (tmp_path / "model").exists()


# -- predicting ------------------------------------------------------------------------------------
def test_an_r_error_is_a_prediction_error_with_rs_message_and_the_worker_carries_on(tmp_path):
    source = 'function(df) { if (any(df$a < -100)) stop("negative income in row ", which(df$a < -100)[1]); ' \
             'print("noise on stdout"); df$a * 2 }'
    mlnb.crate.save_model(source, tmp_path / "model")
    model = mlnb.pyfunc.load_model(tmp_path / "model")
    X = _frame(4)
    with pytest.raises(PredictionError, match="negative income in row 3"):
        model.predict(X.assign(a=[1.0, 2.0, -500.0, 3.0]))
    np.testing.assert_array_equal(np.asarray(model.predict(X)), X["a"].to_numpy() * 2)  # printing is harmless


def test_the_worker_is_persistent_one_r_process_for_many_predictions(tmp_path):
    mlnb.crate.save_model(SOURCE, tmp_path / "model")
    model = mlnb.pyfunc.load_model(tmp_path / "model")
    pids = set()
    for n in (1, 3, 50):
        X = _frame(n)
        np.testing.assert_array_equal(np.asarray(model.predict(X)), _expected(X))
        pids.update(_r_workers())
    assert len(pids) == 1
    model.get_raw_model().close()
    assert _r_workers() == []


def test_missing_r_is_one_line_naming_the_debian_package(tmp_path, monkeypatch):
    mlnb.crate.save_model(SOURCE, tmp_path / "model")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    for action in (lambda: mlnb.pyfunc.load_model(tmp_path / "model"),
                   lambda: mlnb.crate.save_model(SOURCE, tmp_path / "other")):
        with pytest.raises(MissingDependencyError) as caught:
            action()
        message = str(caught.value)
        assert "\n" not in message and "r-base-core" in message


# -- trust -----------------------------------------------------------------------------------------
def test_a_crate_runs_code_so_it_loads_only_where_pickles_may(tmp_path, monkeypatch):
    mlnb.crate.save_model(SOURCE, tmp_path / "model")
    with pytest.raises(UnsafeModelError, match="R crate.*allow_pickle=True"):
        mlnb.pyfunc.load_model(tmp_path / "model", allow_pickle=False)
    with pytest.raises(UnsafeModelError, match="R crate"):
        mlnb.crate.load_model(tmp_path / "model", allow_pickle=False)
    assert _r_workers() == []  # refused before R started
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    with pytest.raises(UnsafeModelError, match="MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false"):
        mlnb.pyfunc.load_model(tmp_path / "model")
    X = _frame(3)
    with mlnb.crate.load_model(tmp_path / "model", allow_pickle=True) as model:  # explicit consent wins
        np.testing.assert_array_equal(np.asarray(model.predict(X)), _expected(X))


# -- serving ---------------------------------------------------------------------------------------
def test_mlnb_serves_a_crate_model(tmp_path, port):
    from _serving import mlnb_serve_cmd, start, stop

    mlnb.crate.save_model(SOURCE, tmp_path / "model")
    X = _frame(5)
    url = f"http://127.0.0.1:{port}"
    proc = start(mlnb_serve_cmd(tmp_path / "model", port), url, tmp_path / "server.log")
    try:
        body = json.dumps({"dataframe_split": X.to_dict(orient="split")}).encode()
        request = urllib.request.Request(f"{url}/invocations", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
    finally:
        stop(proc)
    np.testing.assert_allclose(answer["predictions"], _expected(X), rtol=0, atol=0)

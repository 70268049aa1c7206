"""The embedded store under stress: several processes, SIGKILL, old mlnb stores, bad files."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import math
import textwrap
import time
from pathlib import Path

import pytest

import mlnb
import mlnb.pyfunc
from mlnb.errors import InvalidParameterError, ResourceNotFoundError, TrackingError
from mlnb.tracking import convert
from mlnb.tracking.sqlite_store import SqliteStore

from tests.conftest import WAIT


def _python(code: str, db, *args) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}"}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


WRITER = """
    import sys, mlnb
    worker = sys.argv[1]
    mlnb.set_experiment("shared")
    for i in range(15):
        with mlnb.start_run(run_name=f"w{worker}-{i}"):
            mlnb.log_params({f"p{j}": j for j in range(5)})
            for step in range(10):
                mlnb.log_metric("loss", step / 10, step=step)
            mlnb.set_tag("worker", worker)
"""


def test_four_processes_logging_at_once_lose_nothing(tmp_path):
    db = tmp_path / "shared.db"
    procs = [_python(WRITER, db, w) for w in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    mlnb.set_tracking_uri(db)
    df = mlnb.search_runs(experiment_names=["shared"])
    assert len(df) == 60
    assert sorted(df["tags.worker"].value_counts().tolist()) == [15, 15, 15, 15]
    assert (df["status"] == "FINISHED").all()
    assert (df["params.p4"] == "4").all() and (df["metrics.loss"] == 0.9).all()
    client = mlnb.MlnbClient()
    for run_id in df["run_id"]:
        assert [m.step for m in client.get_metric_history(run_id, "loss")] == list(range(10))


KILLED = """
    import sys, mlnb, mlnb.sklearn
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    X, y = make_classification(n_samples=200, random_state=0)
    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(X, y)
    run = mlnb.start_run(run_name="doomed")
    print(run.info.run_id, flush=True)
    i = 0
    while True:
        mlnb.log_metric("i", i, step=i)
        mlnb.sklearn.log_model(model, name=f"m{i}", serialization_format="cloudpickle")
        i += 1
"""


def test_sigkill_mid_logging_leaves_an_open_store_a_running_run_and_whole_models(tmp_path):
    db = tmp_path / "killed.db"
    proc = _python(KILLED, db)
    try:
        run_id = proc.stdout.readline().strip()
        assert run_id, proc.stderr.read()
        store = SqliteStore(db)
        deadline = time.monotonic() + WAIT
        while len(store.get_metric_history(run_id, "i")) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        store.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    mlnb.set_tracking_uri(db)
    run = mlnb.get_run(run_id)
    assert run.info.status == "RUNNING" and run.info.end_time is None
    history = mlnb.MlnbClient().get_metric_history(run_id, "i")
    assert [m.step for m in history] == list(range(len(history))) and len(history) >= 4
    models = mlnb.search_logged_models(output_format="list", filter_string=f"source_run_id = '{run_id}'")
    ready = [m for m in models if m.status == "READY"]
    assert len(ready) >= 3 and len(models) - len(ready) <= 1   # only the save in flight is left PENDING
    for m in ready:  # every finished model is whole and loads, by run and by id
        assert mlnb.pyfunc.load_model(f"runs:/{run_id}/{m.name}").predict([[0.0] * 20]).shape == (1,)
        assert mlnb.pyfunc.load_model(f"models:/{m.model_id}").predict([[0.0] * 20]).shape == (1,)
    # and the store still takes writes
    with mlnb.start_run():
        mlnb.log_metric("after", 1.0)


def _legacy_store(db, version: int):
    """An mlnb store of schema ``version`` (1-3) as older mlnb wrote it, with one run."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    convert.LEGACY_MIGRATIONS[1](conn)
    conn.execute("INSERT INTO mlnb_meta VALUES ('schema_version', '1')")
    conn.execute("INSERT INTO runs (run_uuid, experiment_id, name, status, start_time, end_time) "
                 "VALUES ('abc123', 0, 'old', 'FINISHED', 1, 2)")
    conn.executemany("INSERT INTO metrics VALUES (1, 'loss', ?, ?, ?)",
                     [(0, 10, 1.0), (2, 11, 0.25), (1, 12, 0.5), (1, 14, None)])
    conn.execute("INSERT INTO metrics VALUES (1, 'acc', 0, 10, 0.75)")
    conn.execute("INSERT INTO tags VALUES (1, 'mlflow.runName', 'old')")
    conn.execute("INSERT INTO params VALUES (1, 'alpha', '0.5')")
    for v in range(2, version + 1):
        convert.LEGACY_MIGRATIONS[v](conn)
    conn.execute("UPDATE mlnb_meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    conn.execute("COMMIT")
    conn.close()
    art = db.parent / "mlnb-artifacts" / "0" / "abc123" / "artifacts" / "model"
    art.mkdir(parents=True)
    (art / "notes.txt").write_text("kept")


@pytest.mark.parametrize("version", [1, 2, 3])
def test_an_old_mlnb_store_converts_into_an_mlflow_store_losing_nothing(tmp_path, version):
    import mlflow

    _legacy_store(tmp_path / "mlnb.db", version)
    before = (tmp_path / "mlnb.db").read_bytes()
    mlnb.set_tracking_uri(tmp_path / "mlflow.db")   # first use of mlflow.db beside an old mlnb.db converts it
    run = mlnb.get_run("abc123")
    assert (tmp_path / "mlnb.db").read_bytes() == before   # the old file is kept as it was
    assert run.data.metrics == {"loss": 0.25, "acc": 0.75} and run.data.params == {"alpha": "0.5"}
    assert run.info.run_name == "old" and (run.info.start_time, run.info.end_time) == (1, 2)
    history = mlnb.MlnbClient().get_metric_history("abc123", "loss")
    assert [(m.step, m.timestamp) for m in history] == [(0, 10), (1, 12), (1, 14), (2, 11)]
    assert math.isnan(history[2].value)
    assert (Path(mlnb.download_artifacts("runs:/abc123/model")) / "notes.txt").read_text() == "kept"
    theirs = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").get_run("abc123")
    assert theirs.data.metrics == {"loss": 0.25, "acc": 0.75} and theirs.data.params == {"alpha": "0.5"}


def test_an_old_mlnb_store_named_directly_says_how_to_convert_it(tmp_path):
    _legacy_store(tmp_path / "team.db", 3)
    with pytest.raises(TrackingError, match="mlnb db convert"):
        SqliteStore(tmp_path / "team.db").search_experiments()
    out = convert.convert_legacy_store(tmp_path / "team.db", tmp_path / "team-mlflow.db")
    assert SqliteStore(out).get_run("abc123").data.params == {"alpha": "0.5"}
    with pytest.raises(TrackingError, match="already exists"):
        convert.convert_legacy_store(tmp_path / "team.db", out)


def test_mlflow_stores_are_used_and_garbage_files_are_refused_clearly(tmp_path):
    import mlflow

    mlflow_db = tmp_path / "theirs.db"
    mlflow.MlflowClient(f"sqlite:///{mlflow_db}").create_experiment("made-by-mlflow")
    assert "made-by-mlflow" in [e.name for e in SqliteStore(mlflow_db).search_experiments()]
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(TrackingError, match="not an MLflow store"):
        SqliteStore(junk).search_experiments()
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(TrackingError, match="not an MLflow store"):
        SqliteStore(other).search_experiments()


def test_experiments_through_the_client():
    client = mlnb.MlnbClient()
    eid = client.create_experiment("exp-a", tags={"owner": "me"})
    assert client.get_experiment(eid).name == "exp-a"
    assert client.get_experiment_by_name("exp-a").tags == {"owner": "me"}
    assert client.get_experiment_by_name("nope") is None
    assert [e.name for e in client.search_experiments()] == ["Default", "exp-a"]
    with pytest.raises(InvalidParameterError, match="already exists"):
        client.create_experiment("exp-a")
    with pytest.raises(ResourceNotFoundError):
        client.get_experiment("42")
    run = client.create_run(eid, run_name="explicit")
    client.log_batch(run.info.run_id, metrics=[mlnb.tracking.entities.Metric("m", 1.0, 5, 0)],
                     params={"a": 1}, tags=[("t", "v")])
    client.set_terminated(run.info.run_id, "FINISHED")
    got = client.get_run(run.info.run_id)
    assert (got.data.metrics, got.data.params, got.data.tags["t"], got.info.status) == (
        {"m": 1.0}, {"a": "1"}, "v", "FINISHED")
    assert [r.info.run_id for r in client.search_runs(eid)] == [run.info.run_id]


def test_experiment_with_its_own_artifact_location(tmp_path):
    client = mlnb.MlnbClient()
    eid = client.create_experiment("located", artifact_location=str(tmp_path / "elsewhere"))
    with mlnb.start_run(experiment_id=eid) as run:
        mlnb.log_text("x", "x.txt")
    assert run.info.artifact_uri == f"{tmp_path / 'elsewhere'}/{run.info.run_id}/artifacts"
    assert (tmp_path / "elsewhere" / run.info.run_id / "artifacts" / "x.txt").read_text() == "x"


def test_set_experiment_from_environment(monkeypatch):
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    with mlnb.start_run() as run:
        pass
    assert mlnb.get_experiment_by_name("from-env").experiment_id == run.info.experiment_id


def test_mlnb_db_convert_command(tmp_path):
    from click.testing import CliRunner

    from mlnb.cli import main

    _legacy_store(tmp_path / "mlnb.db", 2)
    result = CliRunner().invoke(main, ["db", "convert", str(tmp_path / "mlnb.db")])
    assert result.exit_code == 0 and "mlflow.db" in result.output
    assert SqliteStore(tmp_path / "mlflow.db").get_run("abc123").data.metrics == {"loss": 0.25, "acc": 0.75}
    again = CliRunner().invoke(main, ["db", "convert", str(tmp_path / "mlnb.db")])
    assert again.exit_code == 1 and "already exists" in again.output

"""mlnb and MLflow on one store file: each reads what the other wrote, and both log at once."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import mlnb
import mlnb.pyfunc
import mlnb.sklearn


@pytest.fixture
def fitted(classification_data):
    X, y = classification_data
    return LogisticRegression(max_iter=200).fit(X, y), X


def _mlflow(tmp_path):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return mlflow


def test_mlflow_reads_everything_mlnb_logged(tmp_path, fitted):
    model, X = fitted
    mlnb.set_experiment("shared")
    with mlnb.start_run(run_name="ours", tags={"team": "ml"}) as run:
        mlnb.log_params({"alpha": 0.5, "kind": "linear"})
        for step in range(3):
            mlnb.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1000 + step)
        mlnb.log_text("hello", "notes/hello.txt")
        info = mlnb.sklearn.log_model(model, name="clf")
    assert info.model_id.startswith("m-") and len(info.model_id) == 34
    from mlnb.models.mlmodel import Model

    assert Model.load(mlnb.download_artifacts(f"models:/{info.model_id}")).model_id == info.model_id
    mlflow = _mlflow(tmp_path)
    client = mlflow.MlflowClient()
    theirs = client.get_run(run.info.run_id)
    assert theirs.info.run_name == "ours" and theirs.info.status == "FINISHED"
    assert theirs.data.params == {"alpha": "0.5", "kind": "linear"}
    assert theirs.data.metrics == {"loss": 1 / 3} and theirs.data.tags["team"] == "ml"
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.timestamp, m.value) for m in history] == [(0, 1000, 1.0), (1, 1001, 0.5), (2, 1002, 1 / 3)]
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes/hello.txt") == "hello"
    assert mlflow.get_experiment_by_name("shared").experiment_id == run.info.experiment_id
    logged = client.get_logged_model(info.model_id)
    assert (logged.name, logged.source_run_id, str(logged.status)) == ("clf", run.info.run_id, "READY")
    for uri in (f"models:/{info.model_id}", info.model_uri):
        np.testing.assert_array_equal(mlflow.pyfunc.load_model(uri).predict(X), model.predict(X))
    df = mlflow.search_runs(experiment_names=["shared"])
    assert list(df["run_id"]) == [run.info.run_id] and list(df["metrics.loss"]) == [1 / 3]


def test_mlnb_reads_everything_mlflow_logged(tmp_path, fitted):
    model, X = fitted
    mlflow = _mlflow(tmp_path)
    mlflow.set_experiment("theirs")
    with mlflow.start_run(run_name="by-mlflow") as run:
        mlflow.log_param("alpha", 0.1)
        for step in range(3):
            mlflow.log_metric("acc", 0.5 + step / 10, step=step)
        mlflow.set_tag("origin", "mlflow")
        info = mlflow.sklearn.log_model(model, name="model")
    df = mlnb.search_runs(experiment_names=["theirs"])
    assert list(df["run_id"]) == [run.info.run_id]
    assert list(df["params.alpha"]) == ["0.1"] and list(df["tags.origin"]) == ["mlflow"]
    assert list(df["metrics.acc"]) == [pytest.approx(0.7)]
    got = mlnb.get_run(run.info.run_id)
    assert got.info.run_name == "by-mlflow" and got.info.status == "FINISHED"
    steps = [m.step for m in mlnb.MlnbClient().get_metric_history(run.info.run_id, "acc")]
    assert steps == [0, 1, 2]
    # MLflow 3 keeps its model under the experiment; runs:/ and models:/ both find it
    ours = mlnb.get_logged_model(info.model_id)
    assert (ours.name, ours.source_run_id, ours.status) == ("model", run.info.run_id, "READY")
    assert ours.artifact_location.endswith(f"/models/{info.model_id}/artifacts")
    for uri in (f"runs:/{run.info.run_id}/model", f"models:/{info.model_id}"):
        np.testing.assert_array_equal(mlnb.pyfunc.load_model(uri).predict(X), model.predict(X))
    eid = mlnb.get_experiment_by_name("theirs").experiment_id
    assert [m.model_id for m in mlnb.search_logged_models([eid], output_format="list")] == [info.model_id]
    assert mlnb.search_logged_models([eid], filter_string="name = 'model'")["model_id"].tolist() == [info.model_id]


WRITER = """
import sys
tool, n = sys.argv[1], int(sys.argv[2])
if tool == "mlflow":
    import mlflow as api
else:
    import mlnb as api
api.set_experiment("both")
for i in range(n):
    with api.start_run(run_name=f"{tool}-{i}"):
        api.log_params({f"p{j}": j for j in range(5)})
        for step in range(10):
            api.log_metric("loss", step / 10, step=step)
        api.set_tag("tool", tool)
print("done", flush=True)
"""


def test_mlnb_and_mlflow_logging_to_one_file_at_once_lose_nothing(tmp_path):
    db = tmp_path / "mlflow.db"
    mlnb.set_tracking_uri(db)
    mlnb.set_experiment("both")   # the store exists before both start
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}"}
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(WRITER), tool, str(n)], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for tool, n in (("mlflow", 12), ("mlnb", 40), ("mlnb", 40))]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0 and "done" in out, err[-3000:]
    df = mlnb.search_runs(experiment_names=["both"])
    assert df["tags.tool"].value_counts().to_dict() == {"mlnb": 80, "mlflow": 12}
    assert (df["status"] == "FINISHED").all() and (df["params.p4"] == "4").all()
    assert (df["metrics.loss"] == 0.9).all()
    mlflow = _mlflow(tmp_path)
    client = mlflow.MlflowClient()
    theirs = mlflow.search_runs(experiment_names=["both"])
    assert len(theirs) == 92
    for run_id in df["run_id"]:
        assert [m.step for m in client.get_metric_history(run_id, "loss")] == list(range(10))
    assert len(client.get_run(df["run_id"][0]).data.params) == 5


def test_the_search_cache_follows_mlflows_writes_and_is_rebuilt_when_a_migration_drops_it(tmp_path):
    import sqlite3

    from mlnb.tracking.sqlite_store import SqliteStore

    db = tmp_path / "mlflow.db"
    mlnb.set_tracking_uri(db)
    with mlnb.start_run() as ours:
        mlnb.log_metric("m", 1.0, step=5)
    mlflow = _mlflow(tmp_path)
    client = mlflow.MlflowClient()
    with mlflow.start_run(run_id=ours.info.run_id):
        mlflow.log_metric("m", 9.0, step=1)            # an older step: the latest stays 1.0
        mlflow.log_metric("m", float("inf"), step=6)    # a newer one replaces it
        mlflow.log_metric("n", float("nan"))
        mlflow.log_metric("third", 1 / 3)               # 17 digits: SQLite's JSON keeps only 15
        mlflow.set_tag("t", "a")
        mlflow.set_tag("t", "b")
        mlflow.log_param("p", "x")
    client.delete_tag(ours.info.run_id, "t")
    with mlflow.start_run() as theirs:
        mlflow.log_params({"q": "1"})

    def both_ways(store):
        cached = store.search_runs(["0"]).to_frame()
        store._cached = False   # the same search over MLflow's tables directly
        direct = store.search_runs(["0"]).to_frame()
        store._cached = True
        return cached, direct

    store = SqliteStore(db)
    cached, direct = both_ways(store)
    assert cached.sort_index(axis=1).equals(direct.sort_index(axis=1))
    row = cached.set_index("run_id").loc[ours.info.run_id]
    # MLflow keeps an infinity as the largest double, and reads that back: so does mlnb, exactly
    assert row["metrics.m"] == client.get_run(ours.info.run_id).data.metrics["m"] == sys.float_info.max
    assert row["metrics.third"] == 1 / 3 and row["params.p"] == "x" and "tags.t" not in cached
    assert cached.set_index("run_id").loc[theirs.info.run_id, "params.q"] == "1"
    store.close()
    with sqlite3.connect(db) as conn:   # as if a migration had recreated the params table
        conn.execute("DROP TRIGGER mlnb_run_cache_params_insert")
    with mlflow.start_run(run_id=theirs.info.run_id):
        mlflow.log_param("late", "1")
    store = SqliteStore(db)
    cached, direct = both_ways(store)
    assert cached.sort_index(axis=1).equals(direct.sort_index(axis=1))
    assert cached.set_index("run_id").loc[theirs.info.run_id, "params.late"] == "1"


# -- the search cache: mlnb refreshes it once per call, MLflow's rows through triggers ----------
def _searches_agree(mlflow, experiment: str) -> "object":
    """mlnb's search (from its cache) and MLflow's (from its tables) give the same runs and values."""
    import pandas as pd

    ours = mlnb.search_runs(experiment_names=[experiment]).set_index("run_id").sort_index()
    theirs = mlflow.search_runs(experiment_names=[experiment]).set_index("run_id").sort_index()
    assert list(ours.index) == list(theirs.index)
    assert set(ours.columns) == set(theirs.columns), set(ours.columns) ^ set(theirs.columns)
    values = sorted(c for c in theirs.columns if c.startswith(("metrics.", "params.", "tags."))) + ["status"]
    pd.testing.assert_frame_equal(ours[values], theirs[values], check_dtype=False)
    return ours


#: a double whose 17-digit text SQLite 3.40 gets wrong in the last digit: read from latest_metrics
HUGE = -1.0561264597023259e+303


def test_search_agrees_with_mlflow_while_both_tools_write_the_same_runs_in_turn(tmp_path):
    mlflow = _mlflow(tmp_path)
    client = mlflow.MlflowClient()
    mlnb.set_experiment("turns")
    with mlnb.start_run(run_name="first", tags={"who": "mlnb"}) as ours:
        mlnb.log_params({"a": 1, "b": "x"})
        mlnb.log_metrics({"loss": 0.5, "acc": 0.7}, step=2)
    run_id = ours.info.run_id
    _searches_agree(mlflow, "turns")
    client.log_metric(run_id, "loss", 9.0, step=1)              # an older step: the latest stays 0.5
    client.log_metric(run_id, "acc", float("inf"), step=3)      # a newer one replaces it
    client.log_metric(run_id, "nan", float("nan"))
    client.log_param(run_id, "c", "from-mlflow")
    client.log_metric(run_id, "mlflow-huge", HUGE)
    client.set_tag(run_id, "who", "mlflow")
    frame = _searches_agree(mlflow, "turns")
    assert frame.loc[run_id, "metrics.acc"] == sys.float_info.max and frame.loc[run_id, "tags.who"] == "mlflow"
    assert frame.loc[run_id, "metrics.mlflow-huge"] == HUGE
    with mlnb.start_run(run_id=run_id, run_name="renamed"):     # mlnb after MLflow, on the same run
        mlnb.log_metric("loss", 0.25, step=4)
        mlnb.log_metric("nan", 1.0, step=1)
        mlnb.log_metrics({"third": 1 / 3, "low": float("-inf"), "tiny": 5e-324, "huge": HUGE})
        mlnb.set_tag("who", "mlnb-again")
        mlnb.log_param("d", "late")
    frame = _searches_agree(mlflow, "turns")
    assert frame.loc[run_id, "metrics.loss"] == 0.25 and frame.loc[run_id, "tags.mlflow.runName"] == "renamed"
    assert frame.loc[run_id, ["metrics.third", "metrics.low", "metrics.tiny", "metrics.huge"]].tolist() == \
        [1 / 3, -math.inf, 5e-324, HUGE]
    client.delete_tag(run_id, "who")
    client.set_tag(run_id, "gone", "soon")
    mlnb.MlnbClient().delete_tag(run_id, "gone")
    eid = mlnb.get_experiment_by_name("turns").experiment_id
    theirs = client.create_run(eid, run_name="by-mlflow")
    from mlflow.entities import Metric, Param, RunTag

    from mlnb.tracking.entities import Metric as OurMetric

    mlnb.MlnbClient().log_batch(theirs.info.run_id, metrics=[OurMetric("m", 2.0, 1, 0)], params={"p": "1"},
                                tags={"t": "ours"})
    client.log_batch(theirs.info.run_id, metrics=[Metric("m", 3.0, 2, 0)], params=[Param("q", "2")],
                     tags=[RunTag("t", "theirs")])
    frame = _searches_agree(mlflow, "turns")
    assert "tags.who" not in frame and "tags.gone" not in frame
    assert frame.loc[theirs.info.run_id, ["metrics.m", "params.p", "params.q", "tags.t"]].tolist() == \
        [3.0, "1", "2", "theirs"]


def test_a_failed_mlnb_write_leaves_the_cache_following_mlflows_writes(tmp_path):
    import sqlite3

    from mlnb.errors import InvalidParameterError
    from mlnb.tracking import run_cache

    mlflow = _mlflow(tmp_path)
    mlnb.set_experiment("failed")
    with mlnb.start_run() as ours:
        mlnb.log_param("alpha", "1")
        with pytest.raises(InvalidParameterError, match="already '1'"):
            mlnb.log_params({"beta": "2", "alpha": "3"})   # refused after the triggers were paused
    with sqlite3.connect(tmp_path / "mlflow.db") as conn:
        assert conn.execute(f"SELECT count(*) FROM {run_cache.HOLD}").fetchone() == (0,)
    mlflow.MlflowClient().log_param(ours.info.run_id, "gamma", "4")   # MLflow's row reaches the cache
    frame = _searches_agree(mlflow, "failed")
    assert frame.loc[ours.info.run_id, "params.gamma"] == "4" and "params.beta" not in frame


def test_a_cache_left_paused_in_the_file_is_rebuilt_on_open(tmp_path):
    import sqlite3

    from mlnb.tracking import run_cache

    mlflow = _mlflow(tmp_path)
    mlnb.set_experiment("paused")
    with mlnb.start_run() as ours:
        mlnb.log_metric("m", 1.0)
    mlnb.tracking.store.forget_stores()
    with sqlite3.connect(tmp_path / "mlflow.db") as conn:   # as if a tool had committed mlnb's pause
        conn.execute(f"INSERT INTO {run_cache.HOLD} (held) VALUES (1)")
    mlflow.MlflowClient().log_metric(ours.info.run_id, "m", 2.0, step=1)   # the triggers skip this row
    frame = _searches_agree(mlflow, "paused")   # mlnb saw the pause on open and rebuilt the cache
    assert frame.loc[ours.info.run_id, "metrics.m"] == 2.0


SAME_RUNS_WRITER = """
import sys
tool, ids = sys.argv[1], sys.argv[2].split(",")
if tool == "mlflow":
    from mlflow import MlflowClient as Client
    from mlflow.entities import Metric, Param, RunTag
else:
    from mlnb import MlnbClient as Client
    from mlnb.tracking.entities import Metric, Param, RunTag
client = Client()
for step in range(3):
    for i, run_id in enumerate(ids):
        client.log_batch(run_id, metrics=[Metric(f"{tool}_m", step + i / 10, 1000 + step, step),
                                          Metric("shared", step + (0.5 if tool == "mlnb" else 0), 1000 + step, step)],
                         params=[Param(f"{tool}_p{step}", str(step))], tags=[RunTag("last", tool)])
        client.log_metric(run_id, f"{tool}_single", float(step), step=step)
print("done", flush=True)
"""


def test_search_agrees_with_mlflow_after_both_tools_log_to_the_same_runs_at_once(tmp_path):
    db = tmp_path / "mlflow.db"
    mlnb.set_experiment("same-runs")
    client = mlnb.MlnbClient()
    eid = mlnb.get_experiment_by_name("same-runs").experiment_id
    ids = [client.create_run(eid, run_name=f"r{i}").info.run_id for i in range(15)]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}"}
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(SAME_RUNS_WRITER), tool, ",".join(ids)],
                              env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for tool in ("mlflow", "mlnb")]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0 and "done" in out, err[-3000:]
    frame = _searches_agree(_mlflow(tmp_path), "same-runs")
    assert (frame["metrics.shared"] == 2.5).all() and (frame["params.mlnb_p2"] == "2").all()
    assert (frame["params.mlflow_p2"] == "2").all() and (frame["metrics.mlnb_single"] == 2.0).all()

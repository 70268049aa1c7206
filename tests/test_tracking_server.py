"""mlnb logging to a real MLflow Tracking Server: MLflow's own client reads back what mlnb wrote."""

from __future__ import annotations


import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import mlnb
import mlnb.pyfunc
import mlnb.sklearn
from mlnb.errors import InvalidParameterError, ResourceNotFoundError, TrackingError
from tests._tracking import mlflow_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


@pytest.fixture
def on_server(server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    return server


@pytest.fixture
def fitted(classification_data):
    X, y = classification_data
    return LogisticRegression(max_iter=200).fit(X, y), X


def test_params_metrics_tags_and_statuses_read_back_by_mlflow(on_server, request):
    from mlflow import MlflowClient

    exp = mlnb.set_experiment(f"exp-{request.node.name}")
    with mlnb.start_run(run_name="from-mlnb", tags={"team": "ml"}) as run:
        mlnb.log_params({"alpha": 0.1, "kind": "ridge"})
        for step in range(3):
            mlnb.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1000 + step)
        mlnb.set_tag("stage", "dev")
    with pytest.raises(RuntimeError):
        with mlnb.start_run() as failed:
            raise RuntimeError("x")
    client = MlflowClient(on_server)
    got = client.get_run(run.info.run_id)
    assert got.info.experiment_id == exp.experiment_id
    assert got.info.status == "FINISHED" and got.info.run_name == "from-mlnb"
    assert got.data.params == {"alpha": "0.1", "kind": "ridge"}
    assert got.data.metrics == {"loss": pytest.approx(1 / 3)}
    assert got.data.tags["team"] == "ml" and got.data.tags["stage"] == "dev"
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.timestamp, m.value) for m in history] == [(s, 1000 + s, 1.0 / (s + 1)) for s in range(3)]
    assert client.get_run(failed.info.run_id).info.status == "FAILED"
    # and mlnb reads it the same way
    assert mlnb.get_run(run.info.run_id).data.params == got.data.params
    assert [m.value for m in mlnb.MlnbClient().get_metric_history(run.info.run_id, "loss")] == [1.0, 0.5, 1 / 3]


def test_search_on_the_server_matches_mlflows_search(on_server, request):
    import mlflow

    mlnb.set_experiment(f"exp-{request.node.name}")
    for i in range(4):
        with mlnb.start_run(run_name=f"r{i}"):
            mlnb.log_param("model", "forest" if i % 2 else "linear")
            mlnb.log_metric("rmse", float(i))
    df = mlnb.search_runs(filter_string="params.model = 'forest' AND metrics.rmse >= 1", order_by=["metrics.rmse DESC"])
    theirs = mlflow.search_runs(experiment_names=[f"exp-{request.node.name}"],
                                filter_string="params.model = 'forest' AND metrics.rmse >= 1",
                                order_by=["metrics.rmse DESC"])
    assert list(df["tags.mlflow.runName"]) == ["r3", "r1"] == list(theirs["tags.mlflow.runName"])
    assert set(theirs.columns) <= set(df.columns) | {"tags.mlflow.log-model.history"}
    assert list(df.columns[:6]) == list(theirs.columns[:6])


def test_artifacts_and_models_logged_by_mlnb_load_in_mlflow(on_server, fitted, tmp_path, request):
    import mlflow

    model, X = fitted
    mlnb.set_experiment(f"exp-{request.node.name}")
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "sub" / "x.txt").write_text("deep")
    with mlnb.start_run() as run:
        mlnb.log_text("hello", "notes/hello.txt")
        mlnb.log_artifacts(tmp_path / "d", "tree")
        info = mlnb.sklearn.log_model(model, name="clf", input_example=X.iloc[:2])
    assert info.model_uri == f"models:/{info.model_id}"
    client = mlflow.MlflowClient(on_server)
    assert sorted(f.path for f in client.list_artifacts(run.info.run_id)) == ["notes", "tree"]
    theirs_model = client.get_logged_model(info.model_id)   # the server keeps it as an MLflow 3 logged model
    assert (theirs_model.name, theirs_model.source_run_id, str(theirs_model.status)) == (
        "clf", run.info.run_id, "READY")
    ours_model = mlnb.get_logged_model(info.model_id)
    assert (ours_model.artifact_location, ours_model.status) == (theirs_model.artifact_location, "READY")
    assert mlnb.last_logged_model().model_id == info.model_id
    assert [m.model_id for m in mlnb.search_logged_models(output_format="list")] == [info.model_id]
    np.testing.assert_array_equal(mlnb.pyfunc.load_model(f"models:/{info.model_id}").predict(X), model.predict(X))
    text = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes/hello.txt")
    assert text == "hello"
    theirs = mlflow.pyfunc.load_model(info.model_uri)
    np.testing.assert_array_equal(theirs.predict(X), model.predict(X))
    ours = mlnb.pyfunc.load_model(info.model_uri)
    np.testing.assert_array_equal(ours.predict(X), model.predict(X))
    local = mlnb.download_artifacts(run_id=run.info.run_id, artifact_path="tree", dst_path=tmp_path / "dl")
    assert open(f"{local}/sub/x.txt").read() == "deep"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
    proxied = mlnb.download_artifacts(f"{run.info.artifact_uri}/notes/hello.txt", dst_path=tmp_path / "px")
    assert open(proxied).read() == "hello"
    tree = mlnb.download_artifacts(f"{run.info.artifact_uri}/tree", dst_path=tmp_path / "px2")
    assert open(f"{tree}/sub/x.txt").read() == "deep"


def test_models_logged_by_mlflow_load_in_mlnb(on_server, fitted, request):
    import mlflow

    model, X = fitted
    mlflow.set_experiment(f"exp-{request.node.name}")
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(model, name="theirs", serialization_format="cloudpickle",
                                 pip_requirements=["scikit-learn"])  # skips MLflow's slow inference
    loaded = mlnb.pyfunc.load_model(f"runs:/{run.info.run_id}/theirs")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    mlflow.end_run()


def test_server_errors_become_typed_errors(on_server):
    with mlnb.start_run() as run:
        mlnb.log_param("p", 1)
        with pytest.raises(InvalidParameterError):
            mlnb.log_param("p", 2)
    with pytest.raises(ResourceNotFoundError):
        mlnb.get_run("0123456789abcdef0123456789abcdef")
    with pytest.raises(ResourceNotFoundError):
        mlnb.pyfunc.load_model(f"runs:/{run.info.run_id}/missing")


def test_a_down_server_fails_fast_with_its_uri(monkeypatch):
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"
    mlnb.set_tracking_uri(url)
    waits = []  # a refused connection is not retried: no backoff sleeps
    monkeypatch.setattr("mlnb.tracking.httpclient.time.sleep", waits.append)
    with pytest.raises(TrackingError, match=url.replace(".", r"\.") + ".*connection refused"):
        mlnb.start_run()
    assert waits == []


def test_a_server_that_never_answers_times_out(monkeypatch):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections, never answers
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    monkeypatch.setenv("MLNB_HTTP_TIMEOUT", "1")
    try:
        mlnb.set_tracking_uri(url)
        with pytest.raises(TrackingError, match="no answer within 1 s"):
            mlnb.get_run("0123456789abcdef")
        listener.setblocking(False)  # a timed-out request is not retried: one connection was made
        connections = []
        while True:
            try:
                connections.append(listener.accept()[0])
            except BlockingIOError:
                break
        assert len(connections) == 1
        for conn in connections:
            conn.close()
    finally:
        listener.close()


def test_large_batches_are_split_to_the_servers_limits(on_server):
    from mlflow import MlflowClient

    from mlnb.tracking.entities import Metric

    client = mlnb.MlnbClient()
    with mlnb.start_run() as run:
        client.log_batch(run.info.run_id,
                         metrics=[Metric(f"m{i % 10}", float(i), 1000 + i, i) for i in range(1100)],
                         params={f"p{i}": i for i in range(120)})
    theirs = MlflowClient(on_server)
    assert len(theirs.get_run(run.info.run_id).data.params) == 120
    assert [m.step for m in theirs.get_metric_history(run.info.run_id, "m3")] == list(range(3, 1100, 10))


def test_log_bytes_and_autolog_files_reach_the_server_and_mlflow_reads_them(on_server, fitted, request):
    import io

    import mlflow

    model, X = fitted
    y = model.predict(X)
    mlnb.set_experiment(f"exp-{request.node.name}")
    with mlnb.start_run() as run:
        repo = mlnb.MlnbClient().store.artifact_repo(run.info.artifact_uri)
        repo.log_bytes(b"first", "raw/blob.bin")
        repo.log_bytes(b"\x00second\xff", "raw/blob.bin")
        mlnb.log_stream(io.BytesIO(b"streamed"), "raw/stream.bin")
        mlnb.sklearn.autolog(log_models=False)
        try:
            LogisticRegression(max_iter=200).fit(X, y)
        finally:
            mlnb.autolog(disable=True)
    rid = run.info.run_id
    client = mlflow.MlflowClient(on_server)
    assert [f.path for f in client.list_artifacts(rid, "raw")] == ["raw/blob.bin", "raw/stream.bin"]
    assert open(mlflow.artifacts.download_artifacts(f"runs:/{rid}/raw/blob.bin"), "rb").read() == b"\x00second\xff"
    assert open(mlflow.artifacts.download_artifacts(f"runs:/{rid}/raw/stream.bin"), "rb").read() == b"streamed"
    pngs = sorted(f.path for f in client.list_artifacts(rid) if f.path.endswith(".png"))
    assert pngs == ["training_confusion_matrix.png", "training_precision_recall_curve.png", "training_roc_curve.png"]
    png = mlflow.artifacts.download_artifacts(f"runs:/{rid}/training_confusion_matrix.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"

"""s3:// models and artifacts against an S3-compatible server (moto) on 127.0.0.1."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import mlnb
import mlnb.pyfunc
import mlnb.sklearn
from mlnb.errors import ResourceNotFoundError, TrackingError
from tests._tracking import moto_s3

BUCKET = "mlnb-test"


@pytest.fixture(scope="module")
def s3_endpoint():
    with moto_s3() as url:
        yield url


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    """Fake credentials and the local endpoint, and a fresh bucket; yields a boto3 client."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_endpoint)
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


@pytest.fixture
def fitted(classification_data):
    X, y = classification_data
    return LogisticRegression(max_iter=200).fit(X, y), X


def _upload_dir(client, local, prefix):
    for f in sorted(local.rglob("*")):
        if f.is_file():
            client.upload_file(str(f), BUCKET, f"{prefix}/{f.relative_to(local).as_posix()}")


def test_a_model_on_s3_loads_in_mlnb_and_mlflow(s3, fitted, tmp_path):
    import mlflow.pyfunc

    model, X = fitted
    mlnb.sklearn.save_model(model, tmp_path / "m")
    _upload_dir(s3, tmp_path / "m", "models/m")
    uri = f"s3://{BUCKET}/models/m"
    np.testing.assert_array_equal(mlnb.pyfunc.load_model(uri).predict(X), model.predict(X))
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(uri).predict(X), model.predict(X))
    local = mlnb.download_artifacts(f"s3://{BUCKET}/models/m/MLmodel", dst_path=tmp_path / "dl")
    assert open(local).read().startswith("flavors:")


def test_runs_with_artifacts_on_s3(s3, fitted, tmp_path):
    model, X = fitted
    eid = mlnb.MlnbClient().create_experiment("on-s3", artifact_location=f"s3://{BUCKET}/exp")
    with mlnb.start_run(experiment_id=eid) as run:
        mlnb.log_text("hello", "notes/hello.txt")
        info = mlnb.sklearn.log_model(model, name="clf")
    assert run.info.artifact_uri == f"s3://{BUCKET}/exp/{run.info.run_id}/artifacts"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert f"exp/{run.info.run_id}/artifacts/clf/MLmodel" in keys
    client = mlnb.MlnbClient()
    assert [(f.path, f.is_dir) for f in client.list_artifacts(run.info.run_id)] == [("clf", True), ("notes", True)]
    assert [f.path for f in client.list_artifacts(run.info.run_id, "notes")] == ["notes/hello.txt"]
    assert open(client.download_artifacts(run.info.run_id, "notes/hello.txt")).read() == "hello"
    np.testing.assert_array_equal(mlnb.pyfunc.load_model(info.model_uri).predict(X), model.predict(X))


def test_log_bytes_puts_one_object_and_replaces_it(s3):
    import io

    eid = mlnb.MlnbClient().create_experiment("bytes-on-s3", artifact_location=f"s3://{BUCKET}/exp")
    with mlnb.start_run(experiment_id=eid) as run:
        repo = mlnb.MlnbClient().store.artifact_repo(run.info.artifact_uri)
        repo.log_bytes(b"first", "raw/blob.bin")
        repo.log_bytes(b"\x00second\xff", "raw/blob.bin")
        mlnb.log_stream(io.BytesIO(b"streamed"), "raw/stream.bin")
    prefix = f"exp/{run.info.run_id}/artifacts/raw/"
    assert s3.get_object(Bucket=BUCKET, Key=prefix + "blob.bin")["Body"].read() == b"\x00second\xff"
    assert s3.get_object(Bucket=BUCKET, Key=prefix + "stream.bin")["Body"].read() == b"streamed"
    assert [f.path for f in mlnb.MlnbClient().list_artifacts(run.info.run_id, "raw")] == ["raw/blob.bin",
                                                                                          "raw/stream.bin"]


def test_pyfunc_artifacts_given_as_s3_uris(s3, tmp_path):
    class Offset(mlnb.pyfunc.PythonModel):
        def load_context(self, context):
            self.offset = float(open(context.artifacts["offset"]).read())

        def predict(self, context, model_input, params=None):
            return np.asarray(model_input) + self.offset

    s3.put_object(Bucket=BUCKET, Key="params/offset.txt", Body=b"10")
    mlnb.pyfunc.save_model(tmp_path / "m", python_model=Offset(),
                           artifacts={"offset": f"s3://{BUCKET}/params/offset.txt"})
    np.testing.assert_array_equal(mlnb.pyfunc.load_model(tmp_path / "m").predict(np.array([1.0])), [11.0])


def test_large_downloads_show_a_progress_bar(s3, tmp_path, monkeypatch, capsys):
    import mlnb.tracking.s3 as s3mod

    monkeypatch.setattr(s3mod, "PROGRESS_THRESHOLD", 1024)
    s3.put_object(Bucket=BUCKET, Key="big/blob.bin", Body=b"x" * 300_000)
    path = mlnb.download_artifacts(f"s3://{BUCKET}/big/blob.bin", dst_path=tmp_path)
    assert open(path, "rb").read() == b"x" * 300_000
    err = capsys.readouterr().err
    assert "blob.bin" in err and "100%" in err


def test_missing_keys_and_unreachable_endpoints_give_clear_errors(s3, monkeypatch):
    with pytest.raises(ResourceNotFoundError, match="not found"):
        mlnb.pyfunc.load_model(f"s3://{BUCKET}/no/such/model")
    from tests.conftest import free_port

    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(TrackingError, match="S3"):
        mlnb.download_artifacts(f"s3://{BUCKET}/x")

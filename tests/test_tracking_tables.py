"""log_table / load_table: what mlnb logs, MLflow's load_table reads, and the other way round,
on one store file; rows append, images become files, bad input gets typed errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlnb
from mlnb.errors import InvalidParameterError, ResourceNotFoundError


@pytest.fixture
def mlflow(tmp_path):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return mlflow


@pytest.mark.parametrize("artifact_file", ["eval/results.json", "results.parquet"])
def test_tables_mlnb_logs_load_in_mlflow(mlflow, artifact_file):
    exp = mlnb.set_experiment("tables")
    with mlnb.start_run() as first:
        mlnb.log_table({"question": ["a", "b"], "score": [0.5, 0.75]}, artifact_file)
        mlnb.log_table(pd.DataFrame({"question": ["c"], "score": [1.0]}), artifact_file)   # appends
    with mlnb.start_run() as second:
        mlnb.log_table({"question": "d", "score": 0.25}, artifact_file)   # scalars: one row
    mlflow.set_experiment(experiment_id=exp.experiment_id)
    theirs = mlflow.load_table(artifact_file, extra_columns=["run_id"])
    ours = mlnb.load_table(artifact_file, extra_columns=["run_id"])
    pd.testing.assert_frame_equal(ours, theirs)
    assert sorted(ours["question"]) == ["a", "b", "c", "d"]
    assert dict(zip(ours["question"], ours["run_id"]))["d"] == second.info.run_id
    only_first = mlflow.load_table(artifact_file, run_ids=[first.info.run_id])
    assert only_first["score"].tolist() == [0.5, 0.75, 1.0]


def test_tables_mlflow_logs_load_and_append_in_mlnb(mlflow):
    exp = mlflow.set_experiment("theirs")
    with mlflow.start_run() as run:
        mlflow.log_table({"x": [1, 2], "y": ["p", "q"]}, "t.json")
    mlnb.set_experiment(experiment_id=exp.experiment_id)
    pd.testing.assert_frame_equal(mlnb.load_table("t.json"), mlflow.load_table("t.json"))
    mlnb.MlflowClient().log_table(run.info.run_id, {"x": [3], "y": ["r"]}, "t.json")
    assert mlflow.load_table("t.json")["x"].tolist() == [1, 2, 3]
    assert mlnb.get_run(run.info.run_id).data.tags["mlflow.loggedArtifacts"] == \
        mlflow.get_run(run.info.run_id).data.tags["mlflow.loggedArtifacts"]


def test_image_columns_are_saved_as_files_mlflow_reads(mlflow):
    from PIL import Image

    mlnb.set_experiment("images")
    pictures = [Image.fromarray(np.full((600, 300, 3), i * 60, dtype=np.uint8)) for i in range(2)]
    with mlnb.start_run() as run:
        mlnb.log_table({"label": ["dark", "light"], "image": pictures}, "images.json")
    table = mlflow.MlflowClient().load_table(run.info.experiment_id, "images.json")
    cell = table["image"][1]
    assert cell["type"] == "image" and cell["filepath"].startswith("table_images/images/")
    full = mlflow.artifacts.load_image(f"runs:/{run.info.run_id}/{cell['filepath']}")
    preview = mlflow.artifacts.load_image(f"runs:/{run.info.run_id}/{cell['compressed_filepath']}")
    assert full.size == (300, 600) and preview.size == (128, 256)
    assert np.asarray(full)[0, 0].tolist() == [60, 60, 60]


@pytest.mark.parametrize("call, error, match", [
    (lambda: mlnb.log_table({"a": [1]}, "table.csv"), InvalidParameterError, ".json or .parquet"),
    (lambda: mlnb.log_table({"a": [1]}, "../escape.json"), InvalidParameterError, "climbs out"),
    (lambda: mlnb.log_table([1, 2], "t.json"), InvalidParameterError, "DataFrame or a dict"),
    (lambda: mlnb.log_table({"a": [1, object()]}, "t.parquet"), InvalidParameterError, "cannot be written"),
    (lambda: mlnb.load_table("never.json"), ResourceNotFoundError, "log_table"),
    (lambda: mlnb.load_table("t.json", run_ids=["x' OR '1"]), InvalidParameterError, "run"),
])
def test_bad_tables_get_typed_errors(call, error, match):
    mlnb.set_experiment("bad")
    with mlnb.start_run():
        with pytest.raises(error, match=match):
            call()


def test_image_objects_log_as_mlflow_logs_them(mlflow, tmp_path):
    pixels = np.zeros((40, 20, 3), dtype=np.uint8)
    pixels[:, :10] = [255, 128, 0]
    ours, theirs = mlnb.Image(pixels), mlflow.Image(pixels)
    assert ours.size == theirs.size == (20, 40)
    assert ours.to_list() == theirs.to_list()
    np.testing.assert_array_equal(ours.resize((10, 20)).to_array(), theirs.resize((10, 20)).to_array())
    ours.save(tmp_path / "p.png")
    np.testing.assert_array_equal(mlnb.Image(str(tmp_path / "p.png")).to_array(), pixels)
    mlnb.set_experiment("image-objects")
    with mlnb.start_run() as run:
        mlnb.log_image(ours, artifact_file="ours.png")
        mlnb.log_image(theirs, artifact_file="theirs.png")     # MLflow's Image is taken too
        mlnb.log_table({"picture": [ours, mlnb.Image(pixels[::2])]}, "gallery.json")
    for name in ("ours.png", "theirs.png"):
        np.testing.assert_array_equal(
            np.asarray(mlflow.artifacts.load_image(f"runs:/{run.info.run_id}/{name}")), pixels)
    cells = mlflow.MlflowClient().load_table(run.info.experiment_id, "gallery.json")["picture"]
    assert [c["type"] for c in cells] == ["image", "image"]
    with pytest.raises(InvalidParameterError, match="shape"):
        mlnb.Image(np.zeros((2, 2, 5)))
    with pytest.raises(InvalidParameterError, match="Cannot read an image"):
        mlnb.Image(str(tmp_path / "missing.png"))
    with pytest.raises(InvalidParameterError, match="numpy array, a PIL image"):
        mlnb.Image(3.5)

"""The fluent API against the embedded store: runs, params, metrics, tags, artifacts, statuses."""

from __future__ import annotations

import math

import pytest

import mlnb
from mlnb.errors import InvalidParameterError, ResourceNotFoundError, TrackingError
from mlnb.tracking.fluent import _reset_for_tests


def test_default_store_is_mlflows_file_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    _reset_for_tests()
    assert mlnb.get_tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    with mlnb.start_run() as run:
        mlnb.log_param("a", 1)
        mlnb.log_text("hi", "notes.txt")
    assert (tmp_path / "mlflow.db").is_file()
    assert run.info.artifact_uri == f"{tmp_path}/mlruns/0/{run.info.run_id}/artifacts"
    assert (tmp_path / "mlruns" / "0" / run.info.run_id / "artifacts" / "notes.txt").read_text() == "hi"
    assert mlnb.get_run(run.info.run_id).data.params == {"a": "1"}


def test_mlflow_environment_variables_choose_store_experiment_and_run(tmp_path, monkeypatch):
    monkeypatch.setenv("MLNB_TRACKING_URI", str(tmp_path / "legacy-name.db"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    _reset_for_tests()
    assert mlnb.get_tracking_uri() == f"sqlite:///{tmp_path / 'env.db'}"   # MLflow's variable wins
    with mlnb.start_run() as run:
        pass
    assert mlnb.get_experiment(run.info.experiment_id).name == "from-env"
    monkeypatch.setenv("MLFLOW_RUN_ID", run.info.run_id)
    with mlnb.start_run() as resumed:
        mlnb.log_metric("m", 1.0)
    assert resumed.info.run_id == run.info.run_id
    assert mlnb.get_run(run.info.run_id).data.metrics == {"m": 1.0}
    assert not (tmp_path / "legacy-name.db").exists()


def test_tracking_uri_accepts_paths_and_sqlite_uris(tmp_path):
    mlnb.set_tracking_uri(f"sqlite:///{tmp_path / 'other.db'}")
    with mlnb.start_run():
        mlnb.log_metric("m", 1.0)
    assert (tmp_path / "other.db").is_file()
    assert mlnb.get_tracking_uri() == f"sqlite:///{tmp_path / 'other.db'}"
    mlnb.set_tracking_uri(tmp_path / "third.db")
    with mlnb.start_run():
        pass
    assert (tmp_path / "third.db").is_file()


def test_unsupported_tracking_uri_is_refused_with_advice():
    with pytest.raises(InvalidParameterError, match="http"):
        mlnb.set_tracking_uri("postgresql://db/x")


def test_run_records_params_metrics_tags_and_times():
    exp = mlnb.set_experiment("fluent")
    with mlnb.start_run(run_name="first", tags={"team": "ml"}, description="a note") as run:
        mlnb.log_params({"alpha": 0.5, "kind": "ridge"})
        mlnb.log_metric("loss", 1.0, step=0)
        mlnb.log_metrics({"loss": 0.5, "acc": 0.9}, step=1)
        mlnb.set_tags({"stage": "dev"})
        assert mlnb.active_run().info.run_id == run.info.run_id
    got = mlnb.get_run(run.info.run_id)
    assert got.info.status == "FINISHED"
    assert got.info.experiment_id == exp.experiment_id
    assert got.info.run_name == "first"
    assert got.info.end_time >= got.info.start_time > 0
    assert got.data.params == {"alpha": "0.5", "kind": "ridge"}
    assert got.data.metrics == {"loss": 0.5, "acc": 0.9}
    assert got.data.tags["team"] == "ml" and got.data.tags["stage"] == "dev"
    assert got.data.tags["mlflow.runName"] == "first"
    assert got.data.tags["mlflow.note.content"] == "a note"
    assert "mlflow.user" in got.data.tags and "mlflow.source.name" in got.data.tags
    assert mlnb.active_run() is None


def test_metric_history_keeps_every_step_and_timestamp():
    with mlnb.start_run() as run:
        for step in range(5):
            mlnb.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1000 + step)
        mlnb.log_metric("nan", float("nan"))
    client = mlnb.MlnbClient()
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.timestamp, m.value) for m in history] == [
        (s, 1000 + s, 1.0 / (s + 1)) for s in range(5)]
    assert mlnb.get_run(run.info.run_id).data.metrics["loss"] == 0.2
    assert math.isnan(mlnb.get_run(run.info.run_id).data.metrics["nan"])


def test_latest_metric_is_the_highest_step_not_the_last_logged():
    with mlnb.start_run() as run:
        mlnb.log_metric("m", 5.0, step=10)
        mlnb.log_metric("m", 1.0, step=2)
    assert mlnb.get_run(run.info.run_id).data.metrics["m"] == 5.0


def test_exception_ends_run_failed_and_keyboard_interrupt_killed():
    with pytest.raises(ValueError):
        with mlnb.start_run() as failed:
            raise ValueError("boom")
    with pytest.raises(KeyboardInterrupt):
        with mlnb.start_run() as killed:
            raise KeyboardInterrupt
    assert mlnb.get_run(failed.info.run_id).info.status == "FAILED"
    assert mlnb.get_run(killed.info.run_id).info.status == "KILLED"
    assert mlnb.active_run() is None


def test_nested_runs_record_their_parent():
    with mlnb.start_run() as parent:
        with pytest.raises(TrackingError, match="nested=True"):
            mlnb.start_run()
        with mlnb.start_run(nested=True) as child:
            mlnb.log_metric("c", 1)
        assert mlnb.active_run().info.run_id == parent.info.run_id
    child_run = mlnb.get_run(child.info.run_id)
    assert child_run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert child_run.info.status == "FINISHED"


def test_end_run_with_status_and_last_active_run():
    run = mlnb.start_run()
    mlnb.log_metric("x", 1)
    mlnb.end_run(status="KILLED")
    assert mlnb.active_run() is None
    last = mlnb.last_active_run()
    assert last.info.run_id == run.info.run_id and last.info.status == "KILLED"


def test_logging_without_a_run_starts_one():
    mlnb.log_metric("auto", 3.0)
    run = mlnb.active_run()
    assert run is not None
    mlnb.end_run()
    assert mlnb.get_run(run.info.run_id).data.metrics == {"auto": 3.0}


def test_resuming_a_run_by_id():
    with mlnb.start_run() as run:
        mlnb.log_param("p", 1)
    with mlnb.start_run(run_id=run.info.run_id):
        mlnb.log_metric("later", 2.0)
    got = mlnb.get_run(run.info.run_id)
    assert got.data.metrics == {"later": 2.0} and got.info.status == "FINISHED"


@pytest.mark.parametrize("key", ["bad!key", "a/../b", "/abs", "", "x" * 251, "."])
def test_invalid_keys_are_refused_with_mlflows_rules(key):
    with mlnb.start_run():
        with pytest.raises(InvalidParameterError):
            mlnb.log_param(key, 1)
        with pytest.raises(InvalidParameterError):
            mlnb.log_metric(key, 1.0)
        with pytest.raises(InvalidParameterError):
            mlnb.set_tag(key, "v")


def test_param_relogged_with_another_value_is_an_error_same_value_is_fine():
    with mlnb.start_run() as run:
        mlnb.log_param("lr", 0.1)
        mlnb.log_param("lr", 0.1)
        with pytest.raises(InvalidParameterError, match="already '0.1'"):
            mlnb.log_param("lr", 0.2)
        with pytest.raises(InvalidParameterError, match="twice"):
            mlnb.MlnbClient().log_batch(run.info.run_id, params=[("k", "1"), ("k", "2")])
    assert mlnb.get_run(run.info.run_id).data.params == {"lr": "0.1"}


def test_non_numeric_metric_is_refused():
    with mlnb.start_run():
        with pytest.raises(InvalidParameterError, match="number"):
            mlnb.log_metric("m", "high")
        with pytest.raises(InvalidParameterError, match="number"):
            mlnb.log_metric("m", True)


def test_long_param_values_are_truncated_with_a_warning():
    with mlnb.start_run() as run:
        with pytest.warns(UserWarning, match="truncated"):
            mlnb.log_param("long", "x" * 7000)
    assert len(mlnb.get_run(run.info.run_id).data.params["long"]) == 6000


def test_delete_run_hides_it_from_search():
    with mlnb.start_run() as a:
        pass
    with mlnb.start_run() as b:
        pass
    mlnb.delete_run(a.info.run_id)
    df = mlnb.search_runs()
    assert list(df.run_id) == [b.info.run_id]
    assert mlnb.get_run(a.info.run_id).info.lifecycle_stage == "deleted"
    deleted = mlnb.search_runs(run_view_type="DELETED_ONLY")
    assert list(deleted.run_id) == [a.info.run_id]


def test_unknown_run_gives_a_clear_error():
    with pytest.raises(ResourceNotFoundError, match="No run"):
        mlnb.get_run("0123456789abcdef")


def test_artifacts_text_dict_files_and_directories(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("A")
    (src / "sub" / "b.txt").write_text("B")
    single = tmp_path / "single.csv"
    single.write_text("x,y\n1,2\n")
    with mlnb.start_run() as run:
        mlnb.log_artifact(single)
        mlnb.log_artifact(single, "data")
        mlnb.log_artifacts(src, "tree")
        mlnb.log_text("hello", "notes/hello.txt")
        mlnb.log_dict({"a": 1}, "cfg/config.json")
        mlnb.log_dict({"a": 1}, "cfg/config.yaml")
        uri = mlnb.get_artifact_uri("notes/hello.txt")
    client = mlnb.MlnbClient()
    rid = run.info.run_id
    top = {f.path: f.is_dir for f in client.list_artifacts(rid)}
    assert top == {"single.csv": False, "data": True, "tree": True, "notes": True, "cfg": True}
    assert [f.path for f in client.list_artifacts(rid, "tree")] == ["tree/a.txt", "tree/sub"]
    assert open(uri).read() == "hello"
    dst = mlnb.download_artifacts(run_id=rid, artifact_path="tree", dst_path=tmp_path / "out")
    assert open(f"{dst}/sub/b.txt").read() == "B"
    via_uri = mlnb.download_artifacts(f"runs:/{rid}/cfg/config.json")
    assert open(via_uri).read().strip().startswith("{")
    import yaml

    assert yaml.safe_load(open(client.download_artifacts(rid, "cfg/config.yaml"))) == {"a": 1}


def test_log_figure_writes_an_image():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    with mlnb.start_run() as run:
        mlnb.log_figure(fig, "plots/line.png")
    plt.close(fig)
    path = mlnb.MlnbClient().download_artifacts(run.info.run_id, "plots/line.png")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("bad", ["../outside.txt", "/etc/passwd", "a/../../b.txt"])
def test_artifact_paths_that_escape_the_run_are_refused(tmp_path, bad):
    f = tmp_path / "f.txt"
    f.write_text("x")
    with mlnb.start_run() as run:
        with pytest.raises(InvalidParameterError):
            mlnb.log_text("x", bad)
        with pytest.raises(InvalidParameterError):
            mlnb.log_artifact(f, bad)
    with pytest.raises(InvalidParameterError):
        mlnb.MlnbClient().download_artifacts(run.info.run_id, bad)


def test_symlinks_pointing_outside_are_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    src = tmp_path / "src"
    src.mkdir()
    (src / "link.txt").symlink_to(secret)
    with mlnb.start_run() as run:
        with pytest.raises(InvalidParameterError, match="symlink"):
            mlnb.log_artifacts(src, "d")
        root = mlnb.get_artifact_uri()
    # a symlink planted in the run's artifact directory does not lead reads outside
    import os

    os.makedirs(root, exist_ok=True)
    os.symlink(tmp_path, os.path.join(root, "escape"))
    with pytest.raises(InvalidParameterError, match="outside"):
        mlnb.MlnbClient().download_artifacts(run.info.run_id, "escape/secret.txt")


def test_infinite_and_nan_metrics_round_trip_and_filter():
    with mlnb.start_run() as run:
        mlnb.log_metrics({"up": float("inf"), "down": float("-inf"), "none": float("nan")})
    got = mlnb.get_run(run.info.run_id).data.metrics
    assert got["up"] == float("inf") and got["down"] == float("-inf") and math.isnan(got["none"])
    assert list(mlnb.search_runs(filter_string="metrics.up > 1e300").run_id) == [run.info.run_id]
    assert len(mlnb.search_runs(filter_string="metrics.down > 0")) == 0
    df = mlnb.search_runs()
    assert df["metrics.up"][0] == float("inf") and math.isnan(df["metrics.none"][0])


def test_a_relative_tracking_path_keeps_its_store_after_chdir(tmp_path, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    mlnb.set_tracking_uri("team.db")
    with mlnb.start_run() as run:
        pass
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert mlnb.get_run(run.info.run_id).info.status == "FINISHED"
    assert not (tmp_path / "elsewhere" / "team.db").exists()

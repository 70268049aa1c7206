"""ArtifactRepo.log_bytes on the embedded store: in place, atomic, replacing, and safe."""

from __future__ import annotations

import io
import os

import pytest

import mlnb
from mlnb.errors import InvalidParameterError
from mlnb.tracking.artifacts import STAGING_PREFIX, LocalArtifactRepo


def _repo(run) -> LocalArtifactRepo:
    repo = mlnb.MlnbClient().store.artifact_repo(run.info.artifact_uri)
    assert isinstance(repo, LocalArtifactRepo)
    return repo


def test_log_bytes_writes_and_replaces_a_run_file_in_place():
    with mlnb.start_run() as run:
        repo = _repo(run)
        repo.log_bytes(b"first", "plots/roc.bin")
        repo.log_bytes(b"\x00second\xff", "plots/roc.bin")
        repo.log_bytes(b"top", "top.txt")
    client = mlnb.MlnbClient()
    rid = run.info.run_id
    assert open(client.download_artifacts(rid, "plots/roc.bin"), "rb").read() == b"\x00second\xff"
    assert [(f.path, f.file_size) for f in client.list_artifacts(rid, "plots")] == [("plots/roc.bin", 8)]
    assert sorted(f.path for f in client.list_artifacts(rid)) == ["plots", "top.txt"]
    leftovers = [n for _, _, names in os.walk(repo.root) for n in names if n.startswith(STAGING_PREFIX)]
    assert leftovers == []


def test_log_stream_and_log_text_go_through_log_bytes():
    with mlnb.start_run() as run:
        mlnb.log_stream(io.BytesIO(b"\x89binary"), "raw/blob.bin")
        mlnb.log_text("héllo", "notes/t.txt")
    client = mlnb.MlnbClient()
    assert open(client.download_artifacts(run.info.run_id, "raw/blob.bin"), "rb").read() == b"\x89binary"
    assert open(client.download_artifacts(run.info.run_id, "notes/t.txt"), encoding="utf-8").read() == "héllo"
    other = mlnb.MlnbClient().create_run(run.info.experiment_id)
    mlnb.log_stream(io.BytesIO(b"by id"), "x.bin", run_id=other.info.run_id)
    assert open(client.download_artifacts(other.info.run_id, "x.bin"), "rb").read() == b"by id"


@pytest.mark.parametrize("bad", ["", ".", "../out.bin", "/etc/x", "a/../../b"])
def test_log_bytes_refuses_paths_that_name_no_file_or_leave_the_run(bad):
    with mlnb.start_run() as run:
        with pytest.raises(InvalidParameterError):
            _repo(run).log_bytes(b"x", bad)


def test_log_bytes_refuses_a_directory_and_symlinks_out_of_the_run(tmp_path):
    with mlnb.start_run() as run:
        repo = _repo(run)
        repo.log_bytes(b"x", "d/inner.txt")
        with pytest.raises(InvalidParameterError, match="directory"):
            repo.log_bytes(b"x", "d")
        outside = tmp_path / "outside"
        outside.mkdir()
        os.symlink(outside, repo.root / "escape")
        with pytest.raises(InvalidParameterError, match="outside"):
            repo.log_bytes(b"x", "escape/planted.txt")
    assert list(outside.iterdir()) == []


def test_a_failed_write_leaves_the_old_file_and_no_staging_file():
    with mlnb.start_run() as run:
        repo = _repo(run)
        repo.log_bytes(b"old", "f.bin")
        with pytest.raises(TypeError):
            repo.log_bytes("not bytes", "f.bin")  # type: ignore[arg-type]
    assert (repo.root / "f.bin").read_bytes() == b"old"
    assert [p.name for p in repo.root.iterdir()] == ["f.bin"]

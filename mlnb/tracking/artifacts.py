"""Artifact repositories: the interface, the local-directory repository, and the path rules.

A repository is named by a run's ``artifact_uri``: a local directory (the embedded store, here),
``mlflow-artifacts:/`` (an MLflow Tracking Server's proxy, :mod:`mlnb.tracking.mlflow_artifacts`)
or ``s3://`` (:mod:`mlnb.tracking.s3`); :mod:`mlnb.tracking.artifact_repos` picks one for a URI, and
:mod:`mlnb.tracking.run_uris` resolves ``runs:/`` URIs through the tracking store. Every
repository refuses artifact paths that would land outside the run: ``..`` parts, absolute paths,
and local files or directories reached through symlinks pointing elsewhere.

Writes are atomic: a file or a new directory is copied to a hidden staging name beside its
target and renamed into place, so a killed process never leaves a half-written model behind.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from mlnb.errors import InvalidParameterError, ResourceNotFoundError

STAGING_PREFIX = ".mlnb-staging-"
PROGRESS_THRESHOLD = 50 * 1024 * 1024  # show a progress bar for downloads bigger than this


@dataclass(frozen=True)
class FileInfo:
    path: str            # relative to the run's artifact root, with '/'
    is_dir: bool
    file_size: int | None = None


def clean_artifact_path(path: str | os.PathLike | None) -> str:
    """Normalize a relative artifact path ('' for the root); refuse ones that escape the run."""
    if path is None:
        return ""
    raw = os.fspath(path).replace("\\", "/")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise InvalidParameterError(
            f"Artifact path '{raw}' is absolute; give a path relative to the run's artifacts, like 'plots/roc.png'.")
    norm = posixpath.normpath(raw) if raw else ""
    if norm in (".", ""):
        return ""
    if norm == ".." or norm.startswith("../") or any(part == ".." for part in raw.split("/")):
        raise InvalidParameterError(f"Artifact path '{raw}' climbs out of the run with '..'; it is refused.")
    return norm


def artifact_file_path(artifact_file: str | os.PathLike) -> str:
    """A run-relative path that must name a file (not the run's root)."""
    rel = clean_artifact_path(artifact_file)
    if not rel:
        raise InvalidParameterError("artifact_file must name a file, like 'notes/summary.txt'.")
    return rel


def join_uri(base: str, path: str) -> str:
    path = clean_artifact_path(path)
    return f"{base.rstrip('/')}/{path}" if path else base


@contextlib.contextmanager
def download_root(dst_path: str | os.PathLike | None, prefix: str) -> Iterator[Path]:
    """``dst_path``, or a new temporary directory that is removed again if the download fails
    (MLflow's rule: without ``dst_path``, downloads go to a fresh temporary directory)."""
    if dst_path is not None:
        yield Path(dst_path)
        return
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield root
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


class ArtifactRepo:
    """Files of one run (or any artifact root): log, list, download."""

    def log_artifact(self, local_file: str | os.PathLike, artifact_path: str | None = None) -> None:
        raise NotImplementedError

    def log_bytes(self, data: bytes, artifact_file: str) -> None:
        """Write ``data`` as the run file ``artifact_file`` (like ``'plots/roc.png'``), replacing it.

        What MLflow's ``log_text`` and ``log_stream`` do, for any repository: this default goes
        through a temporary file and :meth:`log_artifact`; repositories that can write in place
        or upload from memory override it.
        """
        folder, _, name = artifact_file_path(artifact_file).rpartition("/")
        with tempfile.TemporaryDirectory(prefix="mlnb-") as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            self.log_artifact(path, folder or None)

    def log_artifacts(self, local_dir: str | os.PathLike, artifact_path: str | None = None) -> None:
        """Upload a directory file by file (remote stores), MLmodel last: a reader that finds a
        model's MLmodel finds every file it names."""
        src = Path(local_dir)
        if not src.is_dir():
            raise ResourceNotFoundError(f"Cannot log '{src}': it is not a directory.")
        _check_source_tree(src)
        base = clean_artifact_path(artifact_path)
        files = sorted((f for f in src.rglob("*") if f.is_file()), key=lambda f: (f.name == "MLmodel", str(f)))
        for f in files:
            rel = f.relative_to(src).as_posix()
            folder = posixpath.dirname(f"{base}/{rel}" if base else rel)
            self.log_artifact(f, folder or None)

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        raise NotImplementedError

    #: the name prefix of the temporary directory a download without ``dst_path`` goes to
    download_prefix = "mlnb-artifacts-"

    def download_artifacts(self, path: str | None = None, dst_path: str | os.PathLike | None = None) -> Path:
        """Download ``path`` (a file or a folder; None: every file) under ``dst_path``, or under a fresh
        temporary directory (removed again if the download fails); returns the local path. A
        repository says how it fetches files in ``_download_tree``."""
        rel = clean_artifact_path(path)
        with download_root(dst_path, self.download_prefix) as dst_root:
            return self._download_tree(rel, dst_root)

    def _download_tree(self, rel: str, dst_root: Path) -> Path:
        """Fetch the file or folder ``rel`` to ``dst_root / rel`` and return that path."""
        raise NotImplementedError

    def exists(self, path: str) -> bool:
        path = clean_artifact_path(path)
        parent, _, name = path.rpartition("/")
        return any(f.path == path for f in self.list_artifacts(parent or None))


def _check_source_tree(local_dir: Path) -> None:
    """A directory to log must not reach outside itself through symlinks."""
    root = local_dir.resolve()
    for p in local_dir.rglob("*"):
        if p.is_symlink():
            target = p.resolve()
            if target != root and root not in target.parents:
                raise InvalidParameterError(
                    f"'{p}' is a symlink to '{target}', outside '{local_dir}'; mlnb does not log files "
                    f"from outside the directory. Copy the file in, or log it separately.")


class LocalArtifactRepo(ArtifactRepo):
    """Artifacts in a local directory tree (the embedded store's ``mlnb-artifacts/``)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self._real_root: str | None = None   # the root with its symlinks resolved, once it exists

    def _target(self, path: str | None) -> Path:
        rel = clean_artifact_path(path)
        target = self.root / rel if rel else self.root
        # a symlink planted inside the run must not lead reads or writes elsewhere (compared as
        # strings: this runs for every file a run logs)
        if self._real_root is None and self.root.exists():
            self._real_root = os.path.realpath(self.root)
        root = self._real_root or str(self.root.absolute())
        probe = target
        while not probe.exists() and probe != self.root and probe.parent != probe:
            probe = probe.parent
        if probe != self.root and probe.exists():
            resolved = os.path.realpath(probe)
            if resolved != root and not resolved.startswith(root.rstrip(os.sep) + os.sep):
                raise InvalidParameterError(
                    f"Artifact path '{path}' leads outside the run (through a symlink); refused.")
        return target

    def log_artifact(self, local_file, artifact_path=None) -> None:
        src = Path(local_file)
        if not src.is_file():
            raise ResourceNotFoundError(f"Cannot log '{src}': it is not a file." + (
                " Use log_artifacts for a directory." if src.is_dir() else ""))
        dest_dir = self._target(artifact_path)
        dest_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(dest_dir / src.name, lambda staging: shutil.copyfile(src, staging))

    def log_bytes(self, data: bytes, artifact_file: str) -> None:
        """Write the file in place, atomically: readers see the old bytes or the new, never a part."""
        target = self._target(artifact_file_path(artifact_file))
        if target.is_dir():
            raise InvalidParameterError(f"Artifact '{artifact_file}' is a directory; name a file inside it.")
        if not target.parent.is_dir():
            target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda staging: staging.write_bytes(data))

    def log_artifacts(self, local_dir, artifact_path=None) -> None:
        src = Path(local_dir)
        if not src.is_dir():
            raise ResourceNotFoundError(f"Cannot log '{src}': it is not a directory.")
        _check_source_tree(src)
        dest = self._target(artifact_path)
        if not dest.exists():  # the common case (a model): the whole tree appears at once
            dest.parent.mkdir(parents=True, exist_ok=True)
            staging = dest.parent / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
            try:
                shutil.copytree(src, staging, symlinks=False)
                os.replace(staging, dest)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            return
        for f in sorted(src.rglob("*")):
            if f.is_file():
                rel = f.relative_to(src).as_posix()
                target = self._target(join_uri(clean_artifact_path(artifact_path), rel) if artifact_path else rel)
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(target, lambda staging, f=f: shutil.copyfile(f, staging))

    def exists(self, path: str) -> bool:
        rel = clean_artifact_path(path)
        if not rel or _in_progress(rel.rpartition("/")[2]):
            return False  # the root, or a write in progress: not an artifact (as list_artifacts says)
        return os.path.lexists(self._target(rel))

    def list_artifacts(self, path=None) -> list[FileInfo]:
        rel = clean_artifact_path(path)
        target = self._target(rel)
        if not target.is_dir():
            return []
        out = []
        for p in sorted(target.iterdir()):
            if _in_progress(p.name):
                continue  # a write in progress (or killed mid-way): not an artifact
            child = f"{rel}/{p.name}" if rel else p.name
            out.append(FileInfo(child, p.is_dir(), None if p.is_dir() else p.stat().st_size))
        return out

    def download_artifacts(self, path=None, dst_path=None) -> Path:
        src = self._target(path)
        if not src.exists():
            raise ResourceNotFoundError(f"No artifact '{clean_artifact_path(path)}' under '{self.root}'.")
        if dst_path is None:
            return src  # already local: read it in place
        rel = clean_artifact_path(path)
        dst = Path(dst_path) / rel if rel else Path(dst_path)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)
        return dst


def _in_progress(name: str) -> bool:
    """True for the name of a write in progress (or killed mid-way): a staging file or directory."""
    return name.startswith(STAGING_PREFIX) or (name.startswith(".") and name.endswith(".tmp"))


def atomic_write(dest: Path, write: Callable[[Path], Any]) -> None:
    """``write(staging_path)`` beside ``dest``, then rename it to ``dest``: a reader sees the whole file or
    none, and a failed write leaves nothing behind."""
    staging = dest.parent / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    try:
        write(staging)
        os.replace(staging, dest)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


def copy_with_progress(src, dst, total: int, label: str, chunk: int = 1 << 20) -> None:
    """Copy a stream, with a tqdm progress bar (notebook-aware) for large transfers."""
    if total < PROGRESS_THRESHOLD:
        shutil.copyfileobj(src, dst, chunk)
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label.rsplit("/", 1)[-1]) as bar:
        while True:
            block = src.read(chunk)
            if not block:
                break
            dst.write(block)
            bar.update(len(block))

"""``mlflow-artifacts:/`` URIs: the artifacts an MLflow Tracking Server keeps behind its proxy
(``/api/2.0/mlflow-artifacts/artifacts/...``), as an artifact repository."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlparse

from mlnb.errors import InvalidParameterError, ResourceNotFoundError
from mlnb.tracking.artifacts import (
    ArtifactRepo, FileInfo, artifact_file_path, atomic_write, clean_artifact_path, copy_with_progress, join_uri,
)
from mlnb.tracking.httpclient import HttpClient

ARTIFACTS_API = "api/2.0/mlflow-artifacts/artifacts"


class MlflowArtifactsRepo(ArtifactRepo):
    """Artifacts behind an MLflow server's proxy: ``mlflow-artifacts:/<root>`` on ``base_url``."""

    def __init__(self, base_url: str, root: str) -> None:
        self.http = HttpClient(base_url)
        self.root = root.strip("/")

    @classmethod
    def from_uri(cls, uri: str, tracking_uri: str | None) -> "MlflowArtifactsRepo":
        parsed = urlparse(uri)
        if parsed.netloc:
            base = f"{'https' if parsed.port == 443 else 'http'}://{parsed.netloc}"
        elif tracking_uri and tracking_uri.startswith(("http://", "https://")):
            base = tracking_uri
        else:
            raise InvalidParameterError(
                f"'{uri}' lives on an MLflow Tracking Server, but the tracking URI is '{tracking_uri}'. "
                f"Set it to the server (mlnb.set_tracking_uri('http://host:port')) or use "
                f"mlflow-artifacts://host:port/... .")
        return cls(base, parsed.path)

    def _path(self, path: str | None) -> str:
        rel = clean_artifact_path(path)
        return f"{self.root}/{rel}" if rel else self.root

    def _endpoint(self, path: str | None) -> str:
        return f"{ARTIFACTS_API}/{quote(self._path(path))}"

    def log_artifact(self, local_file, artifact_path=None) -> None:
        src = Path(local_file)
        if not src.is_file():
            raise ResourceNotFoundError(f"Cannot log '{src}': it is not a file.")
        target = join_uri(clean_artifact_path(artifact_path), src.name) if artifact_path else src.name
        with open(src, "rb") as f:
            headers = {"Content-Length": str(src.stat().st_size), "Content-Type": "application/octet-stream"}
            self.http.open("PUT", self._endpoint(target), data=f, headers=headers).close()

    def log_bytes(self, data: bytes, artifact_file: str) -> None:
        """One PUT of ``data``, with no temporary file."""
        headers = {"Content-Length": str(len(data)), "Content-Type": "application/octet-stream"}
        self.http.open("PUT", self._endpoint(artifact_file_path(artifact_file)), data=data, headers=headers).close()

    def list_artifacts(self, path=None) -> list[FileInfo]:
        rel = clean_artifact_path(path)
        found = self.http.json("GET", ARTIFACTS_API, params={"path": self._path(rel)})
        out = []
        for f in found.get("files", []):
            child = clean_artifact_path(f["path"])
            full = f"{rel}/{child}" if rel else child
            size = f.get("file_size")
            out.append(FileInfo(full, bool(f.get("is_dir")), int(size) if size is not None else None))
        if rel and len(out) == 1 and not out[0].is_dir and out[0].path == f"{rel}/{rel.rsplit('/', 1)[-1]}":
            return []  # the path is a file
        return sorted(out, key=lambda f: f.path)

    def _download_tree(self, rel: str, dst_root: Path) -> Path:
        entries = self.list_artifacts(rel)
        target = dst_root / rel if rel else dst_root
        if not entries:  # a file (or nothing)
            self._download_file(rel, target)
            return target
        target.mkdir(parents=True, exist_ok=True)
        stack = entries
        while stack:
            f = stack.pop()
            local = dst_root / f.path
            if f.is_dir:
                local.mkdir(parents=True, exist_ok=True)
                stack += self.list_artifacts(f.path)
            else:
                self._download_file(f.path, local, f.file_size)
        return target

    def _download_file(self, rel: str, local: Path, size: int | None = None) -> None:
        def fetch(staging: Path) -> None:
            with self.http.open("GET", self._endpoint(rel)) as resp, open(staging, "wb") as out:
                total = int(resp.headers.get("Content-Length") or size or 0)
                copy_with_progress(resp, out, total, f"{self.root}/{rel}")

        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            atomic_write(local, fetch)
        except ResourceNotFoundError:
            raise ResourceNotFoundError(f"No artifact '{rel}' under mlflow-artifacts:/{self.root} "
                                        f"on {self.http.base_url}.") from None

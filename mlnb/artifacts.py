"""Artifacts by URI, as ``mlflow.artifacts``: download, list, and read small files directly.

``artifact_uri`` is any URI mlnb reads (``runs:/<run_id>/<path>``, ``models:/...``, ``s3://``,
``mlflow-artifacts:/``, a path); ``run_id`` with ``artifact_path`` names a file of a run.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from mlnb.errors import InvalidParameterError
from mlnb.tracking.artifacts import FileInfo


def _client(tracking_uri: str | None):
    from mlnb.tracking.client import MlnbClient

    return MlnbClient(tracking_uri)


def _one_of(artifact_uri: str | None, run_id: str | None, artifact_path: str | None, what: str) -> None:
    if artifact_uri is not None and (run_id is not None or artifact_path is not None):
        raise InvalidParameterError(f"{what}: pass either artifact_uri, or run_id with artifact_path, not both.")
    if artifact_uri is None and run_id is None:
        raise InvalidParameterError(f"{what} needs artifact_uri, or run_id (and artifact_path).")


def download_artifacts(artifact_uri: str | None = None, run_id: str | None = None,
                       artifact_path: str | None = None, dst_path: str | os.PathLike | None = None,
                       tracking_uri: str | None = None, registry_uri: str | None = None) -> str:
    """Download an artifact file or directory; return its local path (under ``dst_path`` if given)."""
    _one_of(artifact_uri, run_id, artifact_path, "download_artifacts")
    if dst_path is not None:
        Path(dst_path).mkdir(parents=True, exist_ok=True)
    if registry_uri is not None and tracking_uri is None:
        tracking_uri = registry_uri  # mlnb keeps the registry in the tracking store
    if run_id is not None:
        return _client(tracking_uri).download_artifacts(run_id, artifact_path or "", dst_path)
    if tracking_uri is not None:
        from mlnb.tracking import store

        previous = store.get_tracking_uri()
        store.set_tracking_uri(tracking_uri)
        try:
            return _download_uri(artifact_uri, dst_path)
        finally:
            store.set_tracking_uri(previous)
    return _download_uri(artifact_uri, dst_path)


def _download_uri(uri: str, dst_path) -> str:
    from mlnb.models.uri import local_path

    return str(local_path(uri, None if dst_path is None else os.fspath(dst_path)))


def list_artifacts(artifact_uri: str | None = None, run_id: str | None = None,
                   artifact_path: str | None = None, tracking_uri: str | None = None) -> list[FileInfo]:
    """The files and folders directly under an artifact URI, or under ``artifact_path`` of a run."""
    _one_of(artifact_uri, run_id, artifact_path, "list_artifacts")
    if artifact_uri is not None and artifact_uri.startswith("runs:"):
        from mlnb.tracking.run_uris import parse_runs_uri

        run_id, artifact_path = parse_runs_uri(artifact_uri)
    if run_id is not None:
        return _client(tracking_uri).list_artifacts(run_id, artifact_path or None)
    from mlnb.tracking.artifact_repos import repo_for_uri

    return repo_for_uri(artifact_uri, tracking_uri).list_artifacts(None)


def _read(artifact_uri: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="mlnb-") as tmp:
        path = Path(download_artifacts(artifact_uri=artifact_uri, dst_path=tmp))
        if not path.is_file():
            raise InvalidParameterError(f"'{artifact_uri}' is a directory; name one file in it.")
        return path.read_bytes()


def load_text(artifact_uri: str) -> str:
    """The text of a UTF-8 artifact file."""
    data = _read(artifact_uri)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidParameterError(
            f"Artifact '{artifact_uri}' is not UTF-8 text. Download it with download_artifacts and "
            f"open it with its encoding.") from None


def load_dict(artifact_uri: str) -> dict[str, Any]:
    """A JSON artifact file as a dict."""
    text = load_text(artifact_uri)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidParameterError(f"Artifact '{artifact_uri}' is not valid JSON: {exc}.") from None


def load_image(artifact_uri: str):
    """An image artifact file as a ``PIL.Image.Image`` (needs Pillow)."""
    import io

    from mlnb.errors import require

    image = require("PIL.Image", "evaluate", "load_image")
    img = image.open(io.BytesIO(_read(artifact_uri)))
    img.load()
    return img


__all__ = ["download_artifacts", "list_artifacts", "load_text", "load_dict", "load_image", "FileInfo"]

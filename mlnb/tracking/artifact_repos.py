"""Which artifact repository serves a URI: a path or ``file://`` (a local directory), ``s3://``, or
``mlflow-artifacts:/`` (an MLflow Tracking Server's proxy). boto3 loads only when an S3 repository
is used."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from mlnb.errors import InvalidParameterError
from mlnb.tracking.artifacts import ArtifactRepo, LocalArtifactRepo
from mlnb.tracking.mlflow_artifacts import MlflowArtifactsRepo
from mlnb.tracking.s3 import S3ArtifactRepo


def repo_for_uri(artifact_uri: str, tracking_uri: str | None = None) -> ArtifactRepo:
    """The repository for an artifact URI: a path / file://, mlflow-artifacts:/ or s3://."""
    uri = str(artifact_uri)
    if uri.startswith("s3://"):
        return S3ArtifactRepo(uri)
    if uri.startswith("mlflow-artifacts:"):
        return MlflowArtifactsRepo.from_uri(uri, tracking_uri)
    if uri.startswith(("http://", "https://")):
        raise InvalidParameterError(f"Artifact URI '{uri}' is plain HTTP; mlnb reads mlflow-artifacts:/, s3:// and paths.")
    if uri.startswith("file:"):
        return LocalArtifactRepo(unquote(urlparse(uri).path))
    if "://" in uri:
        raise InvalidParameterError(f"Unsupported artifact URI '{uri}': mlnb reads paths, file://, s3:// "
                                    f"and mlflow-artifacts:/.")
    return LocalArtifactRepo(uri)

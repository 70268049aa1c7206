"""``runs:/<run_id>/<path>`` and ``mlflow-artifacts:/<path>`` URIs resolved to local paths through
the tracking store in force (registered for these schemes at :mod:`mlnb.models.uri`)."""

from __future__ import annotations

from pathlib import Path

from mlnb.errors import InvalidParameterError, ResourceNotFoundError
from mlnb.tracking.artifacts import clean_artifact_path
from mlnb.tracking.mlflow_artifacts import MlflowArtifactsRepo
from mlnb.tracking.store import get_store, get_tracking_uri
from mlnb.tracking.validation import check_run_id


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """``runs:/<run_id>/<path>`` -> (run_id, path)."""
    rest = uri[len("runs:"):].lstrip("/")
    run_id, _, path = rest.partition("/")
    if not run_id:
        raise InvalidParameterError(f"'{uri}' names no run: write runs:/<run_id>/<path>.")
    check_run_id(run_id)
    return run_id, clean_artifact_path(path)


def download_runs_uri(uri: str, dst: str | None = None) -> Path:
    """Resolve ``runs:/<run_id>/<path>`` through the current tracking store to a local path."""
    run_id, path = parse_runs_uri(uri)
    store = get_store()
    run = store.get_run(run_id)
    repo = store.artifact_repo(run.info.artifact_uri)
    try:
        return repo.download_artifacts(path, dst)
    except ResourceNotFoundError:
        name, _, rest = path.partition("/")
        model_uri = store.logged_model_uri(run, name) if name else None
        if model_uri is not None:
            local = store.artifact_repo(model_uri).download_artifacts(rest, dst)
            return local
        hint = ""
        if name == "artifacts" and rest:  # runs:/<id>/artifacts/model: the run's artifact root is implied
            try:
                return download_runs_uri(f"runs:/{run_id}/{rest}", dst)
            except ResourceNotFoundError:
                hint = (f" runs:/ paths start at the run's artifact root, so runs:/{run_id}/{rest} was tried "
                        f"too; list what the run has with MlnbClient().list_artifacts('{run_id}').")
        raise ResourceNotFoundError(
            f"Run '{run_id}' has no artifact '{path}' (URI '{uri}', tracking URI {store.uri}).{hint}") from None


def download_mlflow_artifacts_uri(uri: str, dst: str | None = None) -> Path:
    """Download ``mlflow-artifacts:/path`` (or ``mlflow-artifacts://host:port/path``) to a local path."""
    parent, _, name = uri.rstrip("/").rpartition("/")
    if not name or parent.endswith(":"):  # mlflow-artifacts:/x: the root holds x
        parent, name = f"{parent}/", name
    repo = MlflowArtifactsRepo.from_uri(parent, get_tracking_uri())
    return repo.download_artifacts(name, dst)

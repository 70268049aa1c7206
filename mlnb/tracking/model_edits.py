"""Change a saved model where it is: its signature (``set_signature``) and its pip requirements
(``update_model_requirements``), as ``mlflow.models`` does.

A model is named by a local path (or ``file://``), ``runs:/<run_id>/<path>``, ``models:/<model_id>``
(a logged model) or an artifact URI (``s3://``, ``mlflow-artifacts:/``), in the embedded store or
on an MLflow Tracking Server. A registered version (``models:/<name>/<version>``) is refused, as
in MLflow: a registered version's files are meant not to change. Files are rewritten whole
(a temporary file renamed into place locally, one upload remotely).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

from mlnb.errors import InvalidParameterError, ResourceNotFoundError


def _location(model_uri: str) -> str | None:
    """The artifact URI of a model's files, or None for a local path."""
    from mlnb.models.uri import scheme_of

    scheme = scheme_of(model_uri)
    if scheme in ("", "file"):
        return None
    from mlnb.tracking.store import get_store

    store = get_store()
    if scheme == "runs":
        from mlnb.tracking.registry_client import resolve_source

        found = resolve_source(model_uri, store, None)
        return found.storage_location or found.source
    if scheme == "models":
        from mlnb.tracking.model_uris import parse_models_uri

        ref = parse_models_uri(model_uri)
        if ref.model_id is None:
            raise InvalidParameterError(
                f"'{model_uri}' is a registered model version, whose files do not change. Change the logged "
                f"model it came from (models:/<model_id> or runs:/<run_id>/<name>) and register that again.")
        return store.get_logged_model(ref.model_id).artifact_location
    return model_uri


def _edit(model_uri: str | os.PathLike, files: Sequence[str], change: Any) -> None:
    """Fetch ``files`` of a model into one local directory, ``change(directory)``, and put them back."""
    uri = os.fspath(model_uri)
    location = _location(uri)
    if location is None:
        from mlnb.models.uri import local_path

        folder = local_path(uri)
        if not (folder / "MLmodel").is_file():
            raise ResourceNotFoundError(f"No model at '{uri}': there is no MLmodel file in it.")
        change(folder)
        return
    from mlnb.tracking.store import get_store

    repo = get_store().artifact_repo(location)
    if not repo.exists("MLmodel"):
        raise ResourceNotFoundError(f"No model at '{uri}': there is no MLmodel file at {location}.")
    with tempfile.TemporaryDirectory(prefix="mlnb-edit-") as tmp:
        folder = Path(tmp)
        present = [f for f in files if repo.exists(f)]
        for f in present:
            repo.download_artifacts(f, folder)
        change(folder)
        for f in present:
            repo.log_artifact(folder / f, None)


def set_signature(model_uri: str | os.PathLike, signature: Any) -> None:
    """Replace the signature recorded in a saved model's MLmodel."""
    from mlnb.models.mlmodel import Model
    from mlnb.models.signature import ModelSignature

    if not isinstance(signature, ModelSignature):
        raise InvalidParameterError(
            f"set_signature takes a ModelSignature (from infer_signature or ModelSignature(inputs, outputs)), "
            f"got {type(signature).__name__}.")

    def change(folder: Path) -> None:
        model = Model.load(folder)
        model.set_signature(signature)
        model.save(folder)

    _edit(model_uri, ["MLmodel"], change)


def update_model_requirements(model_uri: str | os.PathLike, operation: str, requirement_list: Sequence[str]) -> None:
    """Add (or replace, by name) or remove pip requirements of a saved model, in requirements.txt
    and in conda.yaml's pip list, wherever the model is stored."""
    from mlnb.models import environment

    environment.check_requirement_update(operation, requirement_list)
    _edit(model_uri, [environment.REQUIREMENTS_FILE, environment.CONDA_FILE, "MLmodel"],
          lambda folder: environment.update_model_requirements(folder, operation, requirement_list))


__all__ = ["set_signature", "update_model_requirements"]

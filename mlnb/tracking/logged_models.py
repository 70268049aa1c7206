"""``log_model``: save a model of any flavor into the active run's artifacts.

The flavor's ``save_model`` writes into a private temporary directory; the finished directory
is then moved (local store) or uploaded (tracking server, S3) under the run, so a crash never
leaves a half-written model in a run. MLmodel records ``run_id`` and ``artifact_path``, and the
returned :class:`ModelInfo` carries ``model_uri == "runs:/<run_id>/<name>"``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mlnb.errors import InvalidParameterError, ModelExistsError
from mlnb.tracking.artifacts import LocalArtifactRepo, clean_artifact_path

DEFAULT_NAME = "model"


@dataclass
class ModelInfo:
    """What ``log_model`` logged, as MLflow's ``ModelInfo``."""

    model_uri: str
    run_id: str
    artifact_path: str
    flavors: dict[str, Any]
    signature: Any = None
    model_uuid: str = ""
    utc_time_created: str = ""
    mlflow_version: str = ""
    saved_input_example_info: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = field(default=None)
    registered_model_version: int | None = None

    @property
    def name(self) -> str:
        return self.artifact_path


def _model_name(name: str | None, artifact_path: str | None) -> str:
    if name is not None and artifact_path is not None and name != artifact_path:
        raise InvalidParameterError(
            f"log_model got name='{name}' and artifact_path='{artifact_path}'; they are the same thing "
            f"(artifact_path is MLflow's older name). Pass only name.")
    chosen = clean_artifact_path(name if name is not None else artifact_path or DEFAULT_NAME)
    if not chosen:
        raise InvalidParameterError("A logged model needs a name, like name='model'.")
    return chosen


def log_model(save_fn: Callable[..., Any], model: Any, name: str | None = None,
              artifact_path: str | None = None, registered_model_name: str | None = None,
              await_registration_for: int = 300, **save_kwargs: Any) -> ModelInfo:
    """Save ``model`` with ``save_fn(model, path, ..., mlmodel=...)`` into the active run; with
    ``registered_model_name``, register it as a new version of that model too."""
    from mlnb.models.mlmodel import Model
    from mlnb.tracking import fluent

    model_name = _model_name(name, artifact_path)
    if registered_model_name is not None:  # a bad name fails before anything is written
        from mlnb.tracking.registry_validation import check_model_name

        check_model_name(registered_model_name)
    run_id = fluent._run_id()
    client = fluent._client()
    repo = client.store.artifact_repo(client.get_run(run_id).info.artifact_uri)
    if repo.exists(model_name):
        raise ModelExistsError(
            f"Run '{run_id}' already has an artifact '{model_name}'. Log the model under another name.")
    mlmodel = Model(run_id=run_id, artifact_path=model_name)
    if isinstance(repo, LocalArtifactRepo):
        # save in place: a flavor's save is already atomic (staged next to the target, then
        # renamed), so there is nothing to copy and no temporary tree to delete
        target = repo._target(model_name)
        target.parent.mkdir(parents=True, exist_ok=True)
        written = save_fn(model, target, mlmodel=mlmodel, **save_kwargs)
        written = written if isinstance(written, Model) else Model.load(target)
    else:
        with tempfile.TemporaryDirectory(prefix="mlnb-model-") as tmp:
            local = Path(tmp) / Path(model_name).name
            written = save_fn(model, local, mlmodel=mlmodel, **save_kwargs)
            written = written if isinstance(written, Model) else Model.load(local)
            repo.log_artifacts(local, model_name)
    info = ModelInfo(
        model_uri=f"runs:/{run_id}/{model_name}",
        run_id=run_id,
        artifact_path=model_name,
        flavors=written.flavors,
        signature=written.get_signature(),
        model_uuid=written.model_uuid,
        utc_time_created=written.utc_time_created,
        mlflow_version=written.mlflow_version or "",
        saved_input_example_info=written.saved_input_example_info,
        metadata=written.metadata,
    )
    if registered_model_name is not None:
        info.registered_model_version = int(fluent.register_model(info.model_uri, registered_model_name).version)
    return info


__all__ = ["ModelInfo", "log_model"]

"""``log_model``: save a model of any flavor as an MLflow 3 logged model of the active run.

As in MLflow 3, each logged model gets an id of its own (``m-<hex>``, a row in the store's
``logged_models`` whose ``artifact_location`` names its files). In its embedded store mlnb keeps
those files where the run's other artifacts are, ``<run artifacts>/<name>`` (MLflow 3 uses
``<experiment location>/models/<model_id>/artifacts``; both tools load either, through
``models:/<model_id>`` and ``runs:/<run_id>/<name>``), so run cards, artifact listings and
downloads of a run keep showing its models. On an MLflow Tracking Server the server picks the place. The flavor's ``save_model`` stages the directory and
renames it into place (local store) or it is uploaded from a temporary directory (tracking server,
S3), so a crash never leaves a half-written model; the logged model is READY only once its files
are complete (FAILED otherwise). MLmodel records ``run_id``, ``artifact_path`` and ``model_id``; the
returned :class:`ModelInfo` carries ``model_id`` and, as in MLflow 3, ``model_uri ==
"models:/<model_id>"`` (``runs:/<run_id>/<name>`` loads the same model).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from mlnb import hooks
from mlnb.errors import InvalidParameterError, ModelExistsError
from mlnb.tracking.artifacts import LocalArtifactRepo, clean_artifact_path, join_uri

if TYPE_CHECKING:
    from mlnb.models.mlmodel import Model

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
    model_id: str = ""
    # what the caller said about the logged model (MLflow 3's log_model keywords)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    model_type: str | None = None
    step: int = 0
    registered_model_version: int | None = None

    @property
    def name(self) -> str:
        return self.artifact_path

    @classmethod
    def from_mlmodel(cls, model_uri: str, mlmodel: Model, **fields: Any) -> "ModelInfo":
        """The ModelInfo of the model at ``model_uri`` whose MLmodel is ``mlmodel``; ``fields`` gives what
        MLmodel does not hold (``model_id``, ``params``...) or says otherwise (``run_id``, ``artifact_path``)."""
        return cls(**{
            "model_uri": model_uri, "run_id": mlmodel.run_id or "", "artifact_path": mlmodel.artifact_path or "",
            "flavors": mlmodel.flavors, "signature": mlmodel.get_signature(), "model_uuid": mlmodel.model_uuid,
            "utc_time_created": mlmodel.utc_time_created, "mlflow_version": mlmodel.mlflow_version or "",
            "saved_input_example_info": mlmodel.saved_input_example_info, "metadata": mlmodel.metadata, **fields,
        })


def _model_name(name: str | None, artifact_path: str | None) -> str:
    if name is not None and artifact_path is not None and name != artifact_path:
        raise InvalidParameterError(
            f"log_model got name='{name}' and artifact_path='{artifact_path}'; they are the same thing "
            f"(artifact_path is MLflow's older name). Pass only name.")
    chosen = clean_artifact_path(name if name is not None else artifact_path or DEFAULT_NAME)
    if not chosen:
        raise InvalidParameterError("A logged model needs a name, like name='model'.")
    return chosen


def _logged_model_keywords(params, tags, model_type, step, model_id, registered_model_name) -> None:
    """Check MLflow 3's log_model keywords; refuse the ones that need what this store lacks."""
    if model_id is not None:
        raise InvalidParameterError(
            "model_id= logs into an existing logged model, which this mlnb does not store yet; "
            "log a new model instead.")
    for what, value in (("params", params), ("tags", tags)):
        if value is not None and not isinstance(value, dict):
            raise InvalidParameterError(f"log_model {what}= must be a dict, got {type(value).__name__}.")
    if model_type is not None and not isinstance(model_type, str):
        raise InvalidParameterError(f"log_model model_type= must be a string, got {type(model_type).__name__}.")
    if not isinstance(step, int) or isinstance(step, bool):
        raise InvalidParameterError(f"log_model step= must be an integer, got {step!r}.")


def log_model(save_fn: Callable[..., Any], model: Any, name: str | None = None,
              artifact_path: str | None = None, *, registered_model_name: str | None = None,
              await_registration_for: int | None = 300, params: dict[str, Any] | None = None,
              tags: dict[str, Any] | None = None, model_type: str | None = None, step: int = 0,
              model_id: str | None = None, **save_kwargs: Any) -> ModelInfo:
    """Save ``model`` with ``save_fn(model, path, ..., mlmodel=...)`` as a logged model of the active run.

    ``params``, ``tags``, ``model_type`` and ``step`` describe the logged model (MLflow 3) and come
    back on the returned :class:`ModelInfo`; ``await_registration_for`` only matters with
    ``registered_model_name``.
    """
    from mlnb.models.mlmodel import Model
    from mlnb.tracking import fluent

    _logged_model_keywords(params, tags, model_type, step, model_id, registered_model_name)
    model_name = _model_name(name, artifact_path)
    if registered_model_name is not None:  # a bad name fails before anything is written
        from mlnb.tracking.registry_validation import check_model_name

        check_model_name(registered_model_name)
    run_id = fluent._run_id()
    run = fluent.active_run()   # its id, experiment and artifact root: no need to read the run back
    store = fluent._client().store
    if store.artifact_repo(run.info.artifact_uri).exists(model_name) or store.logged_model_uri(run, model_name):
        raise ModelExistsError(
            f"Run '{run_id}' already has a model or artifact '{model_name}'. Log the model under another name.")
    logged = store.create_logged_model(run.info.experiment_id, model_name, source_run_id=run_id,
                                       tags={str(k): str(v) for k, v in (tags or {}).items()},
                                       params={str(k): str(v) for k, v in (params or {}).items()},
                                       model_type=model_type,
                                       artifact_location=join_uri(run.info.artifact_uri, model_name))
    fluent._remember_logged_model(logged.model_id)
    mlmodel = Model(run_id=run_id, artifact_path=model_name, model_id=logged.model_id)
    repo = store.artifact_repo(logged.artifact_location)   # the store chose where the files go
    try:
        if isinstance(repo, LocalArtifactRepo):
            # save in place: a flavor's save is already atomic (staged next to the target, then
            # renamed), so there is nothing to copy and no temporary tree to delete
            target = repo.root
            target.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_staging(target.parent)
            written = save_fn(model, target, mlmodel=mlmodel, **save_kwargs)
            written = written if isinstance(written, Model) else Model.load(target)
        else:
            with tempfile.TemporaryDirectory(prefix="mlnb-model-") as tmp:
                local = Path(tmp) / Path(model_name).name
                written = save_fn(model, local, mlmodel=mlmodel, **save_kwargs)
                written = written if isinstance(written, Model) else Model.load(local)
                repo.log_artifacts(local, None)
    except BaseException:
        store.finalize_logged_model(logged.model_id, "FAILED")
        raise
    store.finalize_logged_model(logged.model_id, "READY")
    info = ModelInfo.from_mlmodel(
        f"models:/{logged.model_id}", written,
        run_id=run_id,
        artifact_path=model_name,
        model_id=logged.model_id,
        params={str(k): str(v) for k, v in (params or {}).items()},
        tags={str(k): str(v) for k, v in (tags or {}).items()},
        model_type=model_type,
        step=step,
    )
    if registered_model_name is not None:
        info.registered_model_version = int(fluent.register_model(info.model_uri, registered_model_name).version)
    return info


#: a staging directory untouched this long belongs to a save that was killed
STALE_STAGING_S = 60.0


def remove_stale_staging(folder: Path) -> list[Path]:
    """Remove the ``.<name>.<random>.tmp`` directories killed saves left in ``folder`` (a save in
    progress touches its own, so only ones older than STALE_STAGING_S go); return what was removed."""
    import shutil
    import time

    removed = []
    now = time.time()
    for entry in folder.iterdir() if folder.is_dir() else ():
        try:
            stale = entry.is_dir() and not entry.is_symlink() and entry.name.startswith(".") \
                and entry.name.endswith(".tmp") and now - entry.stat().st_mtime > STALE_STAGING_S
        except OSError:
            continue
        if stale:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _log_artifacts(local_dir: str | Path, artifact_path: str | None = None) -> None:
    from mlnb.tracking.fluent import log_artifacts

    log_artifacts(local_dir, artifact_path)


# flavors log through this hook, so they never import tracking (mlnb.hooks.WIRING names this module)
hooks.set_run_logger(hooks.RunLogger(log_model=log_model, log_artifacts=_log_artifacts))

__all__ = ["ModelInfo", "log_model", "remove_stale_staging"]

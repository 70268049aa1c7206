"""The client's side of MLflow 3's logged-model lifecycle: create, log files and params, tag,
finalize, search, delete, and link runs to the models they produce or use.

A logged model made this way is the one ``log_model`` makes: a row of MLflow's ``logged_models``
(in the embedded store or on an MLflow Tracking Server) whose files live under its
``artifact_location``; ``models:/<model_id>`` loads it once a model is saved there.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping, Sequence

from mlnb.errors import InvalidParameterError
from mlnb.tracking import validation as v
from mlnb.tracking.artifacts import FileInfo, clean_artifact_path
from mlnb.tracking.entities import LoggedModel
from mlnb.tracking.model_entities import LoggedModelInput, LoggedModelOutput, LoggedModelStatus


def _model_id(model_id: Any) -> str:
    if not isinstance(model_id, str) or not model_id.strip():
        raise InvalidParameterError(f"A logged model id is a string like 'm-<32 hex>', got {model_id!r}.")
    return model_id


def _string_map(what: str, values: Any) -> dict[str, str]:
    """A dict of tags or params (or MLflow's key/value entities) as strings."""
    if values is None:
        return {}
    if isinstance(values, Mapping):
        items: Iterable = values.items()
    elif isinstance(values, (list, tuple)) and all(hasattr(x, "key") and hasattr(x, "value") for x in values):
        items = ((x.key, x.value) for x in values)
    else:
        raise InvalidParameterError(f"{what} must be a dict of strings, got {type(values).__name__}.")
    out = {}
    for k, val in items:
        if not isinstance(k, str) or not k:
            raise InvalidParameterError(f"{what} keys are non-empty strings, got {k!r}.")
        v.check_key(k, what[:-1].capitalize())
        out[k] = str(val)
    return out


def output_links(models: Any) -> list[tuple[str, int]]:
    """``[LoggedModelOutput(...)]`` (or ``(model_id, step)`` pairs) as ``(model_id, step)``."""
    if models is None:
        return []
    if not isinstance(models, (list, tuple)):
        raise InvalidParameterError("models= is a list of LoggedModelOutput(model_id, step).")
    out = []
    for m in models:
        model_id, step = (m.model_id, m.step) if hasattr(m, "model_id") else tuple(m)
        if not isinstance(step, int) or isinstance(step, bool):
            raise InvalidParameterError(f"A model output's step is an integer, got {step!r}.")
        out.append((_model_id(model_id), step))
    return out


def input_links(models: Any) -> list[str]:
    """``[LoggedModelInput(model_id)]`` (or model ids) as model ids."""
    if models is None:
        return []
    if not isinstance(models, (list, tuple)):
        raise InvalidParameterError("models= is a list of LoggedModelInput(model_id).")
    return [_model_id(m.model_id if hasattr(m, "model_id") else m) for m in models]


class LoggedModelClientMixin:
    """Logged-model methods of the client (``self.store`` is the run store)."""

    store: Any

    def create_logged_model(self, experiment_id: str, name: str | None = None, source_run_id: str | None = None,
                            tags: dict[str, str] | None = None, params: dict[str, str] | None = None,
                            model_type: str | None = None) -> LoggedModel:
        """A PENDING logged model with a fresh id; log files to it, then ``finalize_logged_model``."""
        from mlnb.tracking.context import random_run_name

        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise InvalidParameterError(f"A logged model's name is a non-empty string, got {name!r}.")
        if model_type is not None and not isinstance(model_type, str):
            raise InvalidParameterError(f"model_type is a string, got {type(model_type).__name__}.")
        if source_run_id is not None:
            v.check_run_id(source_run_id)
        return self.store.create_logged_model(str(experiment_id), name or random_run_name(), source_run_id,
                                              _string_map("tags", tags), _string_map("params", params), model_type)

    def finalize_logged_model(self, model_id: str, status: Any) -> LoggedModel:
        """Mark a logged model READY (its files are complete) or FAILED."""
        parsed = LoggedModelStatus.parse(status)
        if not parsed.is_finalized():
            raise InvalidParameterError(f"A logged model is finalized as READY or FAILED, not {parsed.value}.")
        return self.store.finalize_logged_model(_model_id(model_id), parsed.value)

    def set_logged_model_tags(self, model_id: str, tags: dict[str, Any]) -> None:
        """Set (or overwrite) tags of a logged model."""
        self.store.set_logged_model_tags(_model_id(model_id), _string_map("tags", tags))

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Remove one tag of a logged model (ResourceNotFoundError if it has no such tag)."""
        self.store.delete_logged_model_tag(_model_id(model_id), key)

    def log_model_params(self, model_id: str, params: dict[str, str]) -> None:
        """Add params to a logged model; a param, once logged, keeps its value."""
        self.store.log_logged_model_params(_model_id(model_id), _string_map("params", params))

    def delete_logged_model(self, model_id: str) -> None:
        """Delete a logged model: searches and ``get_logged_model`` no longer find it."""
        self.store.delete_logged_model(_model_id(model_id))

    def _model_repo(self, model_id: str):
        return self.store.artifact_repo(self.store.get_logged_model(_model_id(model_id)).artifact_location)

    def log_model_artifact(self, model_id: str, local_path: str | os.PathLike,
                           artifact_path: str | None = None) -> None:
        """Copy a file into a logged model's files (under ``artifact_path``)."""
        self._model_repo(model_id).log_artifact(local_path, clean_artifact_path(artifact_path))

    def log_model_artifacts(self, model_id: str, local_dir: str | os.PathLike,
                            artifact_path: str | None = None) -> None:
        """Copy a directory's content into a logged model's files (under ``artifact_path``)."""
        self._model_repo(model_id).log_artifacts(local_dir, clean_artifact_path(artifact_path))

    def list_logged_model_artifacts(self, model_id: str, path: str | None = None) -> list[FileInfo]:
        """The files of a logged model (under ``path``)."""
        return self._model_repo(model_id).list_artifacts(clean_artifact_path(path))

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record that the run produced these logged models (at these steps)."""
        self.store.log_model_links(v.check_run_id(run_id), outputs=output_links(models))

    def log_model_inputs(self, run_id: str, models: Sequence[LoggedModelInput]) -> None:
        """Record that the run used these logged models."""
        self.store.log_model_links(v.check_run_id(run_id), inputs=input_links(models))

    def get_run_outputs(self, run_id: str) -> list[LoggedModelOutput]:
        """The logged models a run produced, as MLflow's ``run.outputs.model_outputs``."""
        outputs, _ = self.store.model_links(v.check_run_id(run_id))
        return [LoggedModelOutput(m, step) for m, step in outputs]


__all__ = ["LoggedModelClientMixin", "input_links", "output_links"]

"""MLflow 3's fluent logged-model functions: ``initialize_logged_model``, ``finalize_logged_model``,
``set_logged_model_tags``, ``log_model_params``, ``log_outputs``, ``log_inputs`` and friends.

They act on the current tracking store, the active run and the active experiment, as the rest of
:mod:`mlnb.tracking.fluent`, through the client's :class:`LoggedModelClientMixin` methods.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from mlnb.errors import InvalidParameterError
from mlnb.tracking import context, fluent
from mlnb.tracking.client import MlnbClient
from mlnb.tracking.entities import LoggedModel
from mlnb.tracking.model_entities import LoggedModelInput, LoggedModelOutput


def initialize_logged_model(name: str | None = None, source_run_id: str | None = None,
                            tags: dict[str, str] | None = None, params: dict[str, str] | None = None,
                            model_type: str | None = None, experiment_id: str | None = None) -> LoggedModel:
    """A PENDING logged model (no files yet) of the active run and experiment unless named;
    ``last_logged_model()`` returns it. Save files to it, then ``finalize_logged_model``."""
    run = fluent.active_run()
    if source_run_id is None and run is not None:
        source_run_id = run.info.run_id
    if experiment_id is None:
        experiment_id = (MlnbClient().get_run(source_run_id).info.experiment_id if source_run_id
                         else fluent._current_experiment_id())
    tags = {**context.source_tags(), **(tags or {})}   # MLflow tags a model with where it came from
    model = MlnbClient().create_logged_model(str(experiment_id), name, source_run_id, tags, params, model_type)
    fluent._remember_logged_model(model.model_id)
    return model


def finalize_logged_model(model_id: str, status: Any) -> LoggedModel:
    """Mark a logged model READY (its files are complete) or FAILED."""
    return MlnbClient().finalize_logged_model(model_id, status)


def set_logged_model_tags(model_id: str, tags: dict[str, Any]) -> None:
    """Set (or overwrite) tags of a logged model."""
    MlnbClient().set_logged_model_tags(model_id, tags)


def delete_logged_model_tag(model_id: str, key: str) -> None:
    """Remove one tag of a logged model."""
    MlnbClient().delete_logged_model_tag(model_id, key)


def log_model_params(params: dict[str, str], model_id: str | None = None) -> None:
    """Add params to a logged model (by default the one this process logged or initialized last;
    MLflow's "active model" belongs to its GenAI API, which mlnb leaves out)."""
    if model_id is None:
        model_id = fluent._last_model_id
        if model_id is None:
            raise InvalidParameterError(
                "log_model_params needs model_id=: no model was logged or initialized in this process.")
    MlnbClient().log_model_params(model_id, params)


def log_outputs(models: Sequence[LoggedModelOutput] | None = None) -> None:
    """Record that the active run produced these logged models, ``[LoggedModelOutput(model_id, step)]``."""
    if models:
        MlnbClient().log_outputs(fluent._run_id(), models)


def log_inputs(datasets: Sequence[Any] | None = None, contexts: Sequence[str | None] | None = None,
               tags_list: Sequence[Mapping[str, str] | None] | None = None,
               models: Sequence[LoggedModelInput | None] | None = None) -> None:
    """Record datasets (each with its context and tags) and logged models the active run used."""
    datasets = list(datasets or [])
    for what, values in (("contexts", contexts), ("tags_list", tags_list)):
        if values is not None and len(values) != len(datasets):
            raise InvalidParameterError(f"log_inputs got {len(datasets)} datasets but {len(values)} {what}; "
                                        f"give one per dataset (None where there is none).")
    client, run_id = MlnbClient(), fluent._run_id()
    for i, dataset in enumerate(datasets):
        if dataset is not None:
            client.log_inputs(run_id, [dataset], context=contexts[i] if contexts else None,
                              tags=tags_list[i] if tags_list else None)
    chosen = [m for m in models or () if m is not None]
    if chosen:
        client.log_model_inputs(run_id, chosen)


def delete_experiment_tag(key: str) -> None:
    """Remove one tag of the active experiment."""
    MlnbClient().delete_experiment_tag(fluent._current_experiment_id(), key)


__all__ = ["delete_experiment_tag", "delete_logged_model_tag", "finalize_logged_model", "initialize_logged_model",
           "log_inputs", "log_model_params", "log_outputs", "set_logged_model_tags"]

"""The fluent tracking API, with MLflow's names and semantics.

    import mlnb
    mlnb.set_experiment("churn")
    with mlnb.start_run(run_name="forest"):
        mlnb.log_params({"n_estimators": 100})
        mlnb.log_metric("auc", 0.91)

Runs go where MLflow's would: the MLflow store ``./mlflow.db`` (artifacts in ``./mlruns/``) unless
``set_tracking_uri`` or ``$MLFLOW_TRACKING_URI`` names another store or an MLflow Tracking Server.
``$MLFLOW_EXPERIMENT_NAME`` / ``$MLFLOW_EXPERIMENT_ID`` choose the experiment and ``$MLFLOW_RUN_ID``
the run ``start_run()`` resumes, as in MLflow (mlnb's older ``MLNB_*`` names still work).
A ``with start_run()`` block ends the run FINISHED, FAILED on an exception, KILLED on
KeyboardInterrupt. Logging without an active run starts one, as MLflow does.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Any, BinaryIO, Mapping, Sequence

from mlnb.errors import InvalidParameterError, TrackingError
from mlnb.tracking import store as _store_mod
from mlnb.tracking.client import MlnbClient, now_ms
from mlnb.tracking.context import source_tags
from mlnb.tracking.entities import (
    FAILED, FINISHED, KILLED, RUNNING, TAG_NOTE, TAG_PARENT_RUN_ID, Experiment, Metric, Param, Run, RunTag,
)

ENV_EXPERIMENT_NAME = ("MLFLOW_EXPERIMENT_NAME", "MLNB_EXPERIMENT_NAME")
ENV_EXPERIMENT_ID = ("MLFLOW_EXPERIMENT_ID", "MLNB_EXPERIMENT_ID")
ENV_RUN_ID = "MLFLOW_RUN_ID"


def _env(names: tuple[str, ...]) -> str | None:
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    return None

_active: list["ActiveRun"] = []
_last_ended: Run | None = None
_experiment_id: str | None = None
_state_lock = threading.RLock()


class ActiveRun(Run):
    """The run ``start_run`` returned; as a context manager it ends the run on exit."""

    def __init__(self, run: Run) -> None:
        super().__init__(run.info, run.data)

    def __enter__(self) -> "ActiveRun":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            status = FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = KILLED
        else:
            status = FAILED
        if any(r.info.run_id == self.info.run_id for r in _active):
            end_run(status)
        return False


def _client() -> MlnbClient:
    return MlnbClient()


# -- tracking URI and experiments ----------------------------------------------------------------
def set_tracking_uri(uri: str | os.PathLike) -> None:
    """Log to ``uri``: a SQLite file (path or ``sqlite:///path``) or ``http(s)://host:port`` (MLflow server)."""
    global _experiment_id
    # resolved now: bad URIs fail here, and a relative path keeps meaning the same file after a chdir
    _store_mod.set_tracking_uri(_store_mod.resolve_uri(os.fspath(uri)))
    _experiment_id = None


def get_tracking_uri() -> str:
    return _store_mod.get_tracking_uri()


def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None) -> Experiment:
    """Make an experiment the active one, creating it by name if needed."""
    global _experiment_id
    client = _client()
    if experiment_id is not None:
        exp = client.get_experiment(str(experiment_id))
    elif experiment_name:
        exp = client.get_experiment_by_name(experiment_name)
        if exp is None:
            try:
                client.create_experiment(experiment_name)
            except InvalidParameterError:
                pass  # another process created it a moment ago
            exp = client.get_experiment_by_name(experiment_name)
    else:
        raise InvalidParameterError("set_experiment needs experiment_name or experiment_id.")
    if exp.lifecycle_stage != "active":
        raise InvalidParameterError(f"Experiment '{exp.name}' is deleted; restore it or choose another name.")
    _experiment_id = exp.experiment_id
    return exp


def get_experiment_by_name(name: str) -> Experiment | None:
    return _client().get_experiment_by_name(name)


def get_experiment(experiment_id: str) -> Experiment:
    return _client().get_experiment(experiment_id)


def create_experiment(name: str, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None) -> str:
    return _client().create_experiment(name, artifact_location, tags)


def search_experiments(view_type: Any = _store_mod.ACTIVE_ONLY, max_results: int | None = None,
                       filter_string: str | None = None, order_by: Sequence[str] | None = None) -> list[Experiment]:
    """Experiments matching ``filter_string`` (like ``"name LIKE 'churn%'"``), newest first."""
    return list(_client().search_experiments(view_type, max_results, filter_string, order_by))


def delete_experiment(experiment_id: str) -> None:
    """Mark an experiment and its runs deleted."""
    global _experiment_id
    _client().delete_experiment(experiment_id)
    if _experiment_id == str(experiment_id):
        _experiment_id = None


def set_experiment_tag(key: str, value: Any) -> None:
    """Tag the current experiment (the one ``set_experiment`` chose, else the default one)."""
    _client().set_experiment_tag(_current_experiment_id(), key, value)


def set_experiment_tags(tags: Mapping[str, Any]) -> None:
    """Tag the current experiment with every key and value of ``tags``."""
    for key, value in tags.items():
        set_experiment_tag(key, value)


def _current_experiment_id() -> str:
    if _experiment_id is not None:
        return _experiment_id
    name, eid = _env(ENV_EXPERIMENT_NAME), _env(ENV_EXPERIMENT_ID)
    if name:
        return set_experiment(name).experiment_id
    if eid:
        return eid
    return _default_experiment_id()


def _default_experiment_id() -> str:
    # the embedded store's Default experiment is 0, as on an MLflow server
    return "0"


# -- runs --------------------------------------------------------------------------------------
def start_run(run_id: str | None = None, experiment_id: str | None = None, run_name: str | None = None,
              nested: bool = False, tags: Mapping[str, Any] | None = None,
              description: str | None = None, parent_run_id: str | None = None) -> ActiveRun:
    """Start a new run (or resume ``run_id``) and make it active; use it in a ``with`` block."""
    client = _client()
    with _state_lock:
        if _active and not nested and parent_run_id is None:
            raise TrackingError(
                f"Run '{_active[-1].info.run_id}' is already active. End it with mlnb.end_run(), or start "
                f"a child run with start_run(nested=True).")
        if run_id is None and not _active and os.environ.get(ENV_RUN_ID):
            run_id = os.environ[ENV_RUN_ID]  # MLflow resumes the run the environment names
        if run_id is not None:
            run = client.get_run(run_id)
            if run.info.lifecycle_stage != "active":
                raise InvalidParameterError(f"Run '{run_id}' is deleted; restore it before resuming it.")
            client.update_run(run_id, status=RUNNING, name=run_name)
            if tags:
                client.log_batch(run_id, tags=tags)
            run = client.get_run(run_id)
        else:
            all_tags = {**source_tags(), **{k: str(v) for k, v in (tags or {}).items()}}
            parent = parent_run_id or (_active[-1].info.run_id if _active else None)
            if parent:
                all_tags[TAG_PARENT_RUN_ID] = parent
            if description:
                all_tags[TAG_NOTE] = description
            exp = str(experiment_id) if experiment_id is not None else _current_experiment_id()
            run = client.create_run(exp, tags=all_tags, run_name=run_name)
        active = ActiveRun(run)
        _active.append(active)
        return active


def end_run(status: str = FINISHED) -> None:
    """End the active run (the innermost one, for nested runs) with ``status``."""
    global _last_ended
    with _state_lock:
        if not _active:
            return
        run = _active.pop()
        try:
            _client().set_terminated(run.info.run_id, status)
        finally:
            _last_ended = run


def active_run() -> ActiveRun | None:
    return _active[-1] if _active else None


def last_active_run() -> Run | None:
    """The active run, else the last run this process ended (freshly read from the store)."""
    run = _active[-1] if _active else _last_ended
    return get_run(run.info.run_id) if run is not None else None


def _run_id() -> str:
    """The active run's id, starting a run if there is none (as MLflow does)."""
    if not _active:
        start_run()
    return _active[-1].info.run_id


def get_run(run_id: str) -> Run:
    return _client().get_run(run_id)


def delete_run(run_id: str) -> None:
    _client().delete_run(run_id)


def set_terminated(run_id: str, status: str = FINISHED) -> None:
    _client().set_terminated(run_id, status)


def restore_run(run_id: str) -> None:
    """Bring back a deleted run."""
    _client().restore_run(run_id)


def restore_experiment(experiment_id: str) -> None:
    """Bring back a deleted experiment and its runs."""
    _client().restore_experiment(experiment_id)


def delete_tag(key: str) -> None:
    """Remove a tag from the active run."""
    _client().delete_tag(_run_id(), key)


def get_parent_run(run_id: str) -> Run | None:
    """The run that ``run_id`` is nested in, or None for a top-level run."""
    return _client().get_parent_run(run_id)


def is_tracking_uri_set() -> bool:
    """True when a tracking URI was chosen rather than left at the default."""
    return _store_mod.is_tracking_uri_set()


# -- logging -----------------------------------------------------------------------------------
# ``synchronous=`` (MLflow's switch to a background queue) is accepted everywhere MLflow has it: mlnb
# always logs before returning, and ``synchronous=False`` returns an already-finished RunOperations.
def log_param(key: str, value: Any, *, synchronous: bool | None = None) -> Any:
    """Log a param of the active run; returns the value, as MLflow does."""
    _client().log_batch(_run_id(), params=[Param(key, value)])
    return value


def log_params(params: Mapping[str, Any], *, synchronous: bool | None = None, run_id: str | None = None):
    """Log params of the active run (or ``run_id``) in one write."""
    _client().log_batch(run_id or _run_id(), params=[Param(k, v) for k, v in params.items()])
    return _operations(synchronous)


def log_metric(key: str, value: float, step: int | None = None, timestamp: int | None = None, *,
               synchronous: bool | None = None, run_id: str | None = None, model_id: str | None = None,
               dataset: Any = None):
    """Log a metric to the active run (or ``run_id``); ``model_id`` also logs it to that logged
    model (else to the run's models logged at this step), ``dataset`` names what it was measured on."""
    ts = timestamp if timestamp is not None else now_ms()
    _log_metrics(run_id or _run_id(), [Metric(key, value, ts, step or 0)], model_id, dataset)
    return _operations(synchronous)


def log_metrics(metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None, *,
                synchronous: bool | None = None, run_id: str | None = None, model_id: str | None = None,
                dataset: Any = None):
    """Log several metrics at one step and time, as :func:`log_metric` logs one."""
    ts = timestamp if timestamp is not None else now_ms()
    _log_metrics(run_id or _run_id(), [Metric(k, v, ts, step or 0) for k, v in metrics.items()], model_id, dataset)
    return _operations(synchronous)


def _log_metrics(run_id: str, metrics: list[Metric], model_id: str | None, dataset: Any) -> None:
    if model_id is None and dataset is None and run_id not in _runs_with_models:
        _client().log_batch(run_id, metrics=metrics)   # the common case: no logged model involved
    else:
        from mlnb.tracking.model_metrics import log_model_metrics

        log_model_metrics(run_id, metrics, model_id, dataset)


def _operations(synchronous: bool | None):
    if synchronous is False:
        from mlnb.tracking.model_metrics import RunOperations

        return RunOperations()
    return None


def set_tag(key: str, value: Any, *, synchronous: bool | None = None):
    """Set a tag of the active run."""
    _client().log_batch(_run_id(), tags=[RunTag(key, value)])
    return _operations(synchronous)


def set_tags(tags: Mapping[str, Any], *, synchronous: bool | None = None):
    """Set tags of the active run in one write."""
    _client().log_batch(_run_id(), tags=[RunTag(k, v) for k, v in tags.items()])
    return _operations(synchronous)


def log_artifact(local_path: str | os.PathLike, artifact_path: str | None = None) -> None:
    _client().log_artifact(_run_id(), local_path, artifact_path)


def log_artifacts(local_dir: str | os.PathLike, artifact_path: str | None = None) -> None:
    _client().log_artifacts(_run_id(), local_dir, artifact_path)


def log_text(text: str, artifact_file: str) -> None:
    _client().log_text(_run_id(), text, artifact_file)


def log_dict(dictionary: Mapping, artifact_file: str) -> None:
    _client().log_dict(_run_id(), dictionary, artifact_file)


def log_stream(stream: BinaryIO, artifact_file: str, run_id: str | None = None) -> None:
    """Log what a binary file-like object (``io.BytesIO``, an open file) holds as ``artifact_file``."""
    _client().log_stream(run_id or _run_id(), stream, artifact_file)


def log_figure(figure: Any, artifact_file: str, *, save_kwargs: Mapping[str, Any] | None = None) -> None:
    """Log a matplotlib figure (any format matplotlib writes) or a plotly figure (.html, .png...)."""
    _client().log_figure(_run_id(), figure, artifact_file, save_kwargs=save_kwargs)


def log_image(image: Any, artifact_file: str | None = None, key: str | None = None, step: int | None = None,
              timestamp: int | None = None, *, synchronous: bool | None = None) -> None:
    """Log a numpy array or PIL image as ``artifact_file`` (.png, .jpg...)."""
    _client().log_image(_run_id(), image, artifact_file, key=key, step=step, timestamp=timestamp)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    """The URI of the active run's artifacts (or of one path inside them)."""
    from mlnb.tracking.artifacts import join_uri

    run = _active[-1] if _active else None
    if run is None:
        run = _client().get_run(_run_id())
    return join_uri(run.info.artifact_uri, artifact_path or "")


def download_artifacts(artifact_uri: str | None = None, run_id: str | None = None,
                       artifact_path: str | None = None, dst_path: str | os.PathLike | None = None) -> str:
    """Download artifacts by URI (``runs:/``, ``s3://``, ...) or by run id and path; return the local path."""
    if artifact_uri is not None:
        if run_id is not None or artifact_path is not None:
            raise InvalidParameterError("Pass either artifact_uri, or run_id with artifact_path, not both.")
        from mlnb.models.uri import local_path

        return str(local_path(artifact_uri, None if dst_path is None else os.fspath(dst_path)))
    if run_id is None:
        raise InvalidParameterError("download_artifacts needs artifact_uri, or run_id (and artifact_path).")
    return _client().download_artifacts(run_id, artifact_path or "", dst_path)


def search_runs(experiment_ids: Sequence[str] | None = None, filter_string: str = "",
                run_view_type: Any = None, max_results: int = 100_000, order_by: Sequence[str] | None = None,
                output_format: str = "pandas", search_all_experiments: bool = False,
                experiment_names: Sequence[str] | None = None):
    """Runs matching ``filter_string`` as a DataFrame shaped like MLflow's (or a list of Runs).

    Without experiment ids or names, searches the active experiment (every experiment with
    ``search_all_experiments=True``). Ordered by ``order_by``, then newest first.
    """
    if output_format not in ("pandas", "list"):
        raise InvalidParameterError(f"output_format must be 'pandas' or 'list', got {output_format!r}.")
    client = _client()
    ids = [str(e) for e in ([experiment_ids] if isinstance(experiment_ids, (str, int)) else experiment_ids or [])]
    for name in experiment_names or ():
        exp = client.get_experiment_by_name(name)
        if exp is not None:
            ids.append(exp.experiment_id)
    if not ids and not experiment_names:
        if search_all_experiments:
            ids = [e.experiment_id for e in client.search_experiments()]
        else:
            ids = [_current_experiment_id()]
    if ids:
        table = client.store.search_runs(ids, filter_string, order_by, max_results, _store_mod.run_view(run_view_type))
    else:  # only unknown experiment names
        table = _store_mod.RunTable.empty()
    return table.to_frame() if output_format == "pandas" else table.to_runs()


# -- logged models and datasets ----------------------------------------------------------------
_last_model_id: str | None = None


#: runs this process logged a model in: their metrics go to those models too (MLflow 3's rule)
_runs_with_models: set[str] = set()


def _remember_logged_model(model_id: str) -> None:
    global _last_model_id
    _last_model_id = model_id
    if _active:
        _runs_with_models.add(_active[-1].info.run_id)


def last_logged_model():
    """The logged model this process logged last (MLflow's ``LoggedModel``), or None."""
    return get_logged_model(_last_model_id) if _last_model_id is not None else None


def get_logged_model(model_id: str):
    """The logged model ``model_id`` (``m-<hex>``): name, artifact_location, source_run_id, status, tags..."""
    return _client().get_logged_model(model_id)


def search_logged_models(experiment_ids: Sequence[str] | None = None, filter_string: str | None = None,
                         datasets: Sequence[Mapping[str, str]] | None = None, max_results: int | None = None,
                         order_by: Sequence[Any] | None = None, output_format: str = "pandas"):
    """Logged models of the experiments (the active one by default) matching MLflow's filter
    (``"metrics.acc > 0.9 AND params.alpha = '0.1'"``), as a DataFrame or a list."""
    if output_format not in ("pandas", "list"):
        raise InvalidParameterError(f"output_format must be 'pandas' or 'list', got {output_format!r}.")
    ids = [str(e) for e in ([experiment_ids] if isinstance(experiment_ids, (str, int)) else experiment_ids or [])]
    models = list(_client().search_logged_models(ids or [_current_experiment_id()], filter_string or "",
                                                 datasets=datasets, max_results=max_results or 100_000,
                                                 order_by=order_by))
    if output_format == "list":
        return models
    import pandas as pd
    from dataclasses import asdict

    return pd.DataFrame([asdict(m) for m in models], columns=[
        "model_id", "experiment_id", "name", "artifact_location", "creation_timestamp", "last_updated_timestamp",
        "status", "lifecycle_stage", "model_type", "source_run_id", "status_message", "tags", "params", "metrics"])


def log_input(dataset: Any, context: str | None = None, tags: Mapping[str, str] | None = None,
              model: Any = None) -> None:
    """Record that the active run used ``dataset`` (from ``mlnb.data.from_pandas`` / ``from_numpy``)."""
    if model is not None:
        raise InvalidParameterError("log_input(model=...) is not supported by mlnb; log the dataset alone.")
    _client().log_inputs(_run_id(), [dataset], context=context, tags=tags)


# -- process lifecycle -------------------------------------------------------------------------
def _end_all_at_exit() -> None:
    while _active:
        try:
            end_run(FINISHED)
        except Exception:  # the store may already be gone at interpreter exit
            _active.pop()


atexit.register(_end_all_at_exit)


def _reset_for_tests() -> None:
    """Forget active runs, the experiment, the tracking URI and cached stores (test isolation)."""
    global _last_ended, _experiment_id, _last_model_id
    _last_model_id = None
    while _active:
        try:
            end_run(KILLED)
        except Exception:
            _active.pop()
    _last_ended = None
    _experiment_id = None
    _store_mod.set_tracking_uri(None)
    _store_mod.forget_stores()
    _forget_registry()


def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Log ``data`` (a DataFrame or a dict of columns) as the table ``artifact_file`` of the active
    run (or ``run_id``); logging again to the same file appends rows."""
    _client().log_table(run_id or _run_id(), data, artifact_file)


def load_table(artifact_file: str, run_ids: Sequence[str] | None = None, extra_columns: Sequence[str] | None = None):
    """The table ``artifact_file`` of every run of the active experiment that logged it (or of
    ``run_ids``) as one DataFrame; ``extra_columns=["run_id"]`` says which run each row came from."""
    return _client().load_table(_current_experiment_id(), artifact_file, run_ids, extra_columns)


__all__ = [
    "ActiveRun", "set_tracking_uri", "get_tracking_uri", "set_experiment", "get_experiment_by_name",
    "get_experiment", "create_experiment", "search_experiments", "delete_experiment", "set_experiment_tag",
    "set_experiment_tags", "log_image", "start_run", "end_run", "active_run", "last_active_run",
    "get_run", "delete_run", "log_param", "log_params", "log_metric", "log_metrics", "set_tag",
    "set_tags", "log_artifact", "log_artifacts", "log_text", "log_dict", "log_stream", "log_figure",
    "get_artifact_uri", "download_artifacts", "search_runs", "last_logged_model", "get_logged_model",
    "search_logged_models", "log_input", "log_table", "load_table",
]


# -- model registry ------------------------------------------------------------------------------
def set_registry_uri(uri: str | os.PathLike | None) -> None:
    """Keep registered models at ``uri``: an SQLite file with MLflow's schema (``sqlite:///mlflow.db``)
    or ``http(s)://host:port`` (an MLflow Tracking Server). By default the registry is the tracking URI."""
    from mlnb.tracking.registry_store import set_registry_uri as _set

    _set(uri)


def get_registry_uri() -> str:
    """The registry URI in force: set_registry_uri, else $MLNB_REGISTRY_URI, else the tracking URI."""
    from mlnb.tracking.registry_store import get_registry_uri as _get

    return _get()


def register_model(model_uri: str | os.PathLike, name: str, await_registration_for: int = 300, *,
                   tags: Mapping[str, Any] | None = None):
    """Register the model at ``model_uri`` (``runs:/<run_id>/model``, ``models:/...``, a path, s3://...)
    as a new version of ``name``, creating the registered model if needed; return the ModelVersion.

    Load it back anywhere a model URI is taken: ``models:/<name>/<version>``, ``models:/<name>@<alias>``
    or ``models:/<name>/latest``.
    """
    return _client().register_model_version(model_uri, name, tags)


def _forget_registry() -> None:
    from mlnb.tracking.store import forget_registry_stores

    forget_registry_stores()


__all__ += ["set_registry_uri", "get_registry_uri", "register_model"]


def _all_pages(search, max_results: int | None, filter_string: str | None, order_by) -> list:
    """Every result of a paged registry search, or the first ``max_results`` (MLflow's fluent rule)."""
    found: list = []
    token = None
    while max_results is None or len(found) < max_results:
        page = search(filter_string, order_by=order_by, page_token=token,
                      **({"max_results": max_results - len(found)} if max_results is not None else {}))
        found.extend(page)
        token = page.token
        if not token:
            break
    return found


def search_registered_models(max_results: int | None = None, filter_string: str | None = None,
                             order_by: Sequence[str] | None = None) -> list:
    """Registered models, filtered and ordered as MLflow's ``search_registered_models``: every page."""
    return _all_pages(_client().search_registered_models, max_results, filter_string, order_by)


def search_model_versions(max_results: int | None = None, filter_string: str | None = None,
                          order_by: Sequence[str] | None = None) -> list:
    """Model versions, filtered and ordered as MLflow's ``search_model_versions``: every page."""
    return _all_pages(_client().search_model_versions, max_results, filter_string, order_by)


def set_model_version_tag(name: str, version: str | int, key: str, value: Any) -> None:
    """Set a tag on a registered model's version."""
    _client().set_model_version_tag(name, version, key, value)

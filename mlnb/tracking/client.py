"""``MlnbClient``: the run store with explicit ids, as MLflow's ``MlflowClient``.

The fluent API (``mlnb.start_run``, ``mlnb.log_metric``...) is a thin layer over this client;
use the client directly to work on several runs at once or on runs other processes created.
Every name and value is validated here (MLflow's rules) before it reaches a store.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, BinaryIO, Iterable, Mapping, Sequence

from mlnb.errors import InvalidParameterError
from mlnb.tracking import validation as v
from mlnb.tracking.artifacts import FileInfo, clean_artifact_path
from mlnb.tracking.base import ACTIVE_ONLY, Store, run_view
from mlnb.tracking.entities import (
    FINISHED, RUN_STATUSES, TAG_PARENT_RUN_ID, TAG_RUN_NAME, Experiment, Metric, Param, Run, RunTag,
)
from mlnb.tracking.paging import PagedList, offset_of, token_for
from mlnb.tracking.logged_model_client import LoggedModelClientMixin
from mlnb.tracking.registry_client import RegistryClientMixin
from mlnb.tracking.context import random_run_name
from mlnb.tracking.store import get_store

def now_ms() -> int:
    return int(time.time() * 1000)


def _pairs(items: Any, cls) -> list:
    """Entities, (key, value) pairs or a mapping -> list of ``cls`` entities."""
    if items is None:
        return []
    if isinstance(items, Mapping):
        items = items.items()
    out = []
    for it in items:
        if isinstance(it, cls):
            out.append(it)
        elif hasattr(it, "key") and hasattr(it, "value"):  # MLflow's entities, for example
            out.append(cls(it.key, it.value))
        elif isinstance(it, Mapping):
            out.append(cls(it["key"], it["value"]))
        else:
            out.append(cls(*it))
    return out


class MlnbClient(LoggedModelClientMixin, RegistryClientMixin):
    """Explicit-id access to a run store (``tracking_uri`` defaults to the current one) and a model
    registry (``registry_uri`` defaults to the current registry URI, else the tracking URI)."""

    def __init__(self, tracking_uri: str | os.PathLike | None = None,
                 registry_uri: str | os.PathLike | None = None) -> None:
        self._uri = os.fspath(tracking_uri) if tracking_uri is not None else None
        self._registry_uri = os.fspath(registry_uri) if registry_uri is not None else None

    @property
    def store(self) -> Store:
        return get_store(self._uri)

    @property
    def tracking_uri(self) -> str:
        return self.store.uri

    # -- experiments ---------------------------------------------------------------------------
    def create_experiment(self, name: str, artifact_location: str | None = None,
                          tags: Mapping[str, Any] | None = None) -> str:
        v.check_experiment_name(name)
        tags = {v.check_key(k, "Tag"): v.tag_value(k, val) for k, val in (tags or {}).items()}
        return self.store.create_experiment(name, artifact_location, tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.store.get_experiment(str(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.store.get_experiment_by_name(name)

    def search_experiments(self, view_type: Any = ACTIVE_ONLY, max_results: int | None = None,
                           filter_string: str | None = None, order_by: Sequence[str] | None = None,
                           page_token: str | None = None) -> "PagedList[Experiment]":
        """Experiments matching ``filter_string`` (``name``, ``tags.<key>``, ``creation_time``,
        ``last_update_time``), in ``order_by`` order (default: newest first), one page at a time."""
        from mlnb.tracking.experiment_search import filter_experiments, order_experiments

        found = self.store.search_experiments(run_view(view_type))
        found = order_experiments(filter_experiments(found, filter_string), order_by)
        return _page(found, max_results, page_token)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        v.check_experiment_name(new_name)
        self.store.rename_experiment(str(experiment_id), new_name)

    def delete_experiment(self, experiment_id: str) -> None:
        """Mark an experiment and its runs deleted (``restore_experiment`` undoes it)."""
        self.store.delete_experiment(str(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        self.store.restore_experiment(str(experiment_id))

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self.store.set_experiment_tag(str(experiment_id), v.check_key(key, "Tag"), v.tag_value(key, value))

    # -- runs ----------------------------------------------------------------------------------
    def create_run(self, experiment_id: str, start_time: int | None = None,
                   tags: Mapping[str, Any] | None = None, run_name: str | None = None) -> Run:
        tags = {v.check_key(k, "Tag"): v.tag_value(k, val) for k, val in (tags or {}).items()}
        run_name = run_name or tags.get(TAG_RUN_NAME) or random_run_name()
        user = tags.get("mlflow.user", "")
        return self.store.create_run(str(experiment_id), str(run_name), start_time or now_ms(), tags, user)

    def get_run(self, run_id: str) -> Run:
        return self.store.get_run(v.check_run_id(run_id))

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        if status is not None and status not in RUN_STATUSES:
            raise InvalidParameterError(f"Run status must be one of {RUN_STATUSES}, got {status!r}.")
        end = now_ms() if status is not None and status != "RUNNING" else None
        self.store.update_run(v.check_run_id(run_id), status, end, name)

    def set_terminated(self, run_id: str, status: str = FINISHED, end_time: int | None = None) -> None:
        if status not in RUN_STATUSES:
            raise InvalidParameterError(f"Run status must be one of {RUN_STATUSES}, got {status!r}.")
        self.store.update_run(v.check_run_id(run_id), status, end_time or now_ms())

    def delete_run(self, run_id: str) -> None:
        self.store.delete_run(v.check_run_id(run_id))

    def restore_run(self, run_id: str) -> None:
        self.store.restore_run(v.check_run_id(run_id))

    # -- params, metrics, tags -----------------------------------------------------------------
    def log_param(self, run_id: str, key: str, value: Any) -> Any:
        self.log_batch(run_id, params=[Param(key, value)])
        return value

    def log_metric(self, run_id: str, key: str, value: float, timestamp: int | None = None,
                   step: int | None = None) -> None:
        self.log_batch(run_id, metrics=[Metric(key, value, timestamp if timestamp is not None else now_ms(), step or 0)])

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.log_batch(run_id, tags=[RunTag(key, value)])

    def get_parent_run(self, run_id: str) -> Run | None:
        """The run that ``run_id`` is nested in (its ``mlflow.parentRunId`` tag), or None."""
        parent = self.get_run(run_id).data.tags.get(TAG_PARENT_RUN_ID)
        return self.get_run(parent) if parent else None

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag from a run; a tag the run does not have is an error, as in MLflow."""
        self.store.delete_tag(v.check_run_id(run_id), key)

    def log_batch(self, run_id: str, metrics: Iterable[Metric] = (), params: Iterable[Param] | Mapping = (),
                  tags: Iterable[RunTag] | Mapping = ()) -> None:
        """Log many values in one store transaction (one HTTP request on a tracking server)."""
        v.check_run_id(run_id)
        ms = [_checked_metric(m) for m in (metrics or ())]
        ps = [Param(v.check_key(p.key, "Param"), v.param_value(p.key, p.value)) for p in _pairs(params, Param)]
        ts = [RunTag(v.check_key(t.key, "Tag"), v.tag_value(t.key, t.value)) for t in _pairs(tags, RunTag)]
        self.store.log_batch(run_id, ms, ps, ts)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.store.get_metric_history(v.check_run_id(run_id), key)

    def search_runs(self, experiment_ids: str | Sequence[str], filter_string: str = "",
                    run_view_type: Any = ACTIVE_ONLY, max_results: int = 1000,
                    order_by: Sequence[str] | None = None, page_token: str | None = None) -> "PagedList[Run]":
        """Runs matching ``filter_string``, ``max_results`` per page; ``.token`` of the answer asks
        for the next page (None on the last one)."""
        ids = [experiment_ids] if isinstance(experiment_ids, (str, int)) else list(experiment_ids)
        if not isinstance(max_results, int) or max_results < 1:
            raise InvalidParameterError(f"max_results must be a positive integer, got {max_results!r}.")
        offset = offset_of(page_token)
        table = self.store.search_runs([str(i) for i in ids], filter_string, order_by, offset + max_results + 1,
                                       run_view(run_view_type))
        runs = table.to_runs()
        more = len(runs) > offset + max_results
        return PagedList(runs[offset:offset + max_results], token_for(offset + max_results) if more else None)

    # -- logged models and datasets ------------------------------------------------------------
    def get_logged_model(self, model_id: str):
        """MLflow 3's logged model ``model_id`` (``m-<hex>``)."""
        if not isinstance(model_id, str) or not model_id:
            raise InvalidParameterError(f"A logged model id is a string like 'm-<32 hex>', got {model_id!r}.")
        return self.store.get_logged_model(model_id)

    def search_logged_models(self, experiment_ids: Sequence[str], filter_string: str | None = None,
                             datasets: Sequence[Mapping[str, Any]] | None = None, max_results: int | None = None,
                             order_by: Sequence[Any] | None = None, page_token: str | None = None) -> "PagedList":
        """Logged models of the experiments matching MLflow's filter (``"metrics.acc > 0.9 AND
        name = 'clf'"``), ordered by ``order_by`` (``[{"field_name": "metrics.acc", "ascending": False}]``),
        newest first otherwise; a page of ``max_results`` with ``token`` for the next."""
        if isinstance(experiment_ids, (str, int)):
            experiment_ids = [experiment_ids]
        max_results = 100 if max_results is None else int(max_results)
        offset = offset_of(page_token)
        models = self.store.search_logged_models([str(e) for e in experiment_ids], filter_string or "",
                                                 offset + max_results + 1, order_by, datasets)
        more = len(models) > offset + max_results
        return PagedList(models[offset:offset + max_results], token_for(offset + max_results) if more else None)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove one tag of an experiment."""
        self.store.delete_experiment_tag(str(experiment_id), key)

    def log_inputs(self, run_id: str, datasets: Sequence[Any], context: str | None = None,
                   tags: Mapping[str, str] | None = None) -> None:
        """Record datasets (``mlnb.data`` datasets) the run used, with an optional context tag."""
        from mlnb.data import as_dataset_input

        inputs = [as_dataset_input(d, context=context, tags=tags) for d in datasets]
        self.store.log_inputs(v.check_run_id(run_id), inputs)

    # -- artifacts -----------------------------------------------------------------------------
    def _repo(self, run_id: str):
        return self.store.artifact_repo(self.get_run(run_id).info.artifact_uri)

    def log_artifact(self, run_id: str, local_path: str | os.PathLike, artifact_path: str | None = None) -> None:
        self._repo(run_id).log_artifact(local_path, clean_artifact_path(artifact_path))

    def log_artifacts(self, run_id: str, local_dir: str | os.PathLike, artifact_path: str | None = None) -> None:
        self._repo(run_id).log_artifacts(local_dir, clean_artifact_path(artifact_path))

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._repo(run_id).log_bytes(text.encode("utf-8"), artifact_file)

    def log_dict(self, run_id: str, dictionary: Mapping, artifact_file: str) -> None:
        if artifact_file.endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_dump(dict(dictionary), default_flow_style=False)
        else:
            data = json.dumps(dictionary, indent=2, default=str)
        self._repo(run_id).log_bytes(data.encode("utf-8"), artifact_file)

    def log_stream(self, run_id: str, stream: BinaryIO, artifact_file: str) -> None:
        """Log what a binary file-like object (``io.BytesIO``, an open file) holds as ``artifact_file``."""
        self._repo(run_id).log_bytes(stream.read(), artifact_file)

    def log_figure(self, run_id: str, figure: Any, artifact_file: str, *,
                   save_kwargs: Mapping[str, Any] | None = None) -> None:
        """Log a matplotlib figure (any format matplotlib writes) or a plotly figure (.html, .png...)."""
        import io

        buf = io.BytesIO()
        suffix = artifact_file.rsplit(".", 1)[-1].lower() if "." in artifact_file else "png"
        if hasattr(figure, "savefig"):
            figure.savefig(buf, format=suffix, **(save_kwargs or {}))
        elif hasattr(figure, "write_html"):
            if suffix == "html":
                buf.write(figure.to_html(**(save_kwargs or {})).encode("utf-8"))
            else:
                figure.write_image(buf, format=suffix, **(save_kwargs or {}))
        else:
            raise InvalidParameterError(f"log_figure takes a matplotlib or plotly figure, got {type(figure).__name__}.")
        self._repo(run_id).log_bytes(buf.getvalue(), artifact_file)

    def log_image(self, run_id: str, image: Any, artifact_file: str | None = None, key: str | None = None,
                  step: int | None = None, timestamp: int | None = None) -> None:
        """Log a numpy array (HxW, HxWx3 or HxWx4; floats in [0, 1] or integers in [0, 255]) or a PIL
        image as ``artifact_file`` (.png, .jpg...)."""
        import io

        if key is not None or step is not None or timestamp is not None:
            raise InvalidParameterError(
                "log_image(key=, step=, timestamp=) logs images as a time series, which mlnb does not "
                "store yet; pass artifact_file='images/<name>.png' (one file per step) instead.")
        if not artifact_file:
            raise InvalidParameterError("log_image needs artifact_file, like artifact_file='image.png'.")
        from mlnb.tracking.image import to_pil_image

        image = to_pil_image(image)
        buf = io.BytesIO()
        fmt = artifact_file.rsplit(".", 1)[-1].upper() if "." in artifact_file else "PNG"
        image.save(buf, format={"JPG": "JPEG"}.get(fmt, fmt))
        self._repo(run_id).log_bytes(buf.getvalue(), artifact_file)

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """Log a DataFrame (or dict of columns) as the run's table ``artifact_file`` (.json or .parquet)."""
        from mlnb.tracking.tables import write_table

        write_table(self, v.check_run_id(run_id), data, artifact_file)

    def load_table(self, experiment_id: str, artifact_file: str, run_ids: Sequence[str] | None = None,
                   extra_columns: Sequence[str] | None = None):
        """The table ``artifact_file`` of the experiment's runs that logged it, as one DataFrame."""
        from mlnb.tracking.tables import read_tables

        return read_tables(self, str(experiment_id), artifact_file, run_ids, extra_columns)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        return self._repo(run_id).list_artifacts(clean_artifact_path(path))

    def download_artifacts(self, run_id: str, path: str, dst_path: str | os.PathLike | None = None) -> str:
        return str(self._repo(run_id).download_artifacts(clean_artifact_path(path), dst_path))


def _checked_metric(m: Metric) -> Metric:
    """``m`` validated; the same object when nothing needed converting (the common case)."""
    key = v.check_key(m.key, "Metric")
    value, ts, step = v.metric_value(key, m.value), v.timestamp_value(key, m.timestamp), v.step_value(key, m.step)
    if value is m.value and ts is m.timestamp and step is m.step:
        return m
    return Metric(key, value, ts, step)


def _page(items: list, max_results: int | None, page_token: str | None) -> PagedList:
    if max_results is None:
        return PagedList(items[offset_of(page_token):])
    if not isinstance(max_results, int) or max_results < 1:
        raise InvalidParameterError(f"max_results must be a positive integer, got {max_results!r}.")
    start = offset_of(page_token)
    end = start + max_results
    return PagedList(items[start:end], token_for(end) if end < len(items) else None)


Client = MlnbClient
MlflowClient = MlnbClient  # MLflow's name for the same class

__all__ = ["MlnbClient", "MlflowClient", "Client", "PagedList"]

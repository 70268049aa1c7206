"""What every run store is: the :class:`Store` interface, and :class:`RunTable`, the column-wise
search results a store returns.

Two stores implement it: the embedded store (:mod:`mlnb.tracking.sqlite_store`, MLflow's SQLite
store) and the MLflow Tracking Server (:mod:`mlnb.tracking.rest_store`). Which one serves a
tracking URI is decided in :mod:`mlnb.tracking.store`; the stores themselves never import that.
"""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from mlnb.errors import InvalidParameterError
from mlnb.tracking.entities import Experiment, LoggedModel, Metric, Param, Run, RunData, RunInfo, RunTag

ACTIVE_ONLY, DELETED_ONLY, ALL = "ACTIVE_ONLY", "DELETED_ONLY", "ALL"
_VIEW_NAMES = {1: ACTIVE_ONLY, 2: DELETED_ONLY, 3: ALL}
INFO_COLUMNS = ("run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time")
_INFO_KEYS = ("run_id", "experiment_id", "run_name", "status", "artifact_uri", "start_time", "end_time",
              "lifecycle_stage", "user_id")


def run_view(view: Any) -> str:
    """MLflow's ViewType (1/2/3 or its names) as ACTIVE_ONLY / DELETED_ONLY / ALL."""
    if view is None:
        return ACTIVE_ONLY
    if isinstance(view, int):
        return _VIEW_NAMES.get(view, ACTIVE_ONLY)
    name = str(view).upper().rsplit(".", 1)[-1]
    if name not in (ACTIVE_ONLY, DELETED_ONLY, ALL):
        raise InvalidParameterError(f"run_view_type must be ACTIVE_ONLY, DELETED_ONLY or ALL, got {view!r}.")
    return name


@dataclass
class RunTable:
    """Search results held column by column: cheap to build, cheap to turn into a DataFrame.

    ``info`` maps each of ``run_id, experiment_id, run_name, status, artifact_uri, start_time,
    end_time, lifecycle_stage, user_id`` to a list; ``metrics``/``params``/``tags`` map a key to a
    list aligned with the runs (None where a run lacks the key).
    """

    info: dict[str, list] = field(default_factory=dict)
    metrics: dict[str, list] = field(default_factory=dict)
    params: dict[str, list] = field(default_factory=dict)
    tags: dict[str, list] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.info.get("run_id", ()))

    @classmethod
    def empty(cls) -> "RunTable":
        return cls(info={k: [] for k in _INFO_KEYS})

    @classmethod
    def from_runs(cls, runs: Sequence[Run]) -> "RunTable":
        n = len(runs)
        table = cls(info={k: [getattr(r.info, k) for r in runs] for k in _INFO_KEYS})
        for attr in ("metrics", "params", "tags"):
            cols: dict[str, list] = getattr(table, attr)
            for i, run in enumerate(runs):
                for k, v in getattr(run.data, attr).items():
                    col = cols.get(k)
                    if col is None:
                        col = cols[k] = [None] * n
                    col[i] = v
        return table

    def to_runs(self) -> list[Run]:
        runs = []
        info = self.info
        names = list(info)
        for i in range(len(self)):
            ri = RunInfo(**{k: info[k][i] for k in names})
            data = RunData(
                params={k: v[i] for k, v in self.params.items() if v[i] is not None},
                metrics={k: v[i] for k, v in self.metrics.items() if v[i] is not None},
                tags={k: v[i] for k, v in self.tags.items() if v[i] is not None},
            )
            runs.append(Run(ri, data))
        return runs

    def to_frame(self):
        """A DataFrame shaped like ``mlflow.search_runs``: info columns, then metrics., params., tags."""
        with paused_gc():
            return self._frame()

    def _frame(self):
        import numpy as np
        import pandas as pd

        n = len(self)
        data: dict[str, Any] = {k: self.info[k] for k in ("run_id", "experiment_id", "status", "artifact_uri")}
        for k in ("start_time", "end_time"):
            ms = np.array([np.nan if v is None else v for v in self.info[k]], dtype="float64")
            data[k] = pd.to_datetime(ms, unit="ms", utc=True)
        for k, col in self.metrics.items():
            data[f"metrics.{k}"] = np.array(col, dtype="float64")  # None becomes NaN
        for k, col in self.params.items():
            data[f"params.{k}"] = col
        for k, col in self.tags.items():
            data[f"tags.{k}"] = col
        if not n:
            return pd.DataFrame({k: pd.Series(dtype=object) for k in INFO_COLUMNS})
        return pd.DataFrame(data, copy=False)


@contextlib.contextmanager
def paused_gc():
    """Pause the cyclic garbage collector while a search builds thousands of small objects.

    None of them can form a cycle, yet each allocation burst triggers full collection passes
    that, in a process holding many objects (pandas, scikit-learn, MLflow loaded), cost more than
    the work itself.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Store:
    """What every run store does. Ids are strings; times are epoch milliseconds."""

    uri: str

    # experiments
    def create_experiment(self, name: str, artifact_location: str | None = None,
                          tags: dict[str, str] | None = None) -> str: raise NotImplementedError
    def get_experiment(self, experiment_id: str) -> Experiment: raise NotImplementedError
    def get_experiment_by_name(self, name: str) -> Experiment | None: raise NotImplementedError
    def search_experiments(self, view: str = ACTIVE_ONLY) -> list[Experiment]: raise NotImplementedError
    def rename_experiment(self, experiment_id: str, new_name: str) -> None: raise NotImplementedError
    def delete_experiment(self, experiment_id: str) -> None: raise NotImplementedError
    def restore_experiment(self, experiment_id: str) -> None: raise NotImplementedError
    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None: raise NotImplementedError
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None: raise NotImplementedError

    # runs
    def create_run(self, experiment_id: str, run_name: str, start_time: int, tags: dict[str, str],
                   user_id: str = "") -> Run: raise NotImplementedError
    def get_run(self, run_id: str) -> Run: raise NotImplementedError
    def update_run(self, run_id: str, status: str | None = None, end_time: int | None = None,
                   run_name: str | None = None) -> None: raise NotImplementedError
    def log_batch(self, run_id: str, metrics: Iterable[Metric] = (), params: Iterable[Param] = (),
                  tags: Iterable[RunTag] = ()) -> None: raise NotImplementedError
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]: raise NotImplementedError
    def search_runs(self, experiment_ids: Sequence[str], filter_string: str = "",
                    order_by: Sequence[str] | None = None, max_results: int = 100_000,
                    view: str = ACTIVE_ONLY) -> RunTable: raise NotImplementedError
    def delete_run(self, run_id: str) -> None: raise NotImplementedError
    def restore_run(self, run_id: str) -> None: raise NotImplementedError
    def delete_tag(self, run_id: str, key: str) -> None: raise NotImplementedError

    # MLflow 3's logged models
    def create_logged_model(self, experiment_id: str, name: str, source_run_id: str | None = None,
                            tags: dict[str, str] | None = None, params: dict[str, str] | None = None,
                            model_type: str | None = None, artifact_location: str | None = None
                            ) -> LoggedModel: raise NotImplementedError
    def finalize_logged_model(self, model_id: str, status: str = "READY") -> LoggedModel: raise NotImplementedError
    def get_logged_model(self, model_id: str) -> LoggedModel: raise NotImplementedError
    def search_logged_models(self, experiment_ids: Sequence[str], filter_string: str = "",
                             max_results: int = 100_000, order_by: Sequence | None = None,
                             datasets: Sequence | None = None) -> list[LoggedModel]: raise NotImplementedError
    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None: raise NotImplementedError
    def delete_logged_model_tag(self, model_id: str, key: str) -> None: raise NotImplementedError
    def log_logged_model_params(self, model_id: str, params: dict[str, str]) -> None: raise NotImplementedError
    def delete_logged_model(self, model_id: str) -> None: raise NotImplementedError
    def log_model_links(self, run_id: str, outputs: Sequence[tuple[str, int]] = (),
                        inputs: Sequence[str] = ()) -> None: raise NotImplementedError
    def model_links(self, run_id: str) -> tuple[list[tuple[str, int]], list[str]]: raise NotImplementedError
    def log_model_metrics(self, run_id: str, metrics: Sequence[Metric], model_ids: Sequence[str],
                          dataset: tuple[str, str] | None = None) -> None: raise NotImplementedError

    # artifacts
    def logged_model_uri(self, run: Run, name: str) -> str | None:
        """Artifact URI of a model ``run`` logged outside its artifacts (MLflow 3's logged models)."""
        return None

    def artifact_repo(self, artifact_uri: str):
        """The artifact repository holding artifacts under ``artifact_uri``."""
        from mlnb.tracking.artifact_repos import repo_for_uri

        return repo_for_uri(artifact_uri, tracking_uri=self.uri)

    def close(self) -> None:
        pass

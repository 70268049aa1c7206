"""The run one outermost fit logs into, and what each fit logged.

A fit reuses the active run, or starts one (tagged ``mlflow.autologging``) and ends it FINISHED,
FAILED or KILLED. Params, metrics and tags are gathered in memory and written in one
``log_batch`` transaction; small artifact files are written from memory with the artifact
repository's ``log_bytes`` (in place and atomically in the local store, one upload each on a server).

Several fits inside one run (a notebook cell under ``%%autolog``) are kept apart: the first logs
under MLflow's plain names; the n-th (n >= 2) prefixes its params, metrics and tags with
``<EstimatorName>-<n>.`` and logs its model as ``model-<n>`` and its files with a ``-<n>`` suffix.
:func:`logged_fits` tells the notebook layer what each fit logged.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

TAG_AUTOLOGGING = "mlflow.autologging"
MAX_PARAM_LENGTH = 6000     # MLflow truncates longer autologged values too


@dataclass(frozen=True)
class LoggedFit:
    """One logged fit: which estimator, into which run, under which key prefix and model URI."""

    estimator_name: str
    estimator_class: str
    run_id: str
    model_uri: str | None
    prefix: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


_FITS: dict[str, list[LoggedFit]] = {}
_SLOTS: dict[str, int] = {}
_lock = threading.Lock()


def logged_fits(run_id: str | None = None) -> list[LoggedFit]:
    """What autolog logged into ``run_id`` (default: the active run, else the last ended one)."""
    if run_id is None:
        from mlnb.tracking import fluent

        run = fluent.active_run() or fluent.last_active_run()
        if run is None:
            return []
        run_id = run.info.run_id
    return list(_FITS.get(run_id, ()))


def stringify(value: Any) -> str:
    """A param value as text, cut to MLflow's length limit."""
    text = str(value)
    return text if len(text) <= MAX_PARAM_LENGTH else text[: MAX_PARAM_LENGTH - 3] + "..."


class FitRun:
    """The run an outermost fit writes to; created by :meth:`open`."""

    def __init__(self, run: Any, started: bool, estimator: Any) -> None:
        self.run_id: str = run.info.run_id
        self.artifact_uri: str = run.info.artifact_uri
        self.experiment_id: str = run.info.experiment_id
        self.start_time: int = run.info.start_time
        self.started = started
        with _lock:
            n = _SLOTS[self.run_id] = _SLOTS.get(self.run_id, 0) + 1
        self.index = n
        self.estimator_name = type(estimator).__name__
        self.estimator_class = f"{type(estimator).__module__}.{type(estimator).__name__}"
        self.prefix = "" if n == 1 else f"{self.estimator_name}-{n}."
        self.params: dict[str, str] = {}
        self.metrics: dict[str, float] = {}
        self.steps: list[tuple[str, float, int]] = []   # (key, value, step): per-iteration histories
        self.tags: dict[str, str] = {}
        self.files: dict[str, bytes] = {}
        self.pending: dict[str, Future] = {}
        self.model_uri: str | None = None
        self.closed = False

    @classmethod
    def open(cls, integration: str, estimator: Any, exclusive: bool, extra_tags: dict | None) -> "FitRun | None":
        """Reuse the active run (unless ``exclusive``), or start one; None means: do not log."""
        from mlnb.tracking import fluent

        active = fluent.active_run()
        if active is not None:
            return None if exclusive else cls(active, False, estimator)
        tags = {**(extra_tags or {}), TAG_AUTOLOGGING: integration}
        return cls(fluent.start_run(tags=tags), True, estimator)

    # -- naming: the n-th fit in a run keeps its keys and files apart -------------------------
    def key(self, name: str) -> str:
        """``name`` with this fit's prefix (the second fit in a run logs ``<estimator>-2.<name>``)."""
        return self.prefix + name

    def artifact_name(self, name: str) -> str:
        """``model`` -> ``model-2``; ``cv_results.csv`` -> ``cv_results-2.csv`` for the second fit."""
        if self.index == 1:
            return name
        stem, dot, ext = name.rpartition(".")
        return f"{stem}-{self.index}.{ext}" if dot else f"{name}-{self.index}"

    def add_params(self, params: dict[str, Any]) -> None:
        """Queue params for the run (values as text), under this fit's keys."""
        self.params.update({self.key(k): stringify(v) for k, v in params.items()})

    def add_metrics(self, metrics: dict[str, float]) -> None:
        """Queue metrics for the run, under this fit's keys."""
        self.metrics.update({self.key(k): float(v) for k, v in metrics.items()})

    def add_metrics_at(self, metrics: dict[str, float], step: int) -> None:
        """Queue metrics logged at ``step`` (a boosting iteration, an epoch), under this fit's keys."""
        self.steps.extend((self.key(k), float(v), step) for k, v in metrics.items())

    def add_tags(self, tags: dict[str, Any]) -> None:
        """Queue tags for the run, under this fit's keys."""
        self.tags.update({self.key(k): str(v) for k, v in tags.items()})

    def add_file(self, name: str, data: bytes) -> None:
        """Queue a file for the run's artifacts, under this fit's name."""
        self.files[self.artifact_name(name)] = data

    def add_file_later(self, name: str, render: Callable[..., bytes], *args: Any) -> None:
        """Render a file on autolog's worker thread while the fit's logging goes on; :meth:`flush`
        waits for it, so the file is written before the run ends."""
        self.pending[self.artifact_name(name)] = _worker().submit(render, *args)

    # -- writing ------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write everything gathered so far: one batch transaction, then each file."""
        from mlnb.tracking.client import MlnbClient
        from mlnb.tracking.entities import Metric

        client = MlnbClient()
        pending, self.pending = self.pending, {}
        failed = []
        for name, future in pending.items():
            try:
                self.files[name] = future.result()
            except Exception as exc:  # the other files and values are still written
                failed.append(f"{name} ({type(exc).__name__}: {exc})")
        if self.params or self.metrics or self.steps or self.tags:
            now = int(time.time() * 1000)
            client.log_batch(self.run_id, metrics=[*(Metric(k, v, now, step) for k, v, step in self.steps),
                                                   *(Metric(k, v, now, 0) for k, v in self.metrics.items())],
                             params=self.params, tags=self.tags)
        if self.files:
            self._write_files(client)
        self.params, self.metrics, self.steps, self.tags, self.files = {}, {}, [], {}, {}
        if failed:
            raise RuntimeError(f"could not draw {', '.join(failed)}")

    def _write_files(self, client) -> None:
        repo = client.store.artifact_repo(self.artifact_uri)
        for name, data in self.files.items():
            repo.log_bytes(data, name)

    def record(self, metrics: dict[str, float]) -> LoggedFit:
        """Remember this fit and its metrics for :func:`logged_fits`; return the record."""
        fit = LoggedFit(self.estimator_name, self.estimator_class, self.run_id, self.model_uri, self.prefix,
                        dict(metrics))
        with _lock:
            _FITS.setdefault(self.run_id, []).append(fit)
        return fit

    def end(self, status: str) -> None:
        """End the run if this fit started it (nothing is left active either way)."""
        if self.closed:
            return
        self.closed = True
        if self.started:
            from mlnb.tracking import fluent

            active = fluent.active_run()
            if active is not None and active.info.run_id == self.run_id:
                fluent.end_run(status)


_executor: ThreadPoolExecutor | None = None


def _worker() -> ThreadPoolExecutor:
    """One daemon thread for rendering plots (Pillow's PNG encoder releases the GIL)."""
    global _executor
    from concurrent.futures import ThreadPoolExecutor

    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlnb-autolog")
        return _executor


def _forget() -> None:
    """Drop the per-run records (tests)."""
    with _lock:
        _FITS.clear()
        _SLOTS.clear()


__all__ = ["LoggedFit", "logged_fits", "FitRun"]

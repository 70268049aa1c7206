"""Hyperparameter searches (GridSearchCV, RandomizedSearchCV and other ``BaseSearchCV``).

The search's own run gets ``best_<param>`` params, the ``best_cv_score`` metric, ``cv_results.csv``
and the ``best_estimator`` model; the best ``max_tuning_runs`` candidates (by ``rank_test_score``,
or the first ``rank_test_*`` column of a multi-metric search) become child runs holding the
candidate's full params and its aggregate cross-validation metrics, as in MLflow.
"""

from __future__ import annotations

import io
import numbers
from typing import Any

from mlnb.autologging.session import TAG_AUTOLOGGING, FitRun, stringify

TAG_PARENT_RUN_ID = "mlflow.parentRunId"


def is_search(estimator: Any) -> bool:
    """True for scikit-learn's parameter searches (anything deriving from ``BaseSearchCV``)."""
    try:
        from sklearn.model_selection._search import BaseSearchCV
    except ImportError:
        return False
    return isinstance(estimator, BaseSearchCV)


def _rank_column(columns: list[str]) -> str | None:
    if "rank_test_score" in columns:
        return "rank_test_score"
    return next((c for c in columns if c.startswith("rank_test_")), None)


def best_candidates(cv_results: dict[str, Any], max_tuning_runs: int | None) -> list[int]:
    """Indices of the best ``max_tuning_runs`` candidates (all when None), best first."""
    import numpy as np

    n = len(cv_results["params"])
    rank = _rank_column(list(cv_results))
    order = list(range(n)) if rank is None else list(np.argsort(np.asarray(cv_results[rank]), kind="stable"))
    return order if max_tuning_runs is None else order[: max(0, max_tuning_runs)]


def candidate_metrics(cv_results: dict[str, Any], i: int) -> dict[str, float]:
    """A candidate's numeric, aggregate results (``param_*`` and per-split columns left out)."""
    out = {}
    for key, values in cv_results.items():
        if key.startswith(("param", "split")):
            continue
        value = values[i]
        if isinstance(value, numbers.Number) and not isinstance(value, bool):
            out[key] = float(value)
    return out


def cv_results_csv(cv_results: dict[str, Any]) -> bytes:
    """A search's ``cv_results_`` as CSV bytes (MLflow's ``cv_results.csv``)."""
    import pandas as pd

    buf = io.StringIO()
    pd.DataFrame(cv_results).to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8")


def log_search(search: Any, run: FitRun, max_tuning_runs: int | None, integration: str) -> None:
    """Record the search in ``run`` (gathered, written with the fit's batch) and create child runs."""
    if hasattr(search, "best_params_"):
        run.add_params({f"best_{k}": v for k, v in search.best_params_.items()})
    if hasattr(search, "best_score_"):
        run.add_metrics({"best_cv_score": float(search.best_score_)})
    results = getattr(search, "cv_results_", None)
    if results is None:
        return
    run.add_file("cv_results.csv", cv_results_csv(results))
    _child_runs(search, results, run, max_tuning_runs, integration)


def _child_runs(search: Any, results: dict[str, Any], run: FitRun, max_tuning_runs: int | None,
                integration: str) -> None:
    from mlnb.tracking.client import MlnbClient, now_ms
    from mlnb.tracking.entities import Metric


    seed = search.estimator
    base = seed.get_params(deep=not is_search(seed))
    tags = {
        TAG_PARENT_RUN_ID: run.run_id,
        TAG_AUTOLOGGING: integration,
        "estimator_name": type(seed).__name__,
        "estimator_class": f"{type(seed).__module__}.{type(seed).__name__}",
    }
    client = MlnbClient()
    end = now_ms()
    for i in best_candidates(results, max_tuning_runs):
        child = client.create_run(run.experiment_id, start_time=run.start_time, tags=tags)
        params = {**base, **results["params"][i]}
        metrics = [Metric(k, v, end, 0) for k, v in candidate_metrics(results, i).items()]
        client.log_batch(child.info.run_id, metrics=metrics,
                         params={k: stringify(v) for k, v in params.items()})
        client.set_terminated(child.info.run_id, "FINISHED", end_time=end)

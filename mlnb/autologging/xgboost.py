"""XGBoost autologging: ``mlnb.xgboost.autolog()`` (the shared logic is :mod:`mlnb.autologging.boosting`).

Patches ``xgboost.train`` and the ``fit`` of XGBoost's scikit-learn API. Early stopping is
``train``'s ``early_stopping_rounds``; feature importance is ``Booster.get_score`` (``weight`` unless
``importance_types`` says otherwise), as in MLflow.
"""

from __future__ import annotations

import functools
from typing import Any

from mlnb.autologging import boosting

INTEGRATION = "xgboost"


@functools.cache
def _recorder_class() -> type:
    import xgboost

    class Recorder(xgboost.callback.TrainingCallback):
        """Hands each iteration's last evaluation results to autolog."""

        def __init__(self, record) -> None:
            self.record = record

        def after_iteration(self, model, epoch, evals_log) -> bool:
            self.record(epoch, {boosting.metric_key(data, metric): values[-1]
                                for data, metrics in evals_log.items() for metric, values in metrics.items()})
            return False

    return Recorder


def _add_recorder(args: tuple, kwargs: dict, bound, record) -> tuple[tuple, dict]:
    return boosting.with_callback(args, kwargs, bound, _recorder_class()(record))


def _early_stopping(model: Any, bound, history: list) -> tuple[int, int, dict] | None:
    if not bound.arguments.get("early_stopping_rounds") or not history:
        return None
    return len(history) - 1, model.best_iteration, history[model.best_iteration]


def _importance(model: Any, kind: str) -> dict:
    return dict(model.get_score(importance_type=kind))


LIBRARY = boosting.Library(
    integration=INTEGRATION, flavor="xgboost", tested=("2.0.0", "3.3.0"),
    unlogged=("params", "dtrain", "evals", "obj", "feval", "evals_result", "xgb_model", "callbacks",
              "learning_rates"),
    default_importance=("weight",), add_recorder=_add_recorder, early_stopping=_early_stopping,
    importance=_importance, train_modules=("xgboost", "xgboost.training", "xgboost.sklearn"),
    estimator_base="xgboost.sklearn:XGBModel",
)


def autolog(
    importance_types: list[str] | None = None,
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool | None = None,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    extra_tags: dict[str, Any] | None = None,
) -> None:
    """Log every XGBoost training (``xgboost.train`` and the scikit-learn API's ``fit``). MLflow's options;
    ``importance_types`` are ``Booster.get_score``'s (default ``["weight"]``). ``log_datasets`` logs the
    training data of scikit-learn-API fits (``fit(X, y)``) as the run's input."""
    boosting.enable(LIBRARY, dict(locals()))


def autolog_config() -> dict[str, Any] | None:
    """The options autologging is on with (``autolog``'s keyword arguments), or None when it is off."""
    return boosting.config(LIBRARY)


__all__ = ["autolog", "autolog_config", "INTEGRATION"]

"""LightGBM autologging: ``mlnb.lightgbm.autolog()`` (the shared logic is :mod:`mlnb.autologging.boosting`).

Patches ``lightgbm.train`` and the ``fit`` of LightGBM's scikit-learn API. Early stopping shows as
the Booster's ``best_iteration`` (1-based in LightGBM); feature importance is
``Booster.feature_importance`` of ``split`` and ``gain``, as in MLflow.
"""

from __future__ import annotations

from typing import Any

from mlnb.autologging import boosting

INTEGRATION = "lightgbm"


def _add_recorder(args: tuple, kwargs: dict, bound, record) -> tuple[tuple, dict]:
    def recorder(env) -> None:
        record(env.iteration, {boosting.metric_key(item[0], item[1]): item[2] for item in env.evaluation_result_list})

    recorder.order = 20   # before early stopping (30) checks, as LightGBM's record_evaluation
    return boosting.with_callback(args, kwargs, bound, recorder)


def _early_stopping(model: Any, bound, history: list) -> tuple[int, int, dict] | None:
    if model.best_iteration <= 0 or not history:
        return None
    return len(history), model.best_iteration, history[model.best_iteration - 1]


def _importance(model: Any, kind: str) -> dict:
    return dict(zip(model.feature_name(), model.feature_importance(importance_type=kind).tolist()))


LIBRARY = boosting.Library(
    integration=INTEGRATION, flavor="lightgbm", tested=("4.0.0", "4.8.0"),
    unlogged=("params", "train_set", "valid_sets", "valid_names", "fobj", "feval", "init_model", "learning_rates",
              "callbacks"),
    default_importance=("split", "gain"), add_recorder=_add_recorder, early_stopping=_early_stopping,
    importance=_importance, train_modules=("lightgbm", "lightgbm.engine", "lightgbm.sklearn"),
    estimator_base="lightgbm.sklearn:LGBMModel",
)


def autolog(
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
    """Log every LightGBM training (``lightgbm.train`` and the scikit-learn API's ``fit``). MLflow's options;
    ``log_datasets`` logs the training data of scikit-learn-API fits (``fit(X, y)``) as the run's input."""
    boosting.enable(LIBRARY, dict(locals()))


def autolog_config() -> dict[str, Any] | None:
    """The options autologging is on with (``autolog``'s keyword arguments), or None when it is off."""
    found = boosting.config(LIBRARY)
    if found is not None:
        del found["importance_types"]   # always split and gain, as in MLflow: not an option here
    return found


__all__ = ["autolog", "autolog_config", "INTEGRATION"]

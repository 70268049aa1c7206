"""Post-training metrics: a metric computed on a logged model's predictions joins the model's run.

    model.fit(X_train, y_train)            # logged to run R
    y_pred = model.predict(X_test)         # remembered: this array came from model on "X_test"
    accuracy_score(y_test, y_pred)         # logged to R as "accuracy_score_X_test"

Keys are MLflow's ``{metric_fn}[-{n}]_{dataset_variable}``: the n-th call of the same metric
function in a run gets ``-n``; a second, different dataset bound to the same variable name gets
``X_test-2``. ``model.score(X, y)`` is logged as ``{EstimatorName}_score_{dataset}``. The calls
are listed in the run's ``metric_info.json``. Only ids and names are kept here, never the data.
"""

from __future__ import annotations

import inspect
import threading
import weakref
from collections import defaultdict
from typing import Any

import numpy as np

_lock = threading.Lock()
_models: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()   # model -> run_id
_predictions: dict[int, tuple[str, str]] = {}                      # id(result) -> (run_id, dataset name)
_datasets: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
_calls: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))


def track(model: Any, run_id: str) -> None:
    """Remember that ``model`` was fitted and logged in ``run_id``."""
    try:
        _models[model] = run_id
    except TypeError:  # not weak-referenceable or unhashable: no post-training metrics for it
        pass


def tracks_any() -> bool:
    """True while some logged model is alive: the fast path of the predict/score hooks, which skip
    the model lookup (and cost one check) while no logged model exists."""
    return bool(_models)


def run_of(model: Any) -> str | None:
    """The run a logged model was fitted in, or None for a model autolog did not log."""
    try:
        return _models.get(model)
    except TypeError:
        return None


def has_predictions() -> bool:
    """True while some prediction of a logged model is remembered (the metric hooks' fast path)."""
    return bool(_predictions)


def _forget_prediction(key: int) -> None:
    _predictions.pop(key, None)


def _var_name(obj: Any, fallback: str) -> str:
    """The name the user's code gave ``obj``: the first frame outside mlnb and scikit-learn that
    did not receive it as an argument, searched for a local bound to this very object."""
    frame = inspect.currentframe()
    try:
        while frame is not None:
            module = frame.f_globals.get("__name__", "")
            if module.startswith(("mlnb.", "sklearn.")):
                frame = frame.f_back
                continue
            code = frame.f_code
            n_args = code.co_argcount + code.co_kwonlyargcount
            n_args += bool(code.co_flags & inspect.CO_VARARGS) + bool(code.co_flags & inspect.CO_VARKEYWORDS)
            local = frame.f_locals
            passed = [local.get(a) for a in code.co_varnames[:n_args]]
            flat = []
            for a in passed:
                flat.extend(a if isinstance(a, tuple) else a.values() if isinstance(a, dict) else [a])
            if any(a is obj for a in flat):
                frame = frame.f_back
                continue
            for name, value in local.items():
                if value is obj and not name.startswith("_"):
                    return name
            return fallback
        return fallback
    finally:
        del frame


def dataset_name(run_id: str, data: Any) -> str:
    """``X_test``, or ``X_test-2`` for a second dataset bound to that name in the same run."""
    name = _var_name(data, "unknown_dataset")
    with _lock:
        ids = _datasets[run_id][name]
        if id(data) not in ids:
            ids.append(id(data))
        index = ids.index(id(data))
    return name if index == 0 else f"{name}-{index + 1}"


def remember_prediction(run_id: str, data: Any, result: Any) -> None:
    """Remember which dataset (by variable name) and run a prediction came from."""
    name = dataset_name(run_id, data)
    key = id(result)
    try:
        weakref.finalize(result, _forget_prediction, key)
    except TypeError:
        return  # lists and tuples cannot be tracked (MLflow skips them too)
    _predictions[key] = (run_id, name)


def source_of(args: tuple, kwargs: dict) -> tuple[str, str] | None:
    """``(run_id, dataset name)`` of the first argument that is a remembered prediction."""
    for arg in (*args, *kwargs.values()):
        if arg is not None and not np.isscalar(arg):
            found = _predictions.get(id(arg))
            if found is not None:
                return found
    return None


def loggable(value: Any) -> bool:
    """True for a number a metric can hold (booleans excluded)."""
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


def _arg_text(arg: Any) -> str:
    if arg is None or np.isscalar(arg):
        return repr(arg[:32] + "...") if isinstance(arg, str) and len(arg) > 32 else repr(arg)
    return _var_name(arg, f"<{type(arg).__name__}>")


def call_text(fn_name: str, fn: Any, args: tuple, kwargs: dict, skip_self: bool = False) -> str:
    """``accuracy_score(y_true=y_test, y_pred=y_pred)``, as MLflow writes into metric_info.json."""
    try:
        names = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        names = [f"arg{i}" for i in range(len(args))]
    if skip_self and names and names[0] == "self":
        names = names[1:]
    parts = [f"{n}={_arg_text(a)}" for n, a in zip(names, args)]
    parts += [f"{k}={_arg_text(a)}" for k, a in kwargs.items()]
    return f"{fn_name}({', '.join(parts)})"


def log(run_id: str, metric_name: str, dataset: str, value: float, command: str) -> str:
    """Log one post-training metric and refresh ``metric_info.json``; returns the metric key."""
    from mlnb.tracking.client import MlnbClient

    with _lock:
        calls = _calls[run_id][metric_name]
        n = len(calls)
        key = f"{metric_name if n == 0 else f'{metric_name}-{n + 1}'}_{dataset}"
        calls.append((key, command))
        info = dict(sorted((k, c) for per_metric in _calls[run_id].values() for k, c in per_metric))
    client = MlnbClient()
    client.log_metric(run_id, key, float(value))
    client.log_dict(run_id, info, "metric_info.json")
    return key


def _forget() -> None:
    """Drop everything remembered (tests)."""
    with _lock:
        _models.clear()
        _predictions.clear()
        _datasets.clear()
        _calls.clear()

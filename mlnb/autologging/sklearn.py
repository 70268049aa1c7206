"""scikit-learn autologging: ``mlnb.sklearn.autolog()``.

Each outermost ``fit`` (``fit_transform``, ``fit_predict``) of an estimator records, under MLflow's
names: params from ``get_params(deep=True)``, tags ``estimator_name`` / ``estimator_class``,
training metrics, the model (with its signature), the training confusion matrix, and ROC and
precision-recall curves for binary classifiers. Searches add ``best_<param>`` params,
``best_cv_score``, ``cv_results.csv`` and child runs. Metric functions called on a logged model's
predictions afterwards are logged too (see :mod:`mlnb.autologging.post_training`).

Every class deriving from scikit-learn's ``BaseEstimator`` is covered, third-party ones included
(XGBoost's, LightGBM's, your own), also those defined after ``autolog()``; data-preparation
estimators (``sklearn.preprocessing``, ``impute``, ``feature_extraction``, ``feature_selection``,
``ColumnTransformer``) are logged only as part of a pipeline, as in MLflow. Objects that merely
look like estimators without deriving from ``BaseEstimator`` are skipped.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import asdict, dataclass
from typing import Any, Callable

from mlnb.autologging import metrics as M
from mlnb.autologging import boosting, estimator_html, patching, post_training
from mlnb.autologging.datasets import check_log_datasets, log_training_dataset
from mlnb.autologging.options import Options, extra_tags_dict
from mlnb.autologging.search import is_search, log_search
from mlnb.autologging.session import FitRun
from mlnb.errors import InvalidParameterError

INTEGRATION = "sklearn"
FIT_METHODS = ("fit", "fit_transform", "fit_predict")
PREDICT_METHODS = ("predict", "predict_proba", "predict_log_proba", "transform")
EXCLUDED_MODULES = ("sklearn.preprocessing", "sklearn.impute", "sklearn.feature_extraction",
                    "sklearn.feature_selection")
EXCLUDED_CLASSES = ("sklearn.compose._column_transformer.ColumnTransformer",)
#: Helpers that fit many copies of an estimator: nothing is logged while they run.
CV_HELPERS = ("cross_validate", "cross_val_predict", "cross_val_score", "learning_curve",
              "permutation_test_score", "validation_curve")
_CV_INTERNALS = ("_fit_and_score", "_fit_and_predict", "_permutation_test_score")
_NOT_METRICS = {"check_scoring", "get_scorer", "make_scorer", "get_scorer_names"}
EXAMPLE_ROWS = 5


@dataclass(frozen=True, kw_only=True)
class _Config(Options):
    log_input_examples: bool = False
    log_model_signatures: bool = True
    log_post_training_metrics: bool = True
    max_tuning_runs: int | None = 5
    serialization_format: str | None = None
    pos_label: Any = None


_config: _Config | None = None
_targets: dict[type, bool] = {}


def autolog(
    log_models: bool = True,
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_post_training_metrics: bool = True,
    max_tuning_runs: int | None = 5,
    serialization_format: str | None = None,
    extra_tags: dict[str, Any] | None = None,
    exclusive: bool = False,
    disable: bool = False,
    silent: bool = False,
    pos_label: Any = None,
    log_datasets: bool | None = None,
    registered_model_name: str | None = None,
    disable_for_unsupported_versions: bool = False,
) -> None:
    """Log every scikit-learn fit to the active run (or to a run started for it). MLflow's options.

    ``exclusive=True`` leaves runs you started yourself alone; ``disable=True`` restores every
    patched function exactly; ``silent=True`` hides even the warning a failed logging step gives.
    ``serialization_format`` is passed to :func:`mlnb.sklearn.save_model` (None: skops, falling
    back to cloudpickle for types outside scikit-learn, NumPy and SciPy). ``pos_label`` makes the
    training precision, recall and F1 binary scores of that class (MLflow's rule; weighted averages
    otherwise). ``log_datasets`` logs the training data as the run's input when mlnb can log
    datasets (None: whenever it can). ``registered_model_name`` is passed to ``log_model``.
    ``disable_for_unsupported_versions`` changes nothing: every installed scikit-learn is supported.
    """
    global _config
    options = {k: v for k, v in locals().items() if k != "disable"}
    check_log_datasets(log_datasets, INTEGRATION)
    tags = extra_tags_dict(extra_tags)
    if max_tuning_runs is not None and (not isinstance(max_tuning_runs, int) or max_tuning_runs < 0):
        raise InvalidParameterError(f"max_tuning_runs must be None or an int >= 0, got {max_tuning_runs!r}.")
    if serialization_format is not None:
        from mlnb.flavors.sklearn import SERIALIZATION_FORMATS

        if serialization_format not in SERIALIZATION_FORMATS:
            raise InvalidParameterError(
                f"Unknown serialization_format '{serialization_format}'; choose one of {SERIALIZATION_FORMATS}.")
    patching.unpatch(INTEGRATION)
    _config = None
    _targets.clear()
    if disable:
        return
    _config = _Config(**{**options, "extra_tags": tags})
    patching.set_silent(INTEGRATION, silent)
    _install(log_post_training_metrics)


def autolog_config() -> dict[str, Any] | None:
    """The options autologging is on with (``autolog``'s keyword arguments), or None when it is off."""
    return asdict(_config) if _config is not None else None


# -- what gets patched -------------------------------------------------------------------------
def _install(post_training_metrics: bool) -> None:
    import sklearn.metrics
    import sklearn.model_selection
    import sklearn.model_selection._validation as validation
    from sklearn.base import BaseEstimator

    seen: set[type] = set()
    stack = [BaseEstimator]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
    for cls in seen:
        _patch_class(cls, post_training_metrics)
    _hook_new_classes(BaseEstimator, post_training_metrics)

    suspend = _run_suspended
    for name in CV_HELPERS:
        patching.patch_function(INTEGRATION, [validation, sklearn.model_selection], name, suspend)
    for name in _CV_INTERNALS:
        patching.patch_function(INTEGRATION, [validation], name, suspend)
    if post_training_metrics:
        for name in sklearn.metrics.__all__:
            fn = getattr(sklearn.metrics, name, None)
            if name in _NOT_METRICS or name.startswith("plot_") or inspect.isclass(fn) or not callable(fn):
                continue
            patching.patch_function(INTEGRATION, [sklearn.metrics], name, _metric_hook)


def _patch_class(cls: type, post_training_metrics: bool) -> None:
    """Patch the fit (and predict/score) methods ``cls`` uses, where they are defined."""
    if not _is_target(cls):
        return
    names = FIT_METHODS + ((*PREDICT_METHODS, "score") if post_training_metrics else ())
    for name in names:
        owner = next((c for c in cls.__mro__ if name in c.__dict__), None)
        if owner is None or owner is object:
            continue
        if name in FIT_METHODS:
            hook = functools.partial(_fit_hook, name)
        elif name == "score":
            hook = _score_hook
        else:
            hook = _predict_hook
        patching.patch_method(INTEGRATION, owner, name, hook)


def _hook_new_classes(base: type, post_training_metrics: bool) -> None:
    """Patch estimator classes defined after ``autolog()`` as they are created."""
    own = base.__dict__.get("__init_subclass__")

    def __init_subclass__(cls, **kwargs):
        if own is not None:
            own.__get__(None, cls)(**kwargs)
        else:
            super(base, cls).__init_subclass__(**kwargs)
        try:
            _patch_class(cls, post_training_metrics)
        except Exception as exc:  # never break a class definition
            patching.warn(INTEGRATION, f"{cls.__name__} will not be logged: {exc}")

    patching.replace_attribute(INTEGRATION, base, "__init_subclass__", classmethod(__init_subclass__))


def _is_target(cls: type) -> bool:
    """True for estimator classes whose fits are logged (cached per class)."""
    found = _targets.get(cls)
    if found is None:
        from sklearn.base import BaseEstimator

        module, name = cls.__module__, cls.__name__
        found = (
            issubclass(cls, BaseEstimator)
            and not (name.startswith("_") and module.startswith("sklearn."))
            and not module.startswith(EXCLUDED_MODULES)
            and f"{module}.{name}" not in EXCLUDED_CLASSES
            and ".tests." not in module
        )
        _targets[cls] = found
    return found


# -- hooks -------------------------------------------------------------------------------------
def _run_suspended(original, args, kwargs):
    with patching.suspended():
        return original(*args, **kwargs)


def _fit_hook(method: str, estimator: Any, call, args: tuple, kwargs: dict) -> Any:
    st = patching.state
    if (st.depth or st.busy or _config is None or patching.is_suspended() or not _is_target(type(estimator))
            or boosting.enabled(type(estimator).__module__.partition(".")[0])):  # its library's own autolog logs it
        return patching.call_nested(call, args, kwargs)
    st.depth = 1
    try:
        with patching.one_warning(INTEGRATION):
            return _logged_fit(_config, method, estimator, call, args, kwargs)
    finally:
        st.depth = 0


def _post_training_hook(record: Callable, what: str) -> Callable:
    """A predict/score hook: on a logged model, call through quietly, then ``record`` the call."""

    def hook(estimator: Any, call, args: tuple, kwargs: dict) -> Any:
        st = patching.state
        run_id = None if st.depth or st.busy or not post_training.tracks_any() else post_training.run_of(estimator)
        if run_id is None:
            return call(*args, **kwargs)
        with patching.busy():
            result = call(*args, **kwargs)
        patching.guard(INTEGRATION, what, record, estimator, call, args, kwargs, result, run_id)
        return result

    return hook


def _remember_prediction(estimator: Any, call, args: tuple, kwargs: dict, result: Any, run_id: str) -> None:
    data = args[0] if args else next(iter(kwargs.values()), None)
    if data is not None:
        post_training.remember_prediction(run_id, data, result)


def _metric_hook(original, args: tuple, kwargs: dict) -> Any:
    st = patching.state
    if st.depth or st.busy or not post_training.has_predictions():
        return original(*args, **kwargs)
    with patching.busy():
        value = original(*args, **kwargs)
    patching.guard(INTEGRATION, f"log {original.__name__}", _log_metric_call, original, args, kwargs, value)
    return value


def _log_metric_call(original, args: tuple, kwargs: dict, value: Any) -> None:
    if not post_training.loggable(value):
        return
    source = post_training.source_of(args, kwargs)
    if source is None:
        return
    run_id, dataset = source
    command = post_training.call_text(original.__name__, original, args, kwargs)
    post_training.log(run_id, original.__name__, dataset, value, command)


def _log_score(estimator: Any, call, args: tuple, kwargs: dict, value: Any, run_id: str) -> None:
    if not post_training.loggable(value):
        return
    data = args[0] if args else next(iter(kwargs.values()), None)
    dataset = post_training.dataset_name(run_id, data)
    name = f"{type(estimator).__name__}_score"
    command = post_training.call_text(f"{type(estimator).__name__}.score", call, args, kwargs)
    post_training.log(run_id, name, dataset, value, command)


_predict_hook = _post_training_hook(_remember_prediction, "remember a prediction for post-training metrics")
_score_hook = _post_training_hook(_log_score, "log a score as a post-training metric")


# -- one logged fit ----------------------------------------------------------------------------
def _logged_fit(cfg: _Config, method: str, estimator: Any, call, args: tuple, kwargs: dict) -> Any:
    run = patching.guard(INTEGRATION, "start a run", FitRun.open, INTEGRATION, estimator,
                         cfg.exclusive, cfg.extra_tags)
    if run is None:
        return call(*args, **kwargs)
    inputs = patching.guard(INTEGRATION, f"read the params of {type(estimator).__name__}",
                            _before_fit, estimator, method, call, args, kwargs, run)
    try:
        result = call(*args, **kwargs)
    except KeyboardInterrupt:
        _end(run, "KILLED")
        raise
    except BaseException:
        _end(run, "FAILED")
        raise
    if inputs is not None:
        patching.guard(INTEGRATION, f"log the fit of {type(estimator).__name__}",
                       _after_fit, cfg, estimator, method, result, inputs, run)
    _end(run, "FINISHED")
    return result


def _end(run: FitRun, status: str) -> None:
    patching.guard(INTEGRATION, "write the run", run.flush)
    patching.guard(INTEGRATION, "end the run", run.end, status)


@functools.lru_cache(maxsize=1024)
def _arg_layout(cls: type, method: str) -> tuple[str, str | None, int | None]:
    """Names of a fit method's X and y parameters and the position of ``sample_weight``."""
    params = [p for p in inspect.signature(getattr(cls, method)).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][1:]  # drop self
    names = [p.name for p in params]
    x_name = names[0] if names else "X"
    y_name = names[1] if len(names) > 1 else None
    sw = names.index("sample_weight") if "sample_weight" in names else None
    return x_name, y_name, sw


def _fit_inputs(estimator: Any, method: str, args: tuple, kwargs: dict) -> tuple[Any, Any, Any]:
    x_name, y_name, sw_pos = _arg_layout(type(estimator), method)
    X = args[0] if args else kwargs.get(x_name)
    y = args[1] if len(args) > 1 else kwargs.get(y_name) if y_name else None
    sw = args[sw_pos] if sw_pos is not None and len(args) > sw_pos else kwargs.get("sample_weight")
    return X, y, sw


def _head(X: Any, n: int = EXAMPLE_ROWS) -> Any:
    """The first rows of the training data, copied (the fit may change X in place)."""
    if X is None:
        return None
    if hasattr(X, "iloc"):
        return X.iloc[:n].copy()
    if isinstance(X, list):
        return list(X[:n])
    try:
        head = X[:n]
    except Exception:
        return None
    if hasattr(head, "toarray"):  # scipy sparse: the signature of its dense rows (MLflow's tensor spec)
        return head.toarray()
    return head.copy() if hasattr(head, "copy") else head


def _before_fit(estimator: Any, method: str, call, args: tuple, kwargs: dict, run: FitRun):
    run.add_params(estimator.get_params(deep=not is_search(estimator)))
    run.add_tags({"estimator_name": run.estimator_name, "estimator_class": run.estimator_class})
    X, y, sw = _fit_inputs(estimator, method, args, kwargs)
    return X, y, sw, _head(X)


def _original(cls: type, name: str) -> Any:
    return patching.original_of(inspect.getattr_static(cls, name, None))


def _after_fit(cfg: _Config, estimator: Any, method: str, result: Any, inputs: tuple, run: FitRun) -> None:
    import sklearn.base as base

    X, y, sw, example = inputs
    metrics: dict[str, float] = {}
    y_pred = None
    if y is not None and base.is_classifier(estimator) and hasattr(estimator, "predict"):
        y_pred = estimator.predict(X)
        proba = estimator.predict_proba(X) if hasattr(estimator, "predict_proba") else None
        classes = getattr(estimator, "classes_", None)
        metrics = M.classifier_metrics(y, y_pred, proba, classes, sw, pos_label=cfg.pos_label)
        patching.guard(INTEGRATION, "draw the training plots", _classifier_plots,
                       estimator, X, y, y_pred, proba, classes, sw, run)
    elif y is not None and base.is_regressor(estimator) and hasattr(estimator, "predict"):
        y_pred = estimator.predict(X)
        metrics = M.regressor_metrics(y, y_pred, sw)
    elif base.is_clusterer(estimator):
        labels = getattr(estimator, "labels_", result if method == "fit_predict" else None)
        if labels is not None:
            metrics = M.clusterer_metrics(X, labels)
    score = _training_score(estimator, X, y, sw, metrics)
    if score is not None:
        metrics[M.PREFIX + "score"] = score
    run.add_metrics(metrics)
    # drawn here, not on autolog's worker: it is pure Python, so a second thread would only take
    # turns with this one for the interpreter lock
    page = patching.guard(INTEGRATION, "draw estimator.html", estimator_html.render, estimator)
    if page is not None:
        run.add_file("estimator.html", page)
    if cfg.log_datasets is not False:
        patching.guard(INTEGRATION, "log the training dataset", log_training_dataset, X, y, run.run_id)

    signature = False
    if cfg.log_models and cfg.log_model_signatures and example is not None:
        signature = patching.guard(INTEGRATION, "infer the model signature", _signature,
                                   estimator, example, y_pred) or False
    if cfg.log_models and _predict_fn(estimator):
        info = patching.guard(INTEGRATION, f"log the {run.estimator_name} model", _log_model,
                              cfg, estimator, run.artifact_name("model"), signature, example)
        run.model_uri = f"runs:/{info.run_id}/{info.artifact_path}" if info is not None else None
    if is_search(estimator):
        if cfg.log_models and hasattr(estimator, "best_estimator_"):
            patching.guard(INTEGRATION, "log the best estimator", _log_model, cfg, estimator.best_estimator_,
                           run.artifact_name("best_estimator"), signature, example)
        log_search(estimator, run, cfg.max_tuning_runs, INTEGRATION)
    if cfg.log_post_training_metrics:
        post_training.track(estimator, run.run_id)
    run.record(metrics)


def _training_score(estimator: Any, X: Any, y: Any, sw: Any, metrics: dict[str, float]) -> float | None:
    """``estimator.score`` on the training data; the mixins' scores reuse the metrics just computed."""
    from sklearn.base import ClassifierMixin, RegressorMixin

    if not hasattr(estimator, "score"):
        return None
    score = _original(type(estimator), "score")
    if y is not None and score is _original(ClassifierMixin, "score") and M.PREFIX + "accuracy_score" in metrics:
        return metrics[M.PREFIX + "accuracy_score"]
    if y is not None and score is _original(RegressorMixin, "score") and M.PREFIX + "r2_score" in metrics:
        return metrics[M.PREFIX + "r2_score"]
    args = (X,) if y is None else (X, y)
    if sw is not None and "sample_weight" in inspect.signature(estimator.score).parameters:
        return float(estimator.score(*args, sample_weight=sw))
    return float(estimator.score(*args))


#: autolog draws with the fast backend of mlnb.evaluation.plots: about a millisecond a plot
PLOT_BACKEND = "pillow"


def _classifier_plots(estimator, X, y, y_pred, proba, classes, sw, run: FitRun) -> None:
    import numpy as np

    from mlnb.evaluation import plots

    if not plots.fast_backend_available():
        return
    y1 = M.column(y)
    if y1 is None:
        return
    labels, matrix = M.confusion(y1, M.column(y_pred), sw)
    run.add_file_later("training_confusion_matrix.png", plots.confusion_matrix_png, labels, matrix, PLOT_BACKEND)
    if classes is None or len(classes) != 2 or len(np.unique(y1)) != 2:
        return
    if proba is not None:
        score = np.asarray(proba)[:, 1]
    elif hasattr(estimator, "decision_function"):
        score = np.asarray(estimator.decision_function(X)).reshape(-1)
    else:
        return
    run.add_file_later("training_roc_curve.png", _draw, plots.roc_curve_png, M.roc_curve, y1, score, classes[1], sw)
    run.add_file_later("training_precision_recall_curve.png", _draw, plots.precision_recall_png,
                       M.precision_recall_curve, y1, score, classes[1], sw)


def _draw(png, curve, *args) -> bytes:
    """Compute a curve and draw it with autolog's plot backend (on autolog's worker thread)."""
    return png(*curve(*args), backend=PLOT_BACKEND)


def _signature(estimator: Any, example: Any, y_pred: Any):
    from mlnb.models.signature import infer_signature

    if y_pred is not None:
        output = y_pred[: example.shape[0] if hasattr(example, "shape") else len(example)]
    elif hasattr(estimator, "predict"):
        output = estimator.predict(example)
    elif hasattr(estimator, "transform"):
        output = estimator.transform(example)
    else:
        output = None
    return infer_signature(example, output)


def _predict_fn(estimator: Any) -> str | None:
    """The method a logged model answers ``predict`` with: ``predict``, else ``transform``.

    Estimators with neither (DBSCAN, ...) cannot score new data; they are logged without a model.
    """
    return next((name for name in ("predict", "transform") if hasattr(estimator, name)), None)


def _log_model(cfg: _Config, estimator: Any, name: str, signature: Any, example: Any):
    from mlnb.flavors.sklearn import log_model

    return log_model(estimator, name=name, signature=signature,
                     input_example=example if cfg.log_input_examples else None,
                     serialization_format=cfg.serialization_format, pyfunc_predict_fn=_predict_fn(estimator),
                     registered_model_name=cfg.registered_model_name)


__all__ = ["autolog", "INTEGRATION"]

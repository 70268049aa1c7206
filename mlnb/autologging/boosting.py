"""Autologging for gradient-boosting libraries (XGBoost, LightGBM), written once.

A library describes itself as a :class:`Library` (how to record its evaluation history, read feature
importance, and which flavor logs its models); this module patches its ``train`` function and the
``fit`` of its scikit-learn API and logs, under MLflow's names:

* params: the booster params and ``train``'s own arguments (``num_boost_round``, ...);
* per-iteration evaluation metrics ``<dataset>-<metric>`` (``validation_0-rmse``), step = iteration;
* with early stopping: ``stopped_iteration``, ``best_iteration`` and the metrics of the best
  iteration at the step after the last one;
* ``feature_importance_<type>.json`` and ``.png``;
* the model: the Booster for ``train``, the estimator for a scikit-learn-API ``fit``.

Lifecycle as the scikit-learn integration's: only the outermost call logs, an active run is reused
(a new one is started otherwise, and ended FINISHED, FAILED or KILLED), ``disable=True`` restores
every patched function, and a failure to log is one warning while the training goes on.
"""

from __future__ import annotations

import functools
import inspect
import json
import threading
from dataclasses import asdict, dataclass
from typing import Any, Callable

from mlnb.autologging import lifecycle, patching
from mlnb.autologging.datasets import check_log_datasets, log_training_dataset
from mlnb.autologging.options import Options, extra_tags_dict
from mlnb.autologging.session import FitRun


@dataclass(frozen=True)
class Library:
    """What the shared integration needs to know about one boosting library."""

    integration: str                      # the library's import name, MLflow's flavor name
    flavor: str                           # mlnb flavor module that logs its models
    tested: tuple[str, str]               # versions autolog is tested with: [low, high)
    unlogged: tuple[str, ...]             # ``train`` arguments that are data or code, not params
    default_importance: tuple[str, ...]   # importance types logged when the caller names none
    #: add_recorder(args, kwargs, bound, record) -> (args, kwargs): make ``train`` call
    #: ``record(iteration, {key: value})`` after each iteration
    add_recorder: Callable[..., tuple[tuple, dict]]
    #: early_stopping(model, bound, history) -> (stopped_iteration, best_iteration, best metrics) or None
    early_stopping: Callable[..., tuple[int, int, dict] | None]
    #: importance(model, type) -> {feature: value}
    importance: Callable[[Any, str], dict]
    train_modules: tuple[str, ...]        # modules holding ``train`` (the same function)
    estimator_base: str                   # "module:Class" of the scikit-learn API's base class


@dataclass(frozen=True, kw_only=True)
class Config(Options):
    importance_types: tuple[str, ...]
    log_input_examples: bool = False
    log_model_signatures: bool = True


_configs: dict[str, Config] = {}


class _Fits(threading.local):
    run: FitRun | None = None     # the run a scikit-learn-API fit opened; its ``train`` logs into it
    library: str | None = None    # whose fit that is


_fits = _Fits()


def metric_key(data_name: str, metric_name: str) -> str:
    """MLflow's key of an evaluation result: ``<dataset>-<metric>``, with ``@`` spelled ``_at_``."""
    return f"{data_name}-{metric_name}".replace("@", "_at_")


# -- enabling ------------------------------------------------------------------------------------
def enable(lib: Library, options: dict[str, Any]) -> None:
    """``mlnb.<library>.autolog(**options)``: (re)install the patches, or with ``disable`` remove them."""
    import importlib

    extra_tags = options.pop("extra_tags", None)
    disable = options.pop("disable", False)
    importance_types = options.pop("importance_types", None)
    check_log_datasets(options.get("log_datasets"), lib.integration)
    if options.get("log_datasets") and not disable:
        patching.warn(lib.integration, f"log_datasets=True logs the training data of scikit-learn-API fits "
                      f"(fit(X, y)); {lib.integration}.train() takes its data already wrapped, and that is not "
                      f"logged as a dataset.")
    extra_tags = extra_tags_dict(extra_tags)
    if isinstance(importance_types, str):
        importance_types = [importance_types]
    patching.unpatch(lib.integration)
    _configs.pop(lib.integration, None)
    if disable:
        return
    cfg = Config(importance_types=tuple(importance_types or lib.default_importance), extra_tags=extra_tags, **options)
    patching.set_silent(lib.integration, cfg.silent)
    library = importlib.import_module(lib.integration)
    if not patching.version_supported(lib.integration, library.__version__, lib.tested,
                                      cfg.disable_for_unsupported_versions):
        return
    _configs[lib.integration] = cfg
    modules = [importlib.import_module(m) for m in lib.train_modules]
    patching.patch_function(lib.integration, modules, "train", functools.partial(_train_hook, lib))
    module, _, name = lib.estimator_base.partition(":")
    base = getattr(importlib.import_module(module), name)
    for cls in patching.subclasses(base):
        if "fit" in cls.__dict__:
            patching.patch_method(lib.integration, cls, "fit", functools.partial(_fit_hook, lib))


def config(lib: Library) -> dict[str, Any] | None:
    """The options ``lib``'s autolog is on with (``autolog``'s keyword arguments), or None when off."""
    cfg = _configs.get(lib.integration)
    if cfg is None:
        return None
    found = asdict(cfg)
    found["importance_types"] = list(cfg.importance_types)
    return found


def enabled(library: str) -> bool:
    """True while ``library``'s own boosting integration is on (scikit-learn's then leaves it alone)."""
    return library in _configs


# -- hooks ---------------------------------------------------------------------------------------
def _fit_hook(lib: Library, estimator: Any, call, args: tuple, kwargs: dict) -> Any:
    """A scikit-learn-API ``fit``: open the run its ``train`` logs into, then log the estimator."""
    st = patching.state
    cfg = _configs.get(lib.integration)
    if st.depth or st.busy or cfg is None or patching.is_suspended():
        return patching.call_nested(call, args, kwargs)
    st.depth = 1
    try:
        with patching.one_warning(lib.integration):
            run = patching.guard(lib.integration, "start a run", FitRun.open, lib.integration, estimator,
                                 cfg.exclusive, cfg.extra_tags)
            if run is None:
                return call(*args, **kwargs)
            _fits.run, _fits.library = run, lib.integration
            try:
                result = lifecycle.training(lib.integration, run, call, args, kwargs)
            finally:
                _fits.run = _fits.library = None
            X = args[0] if args else kwargs.get("X")
            if cfg.log_datasets is not False:
                y = args[1] if len(args) > 1 else kwargs.get("y")
                patching.guard(lib.integration, "log the training dataset", log_training_dataset, X, y, run.run_id)
            if cfg.log_models:
                patching.guard(lib.integration, f"log the {type(estimator).__name__} model", _log_model,
                               lib, cfg, estimator, run, _head(X), estimator.predict)
            lifecycle.end(lib.integration, run, "FINISHED")
            return result
    finally:
        st.depth = 0


def _train_hook(lib: Library, original, args: tuple, kwargs: dict) -> Any:
    st = patching.state
    cfg = _configs.get(lib.integration)
    # the training of this library's scikit-learn-API fit being logged
    inside_fit = _fits.run if not st.busy and _fits.library == lib.integration else None
    if cfg is None or (inside_fit is None and (st.depth or st.busy or patching.is_suspended())):
        return patching.call_nested(original, args, kwargs)
    if inside_fit is not None:
        return _logged_train(lib, cfg, inside_fit, original, args, kwargs)
    st.depth = 1
    try:
        with patching.one_warning(lib.integration):
            run = patching.guard(lib.integration, "start a run", FitRun.open, lib.integration, _booster_stand_in(lib),
                                 cfg.exclusive, cfg.extra_tags)
            if run is None:
                return original(*args, **kwargs)
            model = lifecycle.training(lib.integration, run,
                                       lambda *a, **k: _logged_train(lib, cfg, run, original, a, k), args, kwargs)
            if cfg.log_models:
                patching.guard(lib.integration, "log the Booster model", _log_model, lib, cfg, model, run, None, None)
            lifecycle.end(lib.integration, run, "FINISHED")
            return model
    finally:
        st.depth = 0


def _booster_stand_in(lib: Library) -> Any:
    """What FitRun names a ``train`` call's fit by (it has no estimator): ``<library>.Booster``."""
    return type("Booster", (), {"__module__": lib.integration})()


# -- one logged training ----------------------------------------------------------------------------
def _logged_train(lib: Library, cfg: Config, run: FitRun, original, args: tuple, kwargs: dict) -> Any:
    bound = patching.guard(lib.integration, "read the training arguments", _bound, original, args, kwargs)
    history: list[dict[str, float]] = []

    def record(iteration: int, values: dict[str, float]) -> None:
        history.append(values)
        run.add_metrics_at(values, iteration)

    if bound is not None:
        patching.guard(lib.integration, "read the params", _add_params, lib, run, bound)
        wired = patching.guard(lib.integration, "follow the evaluation history", lib.add_recorder,
                               args, kwargs, bound, record)
        if wired is not None:
            args, kwargs = wired
    model = original(*args, **kwargs)
    if bound is not None:
        patching.guard(lib.integration, "log the early-stopping iteration", _add_early_stopping,
                       lib, run, model, bound, history)
    for kind in cfg.importance_types:
        patching.guard(lib.integration, f"log the {kind} feature importance", _add_importance, lib, run, model, kind)
    return model


def with_callback(args: tuple, kwargs: dict, bound: inspect.BoundArguments, callback: Any) -> tuple[tuple, dict]:
    """``train``'s arguments with ``callback`` added to its ``callbacks`` (where the caller passed them)."""
    callbacks = [*(bound.arguments.get("callbacks") or ()), callback]
    where = list(bound.signature.parameters).index("callbacks")
    if len(args) > where:
        return (*args[:where], callbacks, *args[where + 1:]), kwargs
    return args, {**kwargs, "callbacks": callbacks}


def _bound(original, args: tuple, kwargs: dict) -> inspect.BoundArguments:
    bound = inspect.signature(original).bind(*args, **kwargs)
    bound.apply_defaults()
    return bound


def _add_params(lib: Library, run: FitRun, bound: inspect.BoundArguments) -> None:
    run.add_params(dict(bound.arguments.get("params") or {}))
    run.add_params({k: v for k, v in bound.arguments.items() if k not in lib.unlogged})


def _add_early_stopping(lib: Library, run: FitRun, model: Any, bound, history: list) -> None:
    found = lib.early_stopping(model, bound, history)
    if found is None:
        return
    stopped, best, best_metrics = found
    run.add_metrics({"stopped_iteration": stopped, "best_iteration": best})
    run.add_metrics_at(best_metrics, len(history))


def _add_importance(lib: Library, run: FitRun, model: Any, kind: str) -> None:
    from mlnb.evaluation import plots

    values = lib.importance(model, kind)
    run.add_file(f"feature_importance_{kind}.json", json.dumps(values, indent=2).encode())
    if values and plots.fast_backend_available():
        run.add_file_later(f"feature_importance_{kind}.png", plots.feature_importance_png, list(values),
                           list(values.values()), f"Feature Importance ({kind})", "pillow")


def _head(X: Any, n: int = 5) -> Any:
    if X is None:
        return None
    return X.iloc[:n].copy() if hasattr(X, "iloc") else X[:n]


def _log_model(lib: Library, cfg: Config, model: Any, run: FitRun, example: Any, predict: Callable | None) -> None:
    import importlib

    signature = False
    if cfg.log_model_signatures and example is not None and predict is not None:
        from mlnb.models.signature import infer_signature

        signature = infer_signature(example, predict(example))
    log_model = importlib.import_module(f"mlnb.flavors.{lib.flavor}").log_model
    info = log_model(model, name=run.artifact_name("model"), signature=signature,
                     input_example=example if cfg.log_input_examples else None,
                     registered_model_name=cfg.registered_model_name)
    run.model_uri = f"runs:/{info.run_id}/{info.artifact_path}"


__all__ = ["Library", "Config", "enable", "config", "enabled", "metric_key", "with_callback"]

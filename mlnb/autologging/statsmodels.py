"""statsmodels autologging: ``mlnb.statsmodels.autolog()``.

Each outermost ``fit`` of a statsmodels model (every subclass of ``statsmodels.base.model.Model``
that defines ``fit``) records, under MLflow's names: the ``fit`` arguments as params (those passed
and the defaults of the rest), the numeric statistics of MLflow's list (``aic``, ``bic``,
``rsquared``, ...) that the results have as metrics, the results' summary as ``model_summary.txt``,
and the results as a model (the statsmodels flavor). Lifecycle: :mod:`mlnb.autologging.lifecycle`.

One difference from MLflow: a ``fit(**kwargs)`` catch-all is not logged as a param of its own
(MLflow logs ``kwargs`` with the text ``<class 'inspect._empty'>``); the keywords passed through it
are logged under their own names, as in MLflow.
"""

from __future__ import annotations

import functools
import inspect
import numbers
from dataclasses import asdict
from typing import Any

from mlnb.autologging import lifecycle, patching
from mlnb.autologging.datasets import check_log_datasets
from mlnb.autologging.options import Options, extra_tags_dict
from mlnb.autologging.session import FitRun

INTEGRATION = "statsmodels"
TESTED = ("0.14.0", "0.16.0")
#: The results' statistics logged as metrics when present and numeric (MLflow's list).
METRICS = ("aic", "bic", "centered_tss", "condition_number", "df_model", "df_resid", "ess", "f_pvalue", "fvalue",
           "llf", "mse_model", "mse_resid", "mse_total", "rsquared", "rsquared_adj", "scale", "ssr",
           "uncentered_tss")


_config: Options | None = None   # statsmodels' autolog takes only the common options


def autolog(
    log_models: bool = True,
    log_datasets: bool | None = None,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    extra_tags: dict[str, Any] | None = None,
) -> None:
    """Log every statsmodels ``fit``: its arguments, the results' statistics, summary and model. MLflow's options.

    Model classes are patched once statsmodels is imported (now, if it is already): every class
    deriving from ``statsmodels.base.model.Model`` that ``statsmodels.api`` loads, as in MLflow.

    ``log_datasets`` is accepted as MLflow's is, and, as there, a statsmodels fit logs no dataset.
    """
    global _config
    options = {k: v for k, v in locals().items() if k != "disable"}
    check_log_datasets(log_datasets, INTEGRATION)
    tags = extra_tags_dict(extra_tags)
    patching.unpatch(INTEGRATION)
    _config = None
    if disable:
        return
    cfg = Options(**{**options, "extra_tags": tags})
    patching.set_silent(INTEGRATION, silent)
    version = patching.installed_version("statsmodels")
    if not patching.version_supported(INTEGRATION, version, TESTED, disable_for_unsupported_versions):
        return
    _config = cfg
    patching.when_imported(INTEGRATION, "statsmodels", _install)


def _install(module: Any) -> None:
    import statsmodels.api  # noqa: F401  (loads the model classes, so they can be found below)
    from statsmodels.base.model import Model

    for cls in patching.subclasses(Model):
        if "fit" in cls.__dict__:
            patching.patch_method(INTEGRATION, cls, "fit", _fit_hook)


def autolog_config() -> dict[str, Any] | None:
    """The options autologging is on with (``autolog``'s keyword arguments), or None when it is off."""
    return asdict(_config) if _config is not None else None


def _fit_hook(model: Any, call, args: tuple, kwargs: dict) -> Any:
    cfg = _config
    if cfg is None:
        return call(*args, **kwargs)
    return lifecycle.logged_fit(INTEGRATION, cfg.exclusive, cfg.extra_tags, model, call, args, kwargs,
                                lambda run: run.add_params(fit_params(call, args, kwargs)),
                                functools.partial(_after_fit, cfg))


def fit_params(call, args: tuple, kwargs: dict) -> dict[str, Any]:
    """The arguments of ``call``: those passed (by position or keyword) and the defaults of the rest,
    without ``*args`` / ``**kwargs`` catch-alls."""
    params = _named_params(getattr(call, "__func__", call))
    found = dict(zip((name for name, _ in params), args))
    found.update(kwargs)
    for name, default in params:
        if name not in found and default is not inspect.Parameter.empty:
            found[name] = default
    return found


@functools.lru_cache(maxsize=512)
def _named_params(function) -> tuple[tuple[str, Any], ...]:
    """(name, default) of ``function``'s named parameters after ``self``, cached per function."""
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = [p for p in inspect.signature(function).parameters.values() if p.kind in kinds]
    return tuple((p.name, p.default) for p in params[1:])


def _after_fit(cfg: Options, run: FitRun, results: Any, prepared: Any) -> None:
    from statsmodels.base.wrapper import ResultsWrapper

    metrics: dict[str, float] = {}
    if cfg.log_models:
        patching.guard(INTEGRATION, "log the model", _log_model, cfg, run, results)
    if isinstance(results, ResultsWrapper):
        metrics = statistics(results)
        run.add_metrics(metrics)
        summary = patching.guard(INTEGRATION, "write the summary", lambda: results.summary().as_text())
        if summary is not None:
            run.add_file("model_summary.txt", summary.encode())
    run.record(metrics)


def statistics(results: Any) -> dict[str, float]:
    """The statistics of :data:`METRICS` that ``results`` has and can compute, as numbers."""
    found = {}
    for name in METRICS:
        try:
            value = getattr(results, name)
        except Exception:   # a statistic this model does not define (it raises on access)
            continue
        if isinstance(value, numbers.Number) and not isinstance(value, bool):
            found[name] = float(value)
    return found


def _log_model(cfg: Options, run: FitRun, results: Any) -> None:
    from mlnb.flavors.statsmodels import log_model

    info = log_model(results, name=run.artifact_name("model"), registered_model_name=cfg.registered_model_name)
    run.model_uri = f"runs:/{info.run_id}/{info.artifact_path}"


__all__ = ["autolog", "autolog_config", "fit_params", "statistics", "INTEGRATION", "METRICS"]

"""evaluate(): predictions, metrics, plots and SHAP for one model on held-out data, logged to a run.

The work is done in pure steps (``compute_metrics``, ``make_plots``, ``explain``) and logged once at
the end: metrics with ``log_metrics``, every plot and table written to a temporary directory and
logged with one ``log_artifacts``. evaluate() uses the active run, or starts one and ends it.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from mlnb.errors import InvalidParameterError
from mlnb.evaluation import metrics as M
from mlnb.evaluation.custom import custom_artifacts_files
from mlnb.evaluation.inputs import EvalData, ModelAdapter, build_data, check_model_type
from mlnb.evaluation.result import EvaluationArtifact, EvaluationResult
from mlnb.tracebacks import public

#: evaluator_config keys mlnb reads (MLflow's names; unknown keys are ignored as MLflow does).
CONFIG_KEYS = (
    "metric_prefix", "pos_label", "label_list", "average", "sample_weights", "log_model_explainability",
    "explainability_algorithm", "explainability_nsamples", "max_classes_for_multiclass_roc_pr",
    "calibration_n_bins", "calibration_classifier_name", "ignore_exceptions", "plot_dpi",
)


@dataclass
class _Computed:
    """Everything evaluate() found before logging."""

    metrics: dict[str, float]
    y_pred: np.ndarray
    proba: np.ndarray | None
    labels: M.Labels | None
    notes: list[str] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    greater_is_better: dict[str, bool] = field(default_factory=dict)


def _predict(adapter: ModelAdapter, data: EvalData, model_type: str):
    if adapter.is_none:
        if data.predictions is None:
            raise InvalidParameterError(
                "Give a model to evaluate, or model=None with predictions= (a column of data or an array)."
            )
        return data.predictions, None
    y_pred = adapter.predict(data.X)
    proba = adapter.predict_proba(data.X) if model_type == "classifier" else None
    return y_pred, proba


def compute_metrics(adapter: ModelAdapter, data: EvalData, model_type: str, config: Mapping[str, Any],
                    extra_metrics: Sequence | None = None) -> _Computed:
    """Predict and compute the built-in and extra metrics (unprefixed)."""
    y_pred, proba = _predict(adapter, data, model_type)
    y, w = data.y, data.sample_weights
    notes: list[str] = []
    tables: dict[str, pd.DataFrame] = {}
    labels = None
    if model_type == "regressor":
        try:
            y_pred = np.asarray(y_pred, dtype=float)
        except (TypeError, ValueError):
            raise InvalidParameterError("The model's predictions are not numbers; is it a classifier?") from None
        values = M.regressor_metrics(y, y_pred, w)
    else:
        if len(np.unique(y)) > 0.5 * len(y) > 50 and np.issubdtype(np.asarray(y).dtype, np.floating):
            raise InvalidParameterError(
                "The targets look continuous (mostly distinct float values); use model_type='regressor'."
            )
        labels = M.resolve_labels(y, y_pred, config.get("label_list"), config.get("pos_label"), adapter.classes)
        if labels.binary:
            values = M.binary_metrics(y, y_pred, proba, labels, w, notes)
        else:
            values = M.multiclass_metrics(y, y_pred, proba, labels, config.get("average", "weighted"), w, notes)
            tables["per_class_metrics"] = M.per_class_metrics(y, y_pred, labels, w, proba)
    score = M.estimator_score(adapter.raw, data.X, y, w, values)
    if score is not None:
        values["score"] = score
    greater = {}
    if extra_metrics:
        extra = M.extra_metrics_values(list(extra_metrics), predictions=y_pred, targets=y, builtin=values,
                                       X=data.X, config=config)
        for obj in extra_metrics:
            m = M._as_metric(obj)
            greater.update({k: m.greater_is_better for k in extra if k == m.name or k.startswith(m.name + "/")})
        values.update(extra)
    tables["eval_results_table"] = pd.DataFrame({"target": y, "prediction": y_pred})
    return _Computed(values, y_pred, proba, labels, notes, tables, greater)


# -- plots -----------------------------------------------------------------------------------
def _classifier_plots(c: _Computed, data: EvalData, config: Mapping[str, Any]) -> list[tuple[str, Callable]]:
    from mlnb.evaluation import plots as P

    y, w, labels, proba = data.y, data.sample_weights, c.labels, c.proba
    out: list[tuple[str, Callable]] = [
        ("confusion_matrix", lambda: P.confusion_matrix(y, c.y_pred, labels.values, w))]
    if proba is None:
        c.notes.append("ROC, precision-recall, lift and calibration plots need probabilities; "
                       "the model has no predict_proba.")
        return out
    n_bins = int(config.get("calibration_n_bins", 10))
    cal_title = f"{config.get('calibration_classifier_name', 'Classifier')} Calibration"
    if labels.binary:
        pos = labels.pos_label
        score = M.positive_scores(proba, labels)
        yb = np.asarray(y) == pos
        if yb.all() or not yb.any():
            c.notes.append("ROC, precision-recall, lift and calibration plots skipped: the targets hold one class.")
            return out
        aligned = M.aligned_proba(proba, labels)
        out += [
            ("roc_curve_plot", lambda: P.roc_curve([("", yb, score)], w, pos)),
            ("precision_recall_curve_plot", lambda: P.precision_recall_curve([("", yb, score)], w, pos)),
            ("lift_curve_plot", lambda: P.lift_curve(y, list(zip(labels.values, aligned.T)), pos)),
            ("calibration_curve_plot", lambda: P.calibration_curve([(f"Class {pos}", yb, score)], n_bins, cal_title)),
        ]
        return out
    limit = int(config.get("max_classes_for_multiclass_roc_pr", 10))
    if len(labels.values) > limit:
        c.notes.append(f"ROC, precision-recall and calibration plots skipped: {len(labels.values)} classes is more "
                       f"than max_classes_for_multiclass_roc_pr={limit} (raise it in evaluator_config to draw them).")
        return out
    aligned = M.aligned_proba(proba, labels)
    y_arr = np.asarray(y)
    present = [(lab, y_arr == lab, aligned[:, j]) for j, lab in enumerate(labels.values)
               if 0 < (y_arr == lab).sum() < len(y_arr)]
    curves = [(f"label={lab}, ", yb, s) for lab, yb, s in present]
    out += [
        ("roc_curve_plot", lambda: P.roc_curve(curves, w)),
        ("precision_recall_curve_plot", lambda: P.precision_recall_curve(curves, w)),
        ("calibration_curve_plot", lambda: P.calibration_curve(
            [(f"Class {lab}", yb, s) for lab, yb, s in present], n_bins, cal_title)),
    ]
    return out


def _shap_plots(exp, c: _Computed) -> list[tuple[str, Callable]]:
    from mlnb.evaluation import plots as P
    from mlnb.evaluation.explain import per_row_values

    pred = None if exp.values.ndim == 2 else np.asarray(c.y_pred)[exp.index]
    flat = per_row_values(exp, pred)
    names = exp.feature_names
    try:
        data = np.asarray(exp.data, dtype=float)
    except (TypeError, ValueError):
        data = None
    title = f"SHAP values ({exp.output})"
    return [
        ("shap_beeswarm_plot", lambda: P.shap_beeswarm(flat, data, names, title=title)),
        ("shap_summary_plot", lambda: P.shap_summary(flat, names, title=f"SHAP summary ({exp.output})")),
        ("shap_feature_importance_plot", lambda: P.shap_feature_importance(exp.values, names,
                                                                           class_names=exp.class_names)),
    ]


def _render(builders: list[tuple[str, Callable]], dpi: int | None, notes: list[str]) -> dict[str, bytes]:
    """Draw and render each plot once; a plot that fails is reported in ``notes``, never dropped silently."""
    from mlnb.evaluation.plots import render_png

    out = {}
    for name, build in builders:
        try:
            out[name] = render_png(build(), dpi)
        except Exception as exc:  # a plot must not sink the evaluation; say which and why
            notes.append(f"{name} not drawn: {type(exc).__name__}: {exc}")
            warnings.warn(f"mlnb.evaluate: {name} not drawn: {exc!r}", UserWarning, stacklevel=3)
    return out


# -- baseline --------------------------------------------------------------------------------
def _baseline_metrics(baseline: Any, data: EvalData, model_type: str, config, extra_metrics, prefix: str):
    if baseline is None:
        return None
    if isinstance(baseline, EvaluationResult) or (hasattr(baseline, "metrics") and not hasattr(baseline, "predict")):
        return dict(baseline.metrics)
    computed = compute_metrics(ModelAdapter(baseline), data, model_type, config, extra_metrics)
    return {f"{prefix}{k}": v for k, v in computed.metrics.items()}


# -- evaluate --------------------------------------------------------------------------------
def list_evaluators() -> list[str]:
    """The evaluators ``evaluate(evaluators=...)`` accepts: mlnb has one, ``"default"``."""
    return ["default"]


def _check_evaluators(evaluators: Any) -> None:
    names = [evaluators] if isinstance(evaluators, str) else list(evaluators or [])
    unknown = [n for n in names if n != "default"]
    if unknown:
        raise InvalidParameterError(
            f"mlnb has one evaluator, 'default' (metrics, plots and SHAP); it has no {unknown}. "
            f"Leave evaluators unset, or pass evaluators='default'.")


@public
def evaluate(
    model: Any = None,
    data: Any = None,
    *,
    targets: Any = None,
    model_type: str | None = None,
    predictions: Any = None,
    feature_names: Sequence[str] | None = None,
    evaluator_config: Mapping[str, Any] | None = None,
    extra_metrics: Sequence | None = None,
    custom_artifacts: Sequence[Callable] | None = None,
    baseline: Any = None,
    validation_thresholds: Mapping[str, Any] | None = None,
    evaluators: str | Sequence[str] | None = None,
    env_manager: str = "local",
    model_config: Mapping[str, Any] | None = None,
    inference_params: Mapping[str, Any] | None = None,
) -> EvaluationResult:
    """Evaluate ``model`` on ``data``: MLflow's metrics, diagnostic plots and SHAP, logged to a run.

    ``model`` is a model URI, a PyFuncModel, a fitted estimator or a function (or None with
    ``predictions``); ``data`` a DataFrame with a ``targets`` column, or an array with a ``targets``
    array. ``baseline`` (a model or an EvaluationResult) adds deltas; ``validation_thresholds``
    (metric -> MetricThreshold) raises ModelValidationFailedError listing every failed metric, after
    the result was logged.

    MLflow's ``evaluators`` may only name mlnb's one evaluator, ``"default"`` (its options may then
    sit under ``evaluator_config["default"]``). ``env_manager="local"`` evaluates the model in this
    environment; ``"uv"`` or ``"virtualenv"`` (with a model URI) restores the model's own environment
    and scores it there, through its scoring server (explanations then use the model-agnostic
    explainer, with the predictions from that server). ``model_config`` is applied when ``model`` is a
    URI, and ``inference_params`` go to every ``predict(..., params=)`` call of a saved model.
    """
    _check_evaluators(evaluators)
    restored = None
    if env_manager != "local":  # scored through its server, in its own environment
        restored = model = _restored(model, env_manager, model_config, inference_params)
        model_config = inference_params = None
    try:
        if isinstance(evaluator_config, Mapping) and evaluators is not None and isinstance(
                evaluator_config.get("default"), Mapping):
            evaluator_config = evaluator_config["default"]  # MLflow's per-evaluator form
        if model_config is not None:
            if not isinstance(model, (str, os.PathLike)):
                raise InvalidParameterError(
                    "model_config is used when evaluate() loads the model from its URI; pass the URI, or load "
                    "the model with mlnb.pyfunc.load_model(uri, model_config=...) yourself.")
            from mlnb.pyfunc import load_model

            model = load_model(model, model_config=model_config)
        model_type = check_model_type(model_type)
        config = dict(evaluator_config or {})
        prefix = config.get("metric_prefix") or ""
        if not isinstance(prefix, str):
            raise InvalidParameterError("evaluator_config['metric_prefix'] must be a string.")
        eval_data = build_data(data, targets=targets, model_type=model_type, predictions=predictions,
                               feature_names=feature_names, sample_weights=config.get("sample_weights"))
        if inference_params is not None and isinstance(model, (str, os.PathLike)):
            from mlnb.pyfunc import load_model

            model = load_model(model)
        adapter = ModelAdapter(model, params=inference_params)
        computed = compute_metrics(adapter, eval_data, model_type, config, extra_metrics)
        baseline_metrics = _baseline_metrics(baseline, eval_data, model_type, config, extra_metrics, prefix)

        builders = (_classifier_plots(computed, eval_data, config) if model_type == "classifier" else
                    [("residuals_plot", lambda: _plots().residuals(eval_data.y, computed.y_pred)),
                     ("predicted_vs_actual_plot", lambda: _plots().predicted_vs_actual(eval_data.y, computed.y_pred))])
        from concurrent.futures import ThreadPoolExecutor

        from mlnb.evaluation.explain import explain

        # SHAP is computed while the metric plots are drawn: tree SHAP's kernels let the GIL go, so the
        # two share the cores instead of taking turns; the SHAP plots are drawn once the values are in.
        dpi = int(config["plot_dpi"]) if config.get("plot_dpi") else None
        with ThreadPoolExecutor(1, thread_name_prefix="mlnb-shap") as pool:
            explaining = pool.submit(explain, adapter, eval_data.X, model_type=model_type, labels=computed.labels,
                                     config=config)
            images = _render(builders, dpi, computed.notes)
            exp = explaining.result()
        if exp.ok:
            images.update(_render(_shap_plots(exp, computed), dpi, computed.notes))

        metrics = {f"{prefix}{k}": v for k, v in computed.metrics.items()}
        result = EvaluationResult(
            metrics=metrics, tables=computed.tables, model_type=model_type,
            model_name=adapter.name if not adapter.is_none else "predictions",
            baseline_metrics=baseline_metrics, explanation=exp, notes=computed.notes,
            greater_is_better={f"{prefix}{k}": v for k, v in computed.greater_is_better.items()},
        )
        _log(result, images, computed, eval_data, custom_artifacts, prefix)
        if validation_thresholds:
            from mlnb.evaluation.validation import check_thresholds, raise_failures

            failures = check_thresholds(validation_thresholds, result.metrics, baseline_metrics)
            if failures:
                raise_failures(failures, result)
        return result
    finally:
        if restored is not None:
            restored.close()


def _restored(model: Any, env_manager: str, model_config: Any, inference_params: Any):
    """The model at URI ``model`` served from its restored environment, for ``evaluate``."""
    from mlnb.environments import MANAGERS

    if env_manager not in MANAGERS:
        raise InvalidParameterError(f"env_manager must be 'local' or one of {', '.join(MANAGERS)}, got {env_manager!r}.")
    if not isinstance(model, (str, os.PathLike)):
        raise InvalidParameterError(
            f"env_manager='{env_manager}' evaluates a saved model in its own environment, so model must be its URI "
            f"or path. Save or log the model first, or evaluate it here with env_manager='local'.")
    if model_config is not None:
        raise InvalidParameterError(
            f"model_config cannot be applied to a model scored in its restored environment; evaluate it with "
            f"env_manager='local', or save the model with the configuration it needs.")
    from mlnb.models.uri import local_path
    from mlnb.serving.restored import RestoredModel

    return RestoredModel(local_path(model), env_manager, params=inference_params)


def _plots():
    from mlnb.evaluation import plots

    return plots


def _log(result: EvaluationResult, images: dict[str, bytes], computed: _Computed, data: EvalData,
         custom_artifacts, prefix: str) -> None:
    """Log metrics and artifacts to the active run, or to a new run that is ended afterwards."""
    from mlnb.tracking import fluent

    started = fluent.active_run() is None
    run = fluent.start_run() if started else fluent.active_run()
    try:
        result.run_id = run.info.run_id
        with tempfile.TemporaryDirectory(prefix="mlnb-eval-") as tmp:
            folder = Path(tmp)
            files: dict[str, tuple[Path, str, Any]] = {}
            for name, png in images.items():
                path = folder / f"{prefix}{name}.png"
                path.write_bytes(png)
                files[name] = (path, "image", png)
            table = computed.tables.get("per_class_metrics")
            if table is not None:
                path = folder / f"{prefix}per_class_metrics.csv"
                table.to_csv(path, index=False)
                files["per_class_metrics"] = (path, "csv", table)
            files.update(custom_artifacts_files(custom_artifacts, computed.y_pred, data.y, computed.metrics, folder))
            if result.metrics:
                fluent.log_metrics(result.metrics)
            if files:
                fluent.log_artifacts(folder)
            for name, (path, kind, content) in files.items():
                uri = fluent.get_artifact_uri(path.name)
                if content is None:
                    content = EvaluationArtifact(uri, path, kind).content
                result.artifacts[name] = EvaluationArtifact(uri=uri, path=_local_or_none(uri), kind=kind, data=content)
    except BaseException:
        if started:
            fluent.end_run("FAILED")
        raise
    if started:
        fluent.end_run()


def _local_or_none(uri: str) -> Path | None:
    from mlnb.models.uri import scheme_of, local_path

    if scheme_of(uri) not in ("", "file"):
        return None
    try:
        return local_path(uri)
    except Exception:
        return None

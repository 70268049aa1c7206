"""Metric sets with MLflow's keys: regressors, binary and multiclass classifiers, and extra metrics.

Values come from :mod:`mlnb.evaluation.scores` (NumPy, the same arithmetic as scikit-learn's
functions, which MLflow's default evaluator calls), with the arguments MLflow passes (``pos_label``, ``average``,
``sample_weight``), so a number logged by mlnb equals the one MLflow logs for the same model and data.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from mlnb.errors import InvalidParameterError
from mlnb.evaluation import scores


# -- labels ----------------------------------------------------------------------------------
@dataclass
class Labels:
    """The classes of a classification evaluation, in the order metrics and plots use them.

    For a binary problem ``values`` is ``[negative, positive]``; ``proba_columns`` is the class
    order of the model's probability columns (its ``classes_``, or the sorted labels)."""

    values: np.ndarray
    pos_label: Any = None
    proba_columns: np.ndarray | None = None

    @property
    def binary(self) -> bool:
        """True for a two-class problem."""
        return len(self.values) == 2

    def column_of(self, label: Any) -> int | None:
        """The probability column of ``label``, or None when the model has no column for it."""
        cols = self.proba_columns if self.proba_columns is not None else np.sort(self.values)
        hits = np.flatnonzero(cols == label)
        return int(hits[0]) if len(hits) else None


def resolve_labels(y: np.ndarray, y_pred: np.ndarray, label_list=None, pos_label=None,
                   classes: np.ndarray | None = None) -> Labels:
    """Labels from ``label_list`` or from the targets and predictions (MLflow's rule), checked."""
    if label_list is not None:
        values = np.asarray(list(label_list))
    else:
        try:
            values = np.unique(np.concatenate([np.asarray(y), np.asarray(y_pred)]))
        except TypeError:
            raise InvalidParameterError(
                "Targets and predictions mix label types (e.g. strings and numbers); "
                "convert them to one type or pass evaluator_config={'label_list': [...]}."
            ) from None
    if len(values) < 2:
        raise InvalidParameterError(
            f"A classifier evaluation needs at least two classes, but the targets and predictions hold only "
            f"{list(values)}. Evaluate on data with both classes, or pass "
            "evaluator_config={'label_list': [<all classes>]}."
        )
    values = np.sort(values)
    if pos_label is not None and pos_label not in values:
        raise InvalidParameterError(f"pos_label {pos_label!r} is not one of the labels {list(values)}.")
    if len(values) == 2:
        if pos_label is None:
            pos_label = values[-1]
        values = np.array([v for v in values if v != pos_label] + [pos_label], dtype=values.dtype)
    proba_columns = None if classes is None else np.asarray(classes)
    return Labels(values=values, pos_label=pos_label, proba_columns=proba_columns)


def _plain(v: Any) -> float | int:
    if isinstance(v, (np.integer, int)) and not isinstance(v, bool):
        return int(v)
    return float(v)


# -- regressors ------------------------------------------------------------------------------
def regressor_metrics(y: np.ndarray, y_pred: np.ndarray, w: np.ndarray | None = None) -> dict[str, float]:
    """MLflow's regressor metric set (``example_count``, errors, ``r2_score``, sums on the target)."""
    y = np.asarray(y, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    mse = scores.mean_squared_error(y, y_pred, w)
    sum_on_target = float((y * w).sum()) if w is not None else float(y.sum())
    out = {
        "example_count": len(y),
        "mean_absolute_error": scores.mean_absolute_error(y, y_pred, w),
        "mean_squared_error": mse,
        "root_mean_squared_error": float(np.sqrt(mse)),
        "sum_on_target": sum_on_target,
        "mean_on_target": sum_on_target / len(y),
        "r2_score": scores.r2(y, y_pred, w),
        "max_error": scores.max_error(y, y_pred),
        "mean_absolute_percentage_error": scores.mean_absolute_percentage_error(y, y_pred, w),
    }
    return {k: _plain(v) for k, v in out.items()}


# -- classifiers -----------------------------------------------------------------------------
def _common(y, y_pred, proba, labels, average, pos_label, w, notes) -> dict[str, float]:
    prf = scores.precision_recall_f1(y, y_pred, average=average, pos_label=pos_label, sample_weight=w)
    out = {
        "example_count": len(y),
        "accuracy_score": scores.accuracy(y, y_pred, w),
        "recall_score": prf["recall"],
        "precision_score": prf["precision"],
        "f1_score": prf["f1"],
    }
    if proba is not None:
        try:
            out["log_loss"] = scores.log_loss(y, proba, labels=labels, sample_weight=w)
        except ValueError as exc:
            notes.append(f"log_loss skipped: {exc}")
    return out


def confusion_counts(y, y_pred, labels) -> dict[str, int]:
    """True/false negatives/positives of a binary problem, ``labels`` being ``[negative, positive]``."""
    tn, fp, fn, tp = scores.confusion(y, y_pred, labels=labels)[1].ravel()
    return {"true_negatives": tn, "false_positives": fp, "false_negatives": fn, "true_positives": tp}


def positive_scores(proba: np.ndarray | None, labels: Labels) -> np.ndarray | None:
    """The probability column of the positive class of a binary problem."""
    if proba is None:
        return None
    col = labels.column_of(labels.pos_label)
    if col is None:
        col = 1 if proba.shape[1] == 2 else None
    return None if col is None else proba[:, col]


def binary_metrics(y, y_pred, proba, labels: Labels, w=None, notes: list | None = None) -> dict[str, float]:
    """MLflow's binary classifier metrics (confusion counts, scores, log loss, ROC and PR AUC)."""
    notes = [] if notes is None else notes
    pos = labels.pos_label
    proba_labels = labels.proba_columns if labels.proba_columns is not None else np.sort(labels.values)
    out = {**confusion_counts(y, y_pred, labels.values),
           **_common(y, y_pred, proba, proba_labels, "binary", pos, w, notes)}
    pos_scores = positive_scores(proba, labels)
    if pos_scores is not None:
        y_pos = np.asarray(y) == pos
        if y_pos.all() or not y_pos.any():
            notes.append("roc_auc and precision_recall_auc skipped: the targets hold only one class.")
        else:
            out["roc_auc"] = scores.roc_auc(y_pos, pos_scores, True, w)
            out["precision_recall_auc"] = scores.average_precision(y, pos_scores, pos, w)
    return {k: _plain(v) for k, v in out.items()}


def aligned_proba(proba: np.ndarray | None, labels: Labels) -> np.ndarray | None:
    """Probability columns reordered to ``labels.values`` (zeros for a label the model never saw)."""
    if proba is None:
        return None
    out = np.zeros((proba.shape[0], len(labels.values)))
    for j, label in enumerate(labels.values):
        col = labels.column_of(label)
        if col is not None and col < proba.shape[1]:
            out[:, j] = proba[:, col]
    return out


def multiclass_metrics(y, y_pred, proba, labels: Labels, average="weighted", w=None,
                       notes: list | None = None) -> dict[str, float]:
    """MLflow's multiclass metrics, averaged as ``average`` says, with one-vs-rest ROC AUC."""
    notes = [] if notes is None else notes
    proba = aligned_proba(proba, labels)
    out = _common(y, y_pred, proba, labels.values, average, None, w, notes)
    if proba is not None and average in ("macro", "weighted"):
        try:
            present = np.isin(labels.values, np.unique(y))
            if not present.all():
                raise ValueError(f"classes {list(labels.values[~present])} never occur in the targets")
            normalized = proba / np.clip(proba.sum(axis=1, keepdims=True), 1e-12, None)
            out["roc_auc"] = scores.roc_auc_ovr(y, normalized, labels.values, average, w)
        except ValueError as exc:
            notes.append(f"roc_auc skipped: {exc}")
    return {k: _plain(v) for k, v in out.items()}


def per_class_metrics(y, y_pred, labels: Labels, w=None, proba=None) -> pd.DataFrame:
    """One row per class, the class against the rest (MLflow's ``per_class_metrics.csv``).

    Counts and scores come from one pass of :mod:`mlnb.evaluation.scores` for all classes
    (scikit-learn's functions cost milliseconds each in input checks, which adds up over dozens of
    classes); the values equal scikit-learn's, as the tests check."""
    y, y_pred = np.asarray(y), np.asarray(y_pred)
    proba = aligned_proba(proba, labels)
    weighted = scores.precision_recall_f1(y, y_pred, average=None, sample_weight=w, labels=labels.values)
    counted = weighted if w is None else scores.precision_recall_f1(y, y_pred, average=None, labels=labels.values)
    total = len(y) if w is None else float(np.sum(w))
    rows = []
    for j, label in enumerate(labels.values):
        tp, pred, true = (counted[k][j] for k in ("true_positives", "predicted", "support"))
        wrong = (weighted["predicted"][j] - weighted["true_positives"][j]) + (weighted["support"][j] - weighted["true_positives"][j])
        row = {
            "positive_class": label,
            "true_negatives": int(len(y) - pred - true + tp), "false_positives": int(pred - tp),
            "false_negatives": int(true - tp), "true_positives": int(tp),
            "example_count": len(y),
            "accuracy_score": float((total - wrong) / total),
            "recall_score": float(weighted["recall"][j]), "precision_score": float(weighted["precision"][j]),
            "f1_score": float(weighted["f1"][j]),
        }
        yb = y == label
        if proba is not None and 0 < yb.sum() < len(yb):
            row["roc_auc"] = scores.roc_auc(yb, proba[:, j], True, w)
            row["precision_recall_auc"] = scores.average_precision(yb, proba[:, j], True, w)
        rows.append(row)
    return pd.DataFrame(rows)


def estimator_score(raw: Any, X: pd.DataFrame, y, w, computed: Mapping[str, float]) -> float | None:
    """MLflow's ``score`` metric: the estimator's own ``score``, reusing what was computed when it
    is scikit-learn's default accuracy (classifiers) or R² (regressors)."""
    if raw is None or not callable(getattr(raw, "score", None)) or not hasattr(raw, "get_params"):
        return None
    from sklearn.base import ClassifierMixin, RegressorMixin

    method = getattr(type(raw), "score", None)
    if method is ClassifierMixin.score and "accuracy_score" in computed:
        return computed["accuracy_score"]
    if method is RegressorMixin.score and "r2_score" in computed:
        return computed["r2_score"]
    try:
        return float(raw.score(X, y, sample_weight=w))
    except Exception:  # an estimator's score may not take weights or these inputs: no score then
        return None


# -- extra metrics ---------------------------------------------------------------------------
@dataclass
class MetricValue:
    """A metric's result: per-row ``scores`` and ``aggregate_results`` (MLflow's shape)."""

    scores: list | None = None
    justifications: list | None = None
    aggregate_results: dict[str, float] = field(default_factory=dict)


@dataclass
class EvaluationMetric:
    """A user metric: ``eval_fn(predictions, targets, metrics, ...)`` returning a number or a MetricValue."""

    eval_fn: Callable[..., Any]
    name: str
    greater_is_better: bool = True
    long_name: str | None = None


def make_metric(*, eval_fn: Callable[..., Any], greater_is_better: bool, name: str | None = None,
                long_name: str | None = None, **_ignored: Any) -> EvaluationMetric:
    """MLflow's ``make_metric``: wrap ``eval_fn`` as an extra metric for ``evaluate(extra_metrics=...)``."""
    name = name or getattr(eval_fn, "__name__", None)
    if not name or name == "<lambda>":
        raise InvalidParameterError("make_metric needs name= when eval_fn is a lambda.")
    return EvaluationMetric(eval_fn=eval_fn, name=name, greater_is_better=greater_is_better, long_name=long_name)


def _as_metric(obj: Any) -> EvaluationMetric:
    if isinstance(obj, EvaluationMetric):
        return obj
    if callable(getattr(obj, "eval_fn", None)) and getattr(obj, "name", None):  # MLflow's EvaluationMetric
        return EvaluationMetric(obj.eval_fn, obj.name, bool(getattr(obj, "greater_is_better", True)))
    if callable(obj):
        return make_metric(eval_fn=obj, greater_is_better=True)
    raise InvalidParameterError(
        f"extra_metrics entries must be made with mlnb.evaluation.make_metric (or be functions); got {type(obj).__name__}."
    )


def extra_metrics_values(extra: list, *, predictions, targets, builtin: Mapping[str, float],
                         X: pd.DataFrame, config: Mapping[str, Any]) -> dict[str, float]:
    """Compute each extra metric, binding its parameters by name as MLflow does."""
    out: dict[str, float] = {}
    pred_s = pd.Series(np.asarray(predictions), name="prediction")
    target_s = pd.Series(np.asarray(targets), name="target")
    for obj in extra or []:
        metric = _as_metric(obj)
        values = {k: MetricValue(aggregate_results={k: v}) for k, v in {**builtin, **out}.items()}
        params = inspect.signature(metric.eval_fn).parameters
        names = list(params)
        if len(names) == 2 and names != ["predictions", "targets"] and names[0] not in ("predictions", "targets"):
            args = [pd.DataFrame({"prediction": pred_s, "target": target_s}), dict(builtin)]
        else:
            args, missing = [], []
            for pname, p in params.items():
                if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                    continue
                if pname == "predictions":
                    args.append(pred_s.copy())
                elif pname == "targets":
                    args.append(target_s.copy())
                elif pname == "metrics":
                    args.append(values)
                elif pname in X.columns:
                    args.append(X[pname].reset_index(drop=True))
                elif pname in config:
                    args.append(config[pname])
                elif pname in values:
                    args.append(values[pname])
                elif p.default is not p.empty:
                    args.append(p.default)
                else:
                    missing.append(pname)
            if missing:
                raise InvalidParameterError(
                    f"Extra metric {metric.name!r} needs {missing}, which are neither 'predictions', 'targets', "
                    "'metrics', a feature column, an evaluator_config key nor a metric."
                )
        try:
            result = metric.eval_fn(*args)
        except Exception as exc:
            raise InvalidParameterError(f"Extra metric {metric.name!r} failed: {exc!r}") from exc
        out.update(_metric_entries(metric.name, result))
    return out


def _metric_entries(name: str, result: Any) -> dict[str, float]:
    if result is None:
        return {}
    aggregates = getattr(result, "aggregate_results", None)
    if aggregates is not None:
        return {(name if agg == name else f"{name}/{agg}"): _plain(v)
                for agg, v in aggregates.items() if v is not None}
    try:
        return {name: _plain(result)}
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"Extra metric {name!r} returned {type(result).__name__}; return a number or a MetricValue."
        ) from None

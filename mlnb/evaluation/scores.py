"""Classification and regression scores in NumPy: the one implementation behind autolog's training
metrics and ``evaluate``'s metrics and curves.

The arithmetic follows scikit-learn's (same counts, same order of operations), so the values equal
scikit-learn's, as tests/test_evaluation_scores.py checks over random targets, weights and labels.
scikit-learn's functions validate their inputs again on every call, which costs a millisecond or
more each; here one pass of counts serves every score. Only NumPy is imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

AVERAGES = ("binary", "micro", "macro", "weighted")


def weights(sample_weight: Any, n: int) -> np.ndarray | None:
    """``sample_weight`` as a float vector, or None when every sample counts once."""
    return None if sample_weight is None else np.asarray(sample_weight, dtype=float).reshape(-1)


# -- counts ------------------------------------------------------------------------------------
def _codes(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Index of each value in ``labels`` (-1 where it is not one of them)."""
    order = np.argsort(labels, kind="mergesort")
    pos = np.searchsorted(labels, values, sorter=order)
    pos = np.minimum(pos, len(labels) - 1)
    idx = order[pos]
    return np.where(labels[idx] == values, idx, -1)


def confusion(y_true: Any, y_pred: Any, sample_weight: Any = None,
              labels: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, matrix)``: rows are true labels, columns predicted ones, (weighted) counts.

    Without ``labels``, the sorted labels of both arrays; with them, in their order, and samples
    whose true or predicted label is not among them are left out (scikit-learn's rule)."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    w = weights(sample_weight, len(t))
    if labels is None:
        labels, codes = np.unique(np.concatenate([t, p]), return_inverse=True)
        ct, cp = codes[: len(t)], codes[len(t):]
    else:
        labels = np.asarray(labels)
        ct, cp = _codes(t, labels), _codes(p, labels)
        keep = (ct >= 0) & (cp >= 0)
        ct, cp, w = ct[keep], cp[keep], (None if w is None else w[keep])
    k = len(labels)
    matrix = np.bincount(ct * k + cp, weights=w, minlength=k * k).reshape(k, k)
    return labels, matrix


def _class_sums(y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray | None, w: np.ndarray | None):
    """Per label: true positives, predicted count and true count (weighted), as scikit-learn sums them.
    Without ``labels``, the sorted labels of both arrays (found in one pass)."""
    if labels is None:
        labels, codes = np.unique(np.concatenate([y_true, y_pred]), return_inverse=True)
        ct, cp = codes[: len(y_true)], codes[len(y_true):]
    else:
        ct, cp = _codes(y_true, labels), _codes(y_pred, labels)
    k = len(labels)
    hit = (ct == cp) & (ct >= 0)
    tp = np.bincount(ct[hit], weights=None if w is None else w[hit], minlength=k)
    pred = np.bincount(cp[cp >= 0], weights=None if w is None else w[cp >= 0], minlength=k)
    true = np.bincount(ct[ct >= 0], weights=None if w is None else w[ct >= 0], minlength=k)
    return tp, pred, true


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros(np.shape(num), dtype=float)
    np.divide(num, den, out=out, where=den != 0)
    return out


def precision_recall_f1(y_true: Any, y_pred: Any, average: str = "weighted", pos_label: Any = 1,
                        sample_weight: Any = None, labels: Any = None) -> dict[str, Any]:
    """Precision, recall and F1 (0 where undefined), averaged as scikit-learn's ``average=``:
    ``binary`` (the ``pos_label`` class), ``micro``, ``macro``, ``weighted`` or None (per label, each
    label against the rest, with the (weighted) counts: ``support``, ``true_positives``, ``predicted``).
    ``labels`` defaults to the sorted labels of both arrays."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if average == "binary":
        labels = [pos_label]
    tp, pred, true = _class_sums(t, p, None if labels is None else np.asarray(labels), weights(sample_weight, len(t)))
    if average == "micro":
        tp, pred, true = np.array([tp.sum()]), np.array([pred.sum()]), np.array([true.sum()])
    precision, recall = _divide(tp, pred), _divide(tp, true)
    f1 = _divide(2 * tp.astype(float), true.astype(float) + pred)
    if average is None:
        return {"precision": precision, "recall": recall, "f1": f1, "support": true, "true_positives": tp,
                "predicted": pred}
    # np.average's own arithmetic, without its argument checks (this runs on every autologged fit)
    if average == "weighted":
        scale = true.sum()
        if scale == 0:
            return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
        avg = lambda v: float(np.multiply(v, true).sum() / scale)  # noqa: E731
    else:
        avg = lambda v: float(v.mean())  # noqa: E731
    return {"precision": avg(precision), "recall": avg(recall), "f1": avg(f1)}


def accuracy(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """The (weighted) share of predictions equal to the target."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    return float(np.average(t == p, weights=weights(sample_weight, len(t))))


def log_loss(y_true: Any, proba: Any, labels: Any = None, sample_weight: Any = None) -> float:
    """Cross-entropy of probability columns ordered as the sorted ``labels`` (default: the labels of
    ``y_true``), clipped to [eps, 1-eps] as scikit-learn does. ValueError when they do not fit."""
    t = np.asarray(y_true)
    proba = np.asarray(proba, dtype=float)
    if proba.ndim == 1:
        proba = proba[:, None]
    if proba.shape[1] == 1:
        proba = np.concatenate([1 - proba, proba], axis=1)
    if proba.max() > 1:
        raise ValueError(f"y_prob contains values greater than 1: {proba.max()}")
    if proba.min() < 0:
        raise ValueError(f"y_prob contains values lower than 0: {proba.min()}")
    classes = np.unique(t if labels is None else np.asarray(labels))
    if labels is not None and len(classes) == 1:
        raise ValueError(f"The labels array needs to contain at least two labels for log_loss, got {classes}.")
    idx = _codes(t, classes)
    if np.any(idx < 0):
        raise ValueError("y_true contains values not belonging to the passed labels.")
    if len(classes) != proba.shape[1]:
        raise ValueError(f"The number of classes in labels is different from that in y_prob. "
                         f"Classes found in labels: {classes}")
    eps = np.finfo(proba.dtype).eps
    picked = np.clip(proba, eps, 1 - eps)[np.arange(len(idx)), idx]
    return float(np.average(-np.log(picked), weights=weights(sample_weight, len(idx))))


# -- curves ------------------------------------------------------------------------------------
def _binary_counts(y_true: Any, score: Any, pos_label: Any, sample_weight: Any):
    """Cumulative (weighted) false and true positives at each distinct score, highest score first,
    and those scores."""
    score = np.asarray(score, dtype=float).reshape(-1)
    positive = (np.asarray(y_true) == pos_label).astype(float)
    order = np.argsort(score, kind="mergesort")[::-1]
    score, positive = score[order], positive[order]
    w = weights(sample_weight, len(score))
    w = 1.0 if w is None else w[order]
    last = np.append(np.flatnonzero(np.diff(score)), positive.size - 1)
    tps = np.cumsum(positive * w, dtype=np.float64)[last]
    if sample_weight is None:
        fps = 1 + last - tps
    else:
        fps = np.cumsum((1 - positive) * w, dtype=np.float64)[last]
    return fps, tps, score[last]


def roc_curve(y_true: Any, score: Any, pos_label: Any = 1,
              sample_weight: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)`` of a binary problem, collinear points dropped as scikit-learn does."""
    fps, tps, thresholds = _binary_counts(y_true, score, pos_label, sample_weight)
    if len(fps) > 2:
        keep = np.ones(len(fps), dtype=bool)
        keep[1:-1] = np.logical_or(np.diff(fps, 2), np.diff(tps, 2))
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    tps, fps = np.concatenate([[0.0], tps]), np.concatenate([[0.0], fps])
    thresholds = np.concatenate([[np.inf], thresholds])
    fpr = fps / fps[-1] if fps[-1] > 0 else np.full(fps.shape, np.nan)
    tpr = tps / tps[-1] if tps[-1] > 0 else np.full(tps.shape, np.nan)
    return fpr, tpr, thresholds


def roc_auc(y_true: Any, score: Any, pos_label: Any = 1, sample_weight: Any = None) -> float:
    """Area under the ROC curve of a binary problem (ValueError when only one class is present)."""
    fpr, tpr, _ = roc_curve(y_true, score, pos_label, sample_weight)
    if np.isnan(fpr[-1]) or np.isnan(tpr[-1]):
        raise ValueError("Only one class present in y_true. ROC AUC score is not defined in that case.")
    return roc_area(fpr, tpr)


def roc_area(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """The area under a ROC curve given as points (trapezoids)."""
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # NumPy < 2 names it trapz
    return float(trapezoid(tpr, fpr))


def precision_recall_curve(y_true: Any, score: Any, pos_label: Any = 1,
                           sample_weight: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(precision, recall, thresholds)``, recall decreasing, ending at (1, 0) as scikit-learn's."""
    fps, tps, thresholds = _binary_counts(y_true, score, pos_label, sample_weight)
    precision = _divide(tps, tps + fps)
    recall = np.ones_like(tps) if tps[-1] == 0 else tps / tps[-1]
    return np.hstack((precision[::-1], 1)), np.hstack((recall[::-1], 0)), thresholds[::-1]


def average_precision(y_true: Any, score: Any, pos_label: Any = 1, sample_weight: Any = None) -> float:
    """The area under the precision-recall curve as a step function (scikit-learn's definition)."""
    precision, recall, _ = precision_recall_curve(y_true, score, pos_label, sample_weight)
    return step_area(precision, recall)


def step_area(precision: np.ndarray, recall: np.ndarray) -> float:
    """Average precision of a curve from :func:`precision_recall_curve` (recall decreasing)."""
    return float(-np.sum(np.diff(recall) * precision[:-1]))


def roc_auc_ovr(y_true: Any, proba: Any, labels: Any, average: str = "weighted",
                sample_weight: Any = None) -> float:
    """One-vs-rest ROC AUC of a multiclass problem, ``average`` ``macro`` or ``weighted`` (by each
    class's weighted count). ``proba``'s columns follow ``labels``, which must be sorted."""
    t, proba, labels = np.asarray(y_true), np.asarray(proba, dtype=float), np.asarray(labels)
    if not np.allclose(1, proba.sum(axis=1)):
        raise ValueError("Target scores need to be probabilities for multiclass roc_auc, i.e. they "
                         "should sum up to 1.0 over classes")
    if len(labels) != proba.shape[1]:
        raise ValueError(f"Number of given labels, {len(labels)}, not equal to the number of columns "
                         f"in 'y_score', {proba.shape[1]}")
    if np.any(_codes(t, labels) < 0):
        raise ValueError("'y_true' contains labels not in parameter 'labels'")
    w = weights(sample_weight, len(t))
    scores, counts = [], []
    for j, label in enumerate(labels):
        positive = (t == label).astype(float)
        counts.append(positive.sum() if w is None else np.sum(positive * w))
        scores.append(roc_auc(positive, proba[:, j], 1.0, w))
    return float(np.average(scores, weights=counts if average == "weighted" else None))


# -- regression --------------------------------------------------------------------------------
def _targets(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Targets and predictions as float columns, one per output."""
    t = np.asarray(y_true, dtype=float)
    t = t.reshape(-1, 1) if t.ndim == 1 else t
    p = np.asarray(y_pred, dtype=float).reshape(t.shape)
    return t, p


def mean_squared_error(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """Mean squared error, outputs averaged uniformly."""
    t, p = _targets(y_true, y_pred)
    return float(np.average(np.average((t - p) ** 2, axis=0, weights=weights(sample_weight, len(t)))))


def mean_absolute_error(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """Mean absolute error, outputs averaged uniformly."""
    t, p = _targets(y_true, y_pred)
    return float(np.average(np.average(np.abs(p - t), axis=0, weights=weights(sample_weight, len(t)))))


def mean_absolute_percentage_error(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """Mean of ``|error| / max(|target|, eps)`` (a share, not a percentage), outputs averaged uniformly."""
    t, p = _targets(y_true, y_pred)
    share = np.abs(p - t) / np.maximum(np.abs(t), np.finfo(np.float64).eps)
    return float(np.average(np.average(share, axis=0, weights=weights(sample_weight, len(t)))))


def max_error(y_true: Any, y_pred: Any) -> float:
    """The largest absolute error (one output)."""
    t, p = _targets(y_true, y_pred)
    return float(np.max(np.abs(t - p)))


def r2(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """R², outputs averaged uniformly: 1 for perfect predictions, 0 for a constant target predicted
    wrong (rather than minus infinity), NaN with fewer than two samples."""
    t, p = _targets(y_true, y_pred)
    if len(t) < 2:
        return float("nan")
    w = weights(sample_weight, len(t))
    weight = 1.0 if w is None else w[:, None]
    numerator = np.sum(weight * (t - p) ** 2, axis=0)
    denominator = np.sum(weight * (t - np.average(t, axis=0, weights=w)) ** 2, axis=0)
    out = np.ones(t.shape[1])
    valid = (denominator != 0) & (numerator != 0)
    out[valid] = 1 - numerator[valid] / denominator[valid]
    out[(numerator != 0) & (denominator == 0)] = 0.0
    return float(np.average(out))

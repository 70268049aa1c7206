"""Training metrics with MLflow's names, computed with NumPy directly.

scikit-learn's metric functions validate their inputs again on every call (target types, label
sets, lengths), which costs a millisecond or more each; autolog computes one confusion matrix and
derives precision, recall, F1 and accuracy from it, so the values equal scikit-learn's (tested
against them) at a fraction of the cost. Unusual targets (multilabel, multioutput classifiers,
multiclass ROC AUC) fall back to scikit-learn's own functions.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

PREFIX = "training_"


def _weights(sample_weight: Any, n: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n)
    return np.asarray(sample_weight, dtype=float).reshape(-1)


def _column(y: Any) -> np.ndarray | None:
    """``y`` as a 1-D array, or None when it is really 2-D (multilabel / multioutput)."""
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    return arr if arr.ndim == 1 else None


def confusion(y_true: Any, y_pred: Any, sample_weight: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, matrix)``: rows are true labels, columns predicted ones, weighted counts."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    labels, codes = np.unique(np.concatenate([t, p]), return_inverse=True)
    k = len(labels)
    n = len(t)
    cells = codes[:n] * k + codes[n:]
    matrix = np.bincount(cells, weights=_weights(sample_weight, n), minlength=k * k).reshape(k, k)
    return labels, matrix


def _scores_from_confusion(matrix: np.ndarray) -> dict[str, float]:
    tp = np.diag(matrix)
    predicted = matrix.sum(axis=0)
    support = matrix.sum(axis=1)
    total = support.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denom = 2 * tp + (predicted - tp) + (support - tp)
        f1 = np.where(denom > 0, 2 * tp / denom, 0.0)
    weighted = (lambda v: float(np.dot(v, support) / total)) if total > 0 else (lambda v: 0.0)
    return {
        "precision_score": weighted(precision),
        "recall_score": weighted(recall),
        "f1_score": weighted(f1),
        "accuracy_score": float(tp.sum() / total) if total > 0 else 0.0,
    }


def log_loss(y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray, sample_weight: Any = None) -> float | None:
    """Cross-entropy as scikit-learn computes it (probabilities clipped to [eps, 1-eps])."""
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape[1] != len(classes) or len(np.unique(y_true)) != len(classes):
        return None  # scikit-learn refuses these too
    idx = np.searchsorted(classes, y_true)
    if np.any(idx >= len(classes)) or np.any(classes[np.minimum(idx, len(classes) - 1)] != y_true):
        return None
    eps = np.finfo(proba.dtype).eps
    picked = np.clip(proba[np.arange(len(idx)), idx], eps, 1 - eps)
    return float(np.average(-np.log(picked), weights=_weights(sample_weight, len(idx))))


def _binary_counts(y_true: np.ndarray, score: np.ndarray, pos_label: Any, sample_weight: Any):
    """Cumulative weighted true/false positives at each distinct score, highest score first."""
    order = np.argsort(score, kind="mergesort")[::-1]
    s = np.asarray(score, dtype=float)[order]
    pos = (y_true[order] == pos_label).astype(float)
    w = _weights(sample_weight, len(s))[order]
    last = np.r_[np.where(np.diff(s))[0], len(s) - 1]
    tps = np.cumsum(pos * w)[last]
    fps = np.cumsum((1 - pos) * w)[last]
    return tps, fps, s[last]


def roc_curve(y_true: Any, score: Any, pos_label: Any, sample_weight: Any = None) -> tuple[np.ndarray, np.ndarray, float]:
    """``(fpr, tpr, auc)`` of a binary problem."""
    tps, fps, _ = _binary_counts(np.asarray(y_true), score, pos_label, sample_weight)
    fpr = np.r_[0.0, fps / fps[-1]]
    tpr = np.r_[0.0, tps / tps[-1]]
    return fpr, tpr, float(np.trapezoid(tpr, fpr))


def precision_recall_curve(y_true: Any, score: Any, pos_label: Any, sample_weight: Any = None) -> tuple[np.ndarray, np.ndarray, float]:
    """``(recall, precision, average_precision)`` of a binary problem."""
    tps, fps, _ = _binary_counts(np.asarray(y_true), score, pos_label, sample_weight)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return np.r_[0.0, recall], np.r_[1.0, precision], ap


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def classifier_metrics(y_true: Any, y_pred: Any, proba: Any = None, classes: Any = None,
                       sample_weight: Any = None, prefix: str = PREFIX, pos_label: Any = None) -> dict[str, float]:
    """precision/recall/F1 (weighted; binary scores of ``pos_label`` when given, as MLflow), accuracy,
    and with probabilities log loss and ROC AUC."""
    t, p = _column(y_true), _column(y_pred)
    if t is None or p is None or pos_label is not None:
        out = _sklearn_classifier_metrics(y_true, y_pred, sample_weight, "", pos_label)
        if t is None or p is None:
            return {prefix + k: v for k, v in out.items()}
    else:
        out = _scores_from_confusion(confusion(t, p, sample_weight)[1])
    if proba is not None and classes is not None:
        classes = np.asarray(classes)
        loss = log_loss(t, proba, classes, sample_weight)
        if loss is not None:
            out["log_loss"] = loss
        if len(np.unique(t)) == 2 and np.asarray(proba).shape[1] == 2:
            out["roc_auc"] = roc_curve(t, np.asarray(proba)[:, 1], classes[1], sample_weight)[2]
        elif len(classes) > 2:
            from sklearn.metrics import roc_auc_score

            try:
                out["roc_auc"] = float(_quiet(roc_auc_score, t, proba, average="weighted",
                                              multi_class="ovo", sample_weight=sample_weight))
            except ValueError:
                pass  # e.g. a class missing from y_true; scikit-learn cannot score it either
    return {prefix + k: v for k, v in out.items()}


def _sklearn_classifier_metrics(y_true, y_pred, sample_weight, prefix, pos_label=None) -> dict[str, float]:
    from sklearn import metrics as m

    out = {}
    average = {"average": "weighted"} if pos_label is None else {"average": "binary", "pos_label": pos_label}
    for name in ("precision_score", "recall_score", "f1_score"):
        try:
            out[prefix + name] = float(_quiet(getattr(m, name), y_true, y_pred, sample_weight=sample_weight,
                                              **average))
        except ValueError:  # pos_label not a class, or several classes with pos_label: MLflow skips it too
            pass
    out[prefix + "accuracy_score"] = float(_quiet(m.accuracy_score, y_true, y_pred, sample_weight=sample_weight))
    return out


def regressor_metrics(y_true: Any, y_pred: Any, sample_weight: Any = None, prefix: str = PREFIX) -> dict[str, float]:
    """MSE, RMSE (square root of the MSE, as MLflow logs it), MAE and R², outputs averaged uniformly."""
    t = np.asarray(y_true, dtype=float)
    p = np.asarray(y_pred, dtype=float).reshape(t.shape)
    if t.ndim == 1:
        t, p = t[:, None], p[:, None]
    w = _weights(sample_weight, len(t))
    err = t - p
    mse = np.average(err**2, axis=0, weights=w)
    mae = np.average(np.abs(err), axis=0, weights=w)
    ss_res = np.dot(w, err**2)
    ss_tot = np.dot(w, (t - np.average(t, axis=0, weights=w)) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1 - ss_res / ss_tot, np.where(ss_res > 0, 0.0, 1.0))
    return {
        prefix + "mean_squared_error": float(mse.mean()),
        prefix + "root_mean_squared_error": float(np.sqrt(mse.mean())),
        prefix + "mean_absolute_error": float(mae.mean()),
        prefix + "r2_score": float(r2.mean()),
    }


def clusterer_metrics(X: Any, labels: Any, prefix: str = PREFIX, max_rows: int = 1000) -> dict[str, float]:
    """Silhouette (on at most ``max_rows`` rows, seeded), Calinski-Harabasz and Davies-Bouldin scores."""
    from sklearn import metrics as m

    labels = np.asarray(labels)
    n_labels = len(np.unique(labels))
    if not 1 < n_labels < len(labels):
        return {}
    sample = {"sample_size": max_rows, "random_state": 0} if len(labels) > max_rows else {}
    return {
        prefix + "silhouette_score": float(_quiet(m.silhouette_score, X, labels, **sample)),
        prefix + "calinski_harabasz_score": float(_quiet(m.calinski_harabasz_score, X, labels)),
        prefix + "davies_bouldin_score": float(_quiet(m.davies_bouldin_score, X, labels)),
    }

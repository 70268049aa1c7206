"""Training metrics with MLflow's names, from the NumPy scores of :mod:`mlnb.evaluation.scores`.

scikit-learn's metric functions validate their inputs again on every call (target types, label
sets, lengths), which costs a millisecond or more each; the scores module computes the same values
(tested against scikit-learn's) from one pass of counts. Unusual targets (multilabel, multioutput
classifiers, multiclass ROC AUC, which MLflow computes one-vs-one) fall back to scikit-learn's own
functions.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from mlnb.evaluation import scores
from mlnb.evaluation.scores import confusion

PREFIX = "training_"

__all__ = ["PREFIX", "column", "confusion", "roc_curve", "precision_recall_curve", "classifier_metrics",
           "regressor_metrics", "clusterer_metrics"]


def column(y: Any) -> np.ndarray | None:
    """``y`` as a 1-D array, or None when it is really 2-D (multilabel / multioutput)."""
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    return arr if arr.ndim == 1 else None


def roc_curve(y_true: Any, score: Any, pos_label: Any, sample_weight: Any = None) -> tuple[np.ndarray, np.ndarray, float]:
    """``(fpr, tpr, auc)`` of a binary problem: what autolog's ROC plot draws."""
    fpr, tpr, _ = scores.roc_curve(y_true, score, pos_label, sample_weight)
    return fpr, tpr, scores.roc_area(fpr, tpr)


def precision_recall_curve(y_true: Any, score: Any, pos_label: Any, sample_weight: Any = None) -> tuple[np.ndarray, np.ndarray, float]:
    """``(recall, precision, average_precision)`` of a binary problem: what autolog's PR plot draws."""
    precision, recall, _ = scores.precision_recall_curve(y_true, score, pos_label, sample_weight)
    return recall[::-1], precision[::-1], scores.step_area(precision, recall)


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def classifier_metrics(y_true: Any, y_pred: Any, proba: Any = None, classes: Any = None,
                       sample_weight: Any = None, prefix: str = PREFIX, pos_label: Any = None) -> dict[str, float]:
    """precision/recall/F1 (weighted; binary scores of ``pos_label`` when given, as MLflow), accuracy,
    and with probabilities log loss and ROC AUC."""
    t, p = column(y_true), column(y_pred)
    if t is None or p is None or pos_label is not None:
        out = _sklearn_classifier_metrics(y_true, y_pred, sample_weight, "", pos_label)
        if t is None or p is None:
            return {prefix + k: v for k, v in out.items()}
    else:
        prf = scores.precision_recall_f1(t, p, average="weighted", sample_weight=sample_weight)
        out = {"precision_score": prf["precision"], "recall_score": prf["recall"], "f1_score": prf["f1"],
               "accuracy_score": scores.accuracy(t, p, sample_weight)}
    if proba is not None and classes is not None:
        classes = np.asarray(classes)
        proba = np.asarray(proba)
        n_true = len(np.unique(t))
        if proba.ndim == 2 and proba.shape[1] == len(classes) == n_true:
            try:
                out["log_loss"] = scores.log_loss(t, proba, labels=classes, sample_weight=sample_weight)
            except ValueError:
                pass  # targets outside the estimator's classes: scikit-learn cannot score it either
        if n_true == 2 and proba.shape[1] == 2:
            out["roc_auc"] = scores.roc_auc(t, proba[:, 1], classes[1], sample_weight)
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
    mse = scores.mean_squared_error(y_true, y_pred, sample_weight)
    return {
        prefix + "mean_squared_error": mse,
        prefix + "root_mean_squared_error": float(np.sqrt(mse)),
        prefix + "mean_absolute_error": scores.mean_absolute_error(y_true, y_pred, sample_weight),
        prefix + "r2_score": scores.r2(y_true, y_pred, sample_weight),
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

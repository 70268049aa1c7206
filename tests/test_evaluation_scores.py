"""The NumPy classification scores (mlnb.evaluation.scores) equal scikit-learn's, over random
targets, scores, weights, label types and averages; and the module imports only NumPy."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from mlnb.evaluation import scores

SEEDS = range(8)


def _data(seed: int, n_classes: int, weighted: bool, strings: bool, ties: bool):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 300))
    y = rng.integers(0, n_classes, n)
    y[:n_classes] = np.arange(n_classes)  # every class present
    pred = np.where(rng.random(n) < 0.7, y, rng.integers(0, n_classes, n))
    proba = rng.random((n, n_classes))
    if ties:
        proba = np.round(proba, 1) + 1e-3
    proba /= proba.sum(axis=1, keepdims=True)
    w = rng.random(n) * 3 if weighted else None
    if strings:
        names = np.array([f"class_{c}" for c in range(n_classes)])
        y, pred = names[y], names[pred]
    return y, pred, proba, w


def _close(a, b):
    assert a == pytest.approx(b, rel=1e-12, abs=1e-15)


CASES = [(seed, k, weighted, strings, ties) for seed in SEEDS for k in (2, 4)
         for weighted, strings, ties in [(False, False, False), (True, True, True), (True, False, False)]]


@pytest.mark.parametrize("seed,k,weighted,strings,ties", CASES)
def test_label_scores_equal_scikit_learns(seed, k, weighted, strings, ties):
    y, pred, proba, w = _data(seed, k, weighted, strings, ties)
    labels = np.unique(y)
    _close(scores.accuracy(y, pred, w), skm.accuracy_score(y, pred, sample_weight=w))
    averages = ["micro", "macro", "weighted"] + (["binary"] if k == 2 else [])
    for average in averages:
        pos = labels[0] if average == "binary" else None
        ours = scores.precision_recall_f1(y, pred, average=average, pos_label=pos, sample_weight=w)
        for key, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
            extra = {"pos_label": pos} if average == "binary" else {}
            _close(ours[key], fn(y, pred, average=average, sample_weight=w, zero_division=0, **extra))
    _close(scores.log_loss(y, proba, labels=labels, sample_weight=w),
           skm.log_loss(y, proba, labels=labels, sample_weight=w))
    _, ours = scores.confusion(y, pred, w, labels=labels[::-1])
    np.testing.assert_allclose(ours, skm.confusion_matrix(y, pred, labels=labels[::-1], sample_weight=w), rtol=1e-12)


@pytest.mark.parametrize("seed,k,weighted,strings,ties", CASES)
def test_curves_and_areas_equal_scikit_learns(seed, k, weighted, strings, ties):
    y, _, proba, w = _data(seed, k, weighted, strings, ties)
    labels = np.unique(y)
    score = proba[:, -1]
    yb, pos = (y, labels[-1]) if k == 2 else (y == labels[-1], True)  # scikit-learn's curves are binary only
    for ours, theirs in zip(scores.roc_curve(yb, score, pos, w), skm.roc_curve(yb, score, pos_label=pos, sample_weight=w)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    for ours, theirs in zip(scores.precision_recall_curve(yb, score, pos, w),
                            skm.precision_recall_curve(yb, score, pos_label=pos, sample_weight=w)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    _close(scores.roc_auc(yb == pos, score, True, w), skm.roc_auc_score(yb == pos, score, sample_weight=w))
    _close(scores.average_precision(yb, score, pos, w),
           skm.average_precision_score(yb, score, pos_label=pos, sample_weight=w))
    if k > 2:
        for average in ("macro", "weighted"):
            _close(scores.roc_auc_ovr(y, proba, labels, average, w),
                   skm.roc_auc_score(y, proba, labels=labels, average=average, multi_class="ovr", sample_weight=w))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("outputs", [1, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_scores_equal_scikit_learns(seed, outputs, weighted):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 300))
    y = rng.normal(size=(n, outputs)) * 10 + (100 if seed % 2 else 0)
    pred = y + rng.normal(size=y.shape)
    if outputs == 1:
        y, pred = y[:, 0], pred[:, 0]
    w = rng.random(n) if weighted else None
    for ours, theirs in ((scores.mean_squared_error, skm.mean_squared_error),
                         (scores.mean_absolute_error, skm.mean_absolute_error),
                         (scores.mean_absolute_percentage_error, skm.mean_absolute_percentage_error),
                         (scores.r2, skm.r2_score)):
        assert ours(y, pred, w) == theirs(y, pred, sample_weight=w), ours.__name__   # the same arithmetic
    if outputs == 1:
        assert scores.max_error(y, pred) == skm.max_error(y, pred)
    assert scores.r2(y, y, w) == 1.0
    const = np.full(n, 3.0)
    assert scores.r2(const, const + 1, w) == skm.r2_score(const, const + 1, sample_weight=w)
    assert scores.r2(const, const + 1) == 0.0 and np.isnan(scores.r2([1.0], [2.0]))


def test_errors_are_the_ones_scikit_learn_raises_for_the_same_input():
    y = np.array([0, 1, 1, 0])
    with pytest.raises(ValueError, match="Only one class present"):
        scores.roc_auc(np.ones(4), np.linspace(0, 1, 4))
    with pytest.raises(ValueError, match="not belonging to the passed labels"):
        scores.log_loss(np.array([0, 1, 2, 0]), np.full((4, 2), 0.5), labels=[0, 1])
    with pytest.raises(ValueError, match="different from that in y_prob"):
        scores.log_loss(y, np.full((4, 3), 1 / 3), labels=[0, 1])
    with pytest.raises(ValueError, match="sum up to 1.0"):
        scores.roc_auc_ovr(np.array([0, 1, 2]), np.zeros((3, 3)), [0, 1, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert scores.precision_recall_f1([0, 0], [0, 0], average="binary", pos_label=1) == \
            {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_the_scores_module_imports_only_numpy():
    code = ("import sys, mlnb.evaluation.scores; "
            "print(sorted({'sklearn', 'pandas', 'scipy', 'matplotlib'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

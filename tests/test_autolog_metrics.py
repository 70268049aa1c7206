"""Autolog's NumPy training metrics equal scikit-learn's own metric functions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mlnb.autologging import metrics as M

RNG = np.random.RandomState(0)


def _classification(n_classes: int, labels=None, weighted=False):
    y = RNG.randint(0, n_classes, 400)
    y_pred = np.where(RNG.rand(400) < 0.7, y, RNG.randint(0, n_classes, 400))
    proba = RNG.dirichlet(np.ones(n_classes), 400)
    proba[np.arange(400), y] += 0.5
    proba /= proba.sum(axis=1, keepdims=True)
    if labels is not None:
        y, y_pred = np.asarray(labels)[y], np.asarray(labels)[y_pred]
    sw = RNG.rand(400) if weighted else None
    return y, y_pred, proba, sw


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("weighted", [False, True])
def test_classifier_metrics_equal_sklearns(n_classes, weighted):
    y, y_pred, proba, sw = _classification(n_classes, weighted=weighted)
    got = M.classifier_metrics(y, y_pred, proba, np.arange(n_classes), sw)
    expected = {
        "training_precision_score": skm.precision_score(y, y_pred, average="weighted", sample_weight=sw),
        "training_recall_score": skm.recall_score(y, y_pred, average="weighted", sample_weight=sw),
        "training_f1_score": skm.f1_score(y, y_pred, average="weighted", sample_weight=sw),
        "training_accuracy_score": skm.accuracy_score(y, y_pred, sample_weight=sw),
        "training_log_loss": skm.log_loss(y, proba, sample_weight=sw),
    }
    if n_classes == 2:
        expected["training_roc_auc"] = skm.roc_auc_score(y, proba[:, 1], sample_weight=sw)
    elif not weighted:
        expected["training_roc_auc"] = skm.roc_auc_score(y, proba, average="weighted", multi_class="ovo")
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
    assert set(got) >= set(expected)


def test_string_labels_and_a_class_never_predicted():
    y, y_pred, _, _ = _classification(3, labels=["cat", "dog", "eel"])
    y_pred = np.where(y_pred == "eel", "dog", y_pred)  # "eel" never predicted: precision 0 for it
    got = M.classifier_metrics(y, y_pred)
    with pytest.warns(UserWarning, match="ill-defined"):  # scikit-learn warns; autolog stays quiet
        expected = skm.precision_score(y, y_pred, average="weighted")
    assert got["training_precision_score"] == pytest.approx(expected)
    assert got["training_f1_score"] == pytest.approx(skm.f1_score(y, y_pred, average="weighted"))
    assert "training_log_loss" not in got  # no probabilities, no log loss


def test_multilabel_targets_fall_back_to_sklearn():
    y = RNG.randint(0, 2, (100, 3))
    y_pred = np.where(RNG.rand(100, 3) < 0.8, y, 1 - y)
    got = M.classifier_metrics(y, y_pred)
    assert got["training_accuracy_score"] == pytest.approx(skm.accuracy_score(y, y_pred))
    assert got["training_f1_score"] == pytest.approx(skm.f1_score(y, y_pred, average="weighted"))


@pytest.mark.parametrize("outputs", [1, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_regressor_metrics_equal_sklearns(outputs, weighted):
    shape = (300,) if outputs == 1 else (300, outputs)
    y = RNG.randn(*shape)
    y_pred = y + 0.3 * RNG.randn(*shape)
    sw = RNG.rand(300) if weighted else None
    got = M.regressor_metrics(y, y_pred, sw)
    mse = skm.mean_squared_error(y, y_pred, sample_weight=sw)
    assert got == pytest.approx({
        "training_mean_squared_error": mse,
        "training_root_mean_squared_error": np.sqrt(mse),  # MLflow logs sqrt(MSE)
        "training_mean_absolute_error": skm.mean_absolute_error(y, y_pred, sample_weight=sw),
        "training_r2_score": skm.r2_score(y, y_pred, sample_weight=sw),
    }, rel=1e-12)


def test_r2_of_a_constant_target_follows_sklearn():
    y = np.ones(20)
    assert M.regressor_metrics(y, y)["training_r2_score"] == skm.r2_score(y, y) == 1.0
    assert M.regressor_metrics(y, y + 1)["training_r2_score"] == skm.r2_score(y, y + 1) == 0.0


@pytest.mark.parametrize("weighted", [False, True])
def test_curves_match_sklearns_areas(weighted):
    y = RNG.randint(0, 2, 500)
    score = np.round(RNG.rand(500) + 0.4 * y, 2)  # rounded: many ties
    sw = RNG.rand(500) if weighted else None
    fpr, tpr, auc = M.roc_curve(y, score, 1, sw)
    assert auc == pytest.approx(skm.roc_auc_score(y, score, sample_weight=sw), rel=1e-12)
    sk_fpr, sk_tpr, _ = skm.roc_curve(y, score, sample_weight=sw)  # collinear points dropped, as plotted
    np.testing.assert_allclose(np.c_[fpr, tpr], np.c_[sk_fpr, sk_tpr])
    _, _, ap = M.precision_recall_curve(y, score, 1, sw)
    assert ap == pytest.approx(skm.average_precision_score(y, score, sample_weight=sw), rel=1e-12)


def test_confusion_matrix_matches_sklearn():
    y, y_pred, _, sw = _classification(4, labels=list("abcd"), weighted=True)
    labels, matrix = M.confusion(y, y_pred, sw)
    assert list(labels) == list("abcd")
    np.testing.assert_allclose(matrix, skm.confusion_matrix(y, y_pred, sample_weight=sw))


def test_clusterer_metrics_equal_sklearns():
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(300, centers=3, random_state=0)
    labels = RNG.randint(0, 3, 300)
    got = M.clusterer_metrics(X, labels)
    assert got == pytest.approx({
        "training_silhouette_score": skm.silhouette_score(X, labels),
        "training_calinski_harabasz_score": skm.calinski_harabasz_score(X, labels),
        "training_davies_bouldin_score": skm.davies_bouldin_score(X, labels),
    })
    assert M.clusterer_metrics(X, np.zeros(300)) == {}  # one cluster: nothing to score

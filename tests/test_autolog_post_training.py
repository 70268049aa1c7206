"""Metrics computed on a logged model's predictions join the model's run, under MLflow's keys."""

from __future__ import annotations

import json
import pickle

import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

import mlnb
from tests._autolog import autolog, only_run, runs  # noqa: F401  (fixture)

X, Y = make_classification(200, 5, random_state=0)


def _split():
    return train_test_split(X, Y, test_size=0.3, random_state=0)


def test_metric_on_predictions_is_logged_with_the_dataset_name(autolog):
    import sklearn.metrics

    autolog(log_models=False)
    X_train, X_test, y_train, y_test = _split()
    model = LogisticRegression().fit(X_train, y_train)
    y_pred = model.predict(X_test)
    acc = sklearn.metrics.accuracy_score(y_test, y_pred)
    sklearn.metrics.accuracy_score(y_test, y_pred)  # the second call of the same metric
    f1 = sklearn.metrics.f1_score(y_test, y_pred)
    run = only_run()
    assert run.data.metrics["accuracy_score_X_test"] == pytest.approx(acc)
    assert run.data.metrics["accuracy_score-2_X_test"] == pytest.approx(acc)
    assert run.data.metrics["f1_score_X_test"] == pytest.approx(f1)
    info = json.loads(open(mlnb.download_artifacts(run_id=run.info.run_id, artifact_path="metric_info.json")).read())
    assert info["accuracy_score_X_test"] == "accuracy_score(y_true=y_test, y_pred=y_pred)"


def test_score_on_a_dataset_is_logged(autolog):
    autolog(log_models=False)
    X_train, X_eval, y_train, y_eval = _split()
    model = LogisticRegression().fit(X_train, y_train)
    value = model.score(X_eval, y_eval)
    assert only_run().data.metrics["LogisticRegression_score_X_eval"] == pytest.approx(value)


def test_a_second_dataset_with_the_same_name_gets_an_index(autolog):
    import sklearn.metrics

    autolog(log_models=False)
    model = LogisticRegression().fit(X, Y)
    X_test = X[:50]
    sklearn.metrics.accuracy_score(Y[:50], model.predict(X_test))
    X_test = X[50:100]
    sklearn.metrics.accuracy_score(Y[50:100], model.predict(X_test))
    assert {"accuracy_score_X_test", "accuracy_score-2_X_test-2"} <= set(only_run().data.metrics)


def test_functions_imported_before_autolog_and_untracked_predictions_log_nothing(autolog):
    import sklearn.metrics

    autolog(log_models=False)
    model = LogisticRegression().fit(X, Y)
    accuracy_score(Y, model.predict(X))  # imported before autolog(): the original, as in MLflow
    sklearn.metrics.f1_score(Y, Y)      # not a prediction of a logged model
    assert [k for k in only_run().data.metrics if not k.startswith("training_")] == []
    assert f1_score is not sklearn.metrics.f1_score


def test_post_training_metrics_can_be_turned_off(autolog):
    import sklearn.metrics

    autolog(log_models=False, log_post_training_metrics=False)
    model = LogisticRegression().fit(X, Y)
    sklearn.metrics.accuracy_score(Y, model.predict(X))
    assert sklearn.metrics.accuracy_score is accuracy_score
    assert all(k.startswith("training_") for k in only_run().data.metrics)


def test_logged_model_pickles_without_autolog_state(autolog):
    autolog(log_models=False)
    model = LogisticRegression().fit(X, Y)
    clone = pickle.loads(pickle.dumps(model))
    assert vars(clone).keys() == vars(model).keys()
    assert not any(k.startswith(("_mlflow", "_mlnb")) for k in vars(model))
    assert len(runs()) == 1

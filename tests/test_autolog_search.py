"""Hyperparameter searches: the parent run, cv_results.csv and child runs for the best candidates."""

from __future__ import annotations


import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.svm import SVC

import mlnb
from tests._autolog import autolog, runs  # noqa: F401  (fixture)

X, Y = make_classification(120, 5, n_informative=3, random_state=0)
GRID = {"C": [0.01, 0.1, 1.0, 10.0], "fit_intercept": [True, False]}  # 8 candidates


def _parent_and_children():
    all_runs = runs()
    parents = [r for r in all_runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in all_runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    return parent, children


def test_grid_search_parent_run(autolog):
    autolog()
    search = GridSearchCV(LogisticRegression(), GRID, cv=3).fit(X, Y)
    parent, _ = _parent_and_children()
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["estimator_name"] == "GridSearchCV"
    assert parent.data.params["best_C"] == str(search.best_params_["C"])
    assert parent.data.params["best_fit_intercept"] == str(search.best_params_["fit_intercept"])
    assert parent.data.params["cv"] == "3"
    assert "estimator__C" not in parent.data.params  # the seed's untuned params are not logged
    assert parent.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert "training_accuracy_score" in parent.data.metrics
    client = mlnb.MlnbClient()
    assert {"model", "best_estimator", "cv_results.csv"} <= {a.path for a in client.list_artifacts(parent.info.run_id)}
    csv = client.download_artifacts(parent.info.run_id, "cv_results.csv")
    table = pd.read_csv(csv)
    assert len(table) == 8 and "mean_test_score" in table.columns and "rank_test_score" in table.columns
    best = mlnb.sklearn.load_model(f"runs:/{parent.info.run_id}/best_estimator")
    assert best.get_params()["C"] == search.best_params_["C"]


def test_child_runs_for_the_best_candidates(autolog):
    autolog(log_models=False, max_tuning_runs=3)
    search = GridSearchCV(LogisticRegression(), GRID, cv=3).fit(X, Y)
    parent, children = _parent_and_children()
    assert len(children) == 3
    results = pd.DataFrame(search.cv_results_)
    best3 = results.nsmallest(3, "rank_test_score")
    assert sorted(c.data.metrics["mean_test_score"] for c in children) == pytest.approx(
        sorted(best3["mean_test_score"]))
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags["estimator_name"] == "LogisticRegression"
        assert child.data.tags["mlflow.autologging"] == "sklearn"
        assert child.data.params["max_iter"] == "100"  # the seed's full params...
        assert child.data.params["C"] in {str(c) for c in GRID["C"]}  # ...with the candidate's
        assert {"mean_fit_time", "std_test_score", "rank_test_score"} <= set(child.data.metrics)
        assert not any(k.startswith(("split", "param")) for k in child.data.metrics)
        assert child.info.start_time == parent.info.start_time


def test_max_tuning_runs_none_logs_every_candidate(autolog):
    autolog(log_models=False, max_tuning_runs=None)
    RandomizedSearchCV(SVC(), {"C": [0.1, 1.0, 10.0], "gamma": ["scale", "auto"]}, n_iter=5, cv=2,
                       random_state=0).fit(X, Y)
    parent, children = _parent_and_children()
    assert len(children) == 5
    assert parent.data.tags["estimator_name"] == "RandomizedSearchCV"


def test_multi_metric_search_ranks_by_its_first_rank_column(autolog):
    autolog(log_models=False, max_tuning_runs=2)
    GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0, 10.0]}, cv=2, scoring=["accuracy", "f1"],
                 refit="f1").fit(X, Y)
    parent, children = _parent_and_children()
    assert len(children) == 2
    assert "best_cv_score" in parent.data.metrics
    assert "mean_test_accuracy" in children[0].data.metrics


def test_search_in_an_active_run_uses_it_as_parent(autolog):
    autolog(log_models=False, max_tuning_runs=1)
    with mlnb.start_run() as run:
        GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2).fit(X, Y)
    parent, children = _parent_and_children()
    assert parent.info.run_id == run.info.run_id
    assert len(children) == 1

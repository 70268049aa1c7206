"""MLflow's fluent names for run and experiment lifecycle, parent runs and registry searches,
checked against MLflow 3.17.2 on the same store file."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import mlnb


@pytest.fixture
def model():
    X = np.random.default_rng(0).normal(size=(40, 3))
    return LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))


def test_run_and_experiment_lifecycle_and_parents_as_mlflow_sees_them():
    import mlflow

    exp = mlnb.create_experiment("lifecycle")
    with mlnb.start_run(experiment_id=exp) as parent:
        with mlnb.start_run(nested=True) as child:
            mlnb.set_tag("temp", "x")
            mlnb.delete_tag("temp")
    assert mlnb.get_parent_run(child.info.run_id).info.run_id == parent.info.run_id
    assert mlnb.get_parent_run(parent.info.run_id) is None
    mlnb.delete_run(child.info.run_id)
    mlnb.restore_run(child.info.run_id)
    mlnb.delete_experiment(exp)
    mlnb.restore_experiment(exp)
    mlflow.set_tracking_uri(mlnb.get_tracking_uri())
    theirs = mlflow.get_run(child.info.run_id)
    assert "temp" not in theirs.data.tags
    assert theirs.info.lifecycle_stage == "active"
    assert mlflow.get_parent_run(child.info.run_id).info.run_id == parent.info.run_id
    assert mlflow.get_experiment(exp).lifecycle_stage == "active"


def test_tracking_uri_functions_live_where_mlflow_has_them(tmp_path, monkeypatch):
    import mlnb.tracking

    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert mlnb.is_tracking_uri_set() is False
    mlnb.tracking.set_tracking_uri(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        assert mlnb.tracking.is_tracking_uri_set() is True
        assert mlnb.tracking.get_tracking_uri().endswith("other.db")
    finally:
        from mlnb.tracking.store import set_tracking_uri

        set_tracking_uri(None)  # back to the environment's choice


def test_registry_searches_return_every_page_as_mlflows_fluent_searches(model):
    import mlflow

    with mlnb.start_run():
        for i in range(3):
            mlnb.sklearn.log_model(model, name=f"m{i}", registered_model_name=f"fluent-{i}")
            mlnb.sklearn.log_model(model, name=f"n{i}", registered_model_name="fluent-0")
    mlnb.set_model_version_tag("fluent-0", 1, "stage", "checked")
    ours = mlnb.search_registered_models(filter_string="name LIKE 'fluent-%'", order_by=["name DESC"])
    mlflow.set_tracking_uri(mlnb.get_tracking_uri())
    theirs = mlflow.search_registered_models(filter_string="name LIKE 'fluent-%'", order_by=["name DESC"])
    assert [m.name for m in ours] == [m.name for m in theirs] == ["fluent-2", "fluent-1", "fluent-0"]
    ours_v = mlnb.search_model_versions(filter_string="name = 'fluent-0'", max_results=2)
    theirs_v = mlflow.search_model_versions(filter_string="name = 'fluent-0'", max_results=2)
    assert len(ours_v) == len(theirs_v) == 2
    assert sorted(int(v.version) for v in mlnb.search_model_versions(filter_string="name = 'fluent-0'")) == [1, 2, 3, 4]
    assert mlflow.MlflowClient().get_model_version("fluent-0", "1").tags == {"stage": "checked"}

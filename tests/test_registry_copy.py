"""copy_model_version on one mlflow.db: what mlnb copies, MLflow reads and loads, and the other way round."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import mlnb
import mlnb.sklearn
from mlnb.errors import InvalidParameterError, ResourceNotFoundError


@pytest.fixture
def fitted(classification_data):
    X, y = classification_data
    return LogisticRegression(max_iter=200).fit(X, y), X


@pytest.fixture
def mlflow(tmp_path):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_registry_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return mlflow


def test_a_version_mlnb_copies_reads_and_loads_in_mlflow(mlflow, fitted):
    model, X = fitted
    with mlnb.start_run():
        info = mlnb.sklearn.log_model(model, name="model", registered_model_name="dev-churn")
    client = mlnb.MlflowClient()
    client.set_model_version_tag("dev-churn", 1, "validated", "yes")
    client.update_model_version("dev-churn", 1, description="first good one")
    client.set_registered_model_alias("dev-churn", "champion", 1)
    copy = client.copy_model_version("models:/dev-churn@champion", "prod-churn")
    again = client.copy_model_version("models:/dev-churn/1", "prod-churn")   # the model exists now
    assert (copy.name, copy.version, again.version) == ("prod-churn", 1, 2)
    theirs = mlflow.MlflowClient().get_model_version("prod-churn", 1)
    assert theirs.source == "models:/dev-churn/1" and theirs.run_id == info.run_id
    assert theirs.tags == {"validated": "yes"} and theirs.description == "first good one"
    # the copy's source names a version, not a logged model, so neither tool gives it a model_id
    assert theirs.model_id is None and client.get_model_version("prod-churn", 1).model_id is None
    np.testing.assert_array_equal(mlflow.pyfunc.load_model("models:/prod-churn/2").predict(X), model.predict(X))


def test_a_version_mlflow_copies_reads_and_loads_in_mlnb(mlflow, fitted):
    model, X = fitted
    with mlflow.start_run():
        mlflow.sklearn.log_model(model, name="model", registered_model_name="dev-churn")
    theirs = mlflow.MlflowClient().copy_model_version("models:/dev-churn/1", "prod-churn")
    ours = mlnb.MlflowClient().get_model_version("prod-churn", theirs.version)
    assert (ours.source, ours.run_id, ours.model_id) == ("models:/dev-churn/1", theirs.run_id, theirs.model_id)
    mine = mlnb.MlflowClient().copy_model_version("models:/dev-churn/1", "prod-churn")
    assert mine.version == 2 and mlflow.MlflowClient().get_model_version("prod-churn", 2).source == "models:/dev-churn/1"
    np.testing.assert_array_equal(mlnb.pyfunc.load_model("models:/prod-churn/1").predict(X), model.predict(X))


@pytest.mark.parametrize("uri, error, match", [
    ("runs:/abc/model", InvalidParameterError, "registered versions"),
    ("models:/m-0123456789abcdef0123456789abcdef", InvalidParameterError, "register_model"),
    ("models:/nobody/1", ResourceNotFoundError, "nobody"),
    (None, InvalidParameterError, "registered versions"),
])
def test_bad_sources_get_typed_errors(mlflow, uri, error, match):
    with pytest.raises(error, match=match):
        mlnb.MlflowClient().copy_model_version(uri, "prod")

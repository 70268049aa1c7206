"""The model registry of a real MLflow Tracking Server (``mlflow server``), through its REST API:
mlnb registers and MLflow reads, MLflow registers and mlnb reads and loads."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import mlnb
import mlnb.pyfunc
import mlnb.sklearn
from mlnb.errors import InvalidParameterError, ResourceNotFoundError
from mlnb.tracking.client import MlnbClient
from tests._tracking import mlflow_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow-registry-server")) as url:
        yield url


@pytest.fixture
def on_server(server, monkeypatch):
    monkeypatch.setenv("MLNB_TRACKING_URI", server)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    return server


@pytest.fixture
def fitted(classification_data):
    X, y = classification_data
    return LogisticRegression(max_iter=200).fit(X, y), X


@pytest.fixture
def logged(on_server, fitted):
    """A model mlnb logged to the server (the server only takes sources inside a run's artifacts)."""
    with mlnb.start_run():
        return mlnb.sklearn.log_model(fitted[0], name="model")


def test_mlnb_registers_on_the_server_and_mlflow_reads_and_loads_it(on_server, fitted, request):
    import mlflow
    from mlflow import MlflowClient

    model, X = fitted
    name = f"churn-{request.node.name}"
    mlnb.set_experiment(name)
    with mlnb.start_run() as run:
        info = mlnb.sklearn.log_model(model, name="model", registered_model_name=name)
    assert info.registered_model_version == 1
    client = MlnbClient()
    assert client.registry_uri == on_server
    client.set_registered_model_alias(name, "champion", 1)
    client.set_registered_model_tag(name, "team", "ml")
    client.set_model_version_tag(name, 1, "validated", "yes")
    client.update_model_version(name, 1, "first")
    theirs = MlflowClient(on_server)
    mv = theirs.get_model_version_by_alias(name, "champion")
    assert (str(mv.version), mv.run_id, mv.description, mv.tags, mv.status, mv.current_stage) == (
        "1", run.info.run_id, "first", {"validated": "yes"}, "READY", "None")
    assert mv.source == f"models:/{info.model_id}"  # MLflow 3 registers a logged model by its id
    assert theirs.get_registered_model(name).tags == {"team": "ml"}
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    np.testing.assert_array_equal(loaded.predict(X.head(10)), model.predict(X.head(10)))
    # and mlnb loads it back from the server's artifact proxy
    np.testing.assert_array_equal(mlnb.pyfunc.load_model(f"models:/{name}/latest").predict(X.head(10)),
                                  model.predict(X.head(10)))


def test_mlflow_registers_on_the_server_and_mlnb_reads_and_loads_it(on_server, fitted, request):
    import mlflow
    from mlflow import MlflowClient

    model, X = fitted
    name = f"fraud-{request.node.name}"
    mlflow.set_experiment(name)
    with mlflow.start_run():
        logged = mlflow.sklearn.log_model(model, name="model", registered_model_name=name)
    theirs = MlflowClient(on_server)
    theirs.set_registered_model_alias(name, "champion", 1)
    ours = MlnbClient()
    mv = ours.get_model_version_by_alias(name, "champion")
    expected = theirs.get_model_version(name, 1)
    for attr in ("name", "creation_timestamp", "last_updated_timestamp", "current_stage", "source", "run_id",
                 "status", "tags", "aliases"):
        assert getattr(mv, attr) == getattr(expected, attr), attr
    assert mv.version == 1 and mv.model_id == logged.model_id
    assert ours.get_model_version_download_uri(name, 1) == theirs.get_model_version_download_uri(name, 1)
    for uri in (f"models:/{name}/1", f"models:/{name}@champion"):
        np.testing.assert_array_equal(mlnb.pyfunc.load_model(uri).predict(X.head(10)), model.predict(X.head(10)))


def test_registry_methods_through_the_rest_api(on_server, logged, request):
    c = MlnbClient()
    base = request.node.name.replace("_", "-")
    names = [f"{base}-a", f"{base}-b"]
    source = f"{mlnb.get_run(logged.run_id).info.artifact_uri}/model"
    for n in names:
        c.create_registered_model(n, tags={"team": "ml"}, description="d")
    with pytest.raises(InvalidParameterError, match="already exists"):
        c.create_registered_model(names[0])
    assert c.update_registered_model(names[0], "new").description == "new"
    for _ in range(3):
        c.create_model_version(names[0], source, run_id=logged.run_id, tags={"k": "v"})
    found = c.search_registered_models(f"name LIKE '{base}-%'", max_results=1)
    assert [m.name for m in found] == [names[0]] and found.token
    assert [m.name for m in c.search_registered_models(f"name LIKE '{base}-%'", max_results=1,
                                                       page_token=found.token)] == [names[1]]
    assert [v.version for v in c.search_model_versions(f"name = '{names[0]}' AND version_number >= 2")] == [3, 2]
    c.transition_model_version_stage(names[0], 2, "Staging")
    assert {v.current_stage: v.version for v in c.get_latest_versions(names[0])} == {"None": 3, "Staging": 2}
    c.set_registered_model_alias(names[0], "champion", 3)
    c.delete_model_version_tag(names[0], 3, "k")
    assert c.get_model_version(names[0], 3).tags == {}
    c.delete_model_version(names[0], 3)
    assert c.get_registered_model(names[0]).aliases == {}
    renamed = c.rename_registered_model(names[0], f"{base}-c")
    assert [v.version for v in c.search_model_versions(f"name = '{renamed.name}'")] == [2, 1]
    c.delete_registered_model_tag(renamed.name, "team")
    assert c.get_registered_model(renamed.name).tags == {}
    c.delete_registered_model(renamed.name)
    with pytest.raises(ResourceNotFoundError, match=f"No registered model named '{base}-c'"):
        c.get_registered_model(renamed.name)


def test_server_not_found_errors_list_what_exists(on_server, logged, request):
    c = MlnbClient()
    name = request.node.name.replace("_", "-")
    mlnb.register_model(logged.model_uri, name)
    mlnb.register_model(logged.model_uri, name)
    c.set_registered_model_alias(name, "champion", 2)
    with pytest.raises(ResourceNotFoundError, match=rf"No registered model named 'nope-{name}'.*Registered models: .*{name}"):
        mlnb.pyfunc.load_model(f"models:/nope-{name}/1")
    with pytest.raises(ResourceNotFoundError, match=r"Version 9 .* Its versions are 1, 2\."):
        mlnb.pyfunc.load_model(f"models:/{name}/9")
    with pytest.raises(ResourceNotFoundError, match=r"no alias 'prod'\. Its aliases are champion -> version 2\."):
        mlnb.pyfunc.load_model(f"models:/{name}@prod")
    with pytest.raises(InvalidParameterError, match="reserved"):
        c.set_registered_model_alias(name, "latest", 1)
    with pytest.raises(InvalidParameterError, match="cannot contain"):
        c.create_registered_model("a/b")


def test_a_runs_uri_of_a_model_mlflow_3_logged_registers_as_its_logged_model(on_server, fitted, request):
    import mlflow
    from mlflow import MlflowClient

    model, X = fitted
    name = f"logged-{request.node.name}"
    mlflow.set_experiment(name)
    with mlflow.start_run() as run:
        logged = mlflow.sklearn.log_model(model, name="model")  # kept outside the run's artifacts
    mv = mlnb.register_model(f"runs:/{run.info.run_id}/model", name)
    assert (mv.version, mv.run_id) == (1, run.info.run_id)
    theirs = MlflowClient(on_server).get_model_version(name, 1)
    assert theirs.source == mv.source
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(f"models:/{name}/1").predict(X.head(5)),
                                  model.predict(X.head(5)))
    np.testing.assert_array_equal(mlnb.pyfunc.load_model(f"models:/{name}/1").predict(X.head(5)),
                                  model.predict(X.head(5)))
    # models:/<model_id> and models:/<name>/<version> sources: the server works out where the files are
    by_id = mlnb.register_model(f"models:/{logged.model_id}", name)
    by_version = MlnbClient().create_model_version(name, f"models:/{name}/1")
    assert (by_id.version, by_id.run_id, by_id.model_id) == (2, run.info.run_id, logged.model_id)
    assert by_version.version == 3
    for version in ("2", "3"):
        np.testing.assert_array_equal(mlnb.pyfunc.load_model(f"models:/{name}/{version}").predict(X.head(5)),
                                      model.predict(X.head(5)))

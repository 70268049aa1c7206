"""MLflow 3's logged-model lifecycle on one store file, checked against real MLflow both ways:
initialize, log files and params, tag, finalize, search with MLflow's filters, delete, and the
links between runs and the models they produce or use."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import mlnb
import mlnb.data
import mlnb.sklearn
from mlnb.entities import LoggedModelInput, LoggedModelOutput, LoggedModelStatus
from mlnb.errors import InvalidParameterError, ResourceNotFoundError
from mlnb.exceptions import MlflowException


@pytest.fixture
def fitted(classification_data):
    X, y = classification_data
    return LogisticRegression(max_iter=200).fit(X, y), X


@pytest.fixture
def mlflow(tmp_path):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return mlflow


def test_a_model_mlnb_builds_step_by_step_reads_and_loads_in_mlflow(tmp_path, fitted, mlflow):
    model, X = fitted
    mlnb.set_experiment("lifecycle")
    with mlnb.start_run() as run:
        logged = mlnb.initialize_logged_model(name="clf", tags={"team": "ml"}, params={"C": 1.0}, model_type="linear")
        assert logged.status == "PENDING" and logged.source_run_id == run.info.run_id
        assert mlnb.last_logged_model().model_id == logged.model_id
        mlnb.sklearn.save_model(model, tmp_path / "saved")
        client = mlnb.MlflowClient()
        client.log_model_artifacts(logged.model_id, tmp_path / "saved")
        (tmp_path / "notes.txt").write_text("trained on the iris-like set")
        client.log_model_artifact(logged.model_id, tmp_path / "notes.txt", "extra")
        mlnb.set_logged_model_tags(logged.model_id, {"team": "risk", "stage": "dev"})
        mlnb.log_model_params({"max_iter": 200})   # the model initialized last
        done = mlnb.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    assert done.status == "READY"
    names = sorted(f.path for f in client.list_logged_model_artifacts(logged.model_id))
    assert "MLmodel" in names and "extra" in names
    assert [f.path for f in client.list_logged_model_artifacts(logged.model_id, "extra")] == ["extra/notes.txt"]

    theirs = mlflow.MlflowClient().get_logged_model(logged.model_id)
    assert (theirs.name, theirs.source_run_id, theirs.model_type) == ("clf", run.info.run_id, "linear")
    assert theirs.status == "READY" and theirs.tags["mlflow.user"] == mlnb.get_run(run.info.run_id).info.user_id
    assert {k: v for k, v in theirs.tags.items() if not k.startswith("mlflow.")} == {"team": "risk", "stage": "dev"}
    assert theirs.params == {"C": "1.0", "max_iter": "200"}
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(f"models:/{logged.model_id}").predict(X), model.predict(X))

    mlnb.delete_logged_model_tag(logged.model_id, "stage")
    assert "stage" not in mlflow.MlflowClient().get_logged_model(logged.model_id).tags
    client.delete_logged_model(logged.model_id)
    with pytest.raises(mlflow.exceptions.MlflowException, match="not found"):
        mlflow.MlflowClient().get_logged_model(logged.model_id)
    with pytest.raises(ResourceNotFoundError):
        mlnb.get_logged_model(logged.model_id)
    assert mlnb.search_logged_models(output_format="list") == []


def test_a_model_mlflow_builds_step_by_step_reads_and_changes_in_mlnb(tmp_path, fitted, mlflow):
    model, X = fitted
    exp = mlflow.set_experiment("theirs")
    with mlflow.start_run() as run:
        logged = mlflow.initialize_logged_model(name="clf", tags={"team": "ml"}, params={"C": "1.0"})
        mlflow.sklearn.save_model(model, tmp_path / "saved")
        mlflow.MlflowClient().log_model_artifacts(logged.model_id, str(tmp_path / "saved"))
        mlflow.finalize_logged_model(logged.model_id, "READY")
        mlflow.log_metric("accuracy", 0.93, model_id=logged.model_id)
    ours = mlnb.get_logged_model(logged.model_id)
    assert (ours.name, ours.status, ours.source_run_id) == ("clf", "READY", run.info.run_id)
    assert ours.tags["team"] == "ml" and ours.params == {"C": "1.0"} and ours.metrics == {"accuracy": 0.93}
    np.testing.assert_array_equal(mlnb.pyfunc.load_model(f"models:/{logged.model_id}").predict(X), model.predict(X))
    client = mlnb.MlflowClient()
    client.set_logged_model_tags(logged.model_id, {"team": "risk"})
    client.log_model_params(logged.model_id, {"solver": "lbfgs"})
    theirs = mlflow.MlflowClient().get_logged_model(logged.model_id)
    assert theirs.tags["team"] == "risk" and theirs.params == {"C": "1.0", "solver": "lbfgs"}
    assert [m.model_id for m in client.search_logged_models([exp.experiment_id], "metrics.accuracy > 0.9")] \
        == [logged.model_id]


def _models(mlflow):
    """Five logged models MLflow logs, with params, tags, metrics on two datasets and two statuses."""
    exp = mlflow.set_experiment("search")
    ids = []
    for i in range(5):
        with mlflow.start_run() as run:
            m = mlflow.initialize_logged_model(name=f"clf-{i % 2}", tags={"team": "ml" if i < 3 else "Risk"},
                                               params={"alpha": str(i / 10)}, model_type="linear" if i % 2 else None)
            mlflow.finalize_logged_model(m.model_id, "READY" if i != 2 else "FAILED")
            mlflow.log_metric("acc", 0.5 + i / 10, model_id=m.model_id, dataset=_dataset(mlflow, "train"))
            if i >= 2:
                mlflow.log_metric("loss", 1.0 - i / 10, model_id=m.model_id, dataset=_dataset(mlflow, "test"))
            ids.append(m.model_id)
        assert run
    return exp.experiment_id, ids


def _dataset(mlflow, name):
    import pandas as pd

    return mlflow.data.from_pandas(pd.DataFrame({"x": [1, 2, 3]}), name=name)


FILTERS = [
    "", "name = 'clf-0'", "name != 'clf-0'", "name LIKE 'clf-%'", "name ILIKE 'CLF-1'", "name IN ('clf-1', 'x')",
    "metrics.acc > 0.65", "metrics.acc <= 0.6", "metrics.loss < 0.75 AND metrics.acc >= 0.7",
    "params.alpha = '0.3'", "params.alpha != '0.3'", "tags.team = 'ml'", "tags.team LIKE 'R%'",
    "tags.team ILIKE 'risk'", "model_type = 'linear'", "creation_timestamp > 0", "attributes.name = 'clf-1'",
    "params.alpha LIKE '0.%' AND tags.team = 'ml' AND name = 'clf-0'",
]


@pytest.mark.parametrize("filter_string", FILTERS)
def test_search_filters_find_what_mlflow_finds(mlflow, filter_string):
    eid, _ = _models(mlflow)
    theirs = [m.model_id for m in mlflow.search_logged_models([eid], filter_string=filter_string or None,
                                                              output_format="list")]
    ours = [m.model_id for m in mlnb.search_logged_models([eid], filter_string=filter_string, output_format="list")]
    assert ours == theirs


@pytest.mark.parametrize("order_by, datasets", [
    ([{"field_name": "metrics.acc", "ascending": False}], None),
    ([{"field_name": "metrics.loss"}], None),
    ([{"field_name": "name", "ascending": True}, {"field_name": "creation_timestamp", "ascending": False}], None),
    (None, [{"dataset_name": "test"}]),
    ([{"field_name": "metrics.acc", "ascending": True, "dataset_name": "train"}], [{"dataset_name": "train"}]),
])
def test_search_order_and_datasets_match_mlflow(mlflow, order_by, datasets):
    eid, _ = _models(mlflow)
    theirs = [m.model_id for m in mlflow.search_logged_models([eid], datasets=datasets, order_by=order_by,
                                                              output_format="list")]
    ours = [m.model_id for m in mlnb.search_logged_models([eid], datasets=datasets, order_by=order_by,
                                                          output_format="list")]
    assert ours == theirs


def test_client_search_pages_like_mlflow(mlflow):
    eid, ids = _models(mlflow)
    client = mlnb.MlflowClient()
    first = client.search_logged_models([eid], max_results=2)
    assert len(first) == 2 and first.token
    second = client.search_logged_models([eid], max_results=2, page_token=first.token)
    third = client.search_logged_models([eid], max_results=2, page_token=second.token)
    assert third.token is None
    assert [m.model_id for m in [*first, *second, *third]] == list(reversed(ids))


def test_runs_link_to_the_models_they_produce_and_use(mlflow):
    mlnb.set_experiment("links")
    with mlnb.start_run() as producer:
        made = mlnb.initialize_logged_model(name="a")
        other = mlnb.initialize_logged_model(name="b", source_run_id=None)
        mlnb.log_outputs([LoggedModelOutput(other.model_id, step=7)])
    with mlnb.start_run() as consumer:
        mlnb.log_inputs(models=[LoggedModelInput(made.model_id)])
    theirs = mlflow.MlflowClient().get_run(producer.info.run_id)
    assert {(o.model_id, o.step) for o in theirs.outputs.model_outputs} == {(made.model_id, 0), (other.model_id, 7)}
    used = mlflow.MlflowClient().get_run(consumer.info.run_id).inputs.model_inputs
    assert [m.model_id for m in used] == [made.model_id]
    # and what MLflow links, mlnb reads
    with mlflow.start_run(run_id=consumer.info.run_id):
        mlflow.log_outputs([mlflow.entities.LoggedModelOutput(made.model_id, step=3)])
    assert mlnb.MlflowClient().get_run_outputs(consumer.info.run_id) == [LoggedModelOutput(made.model_id, 3)]


def test_experiment_tags_delete_both_ways(mlflow):
    exp = mlnb.set_experiment("tags")
    mlnb.set_experiment_tags({"a": "1", "b": "2"})
    mlnb.delete_experiment_tag("a")
    assert mlflow.get_experiment(exp.experiment_id).tags == {"b": "2"}
    mlflow.MlflowClient().set_experiment_tag(exp.experiment_id, "c", "3")
    mlflow.MlflowClient().delete_experiment_tag(exp.experiment_id, "b")
    assert mlnb.get_experiment(exp.experiment_id).tags == {"c": "3"}
    with pytest.raises(ResourceNotFoundError, match="no tag 'zzz'"):
        mlnb.MlflowClient().delete_experiment_tag(exp.experiment_id, "zzz")


@pytest.mark.parametrize("call, error, match", [
    (lambda c, m: c.search_logged_models(["0"], "color = 'red'"), InvalidParameterError, "Invalid logged-model"),
    (lambda c, m: c.search_logged_models(["0"], "metrics.acc LIKE 'x'"), InvalidParameterError, "compares with"),
    (lambda c, m: c.search_logged_models(["0"], "name > 3"), InvalidParameterError, "compares with"),
    (lambda c, m: c.search_logged_models(["0"], "status = 'DONE'"), InvalidParameterError, "status is one of"),
    (lambda c, m: c.search_logged_models(["0"], order_by=[{"field_name": "params.a"}]), InvalidParameterError,
     "ordered by"),
    (lambda c, m: c.search_logged_models(["0"], datasets=[{"dataset_digest": "x"}]), InvalidParameterError,
     "dataset_name"),
    (lambda c, m: c.finalize_logged_model(m, "PENDING"), InvalidParameterError, "READY or FAILED"),
    (lambda c, m: c.finalize_logged_model(m, "DONE"), InvalidParameterError, "status is one of"),
    (lambda c, m: c.finalize_logged_model("m-nope", "READY"), ResourceNotFoundError, "m-nope"),
    (lambda c, m: c.set_logged_model_tags(m, ["a"]), InvalidParameterError, "dict"),
    (lambda c, m: c.set_logged_model_tags(m, {"../x": "1"}), InvalidParameterError, "resolve"),
    (lambda c, m: c.delete_logged_model_tag(m, "missing"), ResourceNotFoundError, "no tag 'missing'"),
    (lambda c, m: c.log_model_params(m, {"C": "2"}), InvalidParameterError, "cannot change"),
    (lambda c, m: c.get_logged_model(None), InvalidParameterError, "m-<32 hex>"),
    (lambda c, m: c.log_outputs("0" * 32, [LoggedModelOutput(m, step=1.5)]), InvalidParameterError, "integer"),
])
def test_bad_input_gets_typed_errors(call, error, match):
    client = mlnb.MlflowClient()
    with mlnb.start_run():
        model = mlnb.initialize_logged_model(name="x", params={"C": "1"})
    with pytest.raises(error, match=match) as caught:
        call(client, model.model_id)
    assert isinstance(caught.value, MlflowException)
    assert client.get_logged_model(model.model_id).status == "PENDING"   # nothing changed


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests._tracking import mlflow_server

    with mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


def test_the_lifecycle_on_an_mlflow_tracking_server(server, monkeypatch, tmp_path, fitted):
    from mlflow import MlflowClient

    model, X = fitted
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    exp = mlnb.set_experiment("on-server")
    mlnb.set_experiment_tags({"a": "1", "b": "2"})
    mlnb.delete_experiment_tag("a")
    with mlnb.start_run() as run:
        first = mlnb.initialize_logged_model(name="clf", params={"C": "1"}, tags={"team": "ml"})
        second = mlnb.initialize_logged_model(name="other")
        mlnb.log_outputs([LoggedModelOutput(second.model_id, step=4)])
    client = mlnb.MlflowClient()
    mlnb.sklearn.save_model(model, tmp_path / "saved")
    client.log_model_artifacts(first.model_id, tmp_path / "saved")
    client.set_logged_model_tags(first.model_id, {"stage": "dev", "team": "risk"})
    client.delete_logged_model_tag(first.model_id, "stage")
    client.log_model_params(first.model_id, {"max_iter": "200"})
    client.finalize_logged_model(first.model_id, "READY")
    client.finalize_logged_model(second.model_id, "FAILED")
    theirs = MlflowClient(server)
    assert theirs.get_experiment(exp.experiment_id).tags == {"b": "2"}
    got = theirs.get_logged_model(first.model_id)
    assert got.status == "READY" and got.tags["team"] == "risk" and "stage" not in got.tags
    assert got.params == {"C": "1", "max_iter": "200"}
    assert {(o.model_id, o.step) for o in theirs.get_run(run.info.run_id).outputs.model_outputs} \
        >= {(second.model_id, 4)}
    np.testing.assert_array_equal(mlnb.pyfunc.load_model(f"models:/{first.model_id}").predict(X), model.predict(X))
    assert "MLmodel" in [f.path for f in client.list_logged_model_artifacts(first.model_id)]
    found = client.search_logged_models([exp.experiment_id], "tags.team LIKE 'ri%'",
                                        order_by=[{"field_name": "name", "ascending": False}])
    assert [m.model_id for m in found] == [first.model_id]
    assert [m.model_id for m in client.search_logged_models([exp.experiment_id], order_by=["name ASC"])] \
        == [first.model_id, second.model_id]
    client.delete_logged_model(second.model_id)
    assert [m.model_id for m in client.search_logged_models([exp.experiment_id])] == [first.model_id]


def test_metrics_reach_the_models_of_their_run_as_in_mlflow(mlflow, fitted):
    import pandas as pd

    model, X = fitted
    mlnb.set_experiment("metrics")
    with mlnb.start_run() as run:
        info = mlnb.sklearn.log_model(model, name="clf")
        mlnb.log_metric("acc", 0.91)                       # step 0: the model logged at step 0 gets it
        mlnb.log_metrics({"f1": 0.8}, step=3)              # no model at step 3: the run only
        other = mlnb.initialize_logged_model(name="other")
        test = mlnb.data.from_pandas(pd.DataFrame({"x": [1, 2]}), name="test")
        assert mlnb.log_metric("auc", 0.7, model_id=other.model_id, dataset=test, synchronous=False).wait() is None
    theirs = mlflow.MlflowClient()
    got = theirs.get_logged_model(info.model_id)
    assert {m.key: m.value for m in got.metrics} == {"acc": 0.91}
    auc = theirs.get_logged_model(other.model_id).metrics
    assert [(m.key, m.value, m.dataset_name, m.dataset_digest) for m in auc] == [("auc", 0.7, "test", test.digest)]
    assert mlflow.get_run(run.info.run_id).data.metrics == {"acc": 0.91, "f1": 0.8, "auc": 0.7}
    assert [d.dataset.name for d in mlflow.get_run(run.info.run_id).inputs.dataset_inputs] == ["test"]
    eid = run.info.experiment_id
    for filter_string, datasets in (("metrics.acc > 0.9", None), ("metrics.auc > 0.5", [{"dataset_name": "test"}]),
                                    ("", [{"dataset_name": "test", "dataset_digest": test.digest}])):
        want = [m.model_id for m in mlflow.search_logged_models([eid], filter_string=filter_string or None,
                                                                datasets=datasets, output_format="list")]
        assert [m.model_id for m in mlnb.search_logged_models([eid], filter_string=filter_string, datasets=datasets,
                                                              output_format="list")] == want
        assert want
    # MLflow's rule, seen from MLflow: its own run gives the metric to its model the same way
    with mlflow.start_run():
        theirs_info = mlflow.sklearn.log_model(model, name="clf")
        mlflow.log_metric("acc", 0.91)
    assert {m.key: m.value for m in theirs.get_logged_model(theirs_info.model_id).metrics} == {"acc": 0.91}
    assert mlnb.get_logged_model(theirs_info.model_id).metrics == {"acc": 0.91}

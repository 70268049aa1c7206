"""MLflow's names and import paths on mlnb: the client, exceptions, types, entities, artifacts.

Each check uses the name the way MLflow's examples do, on a real store, and compares with MLflow
3.17.2 where both can answer.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import mlnb


def test_mlflow_client_is_mlnb_client_on_every_mlflow_path():
    import mlnb.client
    import mlnb.tracking
    from mlnb.tracking.client import MlnbClient

    assert mlnb.MlflowClient is MlnbClient
    assert mlnb.tracking.MlflowClient is MlnbClient
    assert mlnb.client.MlflowClient is MlnbClient
    assert mlnb.MlnbClient is MlnbClient


def test_mlflow_exception_catches_mlnb_errors_with_mlflows_error_codes():
    from mlnb.exceptions import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, MlflowException

    with pytest.raises(MlflowException) as missing:
        mlnb.MlflowClient().get_run("0" * 32)
    assert missing.value.error_code == RESOURCE_DOES_NOT_EXIST
    assert missing.value.get_http_status_code() == 404
    with pytest.raises(MlflowException) as bad:
        mlnb.MlflowClient().create_experiment("")
    assert bad.value.error_code == INVALID_PARAMETER_VALUE
    # raised by user code as MLflow's examples do, with a protobuf number or a name
    err = MlflowException("no such thing", error_code=3001)
    assert err.error_code == "RESOURCE_DOES_NOT_EXIST" and err.message == "no such thing"
    assert json.loads(err.serialize_as_json()) == {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such thing"}
    assert MlflowException.invalid_parameter_value("x").error_code == "INVALID_PARAMETER_VALUE"
    assert mlnb.MlflowException is MlflowException


def test_types_module_builds_the_schemas_mlflow_builds():
    import mlflow.types as mt

    from mlnb.types import Array, ColSpec, DataType, Map, Object, ParamSchema, ParamSpec, Property, Schema, TensorSpec

    ours = Schema([
        ColSpec(DataType.double, "x"), ColSpec("string", "s", required=False),
        ColSpec(Array(DataType.long), "ids"), ColSpec(Map(DataType.string), "attrs"),
        ColSpec(Object([Property("b", DataType.boolean), Property("a", Array(DataType.string), required=False)]), "o"),
    ])
    theirs = mt.Schema([
        mt.ColSpec(mt.DataType.double, "x"), mt.ColSpec("string", "s", required=False),
        mt.ColSpec(mt.schema.Array(mt.DataType.long), "ids"), mt.ColSpec(mt.schema.Map(mt.DataType.string), "attrs"),
        mt.ColSpec(mt.schema.Object([mt.schema.Property("b", mt.DataType.boolean),
                                     mt.schema.Property("a", mt.schema.Array(mt.DataType.string), required=False)]), "o"),
    ])
    assert json.loads(ours.to_json()) == json.loads(theirs.to_json())
    assert repr(ours) == repr(theirs)
    assert Schema.from_json(theirs.to_json()) == ours
    tensor = Schema([TensorSpec(np.dtype("float32"), (-1, 3), "t")])
    assert repr(tensor) == repr(mt.Schema([mt.TensorSpec(np.dtype("float32"), (-1, 3), "t")]))
    params = ParamSchema([ParamSpec("k", "long", 3)])
    assert repr(params) == repr(mt.ParamSchema([mt.ParamSpec("k", "long", 3)]))
    assert DataType.double == "double" and str(DataType.double) == str(mt.DataType.double)
    assert DataType.float.to_numpy() == mt.DataType.float.to_numpy()
    from mlnb.types.schema import Array as SchemaArray  # MLflow's mlflow.types.schema path

    assert SchemaArray is Array
    # MLflow's schema methods give MLflow's answers
    assert [str(t) for t in ours.input_types()] == [str(t) for t in theirs.input_types()]
    assert ours.optional_input_names() == theirs.optional_input_names() == ["s"]
    assert (ours.has_input_names(), ours.is_tensor_spec()) == (theirs.has_input_names(), theirs.is_tensor_spec())
    assert sorted(ours.input_dict()) == sorted(theirs.input_dict())
    plain = Schema([ColSpec(DataType.double, "x"), ColSpec(DataType.long, "n")])
    theirs_plain = mt.Schema([mt.ColSpec(mt.DataType.double, "x"), mt.ColSpec(mt.DataType.long, "n")])
    assert plain.numpy_types() == theirs_plain.numpy_types()
    assert plain.pandas_types() == theirs_plain.pandas_types()
    assert tensor.input_types() == tensor.numpy_types() == [np.dtype("float32")]
    assert params.to_dict() == mt.ParamSchema([mt.ParamSpec("k", "long", 3)]).to_dict()
    spec = {"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}
    assert TensorSpec.from_json_dict(**spec) == TensorSpec(np.dtype("int64"), (-1,))
    assert TensorSpec.from_json_dict(**spec).required
    assert ColSpec.from_json_dict(type="long", name="n").to_dict() == {"type": "long", "name": "n", "required": True}


def test_entities_carry_mlflows_names_and_enums():
    import mlflow.entities as me

    from mlnb.entities import Experiment, FileInfo, LifecycleStage, Metric, Param, Run, RunStatus, RunTag, ViewType

    for name in ("FINISHED", "FAILED", "RUNNING", "KILLED", "SCHEDULED"):
        number = RunStatus.from_string(name)
        assert number == me.RunStatus.from_string(name)
        assert RunStatus.to_string(number) == name
    assert RunStatus.is_terminated(RunStatus.FINISHED) and not RunStatus.is_terminated(RunStatus.RUNNING)
    assert (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL) == (
        me.ViewType.ACTIVE_ONLY, me.ViewType.DELETED_ONLY, me.ViewType.ALL)
    assert ViewType.from_string("all") == me.ViewType.from_string("all")
    assert LifecycleStage.ACTIVE == me.LifecycleStage.ACTIVE
    with mlnb.start_run() as run:
        mlnb.log_metric("m", 1.5)
    got = mlnb.get_run(run.info.run_id)
    assert isinstance(got, Run) and got.data.metrics == {"m": 1.5}
    assert {Experiment, FileInfo, Metric, Param, RunTag}  # importable under MLflow's names


def test_experiment_functions_and_client_lifecycle():
    client = mlnb.MlflowClient()
    eid = mlnb.create_experiment("churn", tags={"team": "ml"})
    assert mlnb.get_experiment(eid).name == "churn"
    client.rename_experiment(eid, "churn-v2")
    assert client.get_experiment(eid).name == "churn-v2"
    mlnb.set_experiment("churn-v2")
    mlnb.set_experiment_tag("owner", "ana")
    mlnb.set_experiment_tags({"stage": "dev"})
    assert client.get_experiment(eid).tags == {"team": "ml", "owner": "ana", "stage": "dev"}
    with mlnb.start_run() as run:
        pass
    mlnb.delete_experiment(eid)
    assert client.get_experiment(eid).lifecycle_stage == "deleted"
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    assert "churn-v2" not in [e.name for e in mlnb.search_experiments()]
    assert "churn-v2" in [e.name for e in mlnb.search_experiments(view_type=mlnb.entities.ViewType.DELETED_ONLY)]
    client.restore_experiment(eid)
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "active"


def _same_experiment_answers(client):
    for name, team in (("e0", "b"), ("e1", "a"), ("e2", "a")):
        client.create_experiment(name, tags={"team": team})
    return {
        "by_tag": sorted(e.name for e in client.search_experiments(filter_string="tags.team = 'a'")),
        "like": sorted(e.name for e in client.search_experiments(filter_string="name LIKE 'e%'")),
        "ordered": [e.name for e in client.search_experiments(order_by=["name DESC"])],
        "pages": [len(client.search_experiments(max_results=3)), len(client.search_experiments(
            max_results=3, page_token=client.search_experiments(max_results=3).token))],
        "last_token": client.search_experiments(max_results=10).token,
    }


def test_search_experiments_filters_orders_and_pages_as_mlflow(tmp_path):
    import mlflow

    ours = _same_experiment_answers(mlnb.MlflowClient(tmp_path / "ours.db"))
    theirs = _same_experiment_answers(mlflow.MlflowClient(f"sqlite:///{tmp_path / 'theirs.db'}"))
    assert ours == theirs == {"by_tag": ["e1", "e2"], "like": ["e0", "e1", "e2"],
                              "ordered": ["e2", "e1", "e0", "Default"], "pages": [3, 1], "last_token": None}


def test_search_runs_pages_with_tokens_like_mlflow():
    client = mlnb.MlflowClient()
    ids = []
    for i in range(5):
        with mlnb.start_run() as run:
            mlnb.log_metric("i", i)
        ids.append(run.info.run_id)
    first = client.search_runs(["0"], order_by=["metrics.i ASC"], max_results=2)
    assert [r.info.run_id for r in first] == ids[:2] and first.token
    second = client.search_runs(["0"], order_by=["metrics.i ASC"], max_results=2, page_token=first.token)
    third = client.search_runs(["0"], order_by=["metrics.i ASC"], max_results=2, page_token=second.token)
    assert [r.info.run_id for r in second + third] == ids[2:] and third.token is None
    from mlnb.exceptions import MlflowException

    with pytest.raises(MlflowException, match="page_token"):
        client.search_runs(["0"], page_token="not-a-token")


def test_client_runs_tags_metrics_and_artifacts(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    client = mlnb.MlflowClient()
    run = client.create_run("0", run_name="r")
    rid = run.info.run_id
    client.log_param(rid, "p", 1)
    for step in range(3):
        client.log_metric(rid, "loss", 1.0 / (step + 1), step=step)
    client.set_tag(rid, "t", "v")
    client.delete_tag(rid, "t")
    assert "t" not in client.get_run(rid).data.tags
    with pytest.raises(mlnb.exceptions.MlflowException):
        client.delete_tag(rid, "t")
    assert [m.step for m in client.get_metric_history(rid, "loss")] == [0, 1, 2]
    client.log_text(rid, "hello", "notes/a.txt")
    client.log_dict(rid, {"k": 1}, "conf.json")
    fig = plt.figure()
    plt.plot([0, 1], [1, 0])
    client.log_figure(rid, fig, "plots/line.png")
    client.log_image(rid, np.zeros((4, 4, 3), dtype=np.uint8), "images/black.png")
    with pytest.raises(mlnb.exceptions.MlflowException, match="time series"):
        client.log_image(rid, np.zeros((4, 4)), key="img", step=0)
    client.update_run(rid, status="FINISHED")
    assert client.get_run(rid).info.status == "FINISHED"
    listed = {f.path for f in client.list_artifacts(rid)}
    assert listed == {"notes", "conf.json", "plots", "images"}
    assert mlnb.artifacts.load_text(f"runs:/{rid}/notes/a.txt") == "hello"
    assert mlnb.artifacts.load_dict(f"runs:/{rid}/conf.json") == {"k": 1}
    image = mlnb.artifacts.load_image(f"runs:/{rid}/images/black.png")
    assert image.size == (4, 4)
    assert min(mlnb.artifacts.load_image(f"runs:/{rid}/plots/line.png").size) > 100
    local = mlnb.artifacts.download_artifacts(run_id=rid, artifact_path="notes", dst_path=tmp_path / "dl")
    assert (tmp_path / "dl" / "notes" / "a.txt").read_text() == "hello" and local.endswith("notes")
    assert [f.path for f in mlnb.artifacts.list_artifacts(f"runs:/{rid}/notes")] == ["notes/a.txt"]
    client.set_terminated(rid, "FAILED")
    client.delete_run(rid)
    client.restore_run(rid)
    assert client.get_run(rid).info.status == "FAILED"


def test_client_on_an_mlflow_tracking_server(tmp_path):
    """The same client calls against a real ``mlflow server``: experiments, tags and paging."""
    import mlflow

    from tests._tracking import mlflow_server

    with mlflow_server(tmp_path / "server") as url:
        client = mlnb.MlflowClient(url)
        eid = client.create_experiment("remote")
        client.rename_experiment(eid, "remote-2")
        client.set_experiment_tag(eid, "team", "ml")
        runs = [client.create_run(eid) for _ in range(3)]
        client.set_tag(runs[0].info.run_id, "gone", "soon")
        client.delete_tag(runs[0].info.run_id, "gone")
        page = client.search_runs([eid], max_results=2)
        rest = client.search_runs([eid], max_results=2, page_token=page.token)
        client.delete_experiment(eid)
        theirs = mlflow.MlflowClient(url)
        exp = theirs.get_experiment(eid)
        assert (exp.name, exp.tags.get("team"), exp.lifecycle_stage) == ("remote-2", "ml", "deleted")
        assert "gone" not in theirs.get_run(runs[0].info.run_id).data.tags
        assert len(page) == 2 and len(rest) == 1 and rest.token is None
        client.restore_experiment(eid)
        assert theirs.get_experiment(eid).lifecycle_stage == "active"


def test_touching_mlflow_names_keeps_import_mlnb_light():
    code = ("import sys, mlnb\n"
            "mlnb.MetricThreshold, mlnb.validate_evaluation_results, mlnb.MlflowClient, mlnb.MlflowException\n"
            "import mlnb.models, mlnb.exceptions, mlnb.client, mlnb.entities\n"
            "mlnb.models.MetricThreshold\n"
            "print(sorted(m for m in ('pandas', 'sklearn', 'numpy', 'scipy') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_models_namespace_has_mlflows_functions():
    import mlnb.models as models

    for name in ("evaluate", "make_metric", "MetricThreshold", "get_model_info", "validate_serving_input",
                 "set_model", "predict", "update_model_requirements", "ModelSignature", "infer_signature",
                 "Model", "ModelInfo", "convert_input_example_to_serving_input"):
        assert callable(getattr(models, name)), name
    assert callable(mlnb.pyfunc.get_model_dependencies)


def test_version_metadata_says_what_mlnb_is():
    import mlflow

    assert mlnb.__mlflow_version__ == mlflow.__version__ == "3.17.2"
    assert mlnb.__version__ == mlnb.version.VERSION
    assert "MLflow 3.17.2" in mlnb.version.__summary__

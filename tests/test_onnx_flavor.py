"""The ONNX flavor: the conformance checks, scikit-learn models converted with skl2onnx, graphs
built with onnx.helper, MLflow loading mlnb's models and mlnb loading MLflow's, options, bad input."""

from __future__ import annotations

import functools
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pandas as pd
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper

import mlnb
import mlnb.pyfunc
from _models import MLFLOW_PIP, assert_same, classification, regression
from conformance import CHECKS, FlavorCase, Subject
from mlnb.errors import InvalidParameterError, ModelFormatError, SchemaError

CPU = "CPUExecutionProvider"


# -- models ----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _converted(kind: str, zipmap: bool = True) -> bytes:
    """A scikit-learn model of ``kind`` converted by skl2onnx (serialized, so every test gets a
    fresh ModelProto)."""
    from skl2onnx import to_onnx
    from sklearn import ensemble, linear_model

    X, y = regression() if kind != "classifier" else classification()
    model = {
        "linear": lambda: linear_model.LinearRegression(),
        "boosting": lambda: ensemble.GradientBoostingRegressor(n_estimators=10, max_depth=3, random_state=0),
        "classifier": lambda: linear_model.LogisticRegression(max_iter=500),
    }[kind]().fit(X, y)
    options = {id(model): {"zipmap": False}} if kind == "classifier" and not zipmap else None
    proto = to_onnx(model, X.to_numpy(np.float32)[:1], target_opset={"": 17, "ai.onnx.ml": 3}, options=options)
    return proto.SerializeToString()


def converted(kind: str, zipmap: bool = True) -> onnx.ModelProto:
    return onnx.load_from_string(_converted(kind, zipmap))


def sklearn_model(kind: str):
    from sklearn import ensemble, linear_model

    X, y = regression() if kind != "classifier" else classification()
    model = {"boosting": lambda: ensemble.GradientBoostingRegressor(n_estimators=10, max_depth=3, random_state=0),
             "classifier": lambda: linear_model.LogisticRegression(max_iter=500)}[kind]().fit(X, y)
    return model, X


def run_onnx(proto: onnx.ModelProto, feeds: dict) -> list:
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=[CPU])
    return session.run(None, feeds)


def assert_same_graph(a: onnx.ModelProto, b: onnx.ModelProto) -> None:
    """The same nodes, inputs, outputs and weights (however the weights were stored)."""
    assert a.graph.node == b.graph.node and a.graph.input == b.graph.input and a.graph.output == b.graph.output
    weights = {t.name: numpy_helper.to_array(t) for t in a.graph.initializer}
    assert sorted(weights) == sorted(t.name for t in b.graph.initializer)
    for t in b.graph.initializer:
        np.testing.assert_array_equal(numpy_helper.to_array(t), weights[t.name])


def two_inputs() -> onnx.ModelProto:
    """``total = a + float(b)`` over a float input ``a`` and an int64 input ``b``."""
    graph = helper.make_graph(
        [helper.make_node("Cast", ["b"], ["b_float"], to=TensorProto.FLOAT),
         helper.make_node("Add", ["a", "b_float"], ["total"])],
        "two_inputs",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [None]),
         helper.make_tensor_value_info("b", TensorProto.INT64, [None])],
        [helper.make_tensor_value_info("total", TensorProto.FLOAT, [None])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def big_weights() -> onnx.ModelProto:
    """``y = x @ W`` with a 5 x 100 float weight (2,000 bytes, so saved as external data)."""
    w = np.random.default_rng(0).normal(size=(5, 100)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "big",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 100])],
        initializer=[numpy_helper.from_array(w, "W")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


# -- conformance -----------------------------------------------------------------------------
def _onnx_case() -> FlavorCase:
    def predict_native(proto, X):
        (out,) = run_onnx(proto, {"X": X.to_numpy(np.float32)})
        return pd.DataFrame({"variable": out.reshape(-1)})

    def make(directory: Path, library: str) -> Subject:
        X, _ = regression()
        proto = converted("linear")
        return Subject(proto, X, predict_native(proto, X))

    def save(subject, path, **kw):
        return mlnb.onnx.save_model(subject.model, path, **kw)

    def mlflow_save(subject, path, **kw):
        import mlflow.onnx

        mlflow.onnx.save_model(subject.model, str(path), pip_requirements=MLFLOW_PIP, **kw)

    def mlflow_load_native(path):
        import mlflow.onnx

        return mlflow.onnx.load_model(str(path))

    return FlavorCase("onnx-linear", make, save, lambda p: mlnb.onnx.load_model(p), predict_native,
                      mlflow_save, mlflow_load_native)


ONNX_CASE = _onnx_case()


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_onnx_flavor_conforms(check, tmp_path):
    check(ONNX_CASE, tmp_path)


# -- models of both kinds, both directions with MLflow ------------------------------------------
def test_classifier_predicts_sklearn_labels_and_mlflow_agrees(tmp_path):
    import mlflow.onnx
    import mlflow.pyfunc

    model, X = sklearn_model("classifier")
    mlnb.onnx.save_model(converted("classifier"), tmp_path / "ours")
    mlflow.onnx.save_model(converted("classifier"), str(tmp_path / "theirs"), pip_requirements=MLFLOW_PIP)

    ours = mlnb.pyfunc.load_model(tmp_path / "ours").predict(X)
    assert list(ours.columns) == ["output_label", "output_probability"]
    np.testing.assert_array_equal(ours["output_label"], model.predict(X))
    probs = np.array([[row[0], row[1]] for row in ours["output_probability"]])
    np.testing.assert_allclose(probs, model.predict_proba(X), atol=1e-5)
    pd.testing.assert_frame_equal(mlflow.pyfunc.load_model(str(tmp_path / "ours")).predict(X), ours)
    pd.testing.assert_frame_equal(mlnb.pyfunc.load_model(tmp_path / "theirs").predict(X), ours)
    # each side's native loader reads the other's file: the same graph
    assert mlflow.onnx.load_model(str(tmp_path / "ours")) == mlnb.onnx.load_model(tmp_path / "theirs")


def test_regressor_matches_sklearn_and_mlflow(tmp_path):
    import mlflow.pyfunc

    model, X = sklearn_model("boosting")
    mlnb.onnx.save_model(converted("boosting"), tmp_path / "m")
    ours = mlnb.pyfunc.load_model(tmp_path / "m").predict(X)
    np.testing.assert_allclose(ours["variable"], model.predict(X), rtol=1e-4, atol=1e-3)
    assert_same(mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(X), ours)


def test_outputs_of_different_shapes_keep_one_row_per_input(tmp_path):
    """Labels (n,) and probabilities (n, 2): MLflow cannot make one DataFrame of them; mlnb puts
    each row's probabilities in one cell. Arrays in, arrays out, as in MLflow."""
    import mlflow.pyfunc

    model, X = sklearn_model("classifier")
    mlnb.onnx.save_model(converted("classifier", zipmap=False), tmp_path / "m")
    out = mlnb.pyfunc.load_model(tmp_path / "m").predict(X)
    assert len(out) == len(X)
    np.testing.assert_allclose(np.stack(out["probabilities"]), model.predict_proba(X), atol=1e-5)
    with pytest.raises(ValueError, match="same length"):
        mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(X)
    arrays = mlnb.pyfunc.load_model(tmp_path / "m").predict(X.to_numpy())
    theirs = mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(X.to_numpy())
    assert sorted(arrays) == sorted(theirs) == ["label", "probabilities"]
    for name in arrays:
        np.testing.assert_array_equal(arrays[name], theirs[name])


def test_ndarray_and_dict_inputs_are_cast_to_the_graph_types(tmp_path):
    X, _ = regression()
    proto = converted("linear")
    mlnb.onnx.save_model(proto, tmp_path / "m")
    model = mlnb.pyfunc.load_model(tmp_path / "m")
    (expected,) = run_onnx(proto, {"X": X.to_numpy(np.float32)})
    for data in (X.to_numpy(), {"X": X.to_numpy()}, {"X": X.to_numpy().tolist()}):
        out = model.predict(data)
        assert list(out) == ["variable"]
        np.testing.assert_array_equal(out["variable"], expected)
    ints = np.arange(15).reshape(3, 5)
    (from_ints,) = run_onnx(proto, {"X": ints.astype(np.float32)})
    np.testing.assert_array_equal(model.predict(ints)["variable"], from_ints)


def test_a_graph_with_two_inputs_is_fed_by_column_name(tmp_path):
    import mlflow.pyfunc

    mlnb.onnx.save_model(two_inputs(), tmp_path / "m")
    frame = pd.DataFrame({"b": [1, 2, 3], "a": [0.5, 1.5, 2.5]})
    model = mlnb.pyfunc.load_model(tmp_path / "m")
    out = model.predict(frame)
    np.testing.assert_array_equal(out["total"], np.array([1.5, 3.5, 5.5], dtype=np.float32))
    pd.testing.assert_frame_equal(mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(frame), out)
    with pytest.raises(SchemaError, match=r"\['b'\] are not columns"):
        model.predict(frame.drop(columns=["b"]))
    with pytest.raises(SchemaError, match=r"'b' takes tensor\(int64\), got float64"):
        model.predict(frame.assign(b=[1.5, 2.5, 3.5]))
    with pytest.raises(SchemaError, match="one input"):
        model.predict(frame.to_numpy())
    with pytest.raises(SchemaError, match="DataFrame, a numpy array or a dict"):
        model.predict([[1.0, 2.0]])


def test_input_example_gives_a_signature(tmp_path):
    X, _ = regression()
    saved = mlnb.onnx.save_model(converted("linear"), tmp_path / "m", input_example=X.iloc[:3])
    sig = saved.get_signature()
    assert [c.name for c in sig.inputs.inputs] == list(X.columns)
    assert [c.name for c in sig.outputs.inputs] == ["variable"]


def test_log_model_and_load_through_runs_uri():
    import mlflow.onnx

    X, _ = regression()
    proto = converted("linear")
    with mlnb.start_run() as run:
        info = mlnb.onnx.log_model(proto, name="onnx-model", input_example=X.iloc[:3])
    assert info.model_uri == f"models:/{info.model_id}"
    runs_uri = f"runs:/{run.info.run_id}/onnx-model"   # the run's path to the same model
    assert mlnb.onnx.load_model(runs_uri) == proto
    out = mlnb.pyfunc.load_model(runs_uri).predict(X)
    assert_same(out, ONNX_CASE.predict_native(proto, X))
    local = mlnb.download_artifacts(runs_uri)
    assert yaml.safe_load((Path(local) / "MLmodel").read_text())["run_id"] == run.info.run_id
    assert mlflow.onnx.load_model(str(local)) == proto


# -- options ---------------------------------------------------------------------------------
def test_providers_are_stored_and_used(tmp_path):
    import mlflow.pyfunc

    proto = converted("linear")
    mlnb.onnx.save_model(proto, tmp_path / "default")
    conf = yaml.safe_load((tmp_path / "default" / "MLmodel").read_text())["flavors"]["onnx"]
    assert conf["providers"] == ["CUDAExecutionProvider", CPU]  # MLflow's default
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # CUDA is skipped quietly while CPU is on the list
        session = mlnb.pyfunc.load_model(tmp_path / "default").get_raw_model()
    assert session.get_providers() == [CPU]

    with_options = [(CPU, {"arena_extend_strategy": "kSameAsRequested"})]
    mlnb.onnx.save_model(proto, tmp_path / "cpu", onnx_execution_providers=with_options)
    conf = yaml.safe_load((tmp_path / "cpu" / "MLmodel").read_text())["flavors"]["onnx"]
    assert conf["providers"] == [[CPU, {"arena_extend_strategy": "kSameAsRequested"}]]
    session = mlnb.pyfunc.load_model(tmp_path / "cpu").get_raw_model()
    assert session.get_providers() == [CPU]
    assert mlflow.pyfunc.load_model(str(tmp_path / "cpu")).get_raw_model().get_providers() == [CPU]

    mlnb.onnx.save_model(proto, tmp_path / "gpu", onnx_execution_providers=["CUDAExecutionProvider"])
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.warns(UserWarning, match="running on CPUExecutionProvider"):
            assert mlnb.pyfunc.load_model(tmp_path / "gpu").get_raw_model().get_providers() == [CPU]

    with pytest.raises(InvalidParameterError, match="'CPUExecutionProvidr' is not an onnxruntime"):
        mlnb.onnx.save_model(proto, tmp_path / "typo", onnx_execution_providers=["CPUExecutionProvidr"])
    assert not (tmp_path / "typo").exists()


def test_session_options_are_stored_and_applied(tmp_path):
    import mlflow.pyfunc

    options = {"intra_op_num_threads": 1, "execution_mode": "sequential", "graph_optimization_level": 1,
               "enable_mem_pattern": False}
    mlnb.onnx.save_model(converted("linear"), tmp_path / "m", onnx_session_options=options)
    conf = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())["flavors"]["onnx"]
    assert conf["onnx_session_options"] == options
    applied = mlnb.pyfunc.load_model(tmp_path / "m").get_raw_model().get_session_options()
    assert applied.intra_op_num_threads == 1
    assert applied.execution_mode == onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    assert applied.graph_optimization_level == onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert applied.enable_mem_pattern is False
    assert mlflow.pyfunc.load_model(str(tmp_path / "m")).get_raw_model().get_session_options().intra_op_num_threads == 1

    with pytest.raises(InvalidParameterError, match="'threads' is not an attribute"):
        mlnb.onnx.save_model(converted("linear"), tmp_path / "a", onnx_session_options={"threads": 2})
    with pytest.raises(InvalidParameterError, match="execution_mode='sideways' is invalid"):
        mlnb.onnx.save_model(converted("linear"), tmp_path / "b", onnx_session_options={"execution_mode": "sideways"})


def test_large_tensors_go_to_one_external_file_and_the_callers_model_is_untouched(tmp_path):
    import mlflow.onnx
    import mlflow.pyfunc

    proto = big_weights()
    before = proto.SerializeToString()
    mlnb.onnx.save_model(proto, tmp_path / "ext")
    assert proto.SerializeToString() == before
    assert sorted(p.name for p in (tmp_path / "ext").glob("model.onnx*")) == ["model.onnx", "model.onnx.data"]
    assert (tmp_path / "ext" / "model.onnx").stat().st_size < 1000
    x = np.random.default_rng(1).normal(size=(4, 5))
    (expected,) = run_onnx(proto, {"x": x.astype(np.float32)})
    assert_same_graph(mlnb.onnx.load_model(tmp_path / "ext"), proto)
    assert_same_graph(mlflow.onnx.load_model(str(tmp_path / "ext")), proto)
    np.testing.assert_array_equal(mlnb.pyfunc.load_model(tmp_path / "ext").predict(x)["y"], expected)
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(str(tmp_path / "ext")).predict(x)["y"], expected)

    mlflow.onnx.save_model(big_weights(), str(tmp_path / "theirs"), pip_requirements=MLFLOW_PIP)
    assert len(list((tmp_path / "theirs").glob("*.data"))) == 1  # MLflow names its data file at random
    assert_same_graph(mlnb.onnx.load_model(tmp_path / "theirs"), proto)
    np.testing.assert_array_equal(mlnb.pyfunc.load_model(tmp_path / "theirs").predict(x)["y"], expected)

    mlnb.onnx.save_model(proto, tmp_path / "inline", save_as_external_data=False)
    assert [p.name for p in (tmp_path / "inline").glob("model.onnx*")] == ["model.onnx"]
    assert mlnb.onnx.load_model(tmp_path / "inline") == proto


# -- bad input -------------------------------------------------------------------------------
def test_what_is_not_a_model_proto_is_refused(tmp_path):
    model, _ = sklearn_model("boosting")
    onnx.save_model(converted("linear"), str(tmp_path / "file.onnx"))
    for bad in (model, str(tmp_path / "file.onnx"), converted("linear").SerializeToString()):
        with pytest.raises(InvalidParameterError, match=r"must be an onnx.ModelProto.*onnx.load\(path\)"):
            mlnb.onnx.save_model(bad, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_an_invalid_graph_is_refused_before_anything_is_written(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "nowhere"], ["y"])], "broken",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])],
    )
    broken = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(InvalidParameterError, match="not a valid ONNX model.*nowhere"):
        mlnb.onnx.save_model(broken, tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", ["garbage", "truncated", "external data lost"])
def test_a_damaged_model_file_is_a_format_error(damage, tmp_path):
    mlnb.onnx.save_model(big_weights(), tmp_path / "m")
    file = tmp_path / "m" / "model.onnx"
    if damage == "garbage":
        file.write_bytes(b"\x08\x07this is not a protobuf")
    elif damage == "truncated":
        file.write_bytes(file.read_bytes()[:60])
    else:
        (tmp_path / "m" / "model.onnx.data").unlink()
    with pytest.raises(ModelFormatError, match="not a readable ONNX model.*save the model again"):
        mlnb.onnx.load_model(tmp_path / "m")
    with pytest.raises(ModelFormatError, match="not a readable ONNX model"):
        mlnb.pyfunc.load_model(tmp_path / "m")


def test_a_missing_model_file_is_a_format_error(tmp_path):
    mlnb.onnx.save_model(converted("linear"), tmp_path / "m")
    (tmp_path / "m" / "model.onnx").unlink()
    with pytest.raises(ModelFormatError, match="'model.onnx', which is missing"):
        mlnb.onnx.load_model(tmp_path / "m")
    with pytest.raises(ModelFormatError, match="'model.onnx', which is missing"):
        mlnb.pyfunc.load_model(tmp_path / "m")


def test_the_registry_maps_mlflow_onnx_to_mlnb_onnx():
    from mlnb.flavors import flavor_for_loader, get_flavor

    assert flavor_for_loader("mlflow.onnx") is get_flavor("onnx")
    assert get_flavor("onnx").load() is mlnb.onnx
    assert get_flavor("onnx").extra == "onnx"


def test_import_mlnb_does_not_import_onnx():
    code = ("import sys, mlnb, mlnb.flavors, mlnb.pyfunc, mlnb.flavors.onnx; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime', 'skl2onnx')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert mlnb.onnx.FLAVOR_NAME == "onnx"

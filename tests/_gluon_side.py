"""The gluon flavor's checks, run inside the MXNet environment (tests/_tiers.py ``GLUON_ENV``) by
tests/test_gluon_flavor.py:

    <gluon-env>/bin/python tests/_gluon_side.py <data.npz> <work dir>

with the checkout and tests/ on PYTHONPATH. It trains a small HybridBlock (fixed seed) on the data
the main environment generated, runs the conformance checks that apply and the gluon scenarios below,
and writes ``results.json`` (name -> "ok" or the failure) and, for the serving test, a saved model
with the block's own predictions. MXNet and MLflow 2.19 are imported only when run, so the main
environment can import this module for the names of the checks.
"""

from __future__ import annotations

import json
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest

from conformance import CHECKS, FlavorCase, Subject, check_mlmodel_keys_match_mlflow

#: MLflow 2.x writes older top-level MLmodel keys, so the key check is replaced by
#: ``mlflow_2_writes_the_same_files`` (same flavor sections, files and bytes; MLflow's keys a subset)
CONFORMANCE = [c for c in CHECKS if c is not check_mlmodel_keys_match_mlflow]
SCENARIOS: dict[str, Callable[[Path, pd.DataFrame, np.ndarray], None]] = {}
SERVED_MODEL = "served-model"
SERVED_EXPECTED = "served-expected.json"
MLFLOW_PIP = ["mxnet", "numpy", "pandas"]   # MLflow 2.x's savers then skip requirement inference


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def train(X: pd.DataFrame, y: np.ndarray, seed: int = 0) -> Any:
    """A two-layer classifier, hybridized and trained with a fixed seed (full-batch Adam)."""
    import mxnet as mx
    from mxnet import autograd, gluon

    mx.random.seed(seed)
    np.random.seed(seed)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(8, activation="relu"), gluon.nn.Dense(2))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.05})
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    data, label = mx.nd.array(X.to_numpy()), mx.nd.array(y)
    for _ in range(30):
        with autograd.record():
            value = loss(net(data), label)
        value.backward()
        trainer.step(len(X))
    return net


def native_predict(block: Any, X: pd.DataFrame) -> np.ndarray:
    import mxnet as mx

    return block(mx.nd.array(X.to_numpy(dtype=np.float32))).asnumpy()


def gluon_case(X: pd.DataFrame, y: np.ndarray) -> FlavorCase:
    import mlflow.gluon

    import mlnb.gluon

    def make(directory: Path, library: str) -> Subject:
        block = train(X, y)
        return Subject(block, X, native_predict(block, X))

    def save(subject, path, **kw):
        return mlnb.gluon.save_model(subject.model, path, **kw)

    def mlflow_save(subject, path, **kw):
        mlflow.gluon.save_model(subject.model, str(path), pip_requirements=MLFLOW_PIP, **kw)

    def mlflow_load_native(path):
        import mxnet as mx

        return mlflow.gluon.load_model(str(path), mx.cpu())

    return FlavorCase("gluon-hybrid_sequential", make, save, mlnb.gluon.load_model, native_predict, mlflow_save,
                      mlflow_load_native)


# -- scenarios -------------------------------------------------------------------------------
@scenario
def trained_block_round_trips_exactly(work: Path, X: pd.DataFrame, y: np.ndarray) -> None:
    """Saved, loaded natively and as pyfunc: the block's own predictions, bit for bit."""
    import mxnet as mx

    import mlnb.gluon
    import mlnb.pyfunc

    block = train(X, y)
    own = native_predict(block, X)
    assert (own.argmax(axis=1) == y).mean() > 0.8   # it learned
    mlnb.gluon.save_model(block, work / SERVED_MODEL, input_example=X.iloc[:5])
    loaded = mlnb.gluon.load_model(work / SERVED_MODEL)
    assert isinstance(loaded, mx.gluon.SymbolBlock)
    np.testing.assert_array_equal(native_predict(loaded, X), own)
    model = mlnb.pyfunc.load_model(work / SERVED_MODEL)
    frame = model.predict(X.set_axis(X.index + 100))
    assert isinstance(frame, pd.DataFrame) and list(frame.index) == list(X.index + 100)
    np.testing.assert_array_equal(frame.to_numpy(), own)
    np.testing.assert_array_equal(mlnb.gluon.load_pyfunc(str(work / SERVED_MODEL)).predict(X.to_numpy()), own)
    assert model.metadata.get_input_schema().input_names() == list(X.columns)
    requirements = (work / SERVED_MODEL / "requirements.txt").read_text().split()
    assert {"mxnet==1.9.1", f"numpy=={np.__version__}"} <= set(requirements)
    (work / SERVED_EXPECTED).write_text(json.dumps({"columns": list(X.columns), "data": X.to_numpy().tolist(),
                                                    "predictions": own.tolist()}))


@scenario
def logged_and_loaded_by_uri(work: Path, X: pd.DataFrame, y: np.ndarray) -> None:
    import mlnb
    import mlnb.gluon
    import mlnb.pyfunc

    block = train(X, y)
    with mlnb.start_run() as run:
        info = mlnb.gluon.log_model(block, name="model")
    own = native_predict(block, X)
    np.testing.assert_array_equal(mlnb.pyfunc.load_model(info.model_uri).predict(X).to_numpy(), own)
    np.testing.assert_array_equal(native_predict(mlnb.gluon.load_model(f"runs:/{run.info.run_id}/model"), X), own)


@scenario
def mlflow_2_writes_the_same_files(work: Path, X: pd.DataFrame, y: np.ndarray) -> None:
    """The same block saved by mlnb and by MLflow 2.19's mlflow.gluon: the same files, the exported
    graph and weights byte for byte, the same flavor sections; every top-level key MLflow 2.19 writes
    is in mlnb's MLmodel (which adds MLflow 3's)."""
    import mlflow.gluon
    import yaml
    from mlflow.models.signature import ModelSignature as MlflowSignature

    import mlnb.gluon
    from mlnb.models.signature import infer_signature

    block = train(X, y)
    sig = infer_signature(X, native_predict(block, X))
    mlnb.gluon.save_model(block, work / "ours", signature=sig, input_example=X.iloc[:3])
    mlflow.gluon.save_model(block, str(work / "theirs"), pip_requirements=MLFLOW_PIP,
                            signature=MlflowSignature.from_dict(sig.to_dict()), input_example=X.iloc[:3])

    def files(root: Path) -> list[str]:
        return sorted(str(p.relative_to(root)) for p in root.rglob("*"))

    assert files(work / "ours") == files(work / "theirs")
    for name in ("data/net-symbol.json", "data/net-0000.params", "input_example.json", "serving_input_example.json"):
        assert (work / "ours" / name).read_bytes() == (work / "theirs" / name).read_bytes(), name
    ours = yaml.safe_load((work / "ours" / "MLmodel").read_text())
    theirs = yaml.safe_load((work / "theirs" / "MLmodel").read_text())
    assert set(theirs) <= set(ours), set(theirs) - set(ours)
    assert ours["flavors"]["gluon"] == theirs["flavors"]["gluon"] == {"code": None, "mxnet_version": "1.9.1"}
    assert set(ours["flavors"]["python_function"]) == set(theirs["flavors"]["python_function"])
    assert ours["flavors"]["python_function"]["loader_module"] == "mlflow.gluon"
    assert ours["signature"] == theirs["signature"]
    assert ours["saved_input_example_info"] == theirs["saved_input_example_info"]


@scenario
def a_block_that_cannot_export_is_refused(work: Path, X: pd.DataFrame, y: np.ndarray) -> None:
    import mxnet as mx
    from mxnet import gluon

    import mlnb.gluon
    from mlnb.errors import InvalidParameterError

    plain = gluon.nn.Sequential()
    plain.add(gluon.nn.Dense(2))
    plain.initialize()
    with pytest.raises(InvalidParameterError, match="HybridBlock"):
        mlnb.gluon.save_model(plain, work / "out" / "plain")
    idle = gluon.nn.HybridSequential()
    idle.add(gluon.nn.Dense(2))
    idle.initialize()
    (work / "out").mkdir(exist_ok=True)
    with pytest.raises(InvalidParameterError, match=r"hybridize\(\) and run it forward once"):
        mlnb.gluon.save_model(idle, work / "out" / "idle")
    idle.hybridize()
    idle(mx.nd.array(X.to_numpy()))
    with pytest.raises(InvalidParameterError, match="pip requirements"):
        mlnb.gluon.save_model(idle, work / "out" / "idle", pip_requirements=42)
    assert list((work / "out").iterdir()) == []
    with pytest.raises(InvalidParameterError, match="DataFrame or a numpy array"):
        mlnb.gluon.load_pyfunc(str(_saved(work, X, y))).predict({"f0": [1.0]})


def _saved(work: Path, X: pd.DataFrame, y: np.ndarray) -> Path:
    path = work / "saved"
    if not path.exists():
        import mlnb.gluon

        mlnb.gluon.save_model(train(X, y), path)
    return path


@scenario
def damaged_files_are_format_errors(work: Path, X: pd.DataFrame, y: np.ndarray) -> None:
    import mlnb.gluon
    import mlnb.pyfunc
    from mlnb.errors import ModelFormatError

    saved = _saved(work, X, y)
    graph = json.loads((saved / "data" / "net-symbol.json").read_text())
    renamed = json.dumps({**graph, "nodes": [{**n, "name": "x"} if n.get("name") == "data" else n
                                             for n in graph["nodes"]]})
    damages = {
        "not JSON": ("net-symbol.json", b"\x00{not json", "not an MXNet graph"),
        "no nodes": ("net-symbol.json", b'{"heads": []}', "no list of operator nodes"),
        "no data input": ("net-symbol.json", renamed.encode(), "no input named 'data'"),
        "truncated weights": ("net-0000.params", (saved / "data" / "net-0000.params").read_bytes()[:100],
                              "cannot load the block"),
        "missing weights": ("net-0000.params", None, "is missing"),
    }
    for what, (name, content, message) in damages.items():
        copy = work / f"damaged-{what.replace(' ', '-')}"
        shutil.copytree(saved, copy)
        if content is None:
            (copy / "data" / name).unlink()
        else:
            (copy / "data" / name).write_bytes(content)
        for load in (mlnb.gluon.load_model, mlnb.pyfunc.load_model):
            with pytest.raises(ModelFormatError, match=message):
                load(copy)


# -- runner ----------------------------------------------------------------------------------
def main(data_file: str, work_dir: str) -> None:
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)   # mlflow.gluon's deprecation notices
    work = Path(work_dir)
    loaded = np.load(data_file)
    X = pd.DataFrame(loaded["X"], columns=[f"f{i}" for i in range(loaded["X"].shape[1])])
    y = loaded["y"]
    results = {}
    steps = [(f"conformance:{c.__name__}", lambda sub, c=c: c(gluon_case(X, y), sub)) for c in CONFORMANCE]
    steps += [(name, lambda sub, fn=fn: fn(sub, X, y)) for name, fn in SCENARIOS.items()]
    for name, step in steps:
        sub = work / name.replace(":", "-")
        sub.mkdir()
        try:
            step(sub)
            results[name] = "ok"
        except BaseException:   # noqa: BLE001  (every failure is reported, with its traceback)
            results[name] = traceback.format_exc()
    round_trip = work / "trained_block_round_trips_exactly"
    if (round_trip / SERVED_EXPECTED).is_file():   # for the serving test
        shutil.copytree(round_trip / SERVED_MODEL, work / SERVED_MODEL)
        shutil.copy(round_trip / SERVED_EXPECTED, work / SERVED_EXPECTED)
    (work / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:])

"""The TensorFlow flavor: tf.Module SavedModels in this process (conformance, MLflow's layout both ways,
pyfunc faces, bad input); Keras on the TensorFlow backend in a process of its own
(tests/_tensorflow_backend.py, one run reported as one test per job), since Keras fixes its backend
on first import and these workers run it on PyTorch; and a Keras model crossing between backends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")   # as every test worker: TensorFlow's import brings Keras

from _models import MLFLOW_PIP, assert_same, regression  # noqa: E402
from conformance import CHECKS, FlavorCase, Subject  # noqa: E402

HERE = Path(__file__).resolve().parent
# Keras' PyTorch backend calls np.array(tensor, copy=False) on every predict: NumPy 2's notice, not ours
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword",
                                        "ignore::DeprecationWarning")


def make_module(seed: int = 0, n_features: int = 5):
    """A small two-layer network as a ``tf.Module`` whose ``__call__`` has an input signature (so its
    SavedModel has a serving signature), with weights drawn from a fixed seed."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    class Net(tf.Module):
        def __init__(self):
            super().__init__()
            self.w1 = tf.Variable(rng.normal(size=(n_features, 8)))
            self.w2 = tf.Variable(rng.normal(size=(8, 1)))

        @tf.function(input_signature=[tf.TensorSpec([None, n_features], tf.float64, name="x")])
        def __call__(self, x):
            return tf.matmul(tf.nn.relu(tf.matmul(x, self.w1)), self.w2)

    return Net()


def call_native(model, X) -> np.ndarray:
    import tensorflow as tf

    return model(tf.constant(np.asarray(X, dtype="float64"))).numpy()


def mlflow_save(model, path, **kw):
    """MLflow's own save; its saver refuses a column signature (one its pyfunc serves), so such a
    signature goes in through ``mlflow_model``."""
    import mlflow.tensorflow
    from mlflow.models import Model as MlflowModel
    from mlflow.models.signature import ModelSignature

    signature = kw.pop("signature", None)
    if signature is not None:
        kw["mlflow_model"] = MlflowModel(signature=ModelSignature.from_dict(signature.to_dict()))
        kw["signature"] = False   # else it infers a column signature from the example, and refuses it
    mlflow.tensorflow.save_model(model, str(path), pip_requirements=MLFLOW_PIP, **kw)


def module_case() -> FlavorCase:
    def make(directory: Path, library: str) -> Subject:
        X, _ = regression(n=60)
        model = make_module()
        return Subject(model, X, call_native(model, X))

    def save(subject, path, **kw):
        import mlnb.tensorflow

        return mlnb.tensorflow.save_model(subject.model, path, **kw)

    def load_native(path):
        import mlnb.tensorflow

        return mlnb.tensorflow.load_model(path)

    def mlflow_load_native(path):
        import mlflow.tensorflow

        return mlflow.tensorflow.load_model(str(path))

    return FlavorCase("tensorflow-module", make, save, load_native, call_native,
                      lambda subject, path, **kw: mlflow_save(subject.model, path, **kw), mlflow_load_native)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_tensorflow_module_conforms(check, tmp_path):
    check(module_case(), tmp_path)


def test_layout_and_mlmodel_are_mlflows(tmp_path):
    import yaml

    import mlnb.tensorflow

    model = make_module()
    mlnb.tensorflow.save_model(model, tmp_path / "ours")
    mlflow_save(model, tmp_path / "theirs")
    ours = yaml.safe_load((tmp_path / "ours" / "MLmodel").read_text())
    theirs = yaml.safe_load((tmp_path / "theirs" / "MLmodel").read_text())
    assert ours["flavors"]["tensorflow"] == theirs["flavors"]["tensorflow"] == {
        "code": None, "model_type": "tf2-module", "saved_model_dir": "tf2model"}
    assert ours["flavors"]["python_function"]["loader_module"] == "mlflow.tensorflow"
    assert set(ours["flavors"]["python_function"]) == set(theirs["flavors"]["python_function"])
    assert sorted(p.name for p in (tmp_path / "ours" / "tf2model").iterdir()) == \
        sorted(p.name for p in (tmp_path / "theirs" / "tf2model").iterdir())
    # without a signature or example, mlnb records the serving signature's tensors (MLflow records none)
    assert json.loads(ours["signature"]["inputs"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 5]}}]
    assert "signature" not in theirs
    reqs = (tmp_path / "ours" / "requirements.txt").read_text().split()
    assert any(r.startswith("tensorflow") for r in reqs), reqs


def test_pyfunc_faces_arrays_dicts_and_dataframes_like_mlflow(tmp_path):
    """Arrays go through ``__call__`` in both; mlnb also feeds dicts to the serving signature, and
    DataFrames reach MLflow's pyfunc through the recorded tensor signature."""
    import mlflow.pyfunc

    import mlnb.pyfunc
    import mlnb.tensorflow

    model = make_module()
    X, _ = regression(n=20)
    expected = call_native(model, X)
    mlnb.tensorflow.save_model(model, tmp_path / "ours")
    mlflow_save(model, tmp_path / "theirs")
    ours = mlnb.pyfunc.load_model(tmp_path / "ours")
    for loaded in (ours, mlflow.pyfunc.load_model(str(tmp_path / "ours")), mlnb.pyfunc.load_model(tmp_path / "theirs"),
                   mlflow.pyfunc.load_model(str(tmp_path / "theirs"))):
        out = loaded.predict(X.to_numpy())
        assert isinstance(out, np.ndarray)
        assert_same(out, expected)
    for loaded in (ours, mlflow.pyfunc.load_model(str(tmp_path / "ours")), mlnb.pyfunc.load_model(tmp_path / "theirs")):
        assert_same(loaded.predict(X), expected)
    raw = mlnb.tensorflow.load_pyfunc(str(tmp_path / "theirs"))
    by_name = raw.predict({"x": X.to_numpy()})
    assert list(by_name) == ["output_0"]
    assert_same(by_name["output_0"], expected)


def test_several_named_inputs_take_a_dict_or_named_columns(tmp_path):
    import tensorflow as tf

    import mlnb.pyfunc
    import mlnb.tensorflow

    class Two(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float64, name="a"),
                                      tf.TensorSpec([None], tf.float64, name="b")])
        def __call__(self, a, b):
            return {"sum": a + b, "product": a * b}

    mlnb.tensorflow.save_model(Two(), tmp_path / "m")
    loaded = mlnb.pyfunc.load_model(tmp_path / "m")
    assert loaded.metadata.get_input_schema().input_names() == ["a", "b"]
    df = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}, index=[10, 11])
    out = loaded.predict({"a": df["a"].to_numpy(), "b": df["b"].to_numpy()})
    assert_same(out["sum"], [4.0, 6.0])
    assert_same(out["product"], [3.0, 8.0])
    framed = mlnb.tensorflow.load_pyfunc(str(tmp_path / "m")).predict(df)
    assert list(framed.index) == [10, 11] and set(framed.columns) == {"sum", "product"}
    assert_same(framed["product"], [3.0, 8.0])


def test_savedmodel_without_serving_signature_names_the_signatures_it_has(tmp_path):
    import tensorflow as tf

    import mlnb.pyfunc
    import mlnb.tensorflow
    from mlnb.errors import ModelFormatError

    class Scorer(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(2.0, dtype=tf.float64)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float64)])
        def score(self, x):
            return x * self.w

    scorer = Scorer()
    mlnb.tensorflow.save_model(scorer, tmp_path / "m",
                               saved_model_kwargs={"signatures": {"score": scorer.score.get_concrete_function()}})
    with pytest.raises(ModelFormatError, match=r"no serving signature \('serving_default'\).*\['score'\]"):
        mlnb.pyfunc.load_model(tmp_path / "m")
    native = mlnb.tensorflow.load_model(tmp_path / "m")   # the native object still loads
    assert_same(native.signatures["score"](x=tf.constant([1.0, 2.0], tf.float64))["output_0"].numpy(), [2.0, 4.0])


def test_wrong_model_types_are_refused(tmp_path):
    import keras
    from sklearn.linear_model import LinearRegression

    import mlnb.tensorflow
    from mlnb.errors import InvalidParameterError

    X, y = regression(n=20)
    with pytest.raises(InvalidParameterError, match="tf.Module or a Keras model.*LinearRegression"):
        mlnb.tensorflow.save_model(LinearRegression().fit(X, y), tmp_path / "m")
    assert keras.backend.backend() == "torch"
    on_torch = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    with pytest.raises(InvalidParameterError, match="'torch' backend.*mlnb.keras.save_model"):
        mlnb.tensorflow.save_model(on_torch, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_bad_input_to_the_pyfunc_is_a_clear_error(tmp_path):
    import mlnb.tensorflow
    from mlnb.errors import InvalidParameterError

    mlnb.tensorflow.save_model(make_module(), tmp_path / "m")
    raw = mlnb.tensorflow.load_pyfunc(str(tmp_path / "m"))
    with pytest.raises(InvalidParameterError, match="numpy array, a list, a dict"):
        raw.predict("1,2,3")
    with pytest.raises(InvalidParameterError, match="refused the input"):
        raw.predict(np.ones((2, 3)))


def test_log_model_then_load_from_runs_uri(tmp_path):
    import mlnb
    import mlnb.pyfunc
    import mlnb.tensorflow

    model = make_module()
    X, _ = regression(n=10)
    with mlnb.start_run() as run:
        info = mlnb.tensorflow.log_model(model, name="net")
    assert info.flavors["tensorflow"]["model_type"] == "tf2-module"
    uri = f"runs:/{run.info.run_id}/net"
    assert_same(call_native(mlnb.tensorflow.load_model(uri), X), call_native(model, X))
    assert_same(mlnb.pyfunc.load_model(uri).predict(X), call_native(model, X))


def test_registered_under_mlflows_names():
    import mlnb
    import mlnb.flavors.tensorflow
    from mlnb.flavors import flavor_for_loader

    assert mlnb.tensorflow is mlnb.flavors.tensorflow
    assert flavor_for_loader("mlflow.tensorflow").name == "tensorflow"


def _run(code: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**(env or os.environ), "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=str(HERE.parent))


def test_import_mlnb_and_autolog_do_not_import_tensorflow():
    code = ("import sys, json, mlnb, mlnb.tensorflow, mlnb.keras; mlnb.tensorflow.save_model; mlnb.autolog(); "
            "print(json.dumps(sorted(m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules)))")
    out = _run(code)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


# -- Keras on the TensorFlow backend, in a process of its own ------------------------------------------
BACKEND_JOBS = ["backend_is_tensorflow", "keras_saved_here_records_tensorflow",
                "model_saved_on_torch_loads_here_with_a_warning", "tensorflow_flavor_refuses_wrong_models",
                "keras_autolog_on_tensorflow_matches_mlflow", "tensorflow_autolog_options_match_mlflow",
                "keras_autolog_via_mlnb_keras_on_tensorflow",
                *(f"{case}::{check.__name__.removeprefix('check_')}"
                  for case in ("keras-regressor", "tensorflow-keras-regressor") for check in CHECKS)]


@pytest.fixture(scope="module")
def tensorflow_backend(tmp_path_factory):
    """Save a Keras model on PyTorch here, then run tests/_tensorflow_backend.py once (TensorFlow only:
    PyTorch blocked there); returns its output directory and the results of every job."""
    import mlnb.keras
    from test_keras_flavor import fitted, native_predict

    root = tmp_path_factory.mktemp("tf-backend")
    model, X = fitted("regressor")
    mlnb.keras.save_model(model, root / "saved-on-torch" / "model")
    np.save(root / "saved-on-torch" / "X.npy", X.to_numpy())
    np.save(root / "saved-on-torch" / "expected.npy", native_predict(model, X))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    env.pop("KERAS_BACKEND", None)
    out = subprocess.run([sys.executable, str(HERE / "_tensorflow_backend.py"), str(root / "out")],
                         capture_output=True, text=True, timeout=1800, env=env, cwd=str(root))
    results_file = root / "out" / "results.json"
    assert results_file.is_file(), out.stderr[-4000:]
    return root / "out", json.loads(results_file.read_text())


@pytest.mark.parametrize("job", BACKEND_JOBS)
def test_keras_on_the_tensorflow_backend(job, tensorflow_backend):
    _, results = tensorflow_backend
    assert job in results, f"{job} did not run; ran: {sorted(results)}"
    assert results[job] is None, results[job]


def test_model_saved_on_tensorflow_loads_on_torch_with_a_warning(tensorflow_backend):
    """Where only PyTorch exists, a model saved on TensorFlow loads on PyTorch, predicts the same, and
    says so with a BackendWarning."""
    out, _ = tensorflow_backend
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(out / "keras-home")
    code = (
        "import sys, warnings; from _tensorflow_backend import block; block('tensorflow')\n"
        "import numpy as np, mlnb.pyfunc\n"
        "from mlnb.flavors.keras import BackendWarning\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        f"    m = mlnb.pyfunc.load_model({str(out / 'saved-on-tensorflow')!r})\n"
        "import keras\n"
        f"got = m.predict(np.load({str(out / 'X.npy')!r}))\n"
        f"ok = np.allclose(got, np.load({str(out / 'expected.npy')!r}), rtol=1e-5, atol=1e-6)\n"
        "msgs = [str(x.message) for x in w if issubclass(x.category, BackendWarning)]\n"
        "print(keras.backend.backend(), ok, len(msgs)); print(msgs[0] if msgs else '')\n"
    )
    result = _run(code, env)
    assert result.returncode == 0, result.stderr[-3000:]
    first, message = result.stdout.strip().splitlines()[-2:]
    assert first == "torch True 1"
    assert "saved on the 'tensorflow' backend" in message and "'torch' backend instead" in message


def test_no_keras_backend_installed_says_which_to_install(tensorflow_backend):
    out, _ = tensorflow_backend
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    code = (
        "import sys; from _tensorflow_backend import block; block('tensorflow', 'torch', 'jax')\n"
        "import mlnb.keras\n"
        "from mlnb.errors import MissingDependencyError\n"
        f"try:\n    mlnb.keras.load_model({str(out / 'saved-on-tensorflow')!r})\n"
        "except MissingDependencyError as e:\n    print('MissingDependencyError', e)\n"
    )
    result = _run(code, env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "MissingDependencyError" in result.stdout
    assert "'tensorflow' backend" in result.stdout and "mlnb[tensorflow]" in result.stdout

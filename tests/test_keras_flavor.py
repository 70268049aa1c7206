"""The Keras 3 flavor: conformance, MLflow's layout both ways, pyfunc faces, bad input.

Keras runs here on its PyTorch backend (the one ``mlnb[keras]`` installs); the backend is chosen
before Keras is first imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

from _models import MLFLOW_PIP, assert_same, classification, regression  # noqa: E402
from conformance import CHECKS, FlavorCase, Subject  # noqa: E402


def fitted(kind: str):
    """A small Sequential model fitted with fixed seeds, and the DataFrame it was fitted on."""
    import keras

    keras.utils.set_random_seed(0)
    X, y = regression(n=120) if kind == "regressor" else classification(n=120)
    head = keras.layers.Dense(1) if kind == "regressor" else keras.layers.Dense(2, activation="softmax")
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"), head])
    model.compile(optimizer="adam", loss="mse" if kind == "regressor" else "sparse_categorical_crossentropy")
    model.fit(X.to_numpy(), y, epochs=2, batch_size=32, verbose=0)
    return model, X


def native_predict(model, X) -> np.ndarray:
    return model.predict(np.asarray(X), verbose=0)


def mlflow_save(model, path, **kw):
    """MLflow's own save. Its keras saver refuses a column signature (one its pyfunc serves, by
    passing ``DataFrame.values`` to the model), so such a signature goes in through ``mlflow_model``."""
    import mlflow.keras
    from mlflow.models import Model as MlflowModel
    from mlflow.models.signature import ModelSignature

    Path(path).mkdir(parents=True, exist_ok=True)  # its saver writes an input example before making the directory
    signature = kw.pop("signature", None)
    if signature is not None:
        kw["mlflow_model"] = MlflowModel(signature=ModelSignature.from_dict(signature.to_dict()))
    mlflow.keras.save_model(model, str(path), pip_requirements=MLFLOW_PIP, **kw)


def keras_case(kind: str) -> FlavorCase:
    def make(directory: Path, library: str) -> Subject:
        model, X = fitted(kind)
        return Subject(model, X, native_predict(model, X))

    def save(subject, path, **kw):
        import mlnb.keras

        return mlnb.keras.save_model(subject.model, path, **kw)

    def load_native(path):
        import mlnb.keras

        return mlnb.keras.load_model(path)

    def mlflow_load_native(path):
        import mlflow.keras

        return mlflow.keras.load_model(str(path))

    return FlavorCase(f"keras-{kind}", make, save, load_native, native_predict,
                      lambda subject, path, **kw: mlflow_save(subject.model, path, **kw), mlflow_load_native)


CASES = [keras_case("regressor"), keras_case("classifier")]
# Keras' PyTorch backend calls np.array(tensor, copy=False) on every predict: NumPy 2's notice, not ours
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("case", CASES, ids=str)
def test_keras_flavor_conforms(case, check, tmp_path):
    check(case, tmp_path)


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_both_ways_through_mlflow_predict_the_same(kind, tmp_path):
    import mlflow.keras
    import mlflow.pyfunc

    import mlnb.keras
    import mlnb.pyfunc

    model, X = fitted(kind)
    expected = native_predict(model, X)
    X_arr = X.to_numpy()
    mlnb.keras.save_model(model, tmp_path / "ours")
    mlflow_save(model, tmp_path / "theirs")
    for path in (tmp_path / "ours", tmp_path / "theirs"):
        for native in (mlnb.keras.load_model(path), mlflow.keras.load_model(str(path))):
            assert_same(native_predict(native, X), expected)
        ours, theirs = mlnb.pyfunc.load_model(path), mlflow.pyfunc.load_model(str(path))
        # the same faces as MLflow's: a DataFrame (index kept) for a DataFrame, an array for an array
        shifted = X.set_axis(X.index + 100)
        for out in (ours.predict(shifted), theirs.predict(shifted)):
            assert isinstance(out, pd.DataFrame) and list(out.index) == list(shifted.index)
            assert_same(out, expected)
        for out in (ours.predict(X_arr), theirs.predict(X_arr)):
            assert isinstance(out, np.ndarray)
            assert_same(out, expected)
    if kind == "classifier":
        assert set(expected.argmax(axis=1)) == {0, 1}


def test_tensor_signature_gives_mlflows_results(tmp_path):
    """With MLflow's usual Keras signature (a float32 tensor), a DataFrame becomes one array for the
    model and the result is an array, in both; float64 would be a lossy cast, refused by both."""
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    import mlnb.keras
    import mlnb.pyfunc
    from mlnb.errors import SchemaError
    from mlnb.models.signature import infer_signature

    model, X = fitted("regressor")
    X32 = X.astype("float32")
    expected = native_predict(model, X32)
    mlnb.keras.save_model(model, tmp_path / "m", signature=infer_signature(X32.to_numpy(), expected))
    ours, theirs = mlnb.pyfunc.load_model(tmp_path / "m"), mlflow.pyfunc.load_model(str(tmp_path / "m"))
    for data in (X32, X32.to_numpy()):
        a, b = ours.predict(data), theirs.predict(data)
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
        assert_same(a, expected)
        assert_same(b, expected)
    with pytest.raises(SchemaError, match="float32"):
        ours.predict(X)
    with pytest.raises(MlflowException):
        theirs.predict(X)


def test_layout_and_mlmodel_are_mlflows(tmp_path):
    import keras
    import yaml

    import mlnb.keras
    from mlnb.models.reading import VersionMismatchWarning

    model, X = fitted("regressor")
    mlnb.keras.save_model(model, tmp_path / "ours")
    mlflow_save(model, tmp_path / "theirs")
    for side in ("ours", "theirs"):
        data = tmp_path / side / "data"
        assert sorted(p.name for p in data.iterdir()) == ["keras_module.txt", "model.keras"]
        assert (data / "keras_module.txt").read_text() == "keras"
    ours = yaml.safe_load((tmp_path / "ours" / "MLmodel").read_text())
    theirs = yaml.safe_load((tmp_path / "theirs" / "MLmodel").read_text())
    assert ours["flavors"]["keras"] == theirs["flavors"]["keras"] == {
        "data": "data", "keras_version": keras.__version__, "keras_backend": "torch", "save_exported_model": False}
    assert ours["flavors"]["python_function"]["loader_module"] == "mlflow.keras"
    assert "data" not in ours["flavors"]["python_function"]
    reqs = (tmp_path / "ours" / "requirements.txt").read_text().split()
    assert f"keras=={keras.__version__}" in reqs
    assert any(r.startswith("torch==") and "+" not in r for r in reqs), reqs  # installable from PyPI
    with warnings.catch_warnings():  # torch 2.13.0+cpu installed satisfies the torch==2.13.0 pin
        warnings.simplefilter("error", VersionMismatchWarning)
        mlnb.keras.load_model(tmp_path / "ours")


def test_reached_by_mlflows_name_and_loader_module():
    import mlnb
    import mlnb.flavors.keras
    from mlnb.flavors import flavor_for_loader

    assert mlnb.keras is mlnb.flavors.keras
    assert flavor_for_loader("mlflow.keras").name == "keras"


def test_log_model_then_load_from_runs_uri(tmp_path):
    import mlflow.pyfunc

    import mlnb
    import mlnb.keras
    import mlnb.pyfunc

    model, X = fitted("classifier")
    expected = native_predict(model, X)
    with mlnb.start_run() as run:
        info = mlnb.keras.log_model(model, name="clf", input_example=X.iloc[:3])
    assert info.model_uri == f"models:/{info.model_id}" and info.flavors["keras"]["keras_backend"] == "torch"
    runs_uri = f"runs:/{run.info.run_id}/clf"   # the run's path to the same model
    assert_same(native_predict(mlnb.keras.load_model(runs_uri), X), expected)
    loaded = mlnb.pyfunc.load_model(runs_uri)
    assert_same(loaded.predict(X), expected)
    assert loaded.metadata.get_input_schema().input_names() == list(X.columns)
    # MLflow reads the logged directory too
    local = mlnb.download_artifacts(run_id=info.run_id, artifact_path="clf")
    assert_same(mlflow.pyfunc.load_model(local).predict(X), expected)


def test_pyfunc_refuses_other_input_types(tmp_path):
    import mlnb.keras
    from mlnb.errors import InvalidParameterError
    from mlnb.flavors.keras import _load_pyfunc

    model, _ = fitted("regressor")
    mlnb.keras.save_model(model, tmp_path / "m")
    with pytest.raises(InvalidParameterError, match="DataFrame, a numpy array"):
        _load_pyfunc(str(tmp_path / "m")).predict("1,2,3,4")


def test_not_a_keras_model_is_refused(tmp_path):
    from sklearn.linear_model import LinearRegression

    import mlnb.keras
    from mlnb.errors import InvalidParameterError

    X, y = regression(n=20)
    with pytest.raises(InvalidParameterError, match="must be a keras.Model"):
        mlnb.keras.save_model(LinearRegression().fit(X, y), tmp_path / "m")
    model, _ = fitted("regressor")
    with pytest.raises(InvalidParameterError, match="native .keras format only"):
        mlnb.keras.save_model(model, tmp_path / "m", save_exported_model=True)
    assert not (tmp_path / "m").exists()


def test_corrupt_or_missing_model_file_is_a_format_error(tmp_path):
    import mlnb.keras
    import mlnb.pyfunc
    from mlnb.errors import ModelFormatError

    model, _ = fitted("regressor")
    mlnb.keras.save_model(model, tmp_path / "m")
    keras_file = tmp_path / "m" / "data" / "model.keras"
    keras_file.write_bytes(keras_file.read_bytes()[:2000])  # a truncated copy
    with pytest.raises(ModelFormatError, match="not a readable .keras file"):
        mlnb.keras.load_model(tmp_path / "m")
    with pytest.raises(ModelFormatError, match="not a readable .keras file"):
        mlnb.pyfunc.load_model(tmp_path / "m")
    keras_file.unlink()
    with pytest.raises(ModelFormatError, match="data/model.keras.*missing"):
        mlnb.keras.load_model(tmp_path / "m")


def test_exported_savedmodel_is_named_not_misread(tmp_path):
    import yaml

    import mlnb.keras
    from mlnb.errors import ModelFormatError

    model, _ = fitted("regressor")
    mlnb.keras.save_model(model, tmp_path / "m")
    mlmodel = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    mlmodel["flavors"]["keras"]["save_exported_model"] = True  # what MLflow writes for an export
    (tmp_path / "m" / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(ModelFormatError, match="TensorFlow SavedModel.*mlflow.keras.load_model"):
        mlnb.keras.load_model(tmp_path / "m")


def _run(code: str, env: dict) -> str:
    """Run ``code`` in a fresh Python. Generous timeout: where TensorFlow is installed, Keras imports it
    (seconds) whenever it saves or loads a model, whatever its backend."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_import_mlnb_does_not_import_keras_or_its_backend():
    code = ("import sys, mlnb, mlnb.keras, mlnb.flavors; mlnb.keras.save_model; "
            "print(json.dumps([m for m in ('keras', 'torch', 'tensorflow', 'jax') if m in sys.modules]))")
    assert json.loads(_run("import json; " + code, dict(os.environ))) == []


def test_load_picks_the_saved_backend_when_none_was_chosen(tmp_path):
    import mlnb.keras

    model, X = fitted("regressor")
    mlnb.keras.save_model(model, tmp_path / "m")
    np.save(tmp_path / "X.npy", X.to_numpy())
    np.save(tmp_path / "expected.npy", native_predict(model, X))
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(tmp_path / "keras-home")  # no keras.json of the user's
    code = (
        "import numpy as np, mlnb.pyfunc; "
        f"m = mlnb.pyfunc.load_model({str(tmp_path / 'm')!r}); import keras; "
        f"out = m.predict(np.load({str(tmp_path / 'X.npy')!r})); "
        f"print(keras.backend.backend(), np.array_equal(out, np.load({str(tmp_path / 'expected.npy')!r})))"
    )
    assert _run(code, env) == "torch True"

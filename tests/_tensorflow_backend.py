"""Keras on its TensorFlow backend, run in a process of its own (Keras fixes its backend on first
import, and the test workers import it on PyTorch): ``python tests/_tensorflow_backend.py OUT_DIR``.

PyTorch is made unimportable here, so this process is also "a machine with TensorFlow only". Every
job runs; ``OUT_DIR/results.json`` maps each job's name to None (passed) or its traceback, and
tests/test_tensorflow_flavor.py reports one test per job.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
import warnings
from pathlib import Path



class Absent:
    """Makes libraries look uninstalled: finding or importing them raises ModuleNotFoundError."""

    def __init__(self, *names: str) -> None:
        self.names = set(names)

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return None


def block(*names: str) -> None:
    """Make ``names`` look uninstalled in this process: importing them fails, and
    ``importlib.util.find_spec`` answers None for them, as for a library that is not there."""
    import importlib.util

    sys.meta_path.insert(0, Absent(*names))
    real = importlib.util.find_spec

    def find_spec(name, package=None):
        return None if name.split(".")[0] in names else real(name, package)

    importlib.util.find_spec = find_spec


if __name__ == "__main__":
    sys.meta_path.insert(0, Absent("torch"))
    os.environ["KERAS_BACKEND"] = "tensorflow"
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from _models import MLFLOW_PIP, assert_same  # noqa: E402
from conformance import CHECKS, FlavorCase  # noqa: E402


def tensorflow_keras_case(kind: str) -> FlavorCase:
    """The tensorflow flavor holding a Keras model (MLflow's ``model_type: keras``)."""
    from test_keras_flavor import keras_case, native_predict

    base = keras_case(kind)

    def save(subject, path, **kw):
        import mlnb.tensorflow

        return mlnb.tensorflow.save_model(subject.model, path, **kw)

    def mlflow_save(subject, path, **kw):
        import mlflow.tensorflow
        from mlflow.models import Model as MlflowModel
        from mlflow.models.signature import ModelSignature

        signature = kw.pop("signature", None)   # MLflow's saver takes tensor signatures only
        if signature is not None:
            kw["mlflow_model"] = MlflowModel(signature=ModelSignature.from_dict(signature.to_dict()))
            kw["signature"] = False   # else it infers a column signature from the example, and refuses it
        mlflow.tensorflow.save_model(subject.model, str(path), pip_requirements=MLFLOW_PIP, **kw)

    def load_native(path):
        import mlnb.tensorflow

        return mlnb.tensorflow.load_model(path)

    def mlflow_load_native(path):
        import mlflow.tensorflow

        return mlflow.tensorflow.load_model(str(path))

    return FlavorCase(f"tensorflow-keras-{kind}", base.make, save, load_native, native_predict, mlflow_save,
                      mlflow_load_native)


def job_backend_is_tensorflow(out: Path) -> None:
    import keras

    assert keras.backend.backend() == "tensorflow"
    try:
        import torch  # noqa: F401
    except ImportError:
        return
    raise AssertionError("torch is importable in the TensorFlow-only process")


def job_keras_saved_here_records_tensorflow(out: Path) -> None:
    """A Keras model saved here (for the PyTorch side to load) records the TensorFlow backend."""
    import yaml

    import mlnb.keras
    from test_keras_flavor import fitted, native_predict

    model, X = fitted("regressor")
    mlnb.keras.save_model(model, out / "saved-on-tensorflow")
    np.save(out / "X.npy", X.to_numpy())
    np.save(out / "expected.npy", native_predict(model, X))
    conf = yaml.safe_load((out / "saved-on-tensorflow" / "MLmodel").read_text())["flavors"]["keras"]
    assert conf["keras_backend"] == "tensorflow"


def job_model_saved_on_torch_loads_here_with_a_warning(out: Path) -> None:
    """The PyTorch side saved a model (``OUT_DIR/saved-on-torch``): with only TensorFlow here, it
    loads on TensorFlow, gives the same predictions, and a BackendWarning says so."""
    import mlnb.keras
    import mlnb.pyfunc
    from mlnb.flavors.keras import BackendWarning

    src = out.parent / "saved-on-torch"
    X = np.load(src / "X.npy")
    for load in (lambda: mlnb.keras.load_model(src / "model").predict(X, verbose=0),
                 lambda: mlnb.pyfunc.load_model(src / "model").predict(X)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out_ = load()
        messages = [str(w.message) for w in caught if issubclass(w.category, BackendWarning)]
        assert messages and "'torch' backend" in messages[0] and "'tensorflow' backend instead" in messages[0], messages
        np.testing.assert_allclose(out_, np.load(src / "expected.npy"), rtol=1e-5, atol=1e-6)


def job_tensorflow_flavor_refuses_wrong_models(out: Path) -> None:
    import pytest
    from sklearn.linear_model import LinearRegression

    import mlnb.tensorflow
    from mlnb.errors import InvalidParameterError

    X = pd.DataFrame(np.eye(3), columns=["a", "b", "c"])
    with pytest.raises(InvalidParameterError, match="tf.Module or a Keras model.*LinearRegression"):
        mlnb.tensorflow.save_model(LinearRegression().fit(X, [0, 1, 2]), out / "wrong")
    assert not (out / "wrong").exists()


def job_keras_autolog_on_tensorflow_matches_mlflow(out: Path) -> None:
    from _autolog_keras import compare_with_mlflow

    compare_with_mlflow("tensorflow")


def job_tensorflow_autolog_options_match_mlflow(out: Path) -> None:
    """Every epoch's weights as a checkpoint, metrics every 2 steps instead of per epoch."""
    from _autolog_keras import compare_with_mlflow

    compare_with_mlflow("tensorflow", checkpoint_save_best_only=False, checkpoint_save_weights_only=True,
                        log_every_epoch=False, log_every_n_steps=2)


def job_keras_autolog_via_mlnb_keras_on_tensorflow(out: Path) -> None:
    from _autolog_keras import compare_with_mlflow

    compare_with_mlflow("keras")


def main(out: Path) -> None:
    import tempfile

    from test_keras_flavor import keras_case

    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, str | None] = {}
    for name, fn in [(n, f) for n, f in globals().items() if n.startswith("job_")]:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
            results[name.removeprefix("job_")] = _run(lambda fn=fn: fn(out))
    for case in (keras_case("regressor"), tensorflow_keras_case("regressor")):
        for check in CHECKS:
            with tempfile.TemporaryDirectory() as tmp:
                os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
                os.chdir(tmp)
                results[f"{case.name}::{check.__name__.removeprefix('check_')}"] = _run(
                    lambda case=case, check=check, tmp=tmp: check(case, Path(tmp)))
                os.chdir(out)
    (out / "results.json").write_text(json.dumps(results, indent=1))


def _run(fn) -> str | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            fn()
        return None
    except BaseException:  # noqa: BLE001  (reported by the test in the parent process)
        return traceback.format_exc()[-4000:]


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""The PyTorch flavor: conformance, MLflow's files and keys, pyfunc inputs, pt2, state dicts, bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

import mlnb
import mlnb.pyfunc
import mlnb.pytorch
from _models import assert_same
from _torch_models import TwoInputs, native_predict, trained
from conformance import CHECKS, FlavorCase, Subject
from mlnb.errors import InvalidParameterError, ModelFormatError

#: Requirements given to MLflow's saver so it skips its subprocess inference.
MLFLOW_PIP = ["torch", "cloudpickle", "numpy", "pandas"]


@pytest.fixture(autouse=True)
def _mlflow_may_unpickle(monkeypatch):
    """MLflow 3.17 refuses pickled PyTorch models unless this is set (mlnb does not need it)."""
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")


def pytorch_case(kind: str) -> FlavorCase:
    def make(directory: Path, library: str) -> Subject:
        model, X = trained(kind)
        return Subject(model, X, native_predict(model, X))

    def save(subject, path, **kw):
        return mlnb.pytorch.save_model(subject.model, path, **kw)

    def mlflow_save(subject, path, **kw):
        import mlflow.pytorch

        mlflow.pytorch.save_model(subject.model, str(path), serialization_format="pickle",
                                  pip_requirements=MLFLOW_PIP, **kw)

    def mlflow_load_native(path):
        import mlflow.pytorch

        return mlflow.pytorch.load_model(str(path))

    return FlavorCase(f"pytorch-{kind}", make, save, mlnb.pytorch.load_model, native_predict,
                      mlflow_save, mlflow_load_native)


CASES = [pytorch_case("classifier"), pytorch_case("regression")]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("case", CASES, ids=str)
def test_pytorch_flavor_conforms(case, check, tmp_path):
    check(case, tmp_path)


def test_files_and_mlmodel_keys_are_mlflows(tmp_path):
    import importlib.metadata as md

    model, _ = trained("classifier")
    mlnb.pytorch.save_model(model, tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m" / "data").iterdir()) == ["model.pth", "pickle_module_info.txt"]
    assert (tmp_path / "m" / "data" / "pickle_module_info.txt").read_text() == "mlflow.pytorch.pickle_module"
    flavors = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())["flavors"]
    assert flavors["pytorch"] == {"model_data": "data", "pytorch_version": torch.__version__, "code": None}
    pyfunc = flavors["python_function"]
    assert pyfunc["loader_module"] == "mlflow.pytorch" and pyfunc["data"] == "data"
    assert pyfunc["pickle_module_name"] == "mlflow.pytorch.pickle_module"
    assert pyfunc["config"] == {"device": None}
    reqs = (tmp_path / "m" / "requirements.txt").read_text().splitlines()
    assert f"torch=={md.version('torch').partition('+')[0]}" in reqs  # a local label (+cpu) is not pinned and f"cloudpickle=={md.version('cloudpickle')}" in reqs


def test_logged_model_loads_back_through_its_runs_uri():
    model, X = trained("regression")
    with mlnb.start_run() as run:
        info = mlnb.pytorch.log_model(model, name="net", input_example=X.iloc[:3])
    assert info.model_uri == f"models:/{info.model_id}" and "pytorch" in info.flavors
    runs_uri = f"runs:/{run.info.run_id}/net"   # the run's path to the same model
    assert info.signature is not None
    assert_same(native_predict(mlnb.pytorch.load_model(runs_uri), X), native_predict(model, X))
    predicted = mlnb.pyfunc.load_model(runs_uri).predict(X)
    assert isinstance(predicted, pd.DataFrame) and predicted.shape == (len(X), 1)
    assert_same(predicted, native_predict(model, X))


def test_pyfunc_takes_frames_arrays_and_dicts_of_arrays(tmp_path):
    model, X = trained("classifier")
    mlnb.pytorch.save_model(model, tmp_path / "clf")
    loaded = mlnb.pyfunc.load_model(tmp_path / "clf")
    framed = loaded.predict(X.set_index(X.index + 100))
    assert isinstance(framed, pd.DataFrame) and list(framed.index) == list(X.index + 100)
    as_array = loaded.predict(X.to_numpy(np.float32))
    assert isinstance(as_array, np.ndarray) and as_array.dtype == np.float32
    assert_same(framed, as_array)
    with pytest.raises(InvalidParameterError, match="DataFrame, a numpy array or a dict of arrays"):
        loaded.predict([[1.0] * X.shape[1]])

    torch.manual_seed(0)
    two = TwoInputs().eval()
    rng = np.random.default_rng(0)
    inputs = {"left": rng.normal(size=(6, 3)).astype(np.float32), "right": rng.normal(size=(6, 2)).astype(np.float32)}
    mlnb.pytorch.save_model(two, tmp_path / "two")
    with torch.no_grad():
        expected = two(torch.from_numpy(inputs["left"]), torch.from_numpy(inputs["right"])).numpy()
    assert_same(mlnb.pyfunc.load_model(tmp_path / "two").predict(inputs), expected)


def test_models_load_in_eval_mode_and_saving_leaves_the_modes_alone(tmp_path):
    model, X = trained("classifier")
    model.train()
    try:
        mlnb.pytorch.save_model(model, tmp_path / "m", input_example=X.iloc[:5])
        assert model.training and model.dropout.training  # signature inference ran in eval mode only
    finally:
        model.eval()
    loaded = mlnb.pytorch.load_model(tmp_path / "m")
    assert not loaded.training and not loaded.dropout.training
    first = mlnb.pyfunc.load_model(tmp_path / "m").predict(X)
    assert_same(first, mlnb.pyfunc.load_model(tmp_path / "m").predict(X))  # dropout off: deterministic
    assert_same(first, native_predict(model, X))


_SCALER = """
import torch


class Scaler(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor([1.5, -2.0]))

    def forward(self, x):
        return x * self.scale
"""


def test_code_paths_make_the_model_class_importable_at_load(tmp_path):
    """A class pickled by reference resolves from the model's code/ directory when it loads."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "scaler_mod.py").write_text(_SCALER)
    sys.path.insert(0, str(tmp_path / "src"))
    try:
        import scaler_mod

        model = scaler_mod.Scaler()
        mlnb.pytorch.save_model(model, tmp_path / "m", code_paths=[tmp_path / "src" / "scaler_mod.py"])
    finally:
        sys.path.remove(str(tmp_path / "src"))
        sys.modules.pop("scaler_mod", None)
    assert (tmp_path / "m" / "code" / "scaler_mod.py").is_file()
    x = np.array([[1.0, 1.0], [2.0, 3.0]], np.float32)
    assert_same(mlnb.pyfunc.load_model(tmp_path / "m").predict(x), native_predict(model, x))
    assert type(mlnb.pytorch.load_model(tmp_path / "m")).__module__ == "scaler_mod"


def test_a_class_defined_in_a_notebook_is_saved_by_value(tmp_path):
    """A notebook's classes live in __main__; cloudpickle stores them in the file, so the model
    loads in another process that never defined them."""
    script = _SCALER + f"""
import mlnb.pytorch
mlnb.pytorch.save_model(Scaler(), {str(tmp_path / "m")!r})
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120, capture_output=True)
    x = np.array([[1.0, 1.0], [2.0, 3.0]], np.float32)
    expected = x * np.array([1.5, -2.0], np.float32)
    assert_same(mlnb.pyfunc.load_model(tmp_path / "m").predict(x), expected)
    assert type(mlnb.pytorch.load_model(tmp_path / "m")).__name__ == "Scaler"


def test_stdlib_pickle_module_is_recorded_and_used(tmp_path):
    import pickle

    import mlflow.pytorch

    model, X = trained("regression")
    mlnb.pytorch.save_model(model, tmp_path / "m", pickle_module=pickle)
    assert (tmp_path / "m" / "data" / "pickle_module_info.txt").read_text() == "pickle"
    assert "cloudpickle" not in (tmp_path / "m" / "requirements.txt").read_text()
    assert_same(native_predict(mlflow.pytorch.load_model(str(tmp_path / "m")), X), native_predict(model, X))


def test_pt2_models_cross_mlflow_without_pickle(tmp_path, monkeypatch):
    """pt2 (MLflow 3.17's default format) loads in MLflow without allowing pickle, both ways."""
    import mlflow.pyfunc
    import mlflow.pytorch

    monkeypatch.delenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION")
    model, X = trained("regression")
    arr = X.to_numpy(np.float32)
    expected = native_predict(model, arr)
    meta = mlnb.pytorch.save_model(model, tmp_path / "ours", serialization_format="pt2", input_example=arr[:4])
    assert sorted(p.name for p in (tmp_path / "ours" / "data").iterdir()) == ["model.pt2"]
    assert meta.get_signature().inputs.is_tensor_spec()
    np.testing.assert_allclose(mlflow.pyfunc.load_model(str(tmp_path / "ours")).predict(arr), expected, rtol=1e-6)
    np.testing.assert_allclose(native_predict(mlflow.pytorch.load_model(str(tmp_path / "ours")), arr), expected,
                               rtol=1e-6)

    mlflow.pytorch.save_model(model, str(tmp_path / "theirs"), input_example=arr[:4], pip_requirements=MLFLOW_PIP)
    assert (tmp_path / "theirs" / "data" / "model.pt2").is_file()
    ours, theirs = (yaml.safe_load((tmp_path / d / "MLmodel").read_text()) for d in ("ours", "theirs"))
    assert {k: set(v) for k, v in ours["flavors"].items()} == {k: set(v) for k, v in theirs["flavors"].items()}
    assert ours["signature"] == theirs["signature"]
    np.testing.assert_allclose(mlnb.pyfunc.load_model(tmp_path / "theirs").predict(arr), expected, rtol=1e-6)
    np.testing.assert_allclose(native_predict(mlnb.pytorch.load_model(tmp_path / "theirs"), arr), expected, rtol=1e-6)

    with pytest.raises(InvalidParameterError, match="input_example"):
        mlnb.pytorch.save_model(model, tmp_path / "no-example", serialization_format="pt2")
    assert not (tmp_path / "no-example").exists()


class _DataDependent(torch.nn.Module):
    """Branches on the values of its input, which torch.export cannot trace."""

    def forward(self, x):
        return x * 2 if bool((x.sum() > 0).item()) else x - 1


def test_default_format_is_pt2_when_an_array_example_traces_else_pickle(tmp_path, monkeypatch):
    """Left at its default, the format is MLflow's pt2 wherever the module can be traced on its example."""
    import warnings

    import mlflow.pyfunc

    model, X = trained("regression")
    arr = X.to_numpy(np.float32)
    mlnb.pytorch.save_model(model, tmp_path / "traced", input_example=arr[:4])
    assert sorted(p.name for p in (tmp_path / "traced" / "data").iterdir()) == ["model.pt2"]
    monkeypatch.delenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION")  # MLflow loads it without allowing pickle
    np.testing.assert_allclose(mlflow.pyfunc.load_model(str(tmp_path / "traced")).predict(arr),
                               native_predict(model, arr), rtol=1e-6)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no example to trace on: pickle, and nothing to warn about
        mlnb.pytorch.save_model(model, tmp_path / "no-example")
    assert (tmp_path / "no-example" / "data" / "model.pth").is_file()

    with pytest.warns(UserWarning, match="could not trace"):
        mlnb.pytorch.save_model(_DataDependent(), tmp_path / "untraceable", input_example=arr[:4])
    assert sorted(p.name for p in (tmp_path / "untraceable" / "data").iterdir()) == ["model.pth", "pickle_module_info.txt"]
    expected = arr * 2 if arr.sum() > 0 else arr - 1
    np.testing.assert_allclose(mlnb.pyfunc.load_model(tmp_path / "untraceable").predict(arr), expected)


class _Touch:
    """Unpickling this creates a file: the stand-in for code a crafted archive would run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return Path.touch, (self.path,)


def test_pt2_archive_with_a_code_running_pickle_is_refused(tmp_path):
    import io
    import pickle
    import zipfile

    from mlnb.errors import UntrustedTypesError

    model, X = trained("regression")
    mlnb.pytorch.save_model(model, tmp_path / "m", serialization_format="pt2", input_example=X.to_numpy(np.float32)[:4])
    archive = tmp_path / "m" / "data" / "model.pt2"
    records = {i.filename: zipfile.ZipFile(archive).read(i) for i in zipfile.ZipFile(archive).infolist()}
    target = next(n for n in records if "/sample_inputs/" in n)
    buf = io.BytesIO()
    torch.save(_Touch(tmp_path / "ran"), buf, pickle_module=pickle)
    records[target] = buf.getvalue()
    with zipfile.ZipFile(archive, "w") as z:
        for name, content in records.items():
            z.writestr(name, content)
    for load in (mlnb.pytorch.load_model, mlnb.pyfunc.load_model):
        with pytest.raises(UntrustedTypesError, match="sample_inputs"):
            load(tmp_path / "m")
    assert not (tmp_path / "ran").exists()


def test_state_dicts_cross_mlflow_and_load_weights_only(tmp_path):
    import mlflow.pytorch

    model, _ = trained("classifier")
    mlnb.pytorch.save_state_dict(model.state_dict(), tmp_path / "ours")
    theirs = mlflow.pytorch.load_state_dict(str(tmp_path / "ours"))
    mlflow.pytorch.save_state_dict(model.state_dict(), str(tmp_path / "theirs"))
    ours = mlnb.pytorch.load_state_dict(tmp_path / "theirs")
    with mlnb.start_run() as run:
        mlnb.pytorch.log_state_dict(model.state_dict(), "weights")
    logged = mlnb.pytorch.load_state_dict(f"runs:/{run.info.run_id}/weights")
    for state in (theirs, ours, logged):
        assert list(state) == list(model.state_dict())
        assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    with pytest.raises(InvalidParameterError, match="must be a dict"):
        mlnb.pytorch.save_state_dict(model, tmp_path / "module")


def test_bad_input_gets_typed_errors(tmp_path):
    model, _ = trained("regression")
    with pytest.raises(InvalidParameterError, match="must be a torch.nn.Module, got dict"):
        mlnb.pytorch.save_model({"weights": 1}, tmp_path / "m")
    with pytest.raises(InvalidParameterError, match="Unknown serialization_format 'onnx'"):
        mlnb.pytorch.save_model(model, tmp_path / "m", serialization_format="onnx")
    with pytest.raises(InvalidParameterError, match="pickle_module must be a module"):
        mlnb.pytorch.save_model(model, tmp_path / "m", pickle_module="cloudpickle")
    assert not (tmp_path / "m").exists()

    mlnb.pytorch.save_model(model, tmp_path / "m")
    (tmp_path / "m" / "data" / "model.pth").unlink()
    with pytest.raises(ModelFormatError, match="neither 'model.pth' nor 'model.pt2'"):
        mlnb.pytorch.load_model(tmp_path / "m")
    with pytest.raises(ModelFormatError, match="neither 'model.pth' nor 'model.pt2'"):
        mlnb.pyfunc.load_model(tmp_path / "m")


def test_import_mlnb_does_not_import_torch():
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import mlnb, mlnb.pytorch"],
                         capture_output=True, text=True, check=True, timeout=60)
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert "mlnb.pytorch" in imported  # the alias of mlnb.flavors.pytorch
    assert not any(name == "torch" or name.startswith("torch.") for name in imported)

"""Bad input and failures: typed mlnb errors that say what to do, and nothing half-written."""

from __future__ import annotations

import sys
import threading
import warnings

import pytest
import yaml

import mlnb.pyfunc
import mlnb.sklearn
from _models import estimator
from mlnb import errors
from mlnb.flavors import get_flavor
from mlnb.models.reading import VersionMismatchWarning


@pytest.fixture
def saved(tmp_path):
    model, X = estimator("logistic_regression")
    mlnb.sklearn.save_model(model, tmp_path / "m")
    return tmp_path / "m"


def _snapshot(path):
    return {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def test_saving_onto_an_existing_model_fails_and_changes_nothing(saved):
    before = _snapshot(saved)
    model, _ = estimator("random_forest")
    with pytest.raises(errors.ModelExistsError, match="already exists.*never overwrites") as info:
        mlnb.sklearn.save_model(model, saved)
    assert isinstance(info.value, FileExistsError)
    assert _snapshot(saved) == before
    assert sorted(p.name for p in saved.parent.iterdir()) == ["m"]


def test_saving_onto_a_file_fails(tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(errors.ModelExistsError):
        mlnb.pyfunc.save_model(tmp_path / "taken", python_model=Unpicklable())
    assert (tmp_path / "taken").read_text() == "x"


def test_an_empty_directory_is_an_allowed_target(tmp_path):
    (tmp_path / "m").mkdir()
    model, X = estimator("logistic_regression")
    mlnb.sklearn.save_model(model, tmp_path / "m")
    assert (tmp_path / "m" / "MLmodel").is_file()


class Unpicklable:
    def __init__(self):
        self.lock = threading.Lock()  # locks cannot be pickled

    def predict(self, context, model_input):
        return model_input


def test_a_save_failing_half_way_leaves_nothing_behind(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(TypeError):
        mlnb.pyfunc.save_model(tmp_path / "out" / "m", python_model=Unpicklable())
    assert list((tmp_path / "out").iterdir()) == []


def test_missing_model_paths_and_unknown_schemes(tmp_path):
    with pytest.raises(errors.ResourceNotFoundError, match="No file or directory"):
        mlnb.pyfunc.load_model(tmp_path / "nowhere")
    with pytest.raises(errors.InvalidParameterError, match="Unsupported URI scheme 'ftp'"):
        mlnb.pyfunc.load_model("ftp://host/model")


def test_a_directory_without_mlmodel_says_where_to_point(tmp_path):
    (tmp_path / "m").mkdir()
    for load in (mlnb.pyfunc.load_model, mlnb.sklearn.load_model):
        with pytest.raises(errors.ModelFormatError, match="has no MLmodel file. Point to the directory"):
            load(tmp_path / "m")


def test_a_malformed_mlmodel_is_a_format_error(saved):
    (saved / "MLmodel").write_text("flavors: [broken\n")
    with pytest.raises(errors.ModelFormatError, match="not valid YAML") as info:
        mlnb.pyfunc.load_model(saved)
    assert isinstance(info.value, ValueError)


def test_a_missing_model_file_is_a_format_error(saved):
    (saved / "model.skops").unlink()
    with pytest.raises(errors.ModelFormatError, match="'model.skops', which is missing"):
        mlnb.sklearn.load_model(saved)


def _rewrite(path, edit):
    data = yaml.safe_load((path / "MLmodel").read_text())
    edit(data)
    (path / "MLmodel").write_text(yaml.safe_dump(data))


def test_an_unknown_loader_module_says_what_to_install(saved):
    _rewrite(saved, lambda d: d["flavors"]["python_function"].update(loader_module="acme_ml.flavor"))
    with pytest.raises(errors.UnsafeModelError, match="'acme_ml.flavor'.*trust_code=True"):
        mlnb.pyfunc.load_model(saved)  # an unregistered loader module is code: it needs consent
    with pytest.raises(errors.FlavorNotFoundError, match="'acme_ml.flavor' is neither an mlnb flavor nor importable"):
        mlnb.pyfunc.load_model(saved, trust_code=True)


def test_a_model_without_a_pyfunc_flavor_names_its_flavors(saved):
    _rewrite(saved, lambda d: d["flavors"].pop("python_function"))
    with pytest.raises(errors.FlavorNotFoundError, match="no python_function flavor \\(it has: sklearn\\)"):
        mlnb.pyfunc.load_model(saved)
    with pytest.raises(errors.FlavorNotFoundError, match="Unknown flavor 'acme'"):
        get_flavor("acme")


def test_a_missing_optional_library_names_the_extra_to_install(saved, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed: importing it fails
    _rewrite(saved, lambda d: d["flavors"]["python_function"].update(loader_module="mlflow.pytorch"))
    with pytest.raises(errors.MissingDependencyError, match=r"needs the 'torch' package.*pip install 'mlnb\[pytorch\]'") as info:
        mlnb.pyfunc.load_model(saved)
    assert isinstance(info.value, ImportError)


def test_other_library_versions_warn_naming_both(saved):
    reqs = (saved / "requirements.txt").read_text().splitlines()
    installed = next(r for r in reqs if r.startswith("scikit-learn==")).split("==")[1]
    (saved / "requirements.txt").write_text("\n".join("scikit-learn==0.0.1" if r.startswith("scikit-learn") else r
                                                      for r in reqs) + "\n")
    with pytest.warns(VersionMismatchWarning, match=rf"scikit-learn \(saved with 0.0.1, installed {installed}\).*install"):
        mlnb.sklearn.load_model(saved)


def test_matching_versions_load_without_warnings(saved):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mlnb.pyfunc.load_model(saved)


def test_wrong_input_at_predict_is_a_schema_error_not_a_traceback(tmp_path):
    from mlnb.models.signature import infer_signature

    model, X = estimator("logistic_regression")
    mlnb.sklearn.save_model(model, tmp_path / "m", signature=infer_signature(X))
    with pytest.raises(errors.SchemaError, match="Missing required columns"):
        mlnb.pyfunc.load_model(tmp_path / "m").predict(X[["f0"]])


def test_a_missing_dependency_via_require():
    with pytest.raises(errors.MissingDependencyError, match=r"Plotting needs the 'no_such_lib' package.*mlnb\[evaluate\]"):
        errors.require("no_such_lib.sub", "evaluate", "Plotting")


def test_a_predict_fn_the_model_lacks_is_a_format_error(saved):
    _rewrite(saved, lambda d: d["flavors"]["python_function"].update(predict_fn="_secret"))
    with pytest.raises(errors.ModelFormatError, match="predict_fn '_secret' is not a method"):
        mlnb.pyfunc.load_model(saved)

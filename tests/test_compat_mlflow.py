"""MLflow 3.17 and mlnb read each other's models: every format, estimator kind and custom models.

The MLflow side is created here with real MLflow (its savers get explicit pip requirements so they
skip their subprocess inference).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import yaml

import mlnb.pyfunc
import mlnb.sklearn
from _models import ESTIMATORS, MLFLOW_PIP, assert_same, classification, custom_expected, custom_model, estimator
from mlnb.models.signature import infer_signature

FORMATS = ["skops", "cloudpickle", "pickle"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", ESTIMATORS)
def test_mlflow_loads_every_sklearn_model_mlnb_saves(kind, fmt, tmp_path):
    import mlflow.pyfunc
    import mlflow.sklearn

    model, X = estimator(kind)
    mlnb.sklearn.save_model(model, tmp_path / "m", serialization_format=fmt)
    assert_same(mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(X), model.predict(X))
    assert_same(mlflow.sklearn.load_model(str(tmp_path / "m")).predict(X), model.predict(X))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", ESTIMATORS)
def test_mlnb_loads_every_sklearn_model_mlflow_saves(kind, fmt, tmp_path):
    import mlflow.sklearn
    import skops.io

    model, X = estimator(kind)
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model)) or None if fmt == "skops" else None
    mlflow.sklearn.save_model(model, str(tmp_path / "m"), serialization_format=fmt,
                              skops_trusted_types=trusted, pip_requirements=MLFLOW_PIP)
    assert_same(mlnb.pyfunc.load_model(tmp_path / "m").predict(X), model.predict(X))
    assert_same(mlnb.sklearn.load_model(tmp_path / "m").predict(X), model.predict(X))


def test_mlnb_default_saves_a_forest_that_mlflow_default_refuses(tmp_path):
    import mlflow.sklearn

    model, X = estimator("random_forest")
    with pytest.raises(Exception, match="(?i)untrusted|trusted"):
        mlflow.sklearn.save_model(model, str(tmp_path / "theirs"), pip_requirements=MLFLOW_PIP)
    meta = mlnb.sklearn.save_model(model, tmp_path / "ours")
    conf = meta.flavors["sklearn"]
    assert conf["serialization_format"] == "skops"
    assert "sklearn.tree._tree.Tree" in conf["skops_trusted_types"]
    assert_same(mlflow.sklearn.load_model(str(tmp_path / "ours")).predict(X), model.predict(X))


def test_custom_models_cross_both_ways_with_artifacts_config_and_params(tmp_path):
    import mlflow.pyfunc

    X, _ = classification()
    sig = infer_signature(X, custom_expected(X), params={"shift": 0.0})
    for base, save in [("mlnb.pyfunc", mlnb.pyfunc.save_model), ("mlflow.pyfunc", mlflow.pyfunc.save_model)]:
        side = tmp_path / base
        side.mkdir()
        instance, module_file, artifacts = custom_model(side, base)
        kwargs = {"pip_requirements": MLFLOW_PIP} if base.startswith("mlflow") else {}
        signature = sig if base.startswith("mlnb") else _mlflow_signature(sig)
        save(str(side / "model"), python_model=instance, artifacts=artifacts, code_paths=[str(module_file)],
             model_config={"offset": 1.0}, signature=signature, **kwargs)
        for load in (mlnb.pyfunc.load_model, mlflow.pyfunc.load_model):
            loaded = load(str(side / "model"))
            np.testing.assert_allclose(loaded.predict(X), custom_expected(X, offset=1.0))
            np.testing.assert_allclose(loaded.predict(X, params={"shift": 3.0}), custom_expected(X, 1.0, 3.0))


def _mlflow_signature(sig):
    from mlflow.models.signature import ModelSignature

    return ModelSignature.from_dict(sig.to_dict())


def test_mlflow_loads_mlnb_models_in_a_fresh_interpreter_through_code_paths(tmp_path):
    """A fresh process has never imported the custom model's module: only ``code/`` provides it."""
    X, _ = classification(n=20)
    X.to_csv(tmp_path / "X.csv", index=False)
    instance, module_file, artifacts = custom_model(tmp_path, "mlnb.pyfunc")
    mlnb.pyfunc.save_model(tmp_path / "custom", python_model=instance, artifacts=artifacts,
                           code_paths=[str(module_file)])
    module_file.unlink()  # the model must carry its own copy
    forest, Xf = estimator("random_forest")
    mlnb.sklearn.save_model(forest, tmp_path / "forest", serialization_format="cloudpickle")
    script = textwrap.dedent(f"""
        import json, sys, pandas as pd, mlflow.pyfunc
        X = pd.read_csv({str(tmp_path / "X.csv")!r})
        custom = mlflow.pyfunc.load_model({str(tmp_path / "custom")!r}).predict(X)
        forest = mlflow.pyfunc.load_model({str(tmp_path / "forest")!r}).predict(X)
        print(json.dumps({{"custom": custom.tolist(), "forest": forest.tolist()}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(result["custom"], custom_expected(X))
    assert result["forest"] == forest.predict(X).tolist()


_VOLATILE = re.compile(r"^(\s*)(model_uuid|utc_time_created|model_size_bytes|uri): .*$", re.M)


def _normalized(text: str) -> str:
    return _VOLATILE.sub(r"\1\2: <volatile>", text)


@pytest.mark.parametrize("kind", ["logistic_regression", "random_forest", "pipeline"])
def test_mlmodel_text_matches_mlflow_line_for_line(kind, tmp_path):
    """Same keys, order and YAML style: only uuids, timestamps and sizes differ."""
    import mlflow.sklearn
    import skops.io

    model, X = estimator(kind)
    sig = infer_signature(X, model.predict(X))
    mlnb.sklearn.save_model(model, tmp_path / "ours", signature=sig, input_example=X.iloc[:2])
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model)) or None
    mlflow.sklearn.save_model(model, str(tmp_path / "theirs"), signature=_mlflow_signature(sig),
                              input_example=X.iloc[:2], skops_trusted_types=trusted, pip_requirements=MLFLOW_PIP)
    ours = (tmp_path / "ours" / "MLmodel").read_text()
    theirs = (tmp_path / "theirs" / "MLmodel").read_text()
    assert _normalized(ours) == _normalized(theirs)
    assert (tmp_path / "ours" / "python_env.yaml").read_text() == (tmp_path / "theirs" / "python_env.yaml").read_text()
    ours_conda = yaml.safe_load((tmp_path / "ours" / "conda.yaml").read_text())
    theirs_conda = yaml.safe_load((tmp_path / "theirs" / "conda.yaml").read_text())
    assert ours_conda["channels"] == theirs_conda["channels"] and ours_conda["name"] == theirs_conda["name"]
    assert ours_conda["dependencies"][:2] == theirs_conda["dependencies"][:2]


def test_mlflow_reads_mlnb_manifest_fields(tmp_path):
    from mlflow.models import Model as MlflowModel

    model, X = estimator("logistic_regression")
    mlnb.sklearn.save_model(model, tmp_path / "m", signature=infer_signature(X, model.predict(X)),
                            input_example=X.iloc[:2], metadata={"team": "fraud"})
    theirs = MlflowModel.load(str(tmp_path / "m"))
    assert theirs.metadata == {"team": "fraud"}
    assert theirs.signature.inputs.input_names() == list(X.columns)
    assert theirs.load_input_example(str(tmp_path / "m")).equals(X.iloc[:2].reset_index(drop=True))


EXAMPLES = {
    "dataframe": pd.DataFrame({"a": [1.0, 2.0], "s": ["x", "y"]}),
    "unnamed-dataframe": pd.DataFrame(np.ones((2, 2))),
    "ndarray": np.arange(6, dtype=float).reshape(2, 3),
    "dict-of-arrays": {"a": np.array([1, 2]), "b": np.array([0.5, 1.5])},
    "dict": {"question": "hello", "k": 3},
    "list": ["a", "b"],
}


@pytest.mark.parametrize("name", EXAMPLES)
def test_input_example_files_are_those_mlflow_writes(name, tmp_path):
    from mlflow.models import Model as MlflowModel
    from mlflow.models.utils import _save_example

    from mlnb.models import examples

    (tmp_path / "ours").mkdir()
    (tmp_path / "theirs").mkdir()
    info = examples.save(EXAMPLES[name], tmp_path / "ours")
    theirs = MlflowModel()
    _save_example(theirs, EXAMPLES[name], str(tmp_path / "theirs"))
    assert info == theirs.saved_input_example_info
    for file in ("input_example.json", "serving_input_example.json"):
        assert (tmp_path / "ours" / file).read_text() == (tmp_path / "theirs" / file).read_text()


def test_missing_values_in_examples_are_written_as_json_null(tmp_path):
    """MLflow writes bare NaN (not JSON); mlnb writes null, which every JSON reader accepts."""
    from mlnb.models import examples

    examples.save(pd.DataFrame({"a": [1.0, None], "s": ["x", None]}), tmp_path)
    assert json.loads((tmp_path / "input_example.json").read_text())["data"] == [[1.0, "x"], [None, None]]
    back = examples.load(tmp_path, {"type": "dataframe", "artifact_path": "input_example.json"})
    assert back["a"].isna().tolist() == [False, True]


def test_mlnb_loads_an_mlflow_model_defined_in_code(tmp_path):
    import mlflow.pyfunc

    (tmp_path / "doubler.py").write_text(textwrap.dedent("""
        import mlflow
        from mlflow.pyfunc import PythonModel

        class Doubler(PythonModel):
            def predict(self, context, model_input, params=None):
                return model_input * 2

        mlflow.models.set_model(Doubler())
    """))
    mlflow.pyfunc.save_model(str(tmp_path / "m"), python_model=str(tmp_path / "doubler.py"), pip_requirements=MLFLOW_PIP)
    X = pd.DataFrame({"x": [1.0, 2.5]})
    loaded = mlnb.pyfunc.load_model(tmp_path / "m")
    assert loaded.predict(X)["x"].tolist() == [2.0, 5.0]
    assert type(loaded.unwrap_python_model()).__name__ == "Doubler"

"""The Spark MLlib flavor: conformance, MLflow compatibility both ways, runs:/ URIs, bad input.

One local SparkSession serves the whole module and is stopped at its end, JVM included.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import mlnb
import mlnb.pyfunc
import mlnb.spark
from _models import MLFLOW_PIP, assert_same, classification, regression
from _spark import QUICK_JVM, local_session, stop_session
from conformance import CHECKS, FlavorCase, Subject
from mlnb.errors import InvalidParameterError, ModelFormatError

pytestmark = pytest.mark.java
_FITTED: dict[str, object] = {}


@pytest.fixture(scope="module", autouse=True)
def spark():
    session = local_session("local[1]")
    yield session
    _FITTED.clear()
    stop_session(session)


def _active():
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def _predict_native(model, X: pd.DataFrame) -> np.ndarray:
    rows = model.transform(_active().createDataFrame(X)).select("prediction").collect()
    return np.array([r[0] for r in rows])


def _classifier():
    """A fitted Pipeline(VectorAssembler + LogisticRegression) and its input frame (fitted once)."""
    if "classifier" not in _FITTED:
        from pyspark.ml import Pipeline
        from pyspark.ml.classification import LogisticRegression
        from pyspark.ml.feature import VectorAssembler

        X, y = classification()
        train = _active().createDataFrame(X.assign(label=y.astype(float)))
        stages = [VectorAssembler(inputCols=list(X.columns), outputCol="features"),
                  LogisticRegression(maxIter=5)]
        _FITTED["classifier"] = (Pipeline(stages=stages).fit(train), X)
    return _FITTED["classifier"]


def _regressor():
    """A single fitted LinearRegressionModel that reads a vector column, and that column as lists."""
    if "regressor" not in _FITTED:
        from pyspark.ml.linalg import Vectors
        from pyspark.ml.regression import LinearRegression

        X, y = regression(n=100, features=3)
        rows = [(Vectors.dense(r), float(t)) for r, t in zip(X.to_numpy(), y)]
        train = _active().createDataFrame(rows, ["features", "label"])
        model = LinearRegression(maxIter=10).fit(train)
        features = pd.DataFrame({"features": [list(map(float, r)) for r in X.to_numpy()]})
        expected = np.array([r[0] for r in model.transform(train).select("prediction").collect()])
        _FITTED["regressor"] = (model, features, expected)
    return _FITTED["regressor"]


def spark_case() -> FlavorCase:
    def make(directory: Path, library: str) -> Subject:
        model, X = _classifier()
        return Subject(model, X, _predict_native(model, X))

    def save(subject, path, **kw):
        return mlnb.spark.save_model(subject.model, path, **kw)

    def mlflow_save(subject, path, **kw):
        import mlflow.spark

        mlflow.spark.save_model(subject.model, str(path), pip_requirements=MLFLOW_PIP, **kw)

    def mlflow_load_native(path):
        import mlflow.spark

        return mlflow.spark.load_model(str(path))

    return FlavorCase("spark-pipeline", make, save, mlnb.spark.load_model, _predict_native, mlflow_save,
                      mlflow_load_native)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_spark_flavor_conforms(check, tmp_path):
    check(spark_case(), tmp_path)


def test_mlmodel_has_mlflows_spark_keys(tmp_path):
    import pyspark

    model, _ = _classifier()
    mlnb.spark.save_model(model, tmp_path / "m")
    flavors = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())["flavors"]
    assert flavors["spark"] == {"pyspark_version": pyspark.__version__, "model_data": "sparkml",
                                "model_class": "pyspark.ml.pipeline.PipelineModel", "code": None}
    assert flavors["python_function"]["loader_module"] == "mlflow.spark"
    assert flavors["python_function"]["data"] == "sparkml"
    assert (tmp_path / "m" / "sparkml" / "metadata").is_dir()
    assert any(line.startswith("pyspark==") for line in (tmp_path / "m" / "requirements.txt").read_text().splitlines())


def test_a_single_regressor_is_saved_as_a_pipeline_and_reads_array_features(tmp_path):
    import mlflow.pyfunc
    import mlflow.spark
    from pyspark.ml import PipelineModel

    model, features, expected = _regressor()
    mlnb.spark.save_model(model, tmp_path / "m")
    native = mlnb.spark.load_model(tmp_path / "m")
    assert isinstance(native, PipelineModel) and len(native.stages) == 1
    ours = mlnb.pyfunc.load_model(tmp_path / "m").predict(features)
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    np.testing.assert_allclose(mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(features), expected, rtol=1e-12)
    # and the other way: MLflow's save of the bare regressor loads in mlnb
    mlflow.spark.save_model(model, str(tmp_path / "theirs"), pip_requirements=MLFLOW_PIP)
    np.testing.assert_allclose(mlnb.pyfunc.load_model(tmp_path / "theirs").predict(features), expected, rtol=1e-12)


def test_input_example_infers_the_signature_mlflow_infers(tmp_path):
    import mlflow.spark

    model, X = _classifier()
    mlnb.spark.save_model(model, tmp_path / "ours", input_example=X.iloc[:5])
    mlflow.spark.save_model(model, str(tmp_path / "theirs"), input_example=X.iloc[:5], pip_requirements=MLFLOW_PIP)
    ours = yaml.safe_load((tmp_path / "ours" / "MLmodel").read_text())
    theirs = yaml.safe_load((tmp_path / "theirs" / "MLmodel").read_text())
    assert ours["signature"] == theirs["signature"]
    assert '"type": "double"' in ours["signature"]["outputs"]


def test_logged_model_loads_back_through_its_runs_uri():
    model, X = _classifier()
    expected = _predict_native(model, X)
    with mlnb.start_run() as run:
        info = mlnb.spark.log_model(model, name="spark-model")
    assert info.model_uri == f"models:/{info.model_id}"
    runs_uri = f"runs:/{run.info.run_id}/spark-model"   # the run's path to the same model
    assert "spark" in info.flavors
    assert_same(_predict_native(mlnb.spark.load_model(runs_uri), X), expected)
    loaded = mlnb.pyfunc.load_model(runs_uri)
    assert_same(loaded.predict(X), expected)
    assert loaded.predict(X.iloc[:0]).shape == (0,)


def test_a_pipeline_of_transformers_returns_its_last_output_column(tmp_path):
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import VectorAssembler

    _, X = _classifier()
    assembler = Pipeline(stages=[VectorAssembler(inputCols=list(X.columns), outputCol="assembled")])
    mlnb.spark.save_model(assembler.fit(_active().createDataFrame(X)), tmp_path / "m")
    out = mlnb.pyfunc.load_model(tmp_path / "m").predict(X)
    np.testing.assert_array_equal(out, X.to_numpy())  # vectors come back as rows of a 2-d array


def test_dfs_tmpdir_round_trip(tmp_path):
    model, X = _classifier()
    dfs = tmp_path / "dfs"
    dfs.mkdir()
    mlnb.spark.save_model(model, tmp_path / "m", dfs_tmpdir=str(dfs))
    assert list(dfs.iterdir()) == []  # the staging copy is moved out
    assert_same(_predict_native(mlnb.spark.load_model(tmp_path / "m", dfs_tmpdir=str(dfs)), X),
                _predict_native(model, X))


def test_what_is_not_a_fitted_spark_model_is_refused(tmp_path):
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import VectorAssembler
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(InvalidParameterError, match="fitted pyspark.ml model"):
        mlnb.spark.save_model(LogisticRegression(), tmp_path / "m")
    with pytest.raises(InvalidParameterError, match=r"Call fit\(\) first"):
        mlnb.spark.save_model(Pipeline(stages=[VectorAssembler(inputCols=["a"], outputCol="v")]), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_missing_or_broken_sparkml_is_a_format_error(tmp_path):
    import shutil

    model, _ = _classifier()
    mlnb.spark.save_model(model, tmp_path / "m")
    shutil.rmtree(tmp_path / "m" / "sparkml")
    with pytest.raises(ModelFormatError, match="'sparkml', which is missing"):
        mlnb.spark.load_model(tmp_path / "m")
    with pytest.raises(ModelFormatError, match="'sparkml', which is missing"):
        mlnb.pyfunc.load_model(tmp_path / "m")
    (tmp_path / "m" / "sparkml").mkdir()
    (tmp_path / "m" / "sparkml" / "metadata").write_text("not a model")
    with pytest.raises(ModelFormatError, match="Spark could not read"):
        mlnb.spark.load_model(tmp_path / "m")


def test_import_mlnb_does_not_import_pyspark():
    code = "import sys, mlnb, mlnb.flavors; mlnb.spark; assert 'pyspark' not in sys.modules, 'pyspark imported'"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


_LOAD_WITHOUT_A_SESSION = """
import sys
import numpy as np, pandas as pd
import mlnb.pyfunc
from pyspark.sql import SparkSession

assert SparkSession.getActiveSession() is None
model = mlnb.pyfunc.load_model(sys.argv[1])
np.save(sys.argv[3], model.predict(pd.read_csv(sys.argv[2])))
conf = SparkSession.getActiveSession().sparkContext.getConf()
print(conf.get("spark.app.name"), conf.get("spark.master"))
"""


def test_pyfunc_starts_a_small_local_session_when_none_is_active(tmp_path):
    model, X = _classifier()
    mlnb.spark.save_model(model, tmp_path / "m")
    X.to_csv(tmp_path / "X.csv", index=False)
    out = subprocess.run(
        [sys.executable, "-c", _LOAD_WITHOUT_A_SESSION, str(tmp_path / "m"), str(tmp_path / "X.csv"),
         str(tmp_path / "pred.npy")], capture_output=True, text=True, timeout=300,
        env={**os.environ, "JDK_JAVA_OPTIONS": QUICK_JVM},  # the java launcher's own variable
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["mlnb-spark-model", "local[1]"]
    assert_same(np.load(tmp_path / "pred.npy"), _predict_native(model, X))

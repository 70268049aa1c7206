"""mlnb.pyfunc.spark_udf: the same answers as MLflow's spark_udf on the same models and data.

One local[2] SparkSession serves the whole module and is stopped at its end, JVM included.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest

import mlnb
import mlnb.pyfunc
import mlnb.sklearn
from _models import classification
from _spark import local_session, stop_session
from mlnb.errors import InvalidParameterError

pytestmark = pytest.mark.java
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # executors cannot import this test module


@pytest.fixture(scope="module", autouse=True)
def spark():
    session = local_session("local[2]", shuffle_partitions=2)
    yield session
    stop_session(session)


@pytest.fixture(scope="module")
def data():
    X, y = classification(n=120)
    return X, y


@pytest.fixture(scope="module")
def sklearn_model(data, tmp_path_factory):
    """A logistic regression saved by mlnb with a signature (double columns f0..f4)."""
    from sklearn.linear_model import LogisticRegression

    X, y = data
    path = tmp_path_factory.mktemp("udf") / "logreg"
    model = LogisticRegression(max_iter=500).fit(X, y)
    mlnb.sklearn.save_model(model, path, signature=mlnb.infer_signature(X, model.predict(X)))
    return str(path), model


def _frame(spark, X: pd.DataFrame, partitions: int = 3):
    return spark.createDataFrame(X.assign(id=np.arange(len(X)))).repartition(partitions)


def _scores(df, column) -> list:
    return [r[1] for r in df.select("id", column.alias("p")).orderBy("id").collect()]


def _both(spark, uri, result_type=None, **kwargs):
    import mlflow.pyfunc

    ours = mlnb.pyfunc.spark_udf(spark, uri, result_type=result_type, **kwargs)
    theirs = mlflow.pyfunc.spark_udf(spark, uri, result_type=result_type, env_manager="local", **kwargs)
    return ours, theirs


def _plain(v):
    """A collected Spark value as plain Python (Rows as dicts)."""
    if hasattr(v, "asDict"):
        return {k: _plain(x) for k, x in v.asDict().items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


@pytest.mark.parametrize("result_type", [None, "long", "string"])
def test_sklearn_scores_match_mlflow_by_name_by_position_and_by_struct(spark, data, sklearn_model, result_type):
    from pyspark.sql.functions import col, struct

    path, model = sklearn_model
    X, _ = data
    df = _frame(spark, X)
    ours, theirs = _both(spark, path, result_type)
    names = list(X.columns)
    expected = _scores(df, theirs(*names))
    assert _scores(df, ours(*names)) == expected                      # by name
    assert _scores(df, ours()) == expected                            # the signature's names
    assert _scores(df, ours(struct(*names))) == expected              # a struct of named columns
    assert _scores(df, ours(*[col(n).alias(f"c{i}") for i, n in enumerate(names)])) == expected  # by position
    if result_type == "long":
        assert expected == model.predict(X).tolist()
    if result_type is None:  # the output signature is a 1-d tensor of int64: array<long>, in both
        assert expected == [[v] for v in model.predict(X).tolist()]


def test_a_models_uri_and_runs_uri_score_like_the_saved_model(spark, data, sklearn_model):
    from sklearn.linear_model import LogisticRegression

    X, y = data
    model = LogisticRegression(max_iter=500).fit(X, y)
    with mlnb.start_run() as run:
        mlnb.sklearn.log_model(model, name="model", signature=mlnb.infer_signature(X, model.predict(X)))
    version = mlnb.register_model(f"runs:/{run.info.run_id}/model", "churn").version
    mlnb.MlflowClient().set_registered_model_alias("churn", "champion", version)
    df = _frame(spark, X)
    expected = model.predict(X).tolist()
    for uri in (f"runs:/{run.info.run_id}/model", f"models:/churn/{version}", "models:/churn@champion"):
        assert _scores(df, mlnb.pyfunc.spark_udf(spark, uri, "long")()) == expected, uri


class _Scorer(mlnb.pyfunc.PythonModel):
    """Answers with a label, a score and per-row lists; records each load and batch by process id."""

    def load_context(self, context):
        log = context.model_config.get("log")
        if log:
            with open(Path(log) / "loads.txt", "a") as f:
                f.write(f"{__import__('os').getpid()}\n")

    def predict(self, context, model_input, params=None):
        log = context.model_config.get("log")
        if log:
            with open(Path(log) / "batches.txt", "a") as f:
                f.write(f"{__import__('os').getpid()}\n")
        k = (params or {}).get("k", 1.0)
        x = model_input["x"].to_numpy(dtype=float)
        return pd.DataFrame({"label": (x > 0).astype("int64"), "score": x * k,
                             "pair": [[v, -v] for v in x]})


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    from mlnb.models.signature import ColSpec, ModelSignature, ParamSchema, ParamSpec, Schema

    path = tmp_path_factory.mktemp("udf") / "scorer"
    sig = ModelSignature(Schema([ColSpec("double", "x")]), None,
                         ParamSchema([ParamSpec("k", "double", 1.0)]))
    mlnb.pyfunc.save_model(path, python_model=_Scorer(), signature=sig)
    return str(path)


@pytest.mark.parametrize("result_type", ["label long, score double", "score double, pair array<double>",
                                         "double"])
def test_struct_and_array_results_and_params_match_mlflow(spark, scorer, result_type):
    X = pd.DataFrame({"x": np.linspace(-2, 2, 41)})
    df = _frame(spark, X)
    ours, theirs = _both(spark, scorer, result_type, params={"k": 3.0})
    got = [_plain(v) for v in _scores(df, ours("x"))]
    assert got == [_plain(v) for v in _scores(df, theirs("x"))]
    if result_type == "double":  # the leftmost numeric column, as in MLflow
        assert got == (X["x"] > 0).astype(float).tolist()
    else:
        assert [row["score"] for row in got] == (X["x"] * 3.0).tolist()


def test_the_model_loads_once_per_executor_process_not_per_batch(spark, tmp_path_factory):
    log = tmp_path_factory.mktemp("loads")
    X = pd.DataFrame({"x": np.arange(600, dtype=float)})
    df = _frame(spark, X, partitions=6)
    udf = mlnb.pyfunc.spark_udf(spark, _scorer_path(tmp_path_factory), "score double",
                                model_config={"log": str(log)})
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "25")
    try:
        for _ in range(2):  # two jobs: the second reuses the workers' models
            assert [row["score"] for row in _scores(df, udf("x"))] == X["x"].tolist()
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    loads = (log / "loads.txt").read_text().split()
    batches = (log / "batches.txt").read_text().split()
    assert len(batches) >= 2 * 600 // 25  # orderBy's sampling job scores rows too
    assert len(loads) == len(set(loads)) == len(set(batches)) <= 2   # one load per worker process


def _scorer_path(factory) -> str:
    path = factory.mktemp("udf") / "scorer"
    mlnb.pyfunc.save_model(path, python_model=_Scorer(), signature=mlnb.infer_signature(
        pd.DataFrame({"x": [1.0]}), pd.DataFrame({"label": [1], "score": [1.0]})))
    return str(path)


def test_signature_enforcement_refuses_a_string_column_as_mlflow_does(spark, data, sklearn_model):
    from pyspark.errors import PythonException

    path, _ = sklearn_model
    X, _ = data
    df = _frame(spark, X.assign(f0=X["f0"].map(lambda v: f"v{v:.2f}")))
    ours, theirs = _both(spark, path)
    for udf in (ours, theirs):
        with pytest.raises(PythonException) as caught:
            _scores(df, udf())
        assert "f0" in str(caught.value)
    assert "SchemaError" in str(caught.value) or "MlflowException" in str(caught.value)


def test_conda_and_prebuilt_environments_are_refused_naming_what_works(spark, sklearn_model):
    """uv and virtualenv restore the model's environment: tests/test_environments.py."""
    path, _ = sklearn_model
    with pytest.raises(InvalidParameterError, match="env_manager='local' or 'uv' or 'virtualenv', got 'conda'"):
        mlnb.pyfunc.spark_udf(spark, path, env_manager="conda")
    with pytest.raises(InvalidParameterError, match="pass env_manager='uv'"):
        mlnb.pyfunc.spark_udf(spark, path, prebuilt_env_uri="/tmp/env.tar.gz")
    with pytest.raises(InvalidParameterError, match="array<binary>"):
        mlnb.pyfunc.spark_udf(spark, path, result_type="array<binary>")


def test_a_pickled_model_is_refused_in_the_executors_without_consent(spark, data, tmp_path):
    from sklearn.linear_model import LogisticRegression

    from mlnb.errors import UnsafeModelError

    X, y = data
    path = tmp_path / "pickled"
    mlnb.sklearn.save_model(LogisticRegression().fit(X, y), path, serialization_format="cloudpickle",
                            signature=mlnb.infer_signature(X, y))
    from pyspark.errors import PythonException

    udf = mlnb.pyfunc.spark_udf(spark, str(path), allow_pickle=False)
    with pytest.raises(PythonException, match="UnsafeModelError"):
        _scores(_frame(spark, X), udf())
    assert issubclass(UnsafeModelError, ValueError)

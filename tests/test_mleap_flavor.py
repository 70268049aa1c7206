"""Spark pipelines written as MLeap bundles by mlnb and scored in NumPy, checked against Spark's own
transform on the same data: every supported op, a mixed pipeline, conformance, MLflow 2.x's layout
(``mlflow.spark.save_model(sample_input=...)``), serving without Spark, and stages mlnb cannot write.

One local SparkSession serves the whole module and is stopped at its end, JVM included. The
featurizing stages are fitted once and shared by every model.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import mlnb.mleap
import mlnb.pyfunc
import mlnb.spark
from _spark import active as _active
from _spark import module_session
from conformance import (CHECKS, FlavorCase, Subject, check_mlmodel_keys_match_mlflow,
                         check_mlnb_loads_mlflow_model)
from mlnb.errors import InvalidParameterError, ModelExistsError

pytestmark = pytest.mark.java
_FITTED: dict[str, object] = {}
spark = module_session(_FITTED)


def _data() -> pd.DataFrame:
    """120 rows from scikit-learn: four numbers (one with gaps), a category, a 0/1 label and a target."""
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=120, n_features=4, n_informative=3, n_redundant=0, random_state=7)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["city"] = np.array(["Oslo", "Lima", "Pune"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)]
    frame.loc[::9, "b"] = np.nan
    frame["label"] = y.astype(float)
    frame["target"] = X @ np.array([1.5, -2.0, 0.5, 3.0]) + np.random.default_rng(7).normal(0, 0.1, len(X))
    return frame


def _features():
    """Imputer, StringIndexer, OneHotEncoder, VectorAssembler, StandardScaler and MinMaxScaler, fitted once."""
    if "features" not in _FITTED:
        from pyspark.ml import Pipeline
        from pyspark.ml.feature import Imputer, MinMaxScaler, OneHotEncoder, StandardScaler, StringIndexer, VectorAssembler

        frame = _data()
        stages = [Imputer(inputCols=["b"], outputCols=["b_filled"], strategy="median"),
                  StringIndexer(inputCol="city", outputCol="city_index"),
                  OneHotEncoder(inputCols=["city_index"], outputCols=["city_onehot"]),
                  VectorAssembler(inputCols=["a", "b_filled", "c", "d", "city_onehot"], outputCol="raw"),
                  StandardScaler(inputCol="raw", outputCol="scaled", withMean=True),
                  MinMaxScaler(inputCol="raw", outputCol="unit", min=-1.0, max=2.0)]
        sdf = _active().createDataFrame(frame)
        model = Pipeline(stages=stages).fit(sdf)
        _FITTED["features"] = (model, frame, model.transform(sdf).cache())
    return _FITTED["features"]


def _models() -> dict:
    from pyspark.ml.classification import (DecisionTreeClassifier, GBTClassifier, LogisticRegression,
                                           RandomForestClassifier)
    from pyspark.ml.regression import DecisionTreeRegressor, GBTRegressor, LinearRegression, RandomForestRegressor

    return {
        "logistic_regression": LogisticRegression(featuresCol="scaled", maxIter=20),
        "linear_regression": LinearRegression(featuresCol="unit", labelCol="target"),
        "decision_tree_classifier": DecisionTreeClassifier(featuresCol="scaled", maxDepth=3, seed=1),
        "decision_tree_regression": DecisionTreeRegressor(featuresCol="unit", labelCol="target", maxDepth=3, seed=1),
        "random_forest_classifier": RandomForestClassifier(featuresCol="scaled", numTrees=4, maxDepth=3, seed=1),
        "random_forest_regression": RandomForestRegressor(featuresCol="unit", labelCol="target", numTrees=4,
                                                          maxDepth=3, seed=1),
        "gbt_classifier": GBTClassifier(featuresCol="scaled", maxIter=4, maxDepth=2, seed=1),
        "gbt_regression": GBTRegressor(featuresCol="unit", labelCol="target", maxIter=4, maxDepth=2, seed=1),
    }


def _pipeline(op: str):
    """The shared featurizing stages followed by the model of MLeap op ``op``."""
    if op not in _FITTED:
        from pyspark.ml import PipelineModel

        features, _, featurized = _features()
        _FITTED[op] = PipelineModel(features.stages + [_models()[op].fit(featurized)])
    return _FITTED[op]


def _spark_columns(model, frame: pd.DataFrame, columns: list[str]) -> dict[str, np.ndarray]:
    rows = model.transform(_active().createDataFrame(frame)).select(*columns).collect()
    return {c: np.array([r[c].toArray() if hasattr(r[c], "toArray") else r[c] for r in rows], dtype=float)
            for c in columns}


FEATURE_COLUMNS = ["b_filled", "city_index", "city_onehot", "raw", "scaled", "unit"]


@pytest.mark.parametrize("op", ["logistic_regression", "linear_regression", "decision_tree_classifier",
                                "decision_tree_regression", "random_forest_classifier", "random_forest_regression",
                                "gbt_classifier", "gbt_regression"])
def test_each_op_scores_as_spark_transforms(op, tmp_path):
    model = _pipeline(op)
    _, frame, _ = _features()
    X = frame.drop(columns=["label", "target"])
    mlnb.mleap.save_model(model, tmp_path / "model", sample_input=X)
    loaded = mlnb.mleap.load_model(tmp_path / "model")
    assert loaded.ops == ["imputer", "string_indexer", "one_hot_encoder", "vector_assembler", "standard_scaler",
                          "min_max_scaler", op]
    classifier = "classifier" in op or op == "logistic_regression"
    outputs = FEATURE_COLUMNS + ["prediction"] + (["rawPrediction", "probability"] if classifier else [])
    expected = _spark_columns(model, X, outputs)
    ours = loaded.transform(X)
    for column in outputs:
        np.testing.assert_allclose(np.array(ours[column].tolist(), dtype=float), expected[column],
                                   rtol=1e-9, atol=1e-12, err_msg=column)
    np.testing.assert_allclose(mlnb.pyfunc.load_model(tmp_path / "model").predict(X), expected["prediction"],
                               rtol=1e-9, atol=1e-12)


def test_a_mixed_pipeline_index_onehot_assemble_scale_gbt_as_a_zip_bundle(tmp_path):
    """The whole chain a Spark user deploys, as a bare bundle zip and scored row for row as Spark does."""
    model = _pipeline("gbt_classifier")
    _, frame, _ = _features()
    X = frame.drop(columns=["label", "target"]).iloc[:40]
    path = mlnb.mleap.save_bundle(model, tmp_path / "pipeline.zip")
    with pytest.raises(ModelExistsError):
        mlnb.mleap.save_bundle(model, tmp_path / "pipeline.zip")
    assert zipfile_names(path) >= {"bundle.json", "root/model.json", "root/node.json"}
    expected = _spark_columns(model, X, ["prediction", "probability"])
    ours = mlnb.mleap.load_bundle(path).transform(X)
    np.testing.assert_array_equal(ours["prediction"].to_numpy(), expected["prediction"])
    np.testing.assert_allclose(np.array(ours["probability"].tolist()), expected["probability"], rtol=1e-12)


def zipfile_names(path: Path) -> set[str]:
    import zipfile

    with zipfile.ZipFile(path) as z:
        return set(z.namelist())


def test_multi_column_imputer_and_categorical_tree_splits(tmp_path):
    """A two-column Imputer becomes one MLeap imputer per column; a tree fed a raw category index
    splits on category sets, which the bundle keeps."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import DecisionTreeClassifier
    from pyspark.ml.feature import Imputer, StringIndexer, VectorAssembler

    frame = _data()
    frame.loc[::5, "c"] = np.nan
    stages = [Imputer(inputCols=["b", "c"], outputCols=["b2", "c2"]),
              StringIndexer(inputCol="city", outputCol="city_index", handleInvalid="keep"),
              VectorAssembler(inputCols=["city_index", "a", "b2", "c2"], outputCol="f"),
              DecisionTreeClassifier(featuresCol="f", maxDepth=4, seed=3)]
    model = Pipeline(stages=stages).fit(_active().createDataFrame(frame))
    path = mlnb.mleap.save_bundle(model, tmp_path / "bundle")
    trees = list(path.glob("root/*.node/tree.json"))
    assert any('"categorical"' in line for line in trees[0].read_text().splitlines())
    X = frame.drop(columns=["label", "target"]).assign(city=["Oslo", "Lima", "Pune", "Rome"] * 30)
    expected = _spark_columns(model, X, ["b2", "c2", "city_index", "probability", "prediction"])
    ours = mlnb.mleap.load_bundle(path).transform(X)
    assert mlnb.mleap.load_bundle(path).ops[:2] == ["imputer", "imputer"]
    for column, values in expected.items():
        np.testing.assert_allclose(np.array(ours[column].tolist(), dtype=float), values, rtol=1e-12, err_msg=column)


def test_multinomial_logistic_regression(tmp_path):
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=90, n_features=4, n_informative=3, n_redundant=0, n_classes=3,
                               random_state=2)
    frame = pd.DataFrame(X, columns=["f0", "f1", "f2", "f3"])
    model = Pipeline(stages=[VectorAssembler(inputCols=list(frame.columns), outputCol="features"),
                             LogisticRegression(maxIter=30)]).fit(_active().createDataFrame(frame.assign(label=y * 1.0)))
    mlnb.mleap.save_model(model, tmp_path / "model")
    expected = _spark_columns(model, frame, ["probability", "prediction"])
    ours = mlnb.mleap.load_model(tmp_path / "model").transform(frame)
    np.testing.assert_allclose(np.array(ours["probability"].tolist()), expected["probability"], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(ours["prediction"].to_numpy(), expected["prediction"])


# -- conformance ---------------------------------------------------------------------------------------
def mleap_case() -> FlavorCase:
    def make(directory: Path, library: str) -> Subject:
        if "conformance" not in _FITTED:
            from pyspark.ml import Pipeline
            from pyspark.ml.classification import LogisticRegression
            from pyspark.ml.feature import VectorAssembler

            frame = _data()[["a", "c", "d", "label"]]
            model = Pipeline(stages=[VectorAssembler(inputCols=["a", "c", "d"], outputCol="features"),
                                     LogisticRegression(maxIter=10)]).fit(_active().createDataFrame(frame))
            X = frame.drop(columns=["label"])
            _FITTED["conformance"] = (model, X, _spark_columns(model, X, ["prediction"])["prediction"])
        return Subject(*_FITTED["conformance"])

    def save(subject, path, **kw):
        return mlnb.mleap.save_model(subject.model, path, **kw)

    def not_in_mlflow(*args, **kwargs):
        raise AssertionError("MLflow 3 has no mleap flavor")

    return FlavorCase("mleap-pipeline", make, save, mlnb.mleap.load_model, lambda model, X: model.predict(X),
                      not_in_mlflow)


#: MLflow 3 dropped the mleap flavor, so the two checks that need MLflow to write one do not apply;
#: MLflow's pyfunc loader does load mlnb's mleap models (check_mlflow_loads_mlnb_model), through mlnb.mleap.
APPLICABLE = [c for c in CHECKS if c not in (check_mlnb_loads_mlflow_model, check_mlmodel_keys_match_mlflow)]


@pytest.mark.parametrize("check", APPLICABLE, ids=lambda c: c.__name__)
def test_conformance(check, tmp_path):
    check(mleap_case(), tmp_path)


# -- MLflow 2.x's layout ---------------------------------------------------------------------------------
def test_mlmodel_is_mlflow_2s_mleap_layout(tmp_path):
    subject = mleap_case().make(tmp_path, "mlnb")
    model, X = subject.model, subject.X
    mlnb.mleap.save_model(model, tmp_path / "m", input_example=X.iloc[:3])
    spec = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    assert spec["flavors"]["mleap"] == {"mleap_version": "0.25.2", "model_data": "mleap/model"}
    assert spec["flavors"]["python_function"]["loader_module"] == "mlnb.mleap"
    assert (tmp_path / "m" / "mleap" / "model" / "bundle.json").is_file()
    assert json.loads((tmp_path / "m" / "mleap" / "model" / "bundle.json").read_text())["format"] == "json"
    assert (tmp_path / "m" / "mleap" / "model" / "root" / "model.json").is_file()
    assert spec["signature"]["inputs"] and "pyspark" not in (tmp_path / "m" / "requirements.txt").read_text()


def test_spark_save_model_with_sample_input_adds_the_mleap_flavor_as_mlflow_2_did(tmp_path):
    model = _pipeline("logistic_regression")
    _, frame, _ = _features()
    X = frame.drop(columns=["label", "target"])
    mlnb.spark.save_model(model, tmp_path / "m", sample_input=_active().createDataFrame(X))
    spec = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    assert set(spec["flavors"]) == {"spark", "python_function", "mleap"}
    assert spec["flavors"]["python_function"]["loader_module"] == "mlflow.spark"
    assert spec["flavors"]["mleap"]["model_data"] == "mleap/model"
    expected = _spark_columns(model, X, ["prediction"])["prediction"]
    np.testing.assert_array_equal(mlnb.mleap.load_model(tmp_path / "m").predict(X), expected)


# -- serving and bad input ---------------------------------------------------------------------------------
def test_mlnb_serves_an_mleap_model_where_pyspark_cannot_be_imported(tmp_path, port):
    from _serving import mlnb_serve_cmd, start, stop

    subject = mleap_case().make(tmp_path, "mlnb")
    model, X, expected = subject.model, subject.X, subject.expected
    mlnb.mleap.save_model(model, tmp_path / "model")
    blocked = tmp_path / "no-spark" / "pyspark"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('pyspark is blocked in this test')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "no-spark"), os.environ.get("PYTHONPATH", "")]),
           "JAVA_HOME": str(tmp_path / "no-java")}
    url = f"http://127.0.0.1:{port}"
    proc = start(mlnb_serve_cmd(tmp_path / "model", port), url, tmp_path / "server.log", env=env)
    try:
        body = json.dumps({"dataframe_split": X.iloc[:10].to_dict(orient="split")}).encode()
        request = urllib.request.Request(f"{url}/invocations", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
    finally:
        stop(proc)
    np.testing.assert_array_equal(answer["predictions"], expected[:10])


def test_a_stage_mlnb_cannot_write_is_named_and_nothing_is_left(tmp_path):
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import Bucketizer, VectorAssembler

    stages = [Bucketizer(splits=[-np.inf, 0.0, np.inf], inputCol="a", outputCol="a_bucket"),
              VectorAssembler(inputCols=["a_bucket", "c"], outputCol="features")]
    model = Pipeline(stages=stages).fit(_active().createDataFrame(_data()[["a", "c"]]))
    (tmp_path / "out").mkdir()
    with pytest.raises(InvalidParameterError, match=r"Bucketizer \('Bucketizer_.*'\) has no MLeap op.*mlnb writes:"):
        mlnb.mleap.save_model(model, tmp_path / "out" / "model")
    with pytest.raises(InvalidParameterError, match="fitted pyspark.ml"):
        mlnb.mleap.save_model(Pipeline(stages=stages), tmp_path / "out" / "model")
    assert list((tmp_path / "out").iterdir()) == []

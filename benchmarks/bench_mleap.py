"""Scoring a Spark pipeline from pandas: mlnb's MLeap bundle in NumPy against MLflow's Spark pyfunc.

One pipeline (StringIndexer, OneHotEncoder, VectorAssembler, StandardScaler and a 20-tree
GBTClassifier), fitted on 2,000 rows in a ``local[1]`` session and saved once by
``mlnb.spark.save_model(..., sample_input=...)``, which writes both Spark's model (``sparkml/``, the
``spark`` flavor) and the MLeap bundle (``mleap/model``, the ``mleap`` flavor). MLflow scores the model
as it can, through ``mlflow.pyfunc.load_model`` (its Spark loader: a pandas DataFrame becomes a Spark
DataFrame, is transformed, collected); mlnb scores the bundle with ``mlnb.mleap.load_model`` (NumPy, no
JVM). Same directory, same rows; best of five.

    python benchmarks/bench_mleap.py         # or: python benchmarks/run.py mleap
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from _util import best_of, report, scratch_dir

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _spark import local_session, stop_session  # noqa: E402  (the tests' quiet local session)

TRAIN_ROWS = 2_000
TREES = 20


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    frame["city"] = np.array(["Oslo", "Lima", "Pune", "Kyiv"])[rng.integers(0, 4, n)]
    return frame


def main() -> None:
    warnings.filterwarnings("ignore")
    import mlflow.pyfunc
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import GBTClassifier
    from pyspark.ml.feature import OneHotEncoder, StandardScaler, StringIndexer, VectorAssembler

    import mlnb.mleap
    import mlnb.spark

    session = local_session("local[1]")
    try:
        train = _frame(TRAIN_ROWS, 0)
        train["label"] = ((train["x0"] + train["x1"] * train["x2"] + (train["city"] == "Pune")) > 0.5).astype(float)
        stages = [StringIndexer(inputCol="city", outputCol="city_index"),
                  OneHotEncoder(inputCols=["city_index"], outputCols=["city_onehot"]),
                  VectorAssembler(inputCols=[f"x{i}" for i in range(6)] + ["city_onehot"], outputCol="raw"),
                  StandardScaler(inputCol="raw", outputCol="features", withMean=True),
                  GBTClassifier(maxIter=TREES, maxDepth=4, seed=1)]
        model = Pipeline(stages=stages).fit(session.createDataFrame(train))
        path = scratch_dir("mlnb-bench-mleap-") / "model"
        sample = train.drop(columns=["label"])
        mlnb.spark.save_model(model, path, sample_input=sample)

        theirs = mlflow.pyfunc.load_model(str(path))
        ours = mlnb.mleap.load_model(path)
        rows = []
        for n in (1, 100, 10_000):
            X = _frame(n, 1)
            expected = np.asarray(theirs.predict(X), dtype=float)
            assert np.array_equal(ours.predict(X), expected), "the bundle and Spark disagree"
            repeat = 5 if n < 10_000 else 3
            rows.append((f"predict {n:,} row{'s' if n > 1 else ''} (GBT {TREES} trees)",
                         best_of(lambda: ours.predict(X), repeat=repeat),
                         best_of(lambda: theirs.predict(X), repeat=repeat)))
        rows.append(("load the model (session already running)", best_of(lambda: mlnb.mleap.load_model(path), 3),
                     best_of(lambda: mlflow.pyfunc.load_model(str(path)), 3)))
        report("mleap: scoring a Spark pipeline from pandas (mlnb: MLeap bundle in NumPy; MLflow: Spark pyfunc)",
               rows)
    finally:
        stop_session(session)


if __name__ == "__main__":
    main()

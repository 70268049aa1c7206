"""The Spark MLlib flavor: ``mlnb.spark.save_model / log_model / load_model``.

Files and MLmodel keys are MLflow's: Spark's own ML persistence writes the model into ``sparkml/``
(always a ``PipelineModel``; a single Transformer is wrapped in one, as MLflow does), the ``spark``
section holds ``pyspark_version``, ``model_data``, ``model_class`` and ``code``, and the pyfunc
``loader_module`` is ``mlflow.spark`` with ``data: sparkml``. So MLflow loads these models and mlnb
loads MLflow's. The pyfunc face turns a pandas DataFrame into a Spark DataFrame, transforms it and
returns the prediction column; it uses the active SparkSession or starts a small local one.
"""

from __future__ import annotations

import os
import posixpath
import uuid
from pathlib import Path
from typing import Any, Sequence

from mlnb.errors import InvalidParameterError, ModelFormatError
from mlnb.flavors.protocol import make_log_model
from mlnb.models.layout import CondaEnv, ExtraFiles, Requirements, SignatureArg, write_model
from mlnb.models.mlmodel import MLMODEL_FILE, PYFUNC, Model

FLAVOR_NAME = "spark"
LOADER_MODULE = "mlflow.spark"
MODEL_DATA = "sparkml"
PREDICTION_COL = "prediction"
SESSION_NAME = "mlnb-spark-model"


def _pyspark():
    from mlnb.errors import require

    return require("pyspark", FLAVOR_NAME, f"The '{FLAVOR_NAME}' flavor")


def _session():
    """The active SparkSession, or a small local one (one core, 512 MB, no UI, quiet logs)."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is not None:
        return spark
    if SparkContext._active_spark_context is not None:  # a session exists, just not in this thread
        return SparkSession.builder.getOrCreate()
    import importlib.util

    arrow = importlib.util.find_spec("pyarrow") is not None  # pandas <-> Spark without Python workers
    return (
        SparkSession.builder.master("local[1]")
        .appName(SESSION_NAME)
        .config("spark.driver.memory", "512m")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.execution.arrow.pyspark.enabled", str(arrow).lower())
        .config("spark.log.level", "ERROR")
        .getOrCreate()
    )


def _as_pipeline(spark_model: Any):
    """Check that Spark can save ``spark_model``; wrap a single Transformer in a PipelineModel."""
    from pyspark.ml import PipelineModel, Transformer
    from pyspark.ml.util import MLReadable, MLWritable

    if not all(isinstance(spark_model, cls) for cls in (Transformer, MLWritable, MLReadable)):
        hint = " Call fit() first and save the model it returns." if hasattr(spark_model, "fit") else ""
        raise InvalidParameterError(
            f"spark_model must be a fitted pyspark.ml model or Transformer that Spark can save "
            f"(a PipelineModel, a LogisticRegressionModel, ...), got {type(spark_model).__name__}.{hint}"
        )
    return spark_model if isinstance(spark_model, PipelineModel) else PipelineModel([spark_model])


def _hadoop_path(location: str):
    """The Hadoop FileSystem holding ``location`` and its Path, through the active SparkContext."""
    from pyspark import SparkContext

    sc = SparkContext._active_spark_context
    path = sc._jvm.org.apache.hadoop.fs.Path(location)
    return path.getFileSystem(sc._jsc.hadoopConfiguration()), path


def _local_hadoop_path(local: Path):
    from pyspark import SparkContext

    return SparkContext._active_spark_context._jvm.org.apache.hadoop.fs.Path(str(local.absolute()))


def _write_sparkml(pipeline: Any, target: Path, dfs_tmpdir: str | None) -> None:
    """Save with Spark's ML persistence into ``target``; through ``dfs_tmpdir`` on a cluster."""
    if dfs_tmpdir is None:
        pipeline.save(target.absolute().as_uri())
        return
    remote = posixpath.join(dfs_tmpdir, f"mlnb-{uuid.uuid4().hex}")
    pipeline.save(remote)
    fs, src = _hadoop_path(remote)
    fs.copyToLocalFile(True, src, _local_hadoop_path(target))


def save_model(
    spark_model: Any,
    path: str | os.PathLike,
    *,
    dfs_tmpdir: str | None = None,
    sample_input: Any = None,
    signature: SignatureArg = None,
    input_example: Any = None,
    pip_requirements: Requirements = None,
    extra_pip_requirements: Requirements = None,
    metadata: dict | None = None,
    code_paths: Sequence[str] | None = None,
    conda_env: CondaEnv = None,
    extra_files: ExtraFiles = None,
    mlmodel: Model | None = None,
) -> Model:
    """Save a fitted Spark MLlib model (a ``PipelineModel`` or a single Transformer) at ``path``.

    Spark writes the model itself (``sparkml/``), so an active SparkSession is needed, as for any
    Spark save. ``dfs_tmpdir``: a directory on the cluster's file system (``hdfs:///tmp/...``) that
    Spark writes to first when its executors cannot see the local disk; without it Spark writes
    straight into ``path``, which is right for a local session. ``sample_input`` (a DataFrame the
    model takes) also writes the model as an MLeap bundle with the ``mleap`` flavor, as MLflow 2.x
    did (:mod:`mlnb.flavors.mleap`). Returns the written Model.
    """
    pyspark = _pyspark()
    pipeline = _as_pipeline(spark_model)

    def write_payload(model_dir: Path, code: str | None):
        _write_sparkml(pipeline, model_dir / MODEL_DATA, dfs_tmpdir)
        cls = type(pipeline)
        flavor = {
            "pyspark_version": pyspark.__version__,
            "model_data": MODEL_DATA,
            "model_class": f"{cls.__module__}.{cls.__qualname__}",
            "code": code,
        }
        pyfunc = {"loader_module": LOADER_MODULE, "data": MODEL_DATA}
        if code:
            pyfunc["code"] = code
        flavors = {PYFUNC: pyfunc, FLAVOR_NAME: flavor}
        if sample_input is not None:  # MLflow 2.x: the MLeap flavor beside spark
            from mlnb.flavors import mleap_spark

            flavors[mleap_spark.FLAVOR_NAME] = mleap_spark.write_flavor(model_dir, pipeline, sample_input)
        return flavors, {"pyspark", "numpy", "pandas"}

    def predict_column(example: Any):
        import pandas as pd

        # an unnamed column, as MLflow records a Spark model's output
        return pd.Series(_SparkPyfunc(_session(), pipeline).predict(example))

    return write_model(
        path, write_payload, mlmodel=mlmodel, signature=signature, input_example=input_example,
        predict=predict_column, pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements, metadata=metadata, code_paths=code_paths,
        conda_env=conda_env, extra_files=extra_files,
    )


log_model = make_log_model(save_model, "model")


#: Class name prefixes Spark's ML persistence may name in a model's metadata without consent.
#: Spark imports the class a metadata file names (Python stages by ``__import__``), so any other
#: class is code the model chooses to run: it needs ``trust_code=True``.
TRUSTED_CLASS_PREFIXES = ("org.apache.spark.ml.", "pyspark.ml.")


def _check_stage_classes(data: Path, consent: Any) -> None:
    import json

    from mlnb.models import trust

    for meta in sorted(data.rglob("part-*")):
        if meta.parent.name != "metadata" or not meta.is_file():
            continue
        for line in meta.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                clazz = json.loads(line).get("class") if line.strip() else None
            except (ValueError, AttributeError, RecursionError):
                raise ModelFormatError(f"'{meta}' is not Spark ML metadata (one JSON object per line).") from None
            if clazz is not None and not (isinstance(clazz, str) and clazz.startswith(TRUSTED_CLASS_PREFIXES)):
                trust.require_code(consent, f"let Spark import the class {clazz!r} that '{meta.relative_to(data)}' names "
                                            f"(not a Spark ML class)")


def _read_model(model_dir: Path, conf: dict, dfs_tmpdir: str | None = None, consent: Any = None) -> Any:
    """Load ``sparkml/`` as a PipelineModel (starting a local SparkSession if none is active)."""
    from mlnb.models import trust

    consent = consent or trust.current()
    trust.add_code(model_dir, conf.get("code"), consent)
    model_class = conf.get("model_class") or ""
    if model_class.startswith("pyspark.ml.connect."):
        raise ModelFormatError(
            f"This is a Spark Connect ML model ({model_class}); mlnb loads models saved with Spark's "
            f"ML persistence. Load it with mlflow.spark.load_model."
        )
    data = trust.inside(model_dir, conf.get("model_data") or MODEL_DATA, "the spark flavor's model_data")
    if not data.is_dir():
        raise ModelFormatError(
            f"The spark flavor names '{data.name}', which is missing from '{model_dir}'. The model "
            f"directory is incomplete: save the model again."
        )
    _check_stage_classes(data, consent)
    from pyspark.ml import PipelineModel

    _session()
    location = data.absolute().as_uri()
    if dfs_tmpdir is not None:
        location = posixpath.join(dfs_tmpdir, f"mlnb-{uuid.uuid4().hex}")
        fs, remote = _hadoop_path(location)
        fs.copyFromLocalFile(False, _local_hadoop_path(data), remote)
    try:
        return PipelineModel.load(location)
    except Exception as exc:  # a Py4J or Spark error, many lines deep
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFormatError(
            f"Spark could not read '{data}' as a PipelineModel ({first}). The directory must hold a "
            f"model written by Spark's ML persistence (PipelineModel.save)."
        ) from None


def load_model(model_uri: str | os.PathLike, dfs_tmpdir: str | None = None, dst_path: str | None = None, *,
               trust_code: bool | None = None) -> Any:
    """Load the Spark ``PipelineModel`` of a model (path, ``runs:/``, ``s3://``, ...).

    ``dfs_tmpdir``: on a cluster, a directory on its file system to copy the model to first, so
    that every executor can read it; a local session reads the model where it is.
    """
    from mlnb.models.reading import read_model
    from mlnb.models.trust import resolve

    _pyspark()
    path, mlmodel = read_model(model_uri, dst_path)
    return _read_model(path, mlmodel.flavor(FLAVOR_NAME), dfs_tmpdir, resolve(trust_code))


# -- the pyfunc face --------------------------------------------------------------------------
def _features_as_vectors(sdf: Any, pipeline: Any) -> Any:
    """Turn array columns that a stage reads as ``featuresCol`` into Spark ML vectors.

    pandas cannot hold Spark vectors, so a model fitted on a vector column is fed lists or arrays
    of numbers; MLflow converts them the same way.
    """
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql.types import ArrayType

    types = {f.name: f.dataType for f in sdf.schema.fields}
    for stage in pipeline.stages:
        if not stage.hasParam("featuresCol"):
            continue
        col = stage.getOrDefault("featuresCol")
        if isinstance(types.get(col), ArrayType):
            sdf = sdf.withColumn(col, array_to_vector(col))
            types[col] = None
    return sdf


def _as_lists(frame: Any) -> Any:
    """Array cells (numpy arrays, tuples) as lists of floats, which Spark reads as array<double>."""
    import numpy as np

    out = frame
    for col in frame.columns:
        if frame[col].dtype != object or frame.empty:
            continue
        first = frame[col].iloc[0]
        if isinstance(first, (np.ndarray, tuple, list)):
            if out is frame:
                out = frame.copy()
            out[col] = frame[col].map(lambda cell: [float(v) for v in cell])
    return out


def _prediction_column(pipeline: Any, columns: Sequence[str]) -> str:
    """``prediction``, or the last stage's ``outputCol`` for a pipeline of plain transformers."""
    if PREDICTION_COL in columns:
        return PREDICTION_COL
    last = pipeline.stages[-1] if pipeline.stages else None
    if last is not None and last.hasParam("outputCol") and last.getOrDefault("outputCol") in columns:
        return last.getOrDefault("outputCol")
    raise ModelFormatError(
        f"The Spark model's output has no '{PREDICTION_COL}' column (it has: {', '.join(columns)}). "
        f"Set the model's predictionCol (or the last stage's outputCol) to '{PREDICTION_COL}' and save it again."
    )


def _to_numpy(values: list) -> Any:
    import numpy as np
    from pyspark.ml.linalg import Vector

    if values and isinstance(values[0], Vector):
        return np.array([v.toArray() for v in values])
    return np.asarray(values)


class _SparkPyfunc:
    """The pyfunc face of a Spark model: pandas in, Spark transform, the prediction column out."""

    def __init__(self, spark: Any, pipeline: Any) -> None:
        self.spark = spark
        self.spark_model = pipeline

    def predict(self, data: Any, params: dict | None = None) -> Any:
        import numpy as np
        import pandas as pd

        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
        if frame.empty:
            return np.empty(0)
        frame = _as_lists(frame.rename(columns=str))
        sdf = _features_as_vectors(self.spark.createDataFrame(frame), self.spark_model)
        out = self.spark_model.transform(sdf)
        col = _prediction_column(self.spark_model, out.columns)
        return _to_numpy([row[0] for row in out.select(col).collect()])

    def get_raw_model(self) -> Any:
        return self.spark_model


def load_pyfunc(path: str, model_config: dict | None = None) -> _SparkPyfunc:
    p = Path(path)
    if not (p / MLMODEL_FILE).is_file() and (p.parent / MLMODEL_FILE).is_file():
        p = p.parent  # MLflow's layout: the pyfunc ``data`` is the sparkml directory itself
    pipeline = _read_model(p, Model.load(p).flavor(FLAVOR_NAME))
    return _SparkPyfunc(_session(), pipeline)


_load_pyfunc = load_pyfunc   # MLflow's loader-module entry point (the name MLflow calls)


__all__ = ["save_model", "log_model", "load_model", "load_pyfunc"]

"""Score a Spark DataFrame with any mlnb model: the engine behind ``mlnb.pyfunc.spark_udf``.

The model becomes a pandas UDF over Arrow, called as MLflow's ``mlflow.pyfunc.spark_udf`` is: with
column names (``udf("a", "b")``), with one struct (``udf(struct("a", "b"))``: the struct's field
names), or with no arguments (the signature's input names). Unnamed columns take the signature's
names in order, or ordinals ``"0", "1", ...`` without a signature.

Each executor's Python worker loads the model once and keeps it for every batch and task it runs
(Spark reuses Python workers by default). With ``env_manager="uv"`` or ``"virtualenv"`` the driver
restores the model's environment (executors on the driver's machine reuse it; others build their
own from the same cache key), and each worker starts the model's scoring server there once and
sends it every batch, as MLflow does; the server ends with the worker. Batches of double columns that match a double-only
signature go straight to the library's own predict on one float64 array; every other batch goes
through ``PyFuncModel.predict``, so signature enforcement applies. Results follow ``result_type``
as in MLflow: a primitive takes the leftmost column of a fitting type, an array takes all of them,
a struct takes fields by name.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Tuple, Union

from mlnb.errors import InvalidParameterError, SchemaError

#: The environment managers spark_udf accepts; "local" scores in the executors' own Python.
ENV_MANAGERS = ("local", "uv", "virtualenv")


@dataclass(frozen=True)
class _Scoring:
    """What an executor needs to score: pickled with the UDF, so small and plain."""

    load_model: Any              # mlnb.pyfunc.load_model (pickled by reference: executors import it)
    model_path: str              # a local path (local master), or the name of an archive added to SparkFiles
    shipped: bool                # True when model_path is a SparkFiles name (unpacked there by Spark)
    model_uuid: str
    trust_code: bool
    allow_pickle: bool
    model_config: Mapping[str, Any] | None
    params: Mapping[str, Any] | None
    input_names: tuple[str, ...] | None
    required_names: tuple[str, ...] = ()
    result_type: Any = None
    fast_columns: tuple[str, ...] | None = field(default=None)
    environment: Any = None      # the restored mlnb.environments.Environment, or None to score in this Python


# -- the executor side -------------------------------------------------------------------------
#: model key -> loaded PyFuncModel, per Python worker process (the "once per executor" cache)
_LOADED: dict[tuple, Any] = {}


def _model(spec: _Scoring):
    """The loaded model for ``spec``: loaded on first use in this process, then reused."""
    key = (spec.model_path, spec.model_uuid, spec.trust_code, spec.allow_pickle,
           json.dumps(spec.model_config, sort_keys=True, default=str))
    model = _LOADED.get(key)
    if model is None:
        path = spec.model_path
        if spec.shipped:
            from pyspark import SparkFiles

            path = SparkFiles.get(path)
        if spec.environment is not None:
            model = _restored_model(path, spec)
        else:
            model = spec.load_model(path, model_config=spec.model_config, trust_code=spec.trust_code,
                                    allow_pickle=spec.allow_pickle)
        _LOADED[key] = model
    return model


def _restored_model(path: str, spec: _Scoring):
    """The model served from its restored environment: the driver's when this worker sees it, else
    one prepared here (same key, so built once per machine). The load consent goes with it."""
    from mlnb.environments import prepare
    from mlnb.environments.cache import is_valid
    from mlnb.models.trust import ALLOW_PICKLE_ENV, TRUST_CODE_ENV
    from mlnb.serving.restored import RestoredModel

    environment = spec.environment
    if not (is_valid(environment.root, environment.spec.key) and (environment.code / "mlnb").is_dir()):
        environment = prepare(path, environment.manager, allow_python_mismatch=True)
    consent = {TRUST_CODE_ENV: str(spec.trust_code).lower(), ALLOW_PICKLE_ENV: str(spec.allow_pickle).lower()}
    return RestoredModel(path, environment.manager, environment=environment, params=spec.params, extra_env=consent)


def _input_frame(spec: _Scoring, args: tuple):
    """The batch as the pandas DataFrame the model sees, with MLflow's column naming."""
    import pandas as pd

    if len(args) == 1 and isinstance(args[0], pd.DataFrame):
        return args[0]
    if spec.input_names is None:
        names = [str(i) for i in range(len(args))]
    else:
        names = list(spec.input_names)
        args = args[:len(names)]
        if len(args) < len(spec.required_names):
            raise SchemaError(
                f"The model needs {len(spec.required_names)} required input columns {names}, but the UDF was "
                f"called with {len(args)} unnamed columns. Pass the columns in the signature's order, or "
                f"one struct of named columns: udf(struct(...)).")
    columns = {}
    for name, arg in zip(names, args):
        columns[name] = arg if isinstance(arg, pd.Series) else pd.Series(arg.to_dict("records"), index=arg.index)
    return pd.DataFrame(columns, columns=names[:len(args)])


def _fast_predict(spec: _Scoring, model, args: tuple):
    """The library's predict on a float64 array, when this batch allows it (else None)."""
    import numpy as np
    import pandas as pd

    if spec.fast_columns is None or len(args) < len(spec.fast_columns):
        return None
    args = args[:len(spec.fast_columns)]
    if not all(isinstance(a, pd.Series) and a.dtype == np.float64 for a in args):
        return None
    predict = model.validated_rows_predictor(spec.fast_columns)
    if predict is None:
        return None
    rows = np.column_stack([a.to_numpy() for a in args])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "X does not have valid feature names"
        return predict(rows)


def _score_batches(spec: _Scoring, batches: Iterator) -> Iterator:
    """The pandas UDF's body: one result per non-empty Arrow batch."""
    import pandas as pd

    model = _model(spec)
    for batch in batches:
        args = (batch,) if isinstance(batch, (pd.Series, pd.DataFrame)) else tuple(batch)
        if len(args[0]) == 0:
            continue
        result = None if spec.environment is not None else _fast_predict(spec, model, args)
        if result is None:
            result = model.predict(_input_frame(spec, args), params=spec.params)
        yield _to_result_type(result, spec.result_type)


# -- results -----------------------------------------------------------------------------------
def _np_type(spark_type):
    import numpy as np
    from pyspark.sql import types as T

    return {T.IntegerType: np.int32, T.LongType: np.int64, T.FloatType: np.float32, T.DoubleType: np.float64,
            T.BooleanType: np.bool_, T.StringType: np.str_}.get(type(spark_type))


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _array_value(value, array_type):
    """One cell of an array column: a numpy array of the element type, nested lists, or None."""
    import numpy as np
    from pyspark.sql.types import ArrayType, StructType

    element = array_type.elementType
    np_type = _np_type(element)
    if np_type is not None:
        return None if _is_missing(value) else np.array(value, dtype=np_type)
    if isinstance(element, ArrayType):
        return [_array_value(v, element) for v in value]
    if isinstance(element, StructType):
        return [_struct_value(v, element) for v in value]
    raise InvalidParameterError(f"spark_udf cannot return arrays of {element.simpleString()}.")


def _plain_value(value, spark_type):
    """One scalar, array, struct or map value converted to ``spark_type``."""
    from pyspark.sql.types import ArrayType, MapType, StructType

    if isinstance(spark_type, ArrayType):
        return _array_value(value, spark_type)
    if isinstance(spark_type, StructType):
        return _struct_value(value, spark_type)
    if isinstance(spark_type, MapType):
        return {k: _plain_value(v, spark_type.valueType) for k, v in value.items()}
    import numpy as np

    return None if _is_missing(value) else np.array(value, dtype=_np_type(spark_type)).item()


def _struct_value(value, struct_type) -> dict:
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if not isinstance(value, Mapping):
        raise InvalidParameterError(f"spark_udf expected a dict for the struct {struct_type.simpleString()}, "
                                    f"the model gave {type(value).__name__}.")
    return {f.name: _plain_value(value[f.name], f.dataType) for f in struct_type.fields}


def _struct_frame(result, struct_type):
    """A model's output as the DataFrame of a struct result: one column per field, by name."""
    import pandas as pd
    from pyspark.sql.types import ArrayType, MapType, StructType

    if isinstance(result, list) and result and hasattr(result[0], "model_dump"):
        result = [r.model_dump() for r in result]
    frame = result if isinstance(result, pd.DataFrame) else pd.DataFrame(result)
    missing = [f.name for f in struct_type.fields if f.name not in frame.columns]
    if missing:
        raise InvalidParameterError(
            f"The result type {struct_type.simpleString()} names fields {missing} that the model's output "
            f"does not have (it has: {[str(c) for c in frame.columns]}).")
    out = {}
    for f in struct_type.fields:
        values, np_type = frame[f.name], _np_type(f.dataType)
        if np_type is not None:
            out[f.name] = values if all(map(_is_missing, values)) else values.astype(np_type)
        elif isinstance(f.dataType, (ArrayType, StructType, MapType)):
            out[f.name] = pd.Series([_plain_value(v, f.dataType) for v in values], index=values.index, dtype=object)
        else:
            raise InvalidParameterError(f"spark_udf cannot return struct fields of {f.dataType.simpleString()}.")
    return pd.DataFrame(out)


_KEEP = {"IntegerType": ["int8", "uint8", "int16", "uint16", "int32"],
         "LongType": ["int8", "uint8", "int16", "uint16", "int32", "int64"],
         "FloatType": ["number"], "DoubleType": ["number"], "BooleanType": ["bool"]}
_NUMBERS = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float16", "float32", "float64")
#: numpy dtypes that the select_dtypes filter above keeps, per result type (the fast path's test)
_KEEP_DTYPES = {"IntegerType": _NUMBERS[:5], "LongType": _NUMBERS[:5] + ("int64",), "FloatType": _NUMBERS,
                "DoubleType": _NUMBERS, "BooleanType": ("bool",)}


def _to_result_type(result, result_type):
    """The model's output for one batch as the pandas Series (or DataFrame, for structs) Spark expects."""
    import numpy as np
    import pandas as pd
    from pyspark.sql.types import ArrayType, MapType, StringType, StructType

    if isinstance(result, dict):
        result = {k: list(v) for k, v in result.items()}
    if isinstance(result_type, ArrayType) and isinstance(result_type.elementType, ArrayType):
        return pd.Series(_array_value(result, result_type))
    if isinstance(result_type, StructType):
        return _struct_frame(result, result_type)
    element = result_type.elementType if isinstance(result_type, ArrayType) else result_type
    kind = type(element).__name__
    np_type = _np_type(element)
    # the common case, a 1-d array of predictions and a scalar result type: no DataFrame
    if (isinstance(result, np.ndarray) and result.ndim == 1 and not isinstance(result_type, ArrayType)
            and kind in _KEEP and result.dtype != object):
        if result.dtype.name in _KEEP_DTYPES[kind]:
            return pd.Series(result.astype(np_type, copy=False))
    if not isinstance(result, pd.DataFrame):
        if isinstance(result_type, MapType):
            result = pd.DataFrame([result])
        else:
            result = pd.DataFrame([result]) if np.isscalar(result) else pd.DataFrame(result)
    if kind in _KEEP:
        result = result.select_dtypes(_KEEP[kind]).astype(np_type)
    if len(result.columns) == 0:
        raise InvalidParameterError(
            f"The model did not produce any values of the requested type '{element.simpleString()}'. "
            f"Ask for result_type='string' or 'array<string>' to see what it returns.")
    if isinstance(element, StringType):
        result = result.map(str)
    if isinstance(result_type, ArrayType):
        return pd.Series(result.to_numpy().tolist())
    return result[result.columns[0]]


# -- the driver side ---------------------------------------------------------------------------
def _spark_type(spec_type):
    """The Spark type of one signature type (a DataType name, Array, Object, Map)."""
    from pyspark.sql import types as T

    from mlnb.models.signature import Array, Map, Object

    if isinstance(spec_type, Array):
        return T.ArrayType(_spark_type(spec_type.dtype))
    if isinstance(spec_type, Object):
        return T.StructType([T.StructField(p.name, _spark_type(p.dtype)) for p in spec_type.properties])
    if isinstance(spec_type, Map):
        return T.MapType(T.StringType(), _spark_type(spec_type.value_type))
    simple = {"boolean": T.BooleanType, "integer": T.IntegerType, "long": T.LongType, "float": T.FloatType,
              "double": T.DoubleType, "string": T.StringType, "binary": T.BinaryType,
              "datetime": T.TimestampType}.get(str(getattr(spec_type, "value", spec_type)))
    if simple is None:
        raise InvalidParameterError(f"spark_udf cannot return the signature type {spec_type!r}; pass result_type.")
    return simple()


def _output_spark_type(spec):
    from pyspark.sql.types import ArrayType

    from mlnb.models.signature import TensorSpec

    if not isinstance(spec, TensorSpec):
        return _spark_type(spec.type)
    import numpy as np

    kind = {"b": "boolean", "i": "long", "u": "long", "f": "double", "U": "string", "O": "string"}[np.dtype(spec.dtype).kind]
    kind = {"int32": "integer", "float32": "float"}.get(str(np.dtype(spec.dtype)), kind)
    if len(spec.shape) not in (1, 2):
        raise InvalidParameterError(
            f"spark_udf returns 1-d or 2-d tensors, but output {spec.name or 0!r} has shape {spec.shape}; pass result_type.")
    inner = _spark_type(kind)
    return ArrayType(inner) if len(spec.shape) == 1 else ArrayType(ArrayType(inner))


def _infer_result_type(output_schema):
    from pyspark.sql.types import DoubleType, StructField, StructType

    if output_schema is None:
        warnings.warn("spark_udf: no result_type and the model has no output schema; returning double.",
                      stacklevel=3)
        return DoubleType()
    specs = output_schema.inputs
    if len(specs) == 1:
        return _output_spark_type(specs[0])
    return StructType([StructField(s.name or str(i), _output_spark_type(s)) for i, s in enumerate(specs)])


def _returnable(data_type) -> bool:
    from pyspark.sql import types as T

    if isinstance(data_type, (T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.StringType, T.BooleanType)):
        return True
    if isinstance(data_type, T.ArrayType):
        return _returnable(data_type.elementType)
    if isinstance(data_type, T.StructType):
        return all(_returnable(f.dataType) for f in data_type.fields)
    if isinstance(data_type, T.MapType):
        return isinstance(data_type.keyType, T.StringType) and _returnable(data_type.valueType)
    return False


def _parse_result_type(spark, result_type):
    """A DDL string (``"double"``, ``"array<float>"``, ``"a long, b string"``) as a Spark type."""
    from pyspark.sql.functions import udf

    if not isinstance(result_type, str):
        return result_type
    parsed = udf(lambda x: x, returnType="boolean" if result_type == "bool" else result_type).returnType
    if parsed.typeName() == "unparseddata":
        parsed = spark.range(0).select(udf(lambda x: x, returnType=result_type)("id")).schema[0].dataType
    return parsed


def _locate(spark, model_dir) -> tuple[str, bool]:
    """Where executors find the model: its local path when Spark runs in this process (``local``,
    ``local[N]``: executors share the driver's disk), else a zip of it shipped with
    ``SparkContext.addArchive``, which every executor unpacks into its SparkFiles folder (Spark's
    ``addFile`` refuses local directories on any other master, ``local-cluster`` included)."""
    master = spark.conf.get("spark.master", "local")
    if master == "local" or master.startswith("local["):
        return str(model_dir), False
    archive = _archive(Path(model_dir))
    spark.sparkContext.addArchive(str(archive))
    return archive.name, True


def _archive(model_dir: Path) -> Path:
    """``model_dir`` zipped in a fresh temporary folder (removed when this process exits), under a
    name unique to this call: Spark refuses a second, different file under a name it already ships."""
    import atexit
    import shutil
    import uuid

    folder = _download_dir()
    atexit.register(shutil.rmtree, folder, True)
    base = os.path.join(folder, f"{model_dir.name}-{uuid.uuid4().hex[:8]}")
    return Path(shutil.make_archive(base, "zip", root_dir=model_dir))


def spark_udf(spark, model_uri, result_type=None, env_manager: str | None = None, params=None, extra_env=None,
              prebuilt_env_uri=None, model_config=None, *, trust_code: bool | None = None,
              allow_pickle: bool | None = None):
    """A Spark pandas UDF scoring a DataFrame with the model at ``model_uri``, as MLflow's ``spark_udf``
    (``env_manager`` ``"local"``, ``"uv"`` or ``"virtualenv"``); every executor process loads the model once. See docs/scale.md."""
    from mlnb.pyfunc import load_model

    return build_udf(spark, model_uri, result_type, env_manager, params, extra_env, prebuilt_env_uri, model_config,
                     load_model=load_model, trust_code=trust_code, allow_pickle=allow_pickle)


def build_udf(spark, model_uri, result_type=None, env_manager: str | None = None,
              params: Mapping[str, Any] | None = None, extra_env: Mapping[str, str] | None = None,
              prebuilt_env_uri: str | None = None, model_config: Mapping[str, Any] | None = None, *,
              load_model: Any, trust_code: bool | None = None, allow_pickle: bool | None = None):
    """A Spark pandas UDF that scores rows with the model at ``model_uri`` (MLflow's ``spark_udf``,
    reached as ``mlnb.pyfunc.spark_udf``); each executor process loads it once with ``load_model``.

    ``model_uri``: a local path, ``runs:/``, ``models:/<name>/<version>``, ``models:/<name>@<alias>``,
    ``s3://``. ``result_type``: a Spark type or DDL string (default: from the output signature, else
    double). ``env_manager``: ``"local"`` (the default: the executors' Python), or ``"uv"`` /
    ``"virtualenv"``: the model's restored environment, where each executor process runs the model's
    scoring server. ``params`` are checked against the signature here, on the driver.
    ``trust_code`` / ``allow_pickle``: mlnb's load consent, applied in every executor (with a
    restored environment, its server loads the model as ``mlnb models serve`` does). ``extra_env``
    is set in the executors while they score.
    """
    from mlnb.models import trust
    from mlnb.models.reading import read_model
    from mlnb.models.signature import enforce_params

    if env_manager not in (None, *ENV_MANAGERS):
        raise InvalidParameterError(
            f"spark_udf takes env_manager={' or '.join(repr(m) for m in ENV_MANAGERS)}, got {env_manager!r} "
            f"(conda environments are not offered; 'uv' restores the model's environment).")
    if prebuilt_env_uri is not None:
        raise InvalidParameterError(
            "spark_udf does not read prebuilt environment archives (prebuilt_env_uri); pass env_manager='uv' "
            "or 'virtualenv' to restore the model's environment (cached, built once per machine).")
    if spark is None or not hasattr(spark, "conf"):
        raise InvalidParameterError(f"spark_udf needs a SparkSession as its first argument, got {type(spark).__name__}.")
    consent = trust.resolve(trust_code, allow_pickle)
    restored = env_manager not in (None, "local")
    # a remote model is downloaded once, on the driver, as MLflow does; restored, its saved versions are the ones used
    model_dir, meta = read_model(model_uri, _download_dir() if _is_remote(model_uri) else None,
                                 warn_versions=not restored)
    model_dir = model_dir.absolute()
    if meta.pyfunc_conf is None:
        from mlnb.errors import FlavorNotFoundError

        raise FlavorNotFoundError(f"Model '{model_uri}' has no python_function flavor, so spark_udf cannot score it.")
    if result_type is None:
        result_type = _infer_result_type(meta.get_output_schema())
    else:
        result_type = _parse_result_type(spark, result_type)
        if not _returnable(result_type):
            raise InvalidParameterError(
                f"spark_udf cannot return {result_type.simpleString()}. Use int, long, float, double, string, "
                f"boolean, arrays of those, or a struct of those fields (e.g. 'a double, b array<long>').")
    sig = meta.get_signature()
    params = enforce_params(params, sig.params if sig else None) if (params is not None or (sig and sig.params)) \
        else None
    inputs = meta.get_input_schema()
    names = tuple(inputs.input_names()) if inputs is not None and inputs.has_input_names() else None
    if restored and model_config:
        raise InvalidParameterError("model_config cannot be applied to a model scored in its restored environment; "
                                    "use env_manager='local', or save the model with the configuration it needs.")
    environment = None
    if restored:
        from mlnb.environments import prepare

        environment = prepare(model_dir, env_manager)  # on the driver: executors on its machine reuse it
    path, shipped = _locate(spark, model_dir)
    spec = _Scoring(
        load_model=load_model, model_path=path, shipped=shipped, model_uuid=meta.model_uuid, trust_code=consent.code,
        allow_pickle=consent.pickle, model_config=dict(model_config) if model_config else None, params=params,
        input_names=names, required_names=tuple(inputs.required_input_names()) if names else (),
        result_type=result_type, fast_columns=None if restored else _fast_columns(inputs, params),
        environment=environment,
    )
    return _make_udf(spec, meta, dict(extra_env or {}))


def _is_remote(uri) -> bool:
    from mlnb.models.uri import scheme_of

    return isinstance(uri, str) and scheme_of(uri) not in ("", "file")


def _download_dir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="mlnb-spark-udf-")


def _fast_columns(inputs, params) -> tuple[str, ...] | None:
    """The column names of a double-only signature (batches of float64 may skip the DataFrame)."""
    if inputs is None or params is not None or inputs.is_tensor_spec() or not inputs.has_input_names():
        return None
    if any(getattr(s.type, "value", None) != "double" or not s.required for s in inputs.inputs):
        return None
    return tuple(inputs.input_names())


def _make_udf(spec: _Scoring, meta, extra_env: dict[str, str]):
    import functools

    import pandas as pd
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import StructType

    out_hint = pd.DataFrame if isinstance(spec.result_type, StructType) else pd.Series

    def score(iterator):
        if extra_env:
            os.environ.update(extra_env)
        yield from _score_batches(spec, iterator)

    # real types, not strings: pyspark reads the hints to pick the iterator-of-batches UDF kind
    score.__annotations__ = {"iterator": Iterator[Tuple[Union[pd.Series, pd.DataFrame], ...]],
                             "return": Iterator[out_hint]}
    udf = pandas_udf(score, spec.result_type)

    @functools.wraps(udf)
    def call(*columns):
        if columns:
            return udf(*columns)
        inputs = meta.get_input_schema()
        if inputs is None or not inputs.inputs:
            raise InvalidParameterError(
                "Name the columns to score: udf('a', 'b') or udf(struct(...)); the model has no signature "
                "to take them from.")
        if inputs.optional_input_names():
            raise InvalidParameterError(
                "Name the columns to score: udf('a', 'b'); the model's signature has optional columns, so they "
                "cannot be taken from it.")
        if not inputs.has_input_names():
            raise InvalidParameterError(
                f"Name the columns to score: the signature's {len(inputs.inputs)} inputs have no names.")
        return udf(*inputs.input_names())

    call.metadata = meta
    return call


__all__ = ["spark_udf", "build_udf"]

"""The ONNX flavor: ``mlnb.onnx.save_model / log_model / load_model``.

Files and MLmodel keys are MLflow's (``model.onnx``; ``loader_module: mlflow.onnx``; flavor keys
``onnx_version``, ``data``, ``providers``, ``onnx_session_options``, ``code``), so MLflow loads these
models and mlnb loads MLflow's. The graph is checked with ``onnx.checker`` before anything is
written, and the caller's ``ModelProto`` is left as it was (saving large tensors as external data
rewrites a copy). The pyfunc face runs the graph with onnxruntime; its session is built once, at load.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mlnb.errors import InvalidParameterError, ModelFormatError, SchemaError, require
from mlnb.flavors.protocol import make_log_model
from mlnb.models.layout import CondaEnv, ExtraFiles, Requirements, SignatureArg, write_model
from mlnb.models.mlmodel import PYFUNC, Model

FLAVOR_NAME = "onnx"
LOADER_MODULE = "mlflow.onnx"
MODEL_FILE = "model.onnx"
EXTERNAL_DATA_FILE = "model.onnx.data"
#: MLflow's default: CUDA where this onnxruntime build has it, else CPU.
DEFAULT_PROVIDERS = ["CUDAExecutionProvider", "CPUExecutionProvider"]
CPU = "CPUExecutionProvider"
_PROTOBUF_LIMIT = 2**31 - 1  # a ModelProto above this is checked from its file, not in memory
_SESSION_KEYS_CHECKED = {
    "execution_mode": lambda v: isinstance(v, str) and v.upper() in ("PARALLEL", "SEQUENTIAL"),
    "graph_optimization_level": lambda v: v in (0, 1, 2, 99),
    "intra_op_num_threads": lambda v: isinstance(v, int) and v >= 0,
    "inter_op_num_threads": lambda v: isinstance(v, int) and v >= 0,
    "extra_session_config": lambda v: isinstance(v, dict),
}


def _onnx():
    return require("onnx", "onnx", "The 'onnx' flavor")


def _ort():
    return require("onnxruntime", "onnx", "Running an ONNX model")


# -- options ---------------------------------------------------------------------------------
def _providers(providers: Sequence[Any] | None) -> list:
    """Check the execution providers and return them as MLmodel stores them (lists, not tuples)."""
    if providers is None:
        return list(DEFAULT_PROVIDERS)
    if isinstance(providers, str):
        providers = [providers]
    known = set(_ort().get_all_providers())
    out = []
    for entry in providers:
        if isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[1], dict):
            name, options = entry
        else:
            name, options = entry, None
        if not isinstance(name, str) or name not in known:
            raise InvalidParameterError(
                f"onnx_execution_providers: {entry!r} is not an onnxruntime execution provider. Give "
                f"provider names, or (name, options) pairs; known names: {', '.join(sorted(known))}."
            )
        out.append(name if options is None else [name, dict(options)])
    if not out:
        raise InvalidParameterError("onnx_execution_providers is empty; leave it out for MLflow's default.")
    return out


def _session_options(options: dict | None) -> dict | None:
    """Check ``onnx_session_options`` against onnxruntime's ``SessionOptions`` (as MLflow does)."""
    if options is None:
        return None
    if not isinstance(options, dict):
        raise InvalidParameterError(f"onnx_session_options must be a dict, got {type(options).__name__}.")
    session_options = _ort().SessionOptions
    for key, value in options.items():
        if key != "extra_session_config" and not hasattr(session_options, key):
            raise InvalidParameterError(
                f"onnx_session_options: '{key}' is not an attribute of onnxruntime.SessionOptions.")
        check = _SESSION_KEYS_CHECKED.get(key)
        if check is not None and not check(value):
            raise InvalidParameterError(
                f"onnx_session_options: {key}={value!r} is invalid. Use execution_mode 'parallel' or "
                f"'sequential', graph_optimization_level 0, 1, 2 or 99, thread counts >= 0 and a dict "
                f"for extra_session_config.")
    return dict(options)


# -- save ------------------------------------------------------------------------------------
def _check_graph(onnx: Any, model: Any, what: str) -> None:
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as exc:
        raise InvalidParameterError(
            f"{what} is not a valid ONNX model: {str(exc).strip().rstrip('.')}. Fix the graph (or re-export it) "
            f"so that onnx.checker.check_model accepts it."
        ) from None


def save_model(
    onnx_model: Any,
    path: str | os.PathLike,
    code_paths: Sequence[str] | None = None,
    signature: SignatureArg = None,
    input_example: Any = None,
    pip_requirements: Requirements = None,
    extra_pip_requirements: Requirements = None,
    onnx_execution_providers: Sequence[Any] | None = None,
    onnx_session_options: dict | None = None,
    metadata: dict | None = None,
    save_as_external_data: bool = True,
    conda_env: CondaEnv = None,
    extra_files: ExtraFiles = None,
    mlmodel: Model | None = None,
) -> Model:
    """Save an ``onnx.ModelProto`` at ``path`` as ``model.onnx``; returns the written Model.

    ``onnx_execution_providers`` (names or ``(name, options)`` pairs) and ``onnx_session_options``
    (attributes of ``onnxruntime.SessionOptions``) are stored in MLmodel and used at load.
    ``save_as_external_data`` moves tensors of 1 KB and more into ``model.onnx.data``.
    """
    onnx = _onnx()
    if not isinstance(onnx_model, onnx.ModelProto):
        raise InvalidParameterError(
            f"onnx_model must be an onnx.ModelProto, got {type(onnx_model).__name__}. "
            f"Read a .onnx file with onnx.load(path), or serialized bytes with onnx.load_from_string(data), first."
        )
    providers = _providers(onnx_execution_providers)
    session_options = _session_options(onnx_session_options)
    in_memory = onnx_model.ByteSize() <= _PROTOBUF_LIMIT
    if in_memory:
        _check_graph(onnx, onnx_model, "onnx_model")
    staged: dict[str, Path] = {}

    def write_payload(model_dir: Path, code: str | None):
        file = model_dir / MODEL_FILE
        model = onnx_model
        if save_as_external_data:  # onnx rewrites the proto it saves this way: give it a copy
            model = onnx.ModelProto()
            model.CopyFrom(onnx_model)
        onnx.save_model(model, str(file), save_as_external_data=save_as_external_data,
                        all_tensors_to_one_file=True, location=EXTERNAL_DATA_FILE)
        if not in_memory:
            _check_graph(onnx, str(file), "onnx_model")
        staged["file"] = file
        flavor = {
            "onnx_version": onnx.__version__,
            "data": MODEL_FILE,
            "providers": providers,
            "onnx_session_options": session_options,
            "code": code,
        }
        pyfunc = {"loader_module": LOADER_MODULE, "data": MODEL_FILE}
        if code:
            pyfunc["code"] = code
        return {PYFUNC: pyfunc, FLAVOR_NAME: flavor}, {"onnx", "onnxruntime", "numpy", "pandas"}

    def predict(data: Any) -> Any:  # infers the output schema from an input example, on CPU
        return _OnnxPyfunc(_session(staged["file"], [CPU], session_options)).predict(data)

    return write_model(
        path, write_payload, mlmodel=mlmodel, signature=signature, input_example=input_example,
        predict=predict, pip_requirements=pip_requirements, extra_pip_requirements=extra_pip_requirements,
        metadata=metadata, code_paths=code_paths,
        conda_env=conda_env, extra_files=extra_files,
    )


log_model = make_log_model(save_model, "model")


# -- load ------------------------------------------------------------------------------------
#: Session options a model may set by itself (applied when pyfunc builds its session): tuning knobs. Others (``optimized_model_filepath``,
#: ``profile_file_prefix``, ``enable_profiling``...) make onnxruntime write files where the model
#: says, so they need ``trust_code=True``; so do ``extra_session_config`` entries naming files.
SAFE_SESSION_OPTIONS = frozenset({
    "execution_mode", "graph_optimization_level", "intra_op_num_threads", "inter_op_num_threads",
    "extra_session_config", "enable_cpu_mem_arena", "enable_mem_pattern", "enable_mem_reuse",
    "execution_order", "use_deterministic_compute", "log_severity_level", "log_verbosity_level", "logid",
})
_FILE_CONFIG_WORDS = ("path", "file", "dir", "ep.context", "custom_op", "library")


def _model_file(model_dir: Path, conf: dict, consent: Any = None) -> Path:
    """The flavor's model file, after checking the caller's consent for its ``code/`` and that its
    external data lives inside the model."""
    from mlnb.models import trust

    consent = consent or trust.current()
    trust.add_code(model_dir, conf.get("code"), consent)
    file = trust.inside(model_dir, conf.get("data") or MODEL_FILE, "the onnx flavor's data")
    if not file.is_file():
        raise ModelFormatError(f"The onnx flavor names '{file.name}', which is missing from '{model_dir}'.")
    _check_external_data(file)
    return file


def _checked_session_options(options: Any, consent: Any) -> dict | None:
    """The model's ``onnx_session_options``, refused beyond tuning knobs without ``trust_code``."""
    from mlnb.models import trust

    if options is None:
        return None
    if not isinstance(options, dict) or not isinstance(options.get("extra_session_config") or {}, dict):
        raise ModelFormatError("onnx_session_options (and its extra_session_config) must be mappings.")
    unsafe = sorted(k for k in options if k not in SAFE_SESSION_OPTIONS) + sorted(
        f"extra_session_config.{k}" for k in (options.get("extra_session_config") or {})
        if any(word in str(k).lower() for word in _FILE_CONFIG_WORDS))
    if unsafe:
        trust.require_code(consent, f"apply the model's onnxruntime session options {unsafe} (they make "
                                    f"onnxruntime read or write files the model names)")
    return options


def _tensors(model: Any):
    """Every tensor a model holds: initializers and attribute values, in subgraphs and functions too."""
    graphs, node_lists = [model.graph], [f.node for f in model.functions]
    while graphs or node_lists:
        if graphs:
            g = graphs.pop()
            yield from g.initializer
            for sparse in g.sparse_initializer:
                yield from (sparse.values, sparse.indices)
            node_lists.append(g.node)
            continue
        for node in node_lists.pop():
            for attr in node.attribute:
                if attr.HasField("t"):
                    yield attr.t
                yield from attr.tensors
                if attr.HasField("sparse_tensor"):
                    yield from (attr.sparse_tensor.values, attr.sparse_tensor.indices)
                if attr.HasField("g"):
                    graphs.append(attr.g)
                graphs.extend(attr.graphs)


def _check_external_data(file: Path) -> None:
    """Refuse tensors whose external data lives outside the model directory (``../../etc/passwd``,
    an absolute path, a symlink): onnx and onnxruntime would read those files into the model."""
    onnx = _onnx()
    from google.protobuf.message import DecodeError

    from mlnb.models.trust import inside

    try:
        model = onnx.load(str(file), load_external_data=False)
    except (DecodeError, ValueError, OSError) as exc:
        raise _corrupt(file, str(exc)) from None
    for tensor in _tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        inside(file.parent, location, f"the external data of tensor '{tensor.name}'")


def _corrupt(file: Path, detail: str) -> ModelFormatError:
    return ModelFormatError(
        f"'{file}' is not a readable ONNX model ({detail.strip().rstrip('.') or 'unreadable'}). The file is "
        f"damaged or is not ONNX; save the model again with mlnb.onnx.save_model."
    )


def load_model(model_uri: str | os.PathLike, dst_path: str | None = None, *, trust_code: bool | None = None) -> Any:
    """Load the ``onnx.ModelProto`` of a model (path, ``runs:/``, ``s3://``, ...), checked by
    ``onnx.checker``; tensors saved as external data (inside the model directory) are read back in.
    ``trust_code=True`` is needed only for a ``code/`` directory or session options naming files."""
    from mlnb.models.reading import read_model
    from mlnb.models.trust import resolve

    path, mlmodel = read_model(model_uri, dst_path)
    conf = mlmodel.flavor(FLAVOR_NAME)
    file = _model_file(path, conf, resolve(trust_code))
    onnx = _onnx()
    from google.protobuf.message import DecodeError

    try:
        onnx.checker.check_model(str(file))
        return onnx.load(str(file))
    except (onnx.checker.ValidationError, DecodeError, ValueError, OSError) as exc:
        raise _corrupt(file, str(exc)) from None


def _session(file: Path, providers: list, options: dict | None) -> Any:
    """An onnxruntime session on ``file`` with the providers this build has (CPU if none is left)."""
    ort = _ort()
    wanted = [tuple(p) if isinstance(p, list) else p for p in providers]
    available = set(ort.get_available_providers())
    usable = [p for p in wanted if (p[0] if isinstance(p, tuple) else p) in available]
    if not usable:
        warnings.warn(f"None of the ONNX model's execution providers {providers} is available in this "
                      f"onnxruntime; running on {CPU}.", stacklevel=3)
        usable = [CPU]
    try:
        return ort.InferenceSession(str(file), sess_options=_ort_options(ort, options), providers=usable)
    except Exception as exc:  # onnxruntime's errors are its own pybind classes (Fail, InvalidProtobuf, ...)
        raise _corrupt(file, str(exc)) from None


def _ort_options(ort: Any, options: dict | None) -> Any:
    sess = ort.SessionOptions()
    for key, value in (options or {}).items():
        if key == "execution_mode":
            sess.execution_mode = getattr(ort.ExecutionMode, f"ORT_{value.upper()}")
        elif key == "graph_optimization_level":
            sess.graph_optimization_level = ort.GraphOptimizationLevel(value)
        elif key == "extra_session_config":
            for entry, setting in value.items():
                sess.add_session_config_entry(entry, setting)
        else:
            setattr(sess, key, value)
    return sess


# -- the pyfunc face -------------------------------------------------------------------------
# onnxruntime's input type names -> the NumPy dtype fed for them
_DTYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int8)": np.int8, "tensor(int16)": np.int16, "tensor(int32)": np.int32, "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8, "tensor(uint16)": np.uint16, "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64, "tensor(bool)": np.bool_, "tensor(string)": np.object_,
}


def _cast(name: str, onnx_type: str, value: Any) -> np.ndarray:
    """``value`` as the dtype the graph declares for input ``name``, when that loses no kind."""
    arr = np.asarray(value)
    target = _DTYPES.get(onnx_type)
    if target is None or arr.dtype == target:
        return arr
    if target is np.object_:
        if arr.dtype.kind in "OUS":
            return arr.astype(object)
    elif np.can_cast(arr.dtype, target, casting="same_kind"):
        return arr.astype(target)
    elif arr.dtype.kind == "O":
        try:
            return arr.astype(target)
        except (TypeError, ValueError):
            pass
    raise SchemaError(
        f"ONNX input '{name}' takes {onnx_type}, got {arr.dtype} values that do not convert without "
        f"loss. Convert the data to {np.dtype(target).name} first."
    )


def _frame(names: list[str], outputs: list, n_rows: int):
    """A DataFrame with one column per output, as MLflow builds it: each output flattened. Where
    the flattened outputs differ in length (MLflow fails there), every output that has one entry
    per input row keeps it, so a cell holds that row's array."""
    import pandas as pd

    flat = {n: np.asarray(o).reshape(-1) for n, o in zip(names, outputs)}
    if len({len(v) for v in flat.values()}) <= 1:
        return pd.DataFrame(flat)
    if all(len(o) == n_rows for o in outputs):
        return pd.DataFrame({n: list(np.asarray(o)) for n, o in zip(names, outputs)})
    shapes = {n: np.asarray(o).shape for n, o in zip(names, outputs)}
    raise SchemaError(f"The ONNX outputs {shapes} do not fit one DataFrame of {n_rows} rows; "
                      f"predict on a dict of arrays or an ndarray to get each output whole.")


class _OnnxPyfunc:
    """The pyfunc face of an ONNX model: DataFrame, ndarray or dict of arrays in, as MLflow's."""

    def __init__(self, session: Any) -> None:
        self.rt = session
        self.inputs = [(i.name, i.type) for i in session.get_inputs()]
        self.output_names = [o.name for o in session.get_outputs()]

    def _feeds(self, data: Any) -> dict[str, np.ndarray]:
        import pandas as pd

        names = [n for n, _ in self.inputs]
        if isinstance(data, dict):
            feeds = data
        elif isinstance(data, np.ndarray):
            if len(names) != 1:
                raise SchemaError(f"An ndarray feeds a model with one input; this one has {names}. "
                                  f"Pass a DataFrame or a dict of arrays keyed by those names.")
            feeds = {names[0]: data}
        elif isinstance(data, pd.DataFrame):
            if len(names) == 1:  # all columns together make the one input tensor
                feeds = {names[0]: data.to_numpy()}
            else:
                missing = [n for n in names if n not in data.columns]
                if missing:
                    raise SchemaError(f"The ONNX model's inputs {missing} are not columns of the DataFrame "
                                      f"(it has {list(data.columns)}).")
                feeds = {n: data[n].to_numpy() for n in names}
        else:
            raise SchemaError(f"ONNX models predict on a pandas DataFrame, a numpy array or a dict of "
                              f"arrays, got {type(data).__name__}.")
        missing = [n for n in names if n not in feeds]
        if missing:
            raise SchemaError(f"The ONNX model needs inputs {missing}; got {sorted(feeds)}.")
        return {n: _cast(n, t, feeds[n]) for n, t in self.inputs}

    def predict(self, data: Any, params: dict | None = None) -> Any:
        import pandas as pd

        outputs = self.rt.run(self.output_names, self._feeds(data))
        if isinstance(data, pd.DataFrame):
            return _frame(self.output_names, outputs, len(data))
        return dict(zip(self.output_names, outputs))

    def get_raw_model(self) -> Any:
        """The ``onnxruntime.InferenceSession`` (as MLflow's wrapper returns)."""
        return self.rt


def load_pyfunc(path: str, model_config: dict | None = None) -> _OnnxPyfunc:
    p = Path(path)
    model_dir = p if p.is_dir() else p.parent  # MLflow's layout: the pyfunc ``data`` is model.onnx
    conf = Model.load(model_dir).flavor(FLAVOR_NAME)
    providers = conf.get("providers") or DEFAULT_PROVIDERS
    providers = [providers] if isinstance(providers, str) else list(providers)
    from mlnb.models.trust import current

    consent = current()
    file = _model_file(model_dir, conf, consent)
    return _OnnxPyfunc(_session(file, providers, _checked_session_options(conf.get("onnx_session_options"), consent)))


_load_pyfunc = load_pyfunc   # MLflow's loader-module entry point (the name MLflow calls)


__all__ = ["save_model", "log_model", "load_model", "load_pyfunc", "DEFAULT_PROVIDERS"]

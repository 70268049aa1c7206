"""The PyTorch flavor: ``mlnb.pytorch.save_model / log_model / load_model``.

Files and MLmodel keys are MLflow's (``loader_module: mlflow.pytorch``; flavor keys ``model_data``,
``pytorch_version``, ``code``; the model under ``data/``), so MLflow loads these models and mlnb
loads MLflow's.

Formats
-------
* ``pickle`` (mlnb's default): the whole ``torch.nn.Module`` written with ``torch.save`` and
  cloudpickle as ``data/model.pth``, with the pickle module's name in
  ``data/pickle_module_info.txt``. Loading unpickles, which runs code: it follows the pickle
  consent of ``mlnb.models.trust`` (allowed unless switched off). mlnb passes
  ``weights_only=False`` to ``torch.load`` for these model files only; state dicts load with
  ``weights_only=True``.
* ``pt2``: a graph traced by ``torch.export`` from an input example, as ``data/model.pt2``.
  Loading builds the module from the graph, not from your class, after checking that the archive
  holds no pickle beyond tensors and plain containers (``mlnb.flavors._pt2``; ``trust_code=True``
  skips the check).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

from mlnb.errors import InvalidParameterError, MissingDependencyError, ModelFormatError
from mlnb.flavors.protocol import make_autolog, make_log_model
from mlnb.models.layout import CondaEnv, ExtraFiles, Requirements, SignatureArg, write_model
from mlnb.models.mlmodel import PYFUNC, Model

FLAVOR_NAME = "pytorch"
LOADER_MODULE = "mlflow.pytorch"
SERIALIZATION_FORMATS = ("pickle", "pt2")
DATA_DIR = "data"
MODEL_FILE = "model.pth"
EXPORTED_FILE = "model.pt2"
PICKLE_INFO_FILE = "pickle_module_info.txt"
STATE_DICT_FILE = "state_dict.pth"
#: The name MLflow records for its cloudpickle-based pickle module. Its pickles are plain pickle
#: streams, so mlnb records the same name for cloudpickled models and reads them with ``pickle``.
CLOUDPICKLE_NAME = "mlflow.pytorch.pickle_module"
_CLOUDPICKLE_NAMES = (CLOUDPICKLE_NAME, "cloudpickle")


# -- saving ----------------------------------------------------------------------------------
def _pickle_module_name(pickle_module: Any) -> str:
    if pickle_module is None:
        return CLOUDPICKLE_NAME
    name = getattr(pickle_module, "__name__", None)
    if not name or not hasattr(pickle_module, "Pickler"):
        raise InvalidParameterError(
            f"pickle_module must be a module with a Pickler (pickle, cloudpickle, ...), got {pickle_module!r}."
        )
    return CLOUDPICKLE_NAME if name in _CLOUDPICKLE_NAMES else name


@contextlib.contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    """Evaluation mode for a forward pass at save time, each submodule's mode restored after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def _export(model: Any, example: Any, signature: Any, file: Path) -> None:
    """Trace ``model`` on ``example`` with ``torch.export``; dimensions that are -1 in the
    signature's tensor spec stay dynamic."""
    import numpy as np
    import torch

    if not isinstance(example, np.ndarray):
        raise InvalidParameterError(
            "serialization_format='pt2' traces the model on its input example: pass input_example= "
            "a numpy array of the model's input."
        )
    from mlnb.models.signature import ModelSignature

    to_dict = getattr(signature, "to_dict", None)  # mlnb's or MLflow's signature
    inputs = ModelSignature.from_dict(to_dict()).inputs if to_dict else None
    if inputs is None or not inputs.is_tensor_spec() or len(inputs.inputs) != 1:
        raise InvalidParameterError(
            "serialization_format='pt2' needs a signature with one tensor input; leave signature=None "
            "to infer it from the input example."
        )
    dynamic = {i: torch.export.Dim.AUTO for i, n in enumerate(inputs.inputs[0].shape) if n == -1}
    with _eval_mode(model):
        program = torch.export.export(model, (torch.from_numpy(example),), dynamic_shapes=[dynamic or None])
    torch.export.save(program, str(file))


def save_model(
    pytorch_model: Any,
    path: str | os.PathLike,
    code_paths: Sequence[str] | None = None,
    pickle_module: Any = None,
    signature: SignatureArg = None,
    input_example: Any = None,
    pip_requirements: Requirements = None,
    extra_pip_requirements: Requirements = None,
    metadata: dict | None = None,
    serialization_format: str | None = None,
    conda_env: CondaEnv = None,
    extra_files: ExtraFiles = None,
    mlmodel: Model | None = None,
    **kwargs: Any,
) -> Model:
    """Save a ``torch.nn.Module`` as an MLflow-format model directory at ``path``.

    ``serialization_format`` is ``"pt2"`` (a ``torch.export`` graph traced on ``input_example``, a
    numpy array; MLflow's default) or ``"pickle"`` (the whole module, with ``pickle_module``,
    cloudpickle by default; ``kwargs`` go to ``torch.save``). Left as None, it is ``"pt2"`` when
    there is a numpy input example to trace on and the module traces, else ``"pickle"`` (with a
    warning when tracing was tried and failed). Returns the written Model.
    """
    import torch

    if not isinstance(pytorch_model, torch.nn.Module):
        raise InvalidParameterError(
            f"pytorch_model must be a torch.nn.Module, got {type(pytorch_model).__name__}. "
            f"To save weights only, use save_state_dict(model.state_dict(), path)."
        )
    defaulted = serialization_format is None
    if defaulted:
        import numpy as np

        traceable = isinstance(input_example, np.ndarray) and pickle_module is None and not kwargs \
            and not isinstance(pytorch_model, torch.jit.ScriptModule)
        serialization_format = "pt2" if traceable else "pickle"
    if serialization_format not in SERIALIZATION_FORMATS:
        raise InvalidParameterError(
            f"Unknown serialization_format '{serialization_format}'; choose one of {SERIALIZATION_FORMATS}."
        )
    exported = serialization_format == "pt2"
    if exported and (pickle_module is not None or kwargs):
        raise InvalidParameterError("pickle_module and torch.save arguments apply to serialization_format='pickle' only.")
    if exported and isinstance(pytorch_model, torch.jit.ScriptModule):
        raise InvalidParameterError("A TorchScript module cannot be exported; use serialization_format='pickle'.")
    pickle_name = _pickle_module_name(pickle_module)

    def predict(example):
        with _eval_mode(pytorch_model):
            return _TorchPyfunc(pytorch_model).predict(example)

    if exported and signature is None and input_example is not None:
        from mlnb.models.signature import infer_signature

        signature = infer_signature(input_example, predict(input_example))

    def write_payload(model_dir: Path, code: str | None):
        data = model_dir / DATA_DIR
        data.mkdir()
        pickled = not exported
        if exported:
            try:
                _export(pytorch_model, input_example, signature, data / EXPORTED_FILE)
            except Exception as exc:
                if not defaulted:
                    raise
                (data / EXPORTED_FILE).unlink(missing_ok=True)
                pickled = True
                warnings.warn(
                    f"torch.export could not trace this module ({type(exc).__name__}: {exc}); it was saved "
                    f"pickled instead, which neither MLflow nor mlnb loads where "
                    f"MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false; pass serialization_format='pickle' to choose "
                    f"this format and silence this warning.", UserWarning, stacklevel=4)
        if pickled:
            (data / PICKLE_INFO_FILE).write_text(pickle_name, encoding="utf-8")
            if isinstance(pytorch_model, torch.jit.ScriptModule):
                torch.jit.save(pytorch_model, str(data / MODEL_FILE))
            else:
                pickler = _saving_pickle_module(pickle_module)
                torch.save(pytorch_model, data / MODEL_FILE, pickle_module=pickler, **kwargs)
        flavor = {"model_data": DATA_DIR, "pytorch_version": str(torch.__version__), "code": code}
        pyfunc = {"loader_module": LOADER_MODULE, "data": DATA_DIR, "pickle_module_name": pickle_name,
                  "config": {"device": None}}  # MLflow records the pickle module for pt2 too
        if code:
            pyfunc["code"] = code
        modules = {"torch", type(pytorch_model).__module__}
        if pickled and pickle_name == CLOUDPICKLE_NAME:
            modules.add("cloudpickle")
        return {PYFUNC: pyfunc, FLAVOR_NAME: flavor}, modules

    return write_model(
        path, write_payload, mlmodel=mlmodel, signature=signature, input_example=input_example,
        predict=predict, pip_requirements=pip_requirements, extra_pip_requirements=extra_pip_requirements,
        metadata=metadata, code_paths=code_paths,
        conda_env=conda_env, extra_files=extra_files,
    )


def _saving_pickle_module(pickle_module: Any) -> Any:
    if pickle_module is None or getattr(pickle_module, "__name__", "") in _CLOUDPICKLE_NAMES:
        import cloudpickle

        return cloudpickle
    return pickle_module


log_model = make_log_model(save_model, "module")


# -- loading ---------------------------------------------------------------------------------
def _loading_pickle_module(data: Path) -> Any:
    """The module ``torch.load`` unpickles with: the one named in ``pickle_module_info.txt``."""
    import pickle

    info = data / PICKLE_INFO_FILE
    name = info.read_text(encoding="utf-8").strip() if info.is_file() else "pickle"
    if name in _CLOUDPICKLE_NAMES:
        return pickle  # cloudpickle writes plain pickle streams; its reducers import on demand
    try:
        return importlib.import_module(name)
    except ImportError:
        raise MissingDependencyError(
            f"The model was pickled with '{name}', which is not installed. Install it to load the model."
        ) from None


def _read_module(data: Path, consent: Any = None, code: tuple | None = None, **kwargs: Any) -> Any:
    """Load the module in a model's ``data`` directory, in evaluation mode, if the caller consents:
    a pickled module needs pickles allowed, a pt2 archive passes mlnb's audit (or trust_code)."""
    import torch

    from mlnb.models import trust

    consent = consent or trust.current()
    if (data / MODEL_FILE).is_file():
        trust.require_pickle(consent, f"'{data / MODEL_FILE}' (a pickled PyTorch module)")
    if code is not None:
        trust.add_code(code[0], code[1], consent, pickled=(data / MODEL_FILE).is_file())
    if (data / MODEL_FILE).is_file():
        kwargs.setdefault("pickle_module", _loading_pickle_module(data))
        kwargs.setdefault("weights_only", False)  # a whole module is a pickle: see the module docstring
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*TorchScript archive")  # torch.load loads those too
            model = torch.load(data / MODEL_FILE, **kwargs)
    elif (data / EXPORTED_FILE).is_file():
        if not consent.code:
            from mlnb.flavors._pt2 import audit

            audit(data / EXPORTED_FILE)
        return torch.export.load(str(data / EXPORTED_FILE)).module()
    else:
        raise ModelFormatError(
            f"The pytorch flavor's data directory '{data}' holds neither '{MODEL_FILE}' nor "
            f"'{EXPORTED_FILE}'. The model directory is incomplete; save the model again."
        )
    if not isinstance(model, torch.nn.Module):
        raise ModelFormatError(f"'{data / MODEL_FILE}' holds a {type(model).__name__}, not a torch.nn.Module.")
    return model.eval()


def _data_dir(model_dir: Path, conf: dict) -> Path:
    from mlnb.models.trust import inside

    data = inside(model_dir, conf.get("model_data") or DATA_DIR, "the pytorch flavor's model_data")
    if not data.is_dir():
        raise ModelFormatError(f"The pytorch flavor names '{data.name}/', which is missing from '{model_dir}'.")
    return data


def load_model(model_uri: str | os.PathLike, dst_path: str | None = None, *, trust_code: bool | None = None,
               allow_pickle: bool | None = None, **kwargs: Any) -> Any:
    """Load the ``torch.nn.Module`` of a model (path, ``runs:/``, ``s3://``, ...), in eval mode.

    ``kwargs`` go to ``torch.load`` (``map_location``, ...) for pickled models. ``allow_pickle`` and
    ``trust_code`` consent to pickles and code (see ``mlnb.models.trust``).
    """
    from mlnb.models.reading import read_model
    from mlnb.models.trust import resolve

    path, mlmodel = read_model(model_uri, dst_path)
    conf = mlmodel.flavor(FLAVOR_NAME)
    consent = resolve(trust_code, allow_pickle)
    data = _data_dir(path, conf)
    return _read_module(data, consent, code=(path, conf.get("code")), **kwargs)


class _TorchPyfunc:
    """The pyfunc face of a module, as MLflow's: a DataFrame becomes one float32 tensor and the
    output a DataFrame with the input's index; an array stays an array; a dict of arrays becomes
    keyword arguments of ``forward``. Runs under ``no_grad`` on ``device``."""

    def __init__(self, model: Any, device: str = "cpu") -> None:
        self.pytorch_model = model
        self.device = device

    def predict(self, data: Any, params: dict | None = None) -> Any:
        import numpy as np
        import pandas as pd
        import torch

        params = dict(params or {})
        if "device" in params:
            raise InvalidParameterError(
                "device is chosen at load time: mlnb.pyfunc.load_model(uri, model_config={'device': 'cuda'})."
            )

        def tensor(values: Any) -> Any:
            return torch.from_numpy(values).to(self.device)

        with torch.no_grad():
            if isinstance(data, pd.DataFrame):
                out = self.pytorch_model(tensor(data.to_numpy(dtype=np.float32)), **params)
            elif isinstance(data, np.ndarray):
                out = self.pytorch_model(tensor(data), **params)
            elif isinstance(data, dict) and all(isinstance(v, np.ndarray) for v in data.values()):
                out = self.pytorch_model(**{k: tensor(v) for k, v in data.items()}, **params)
            else:
                raise InvalidParameterError(
                    f"A PyTorch model predicts on a pandas DataFrame, a numpy array or a dict of arrays, "
                    f"not a {type(data).__name__}."
                )
        if not isinstance(out, torch.Tensor):
            raise InvalidParameterError(
                f"The model's forward returned a {type(out).__name__}; pyfunc needs a single tensor."
            )
        out = out.cpu().numpy()
        if isinstance(data, pd.DataFrame):
            return pd.DataFrame(out, index=data.index)
        return out

    def get_raw_model(self) -> Any:
        return self.pytorch_model


def load_pyfunc(path: str, model_config: dict | None = None) -> _TorchPyfunc:
    """Loader-module entry point: ``path`` is the model's ``data`` directory (MLflow's contract)."""
    p = Path(path)
    model_dir = p if (p / "MLmodel").is_file() else p.parent
    conf = Model.load(model_dir).flavor(FLAVOR_NAME)
    if p == model_dir:
        p = _data_dir(p, conf)
    device = (model_config or {}).get("device") or "cpu"
    module = _read_module(p, code=(model_dir, conf.get("code")), map_location=device)
    return _TorchPyfunc(module.to(device), device)


_load_pyfunc = load_pyfunc   # MLflow's loader-module entry point (the name MLflow calls)


# -- state dicts -----------------------------------------------------------------------------
def save_state_dict(state_dict: dict, path: str | os.PathLike, **kwargs: Any) -> None:
    """Write a ``state_dict`` (weights, optimizer state, ...) as ``<path>/state_dict.pth``."""
    import torch

    if not isinstance(state_dict, dict):
        raise InvalidParameterError(
            f"state_dict must be a dict (model.state_dict()), got {type(state_dict).__name__}; "
            f"to save a whole module use save_model."
        )
    Path(path).mkdir(parents=True, exist_ok=True)
    torch.save(state_dict, Path(path) / STATE_DICT_FILE, **kwargs)


def log_state_dict(state_dict: dict, artifact_path: str, **kwargs: Any) -> None:
    """Save a ``state_dict`` into the active run's artifacts under ``artifact_path`` (no model
    directory: load it back with ``load_state_dict("runs:/<run_id>/<artifact_path>")``)."""
    import tempfile

    from mlnb.hooks import run_logger

    with tempfile.TemporaryDirectory(prefix="mlnb-state-dict-") as tmp:
        save_state_dict(state_dict, tmp, **kwargs)
        run_logger().log_artifacts(tmp, artifact_path)


def load_state_dict(state_dict_uri: str | os.PathLike, **kwargs: Any) -> dict:
    """Read a state dict written by ``save_state_dict`` (mlnb's or MLflow's).

    Loads with ``weights_only=True``: tensors and plain containers only, no code runs.
    """
    import torch

    from mlnb.models.uri import local_path

    file = local_path(state_dict_uri) / STATE_DICT_FILE
    if not file.is_file():
        raise ModelFormatError(f"'{state_dict_uri}' holds no '{STATE_DICT_FILE}'; point to the directory save_state_dict wrote.")
    kwargs.setdefault("weights_only", True)
    return torch.load(file, **kwargs)


#: The autolog integration behind :func:`autolog` (see :func:`mlnb.flavors.protocol.make_autolog`)
AUTOLOG_INTEGRATION = "mlnb.autologging.lightning"
autolog = make_autolog(__name__, AUTOLOG_INTEGRATION, """\
    Log every PyTorch Lightning ``Trainer.fit``: the trainer's metrics per epoch (or step), the
    optimizer's params, early stopping, checkpoints, the model summary and the model, under MLflow's
    names. See ``mlnb.autologging.lightning.autolog``.""")


__all__ = ["save_model", "log_model", "load_model", "load_pyfunc", "autolog", "save_state_dict", "log_state_dict", "load_state_dict",
           "SERIALIZATION_FORMATS"]

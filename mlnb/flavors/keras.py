"""The Keras 3 flavor: ``mlnb.keras.save_model / log_model / load_model``.

Files and MLmodel keys are MLflow's (``mlflow.keras`` for Keras 3): the model is written with Keras'
own ``model.save`` as ``data/model.keras`` (a zip of JSON config and weights, no pickle) beside
``data/keras_module.txt``; the flavor section holds ``data``, ``keras_version``, ``keras_backend``
and ``save_exported_model``; pyfunc's ``loader_module`` is ``mlflow.keras``. So MLflow loads these
models and mlnb loads MLflow's.

Keras fixes its backend (TensorFlow, JAX, PyTorch, ...) when it is first imported. When Keras is not
imported yet and ``KERAS_BACKEND`` is unset, mlnb loads a model with the backend it was saved with,
if that backend's library is installed.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

from mlnb.errors import InvalidParameterError, MissingDependencyError, ModelFormatError
from mlnb.flavors.protocol import make_autolog, make_log_model
from mlnb.models.layout import CondaEnv, ExtraFiles, Requirements, SignatureArg, write_model
from mlnb.models.mlmodel import PYFUNC, Model

FLAVOR_NAME = "keras"
LOADER_MODULE = "mlflow.keras"
DATA_DIR = "data"
MODEL_FILE = "model.keras"
MODULE_FILE = "keras_module.txt"
# Keras backend -> the library it runs on (what requirements.txt pins besides keras)
BACKEND_LIBRARIES = {"tensorflow": "tensorflow", "torch": "torch", "jax": "jax", "numpy": "numpy"}


class BackendWarning(UserWarning):
    """A Keras model is loaded on another backend than the one it was saved with, because that one's
    library is not installed here."""


def _installed(backend: str) -> bool:
    library = BACKEND_LIBRARIES.get(backend)
    try:
        return library is not None and importlib.util.find_spec(library) is not None
    except (ImportError, ValueError):   # a finder that refuses it, or a half-imported module
        return False


def _keras(backend: str | None = None):
    """Import Keras, first choosing ``backend`` if nothing else has chosen one yet. When the saved
    backend's library is missing, another installed backend is chosen, with a :class:`BackendWarning`."""
    chosen = os.environ.get("KERAS_BACKEND")
    if "keras" not in sys.modules and backend and not chosen:
        pick = backend if _installed(backend) else next((b for b in ("tensorflow", "torch", "jax") if _installed(b)), None)
        if pick is None:
            raise MissingDependencyError(
                f"This Keras model was saved on the '{backend}' backend, and no Keras backend library is "
                f"installed here (tensorflow, torch or jax). Install '{BACKEND_LIBRARIES.get(backend, backend)}' "
                f"(pip install 'mlnb[keras]' brings torch, 'mlnb[tensorflow]' brings TensorFlow)."
            )
        os.environ["KERAS_BACKEND"] = pick
    if importlib.util.find_spec("keras") is None:
        raise MissingDependencyError(
            "The 'keras' flavor needs the 'keras' package, which is not installed. "
            "Install it with: pip install 'mlnb[keras]'"
        )
    try:
        import keras
    except ImportError as exc:  # keras is there, its backend's library is not
        raise MissingDependencyError(
            f"Keras could not load its backend '{os.environ.get('KERAS_BACKEND', 'tensorflow')}' ({exc}). "
            f"Install that backend's library, or set KERAS_BACKEND to an installed one (e.g. 'torch', "
            f"which pip install 'mlnb[keras]' brings) before Keras is first imported."
        ) from exc
    return keras


def _warn_other_backend(saved: str, running: str) -> None:
    import warnings

    library = BACKEND_LIBRARIES.get(saved, saved)
    why = (f"whose library '{library}' is not installed here" if not _installed(saved)
           else "while Keras runs on another backend in this process")
    warnings.warn(
        f"This Keras model was saved on the '{saved}' backend, {why}; it is loaded on the '{running}' backend "
        f"instead, without its compiled optimizer and loss (those are classes of the '{saved}' backend): "
        f"plain layers give the same predictions, compile it again to train on, and a custom layer that calls "
        f"{library} directly will fail. Install {library} to load the model on its own backend.",
        BackendWarning, stacklevel=5)


def save_model(
    model: Any,
    path: str | os.PathLike,
    save_exported_model: bool = False,
    signature: SignatureArg = None,
    input_example: Any = None,
    pip_requirements: Requirements = None,
    extra_pip_requirements: Requirements = None,
    save_model_kwargs: dict | None = None,
    metadata: dict | None = None,
    conda_env: CondaEnv = None,
    extra_files: ExtraFiles = None,
    mlmodel: Model | None = None,
) -> Model:
    """Save a ``keras.Model`` in Keras' native ``.keras`` format at ``path``.

    ``save_model_kwargs`` go to ``model.save``. ``save_exported_model=True`` (MLflow's TensorFlow
    SavedModel export) is not supported: mlnb writes the portable ``.keras`` file only.
    Returns the written Model.
    """
    keras = _keras()
    if save_exported_model:
        raise InvalidParameterError(
            "mlnb saves Keras models in the native .keras format only; save_exported_model=True "
            "(a TensorFlow SavedModel) is not supported. Leave it False, or use mlflow.keras.save_model."
        )
    if not isinstance(model, keras.Model):
        raise InvalidParameterError(
            f"model must be a keras.Model (Sequential, functional or subclassed), got {type(model).__name__}."
        )
    backend = keras.backend.backend()

    def write_payload(model_dir: Path, code: str | None):
        data = model_dir / DATA_DIR
        data.mkdir()
        (data / MODULE_FILE).write_text("keras", encoding="utf-8")
        model.save(str(data / MODEL_FILE), **(save_model_kwargs or {}))
        flavor = {
            "data": DATA_DIR,
            "keras_version": keras.__version__,
            "keras_backend": backend,
            "save_exported_model": False,
        }
        modules = {"keras", "numpy", BACKEND_LIBRARIES.get(backend, backend)}
        return {PYFUNC: {"loader_module": LOADER_MODULE}, FLAVOR_NAME: flavor}, modules

    return write_model(
        path, write_payload, mlmodel=mlmodel, signature=signature, input_example=input_example,
        predict=KerasPyfunc(model).predict, pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements, metadata=metadata,
        conda_env=conda_env, extra_files=extra_files,
    )


log_model = make_log_model(save_model, "model")


def _read_model(model_dir: Path, conf: dict, custom_objects: dict | None = None,
                load_model_kwargs: dict | None = None, consent: Any = None) -> Any:
    """Load ``data/model.keras`` in Keras' safe mode, which refuses code stored in the file
    (``Lambda`` layers), unless the caller trusts the model's code."""
    from mlnb.models import trust

    consent = consent or trust.current()
    trust.add_code(model_dir, conf.get("code"), consent)
    if conf.get("save_exported_model"):
        raise ModelFormatError(
            f"'{model_dir}' holds a Keras model exported as a TensorFlow SavedModel "
            f"(save_exported_model: true); mlnb reads the native .keras format only. "
            f"Load it with mlflow.keras.load_model (needs tensorflow)."
        )
    file = trust.inside(model_dir, conf.get("data") or DATA_DIR, "the keras flavor's data")
    file = file / MODEL_FILE if file.is_dir() else file.with_name(file.name + ".keras")
    if not file.is_file():
        raise ModelFormatError(f"The keras flavor names '{file.relative_to(model_dir)}', which is missing from '{model_dir}'.")
    return read_keras_file(file, conf.get("keras_backend"), custom_objects, load_model_kwargs, consent)


def read_keras_file(file: Path, backend: str | None, custom_objects: dict | None = None,
                    load_model_kwargs: dict | None = None, consent: Any = None) -> Any:
    """Load a ``.keras`` file saved on ``backend``, in Keras' safe mode unless ``consent`` trusts the
    model's code (the keras and tensorflow flavors both read their files here)."""
    from mlnb.models import trust

    consent = consent or trust.current()
    keras = _keras(backend)
    kwargs = {"safe_mode": not consent.code, **(load_model_kwargs or {})}
    running = keras.backend.backend()
    if backend and running != backend:
        # the saved optimizer is a class of the saving backend's: load the model without it
        kwargs.setdefault("compile", False)
        _warn_other_backend(backend, running)
    try:
        return keras.saving.load_model(str(file), custom_objects=custom_objects, **kwargs)
    except (ValueError, OSError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        if "safe_mode" in str(exc) or "unsafe" in str(exc).lower():
            from mlnb.errors import UnsafeModelError

            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UnsafeModelError(
                f"Refused to load '{file}': Keras' safe mode found code stored in the file ({first[:200]}). "
                f"If you trust this model, {trust.CONSENT_CODE}."
            ) from None
        raise ModelFormatError(
            f"'{file}' is not a readable .keras file ({type(exc).__name__}: {exc}). Save the model again "
            f"with mlnb.keras.save_model; for custom layers pass custom_objects."
        ) from exc


def load_model(model_uri: str | os.PathLike, dst_path: str | None = None, custom_objects: dict | None = None,
               load_model_kwargs: dict | None = None, *, trust_code: bool | None = None) -> Any:
    """Load the ``keras.Model`` of a model (path, ``runs:/``, ``s3://``, ...).

    ``custom_objects`` and ``load_model_kwargs`` go to ``keras.saving.load_model``, which runs in
    safe mode (refusing code stored in the file, such as ``Lambda`` layers) unless ``trust_code=True``.
    """
    from mlnb.models.reading import read_model
    from mlnb.models.trust import resolve

    path, mlmodel = read_model(model_uri, dst_path)
    return _read_model(path, mlmodel.flavor(FLAVOR_NAME), custom_objects, load_model_kwargs, resolve(trust_code))


class KerasPyfunc:
    """The pyfunc face of a Keras model, as MLflow's: a DataFrame in gives a DataFrame (same index)
    out; arrays, lists, tuples and dicts of arrays give a numpy array."""

    def __init__(self, model: Any) -> None:
        self.keras_model = model

    def predict(self, data: Any, params: dict | None = None) -> Any:
        import numpy as np
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            return pd.DataFrame(self.keras_model.predict(data.to_numpy(), verbose=0), index=data.index)
        if not isinstance(data, (np.ndarray, list, tuple, dict)):
            raise InvalidParameterError(
                f"A Keras model predicts on a DataFrame, a numpy array, a list, a tuple or a dict of "
                f"arrays, got {type(data).__name__}."
            )
        return _keras().ops.convert_to_numpy(self.keras_model.predict(data, verbose=0))

    def get_raw_model(self) -> Any:
        return self.keras_model


def load_pyfunc(path: str, model_config: dict | None = None) -> KerasPyfunc:
    p = Path(path)
    if p.is_file() or not (p / "MLmodel").is_file():  # a pyfunc ``data`` path inside the model
        p = p.parent
    return KerasPyfunc(_read_model(p, Model.load(p).flavor(FLAVOR_NAME)))


_load_pyfunc = load_pyfunc   # MLflow's loader-module entry point (the name MLflow calls)


#: The autolog integration behind :func:`autolog` (see :func:`mlnb.flavors.protocol.make_autolog`)
AUTOLOG_INTEGRATION = "mlnb.autologging.keras"
autolog = make_autolog(__name__, AUTOLOG_INTEGRATION, """\
    Log every Keras ``fit``: params, the per-epoch history and the model, under MLflow's
    ``mlflow.keras.autolog`` names. See ``mlnb.autologging.keras.autolog``.""")


__all__ = ["save_model", "log_model", "load_model", "load_pyfunc", "autolog", "read_keras_file", "KerasPyfunc",
           "BackendWarning"]

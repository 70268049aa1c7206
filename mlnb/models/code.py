"""Models from code: a Python file that builds the model and hands it to :func:`set_model`.

    # my_model.py
    import mlnb
    class Upper(mlnb.pyfunc.PythonModel):
        def predict(self, context, model_input: list[str]) -> list[str]:
            return [s.upper() for s in model_input]
    mlnb.models.set_model(Upper())

``mlnb.pyfunc.save_model(path, python_model="my_model.py")`` copies the file into the model;
loading the model runs the file again. Running a file is running code: loading such a model
needs the same consent as loading a pickled custom model.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import uuid
from pathlib import Path
from typing import Any, Mapping

from mlnb.errors import InvalidParameterError, ModelFormatError

_state = threading.local()


def set_model(model: Any) -> None:
    """Name the model a models-from-code file defines (a PythonModel or a function of the input)."""
    if isinstance(model, str) or not (callable(model) or callable(getattr(model, "predict", None))):
        raise InvalidParameterError(
            f"set_model takes a PythonModel (an object with predict) or a function; got {type(model).__name__}.")
    _state.model = model


def model_config() -> dict[str, Any]:
    """The ``model_config`` of the model being loaded from code (empty outside a load)."""
    return dict(getattr(_state, "config", None) or {})


def run_model_file(file: str | Path, config: Mapping[str, Any] | None = None) -> Any:
    """Run a models-from-code file and return the model it passed to ``set_model``."""
    path = Path(file)
    if not path.is_file() or path.suffix != ".py":
        raise InvalidParameterError(f"'{path}' is not a Python file; models from code are .py files.")
    _state.model, _state.config = None, dict(config or {})
    _mlflow_set_model()  # forget a model MLflow's set_model kept from an earlier file: only this file counts
    name = f"mlnb_model_code_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ModelFormatError(f"Running the model's code '{path.name}' failed: {type(exc).__name__}: {exc}") from exc
    finally:
        _state.config = None
    model = _state.model or _mlflow_set_model()
    _state.model = None
    if model is None:
        raise ModelFormatError(
            f"'{path.name}' did not call mlnb.models.set_model(model); end the file with set_model(...).")
    return model


def _mlflow_set_model() -> Any:
    """A file written for MLflow calls ``mlflow.models.set_model``: read what it set, if MLflow ran it."""
    mod = sys.modules.get("mlflow.models.model")
    found = getattr(mod, "__mlflow_model__", None) if mod is not None else None
    if found is not None:
        mod.__mlflow_model__ = None
    return found


__all__ = ["set_model", "model_config", "run_model_file"]

"""What a flavor module is, and the ``log_model`` every flavor shares.

A flavor declares how it saves and loads (:class:`FlavorModule`); :func:`make_log_model` turns its
``save_model`` into its ``log_model``, written once here. Logging goes through the run logger the
tracking layer registers (:mod:`mlnb.hooks`), so no flavor imports tracking.
"""

from __future__ import annotations

import importlib
import inspect
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, TypeVar, runtime_checkable

from mlnb.hooks import run_logger


@runtime_checkable
class FlavorModule(Protocol):
    """The public contract of a flavor module (``mlnb.sklearn``, ``mlnb.xgboost``, ...).

    ``load_pyfunc`` is the public name of the pyfunc loader; modules also keep ``_load_pyfunc`` as
    the same function, because that private name is MLflow's loader-module entry point.
    """

    FLAVOR_NAME: str

    def save_model(self, model: Any, path: str | os.PathLike, **kwargs: Any) -> Any: ...

    def log_model(self, model: Any, name: str | None = None, **kwargs: Any) -> Any: ...

    def load_model(self, model_uri: str | os.PathLike, dst_path: str | None = None, **kwargs: Any) -> Any: ...

    def load_pyfunc(self, path: str, model_config: Mapping[str, Any] | None = None) -> Any: ...


class NativePyfunc:
    """The pyfunc face of a model whose own ``predict(data)`` is its prediction (LightGBM, CatBoost,
    statsmodels results...): what a flavor's ``load_pyfunc`` returns when it needs nothing more."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        return self.model.predict(data)

    def get_raw_model(self) -> Any:
        return self.model


_C = TypeVar("_C", bound="Closable")


class Closable:
    """A model face that holds a resource (a worker process, a server): ``close()`` frees it, and
    leaving a ``with`` block calls it."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def model_dir(path: str | os.PathLike) -> Path:
    """The model directory behind ``load_pyfunc``'s path: MLflow passes the flavor's ``data`` file
    when the pyfunc configuration names one, and the directory otherwise."""
    p = Path(path)
    return p.parent if p.is_file() else p


def pyfunc_flavor(path: str | os.PathLike, flavor_name: str) -> tuple[Path, dict[str, Any]]:
    """What ``load_pyfunc(path)`` reads: the model directory (:func:`model_dir`) and its MLmodel's
    ``flavor_name`` section."""
    from mlnb.models.mlmodel import Model

    directory = model_dir(path)
    return directory, Model.load(directory).flavor(flavor_name)


#: MLflow 3's keywords that describe the logged model rather than its files (the tracking layer
#: checks them; ``name``, ``artifact_path`` and ``registered_model_name`` come first in MLflow's order)
LOG_KEYWORDS = (
    inspect.Parameter("artifact_path", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="str | None"),
    inspect.Parameter("registered_model_name", inspect.Parameter.KEYWORD_ONLY, default=None,
                      annotation="str | None"),
    inspect.Parameter("await_registration_for", inspect.Parameter.KEYWORD_ONLY, default=300,
                      annotation="int | None"),
    inspect.Parameter("params", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="dict[str, Any] | None"),
    inspect.Parameter("tags", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="dict[str, Any] | None"),
    inspect.Parameter("model_type", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="str | None"),
    inspect.Parameter("step", inspect.Parameter.KEYWORD_ONLY, default=0, annotation="int"),
    inspect.Parameter("model_id", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="str | None"),
)
_NOT_FORWARDED = {"path", "mlmodel"}   # log_model chooses where the files go and what MLmodel records


def log_signature(save_model: Callable[..., Any]) -> inspect.Signature:
    """``log_model``'s signature for a flavor: the model argument under the flavor's own name, then
    ``name``, MLflow's logging keywords, and every keyword of ``save_model`` but the path."""
    saved = list(inspect.signature(save_model).parameters.values())
    model = saved[0].replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD)
    name = inspect.Parameter("name", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation="str | None")
    taken = {model.name, "name", *(p.name for p in LOG_KEYWORDS)}
    forwarded = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) if p.kind is not inspect.Parameter.VAR_KEYWORD else p
                 for p in saved[1:] if p.name not in _NOT_FORWARDED | taken]
    forwarded.sort(key=lambda p: p.kind is inspect.Parameter.VAR_KEYWORD)   # **kwargs last
    return inspect.Signature([model, name, *LOG_KEYWORDS, *forwarded], return_annotation="ModelInfo")


def make_log_model(save_model: Callable[..., Any], what: str = "model") -> Callable[..., Any]:
    """The ``log_model`` of the flavor whose ``save_model`` is given: it saves the model as a logged
    model of the active run (MLflow 3: its own id, ``models:/<model_id>``) and returns a ``ModelInfo``."""
    signature = log_signature(save_model)
    model_arg = next(iter(signature.parameters))
    var_keyword = next((p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.VAR_KEYWORD), None)

    def log_model(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        arguments = dict(bound.arguments)
        model = arguments.pop(model_arg)
        if var_keyword is not None:   # a save_model's own **kwargs
            arguments.update(arguments.pop(var_keyword, None) or {})
        return run_logger().log_model(save_model, model, **arguments)

    log_model.__signature__ = signature   # type: ignore[attr-defined]
    log_model.__module__ = save_model.__module__
    log_model.__qualname__ = log_model.__name__ = "log_model"
    log_model.__doc__ = (
        f"Save the {what} into the active run's artifacts as a logged model; returns a ``ModelInfo`` "
        f"whose ``model_uri`` is ``models:/<model_id>``.\n\nTakes ``{save_model.__name__}``'s keywords "
        f"(signature, input_example, pip_requirements, conda_env, metadata, ...) and MLflow's logging "
        f"keywords: name (or artifact_path), registered_model_name, await_registration_for, params, tags, "
        f"model_type, step.")
    return log_model


def make_autolog(flavor_module: str, integration: str, doc: str) -> Callable[..., Any]:
    """A flavor's ``autolog``: it imports the autolog ``integration`` module by name when called and
    calls its ``autolog`` with the same arguments. Autologging builds on the flavor (it logs models
    with it), never the reverse, so the flavor holds no import of it; ``doc`` becomes the docstring."""

    def autolog(*args: Any, **kwargs: Any) -> Any:
        return importlib.import_module(integration).autolog(*args, **kwargs)

    autolog.__module__ = flavor_module
    autolog.__doc__ = doc
    return autolog


__all__ = ["FlavorModule", "NativePyfunc", "Closable", "LOG_KEYWORDS", "log_signature", "make_log_model", "make_autolog",
           "model_dir", "pyfunc_flavor"]

"""The scikit-learn flavor: ``mlnb.sklearn.save_model / log_model / load_model / autolog``.

Files and MLmodel keys are MLflow's (``loader_module: mlflow.sklearn``), so MLflow loads these
models and mlnb loads MLflow's.

Trust policy
------------
* ``skops`` (the default): a skops file names every type it holds. On save, mlnb trusts the
  classes (never the functions) of scikit-learn, NumPy and SciPy and records them in MLmodel under
  ``skops_trusted_types`` (MLflow reads the same key). An estimator holding types from any other
  module is saved with cloudpickle instead when ``serialization_format`` was left at its default,
  with a warning saying so; asking for skops explicitly then requires ``skops_trusted_types``.
  On load, mlnb trusts a recorded type only if it comes from those libraries or the caller passes it
  in ``skops_trusted_types``; anything else is refused with an :class:`UntrustedTypesError`
  listing the types, because a skops file from elsewhere could name any of them.
* ``cloudpickle`` and ``pickle`` run code when loaded, as every pickle does. Load them only from
  sources you trust, as with MLflow.
"""

from __future__ import annotations

import importlib
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

from mlnb.errors import InvalidParameterError, ModelFormatError, UntrustedTypesError
from mlnb.models.layout import write_model
from mlnb.models.mlmodel import PYFUNC, Model

FLAVOR_NAME = "sklearn"
LOADER_MODULE = "mlflow.sklearn"
SERIALIZATION_FORMATS = ("skops", "cloudpickle", "pickle")
_FILES = {"skops": "model.skops", "cloudpickle": "model.pkl", "pickle": "model.pkl"}
#: Modules whose types a skops file may hold without the caller's consent.
TRUSTED_MODULES = ("sklearn", "numpy", "scipy")


def _trusted_by_policy(type_name: str) -> bool:
    """A name skops reports is trusted when it is a class of scikit-learn, NumPy or SciPy.

    Classes only: a function reference (``numpy.load``, ``builtins.exec``) stored in a
    hyperparameter would be called at predict time, so functions always need the caller's consent.
    """
    module, _, attr = type_name.rpartition(".")
    if module.split(".")[0] not in TRUSTED_MODULES:
        return False
    try:
        return isinstance(getattr(importlib.import_module(module), attr), type)
    except (ImportError, AttributeError, ValueError):
        return False


def _estimator_modules(model: Any) -> set[str]:
    """Modules of the estimator and every estimator nested in its params (pipelines, ensembles)."""
    modules = {type(model).__module__}
    seen = {id(model)}
    stack = [model]
    while stack:
        est = stack.pop()
        get_params = getattr(est, "get_params", None)
        if get_params is None:
            continue
        try:
            params = get_params(deep=False)
        except Exception:  # third-party estimators may not follow the contract fully
            continue
        for v in params.values():
            items = v if isinstance(v, (list, tuple)) else [v]
            for item in items:
                obj = item[-1] if isinstance(item, tuple) and item else item
                if hasattr(obj, "fit") and id(obj) not in seen:
                    seen.add(id(obj))
                    modules.add(type(obj).__module__)
                    stack.append(obj)
    return modules


def _skops_dump(model: Any, file: Path, trusted: Sequence[str] | None, explicit: bool) -> list[str] | None:
    """Write ``model`` with skops; return the trusted types, or None when skops cannot be used."""
    from mlnb.flavors._skops import skops_io

    sio = skops_io()

    data = sio.dumps(model)
    untrusted = sio.get_untrusted_types(data=data)
    extra = set(trusted or ())
    refused = [t for t in untrusted if not _trusted_by_policy(t) and t not in extra]
    if refused:
        if explicit:
            raise UntrustedTypesError(
                f"skops would need to trust types from outside scikit-learn, NumPy and SciPy: {refused}. "
                f"Pass skops_trusted_types={refused!r} if you trust them, or use "
                f"serialization_format='cloudpickle'."
            )
        return None
    file.write_bytes(data)
    return sorted(untrusted)


def save_model(
    sk_model: Any,
    path: str | os.PathLike,
    serialization_format: str | None = None,
    signature=None,
    input_example: Any = None,
    pip_requirements=None,
    extra_pip_requirements=None,
    metadata: dict | None = None,
    code_paths: Sequence[str] | None = None,
    pyfunc_predict_fn: str = "predict",
    skops_trusted_types: Sequence[str] | None = None,
    conda_env=None,
    extra_files=None,
    mlmodel: Model | None = None,
) -> Model:
    """Save a scikit-learn estimator as an MLflow-format model directory at ``path``.

    ``serialization_format`` is ``"skops"``, ``"cloudpickle"`` or ``"pickle"``; left at None, mlnb
    uses skops and falls back to cloudpickle (with a warning) for estimators holding types from
    outside scikit-learn, NumPy and SciPy. Returns the written :class:`~mlnb.models.Model`.
    """
    if serialization_format is not None and serialization_format not in SERIALIZATION_FORMATS:
        raise InvalidParameterError(
            f"Unknown serialization_format '{serialization_format}'; choose one of {SERIALIZATION_FORMATS}."
        )
    if not hasattr(sk_model, pyfunc_predict_fn):
        raise InvalidParameterError(
            f"{type(sk_model).__name__} has no method '{pyfunc_predict_fn}'; pass pyfunc_predict_fn= "
            f"naming one it has (predict, predict_proba, transform, ...)."
        )

    def write_payload(model_dir: Path, code: str | None):
        fmt = serialization_format or "skops"
        trusted = None
        if fmt == "skops":
            trusted = _skops_dump(sk_model, model_dir / _FILES["skops"], skops_trusted_types,
                                  explicit=serialization_format == "skops")
            if trusted is None:
                fmt = "cloudpickle"
                warnings.warn(
                    f"{type(sk_model).__name__} holds types from outside scikit-learn, NumPy and SciPy; "
                    f"saved with cloudpickle. Pass serialization_format='skops' with "
                    f"skops_trusted_types=[...] to use skops.",
                    stacklevel=4,
                )
        if fmt != "skops":
            if fmt == "cloudpickle":
                import cloudpickle as pickler
            else:
                import pickle as pickler
            with open(model_dir / _FILES[fmt], "wb") as f:
                pickler.dump(sk_model, f)
        import sklearn

        file = _FILES[fmt]
        flavor = {
            "pickled_model": file,
            "sklearn_version": sklearn.__version__,
            "serialization_format": fmt,
            "code": code,
        }
        if fmt == "skops":
            flavor["skops_trusted_types"] = trusted or None
        pyfunc = {"loader_module": LOADER_MODULE, "model_path": file, "predict_fn": pyfunc_predict_fn}
        if code:
            pyfunc["code"] = code
        modules = {"sklearn", "numpy", "scipy", "skops" if fmt == "skops" else fmt, *_estimator_modules(sk_model)}
        return {PYFUNC: pyfunc, FLAVOR_NAME: flavor}, modules

    predict = getattr(sk_model, pyfunc_predict_fn)
    return write_model(
        path, write_payload, mlmodel=mlmodel, signature=signature, input_example=input_example,
        predict=predict, pip_requirements=pip_requirements, extra_pip_requirements=extra_pip_requirements,
        metadata=metadata, code_paths=code_paths,
        conda_env=conda_env, extra_files=extra_files,
    )


def log_model(sk_model: Any, name: str | None = None, *, artifact_path: str | None = None,
              registered_model_name: str | None = None, **kwargs: Any):
    """Save the estimator into the active run's artifacts; returns a ``ModelInfo`` with ``model_uri``."""
    from mlnb.tracking.logged_models import log_model as _log

    return _log(save_model, sk_model, name=name, artifact_path=artifact_path,
                registered_model_name=registered_model_name, **kwargs)


def _read_estimator(model_dir: Path, conf: dict, skops_trusted_types: Sequence[str] | None = None) -> Any:
    file = model_dir / conf.get("pickled_model", "model.pkl")
    if not file.is_file():
        raise ModelFormatError(f"The sklearn flavor names '{file.name}', which is missing from '{model_dir}'.")
    fmt = conf.get("serialization_format") or "pickle"
    if fmt == "skops":
        from mlnb.flavors._skops import skops_io

        sio = skops_io()

        untrusted = sio.get_untrusted_types(file=file)
        consented = set(skops_trusted_types or ())
        refused = [t for t in untrusted if t not in consented and not _trusted_by_policy(t)]
        if refused:
            raise UntrustedTypesError(
                f"'{file}' holds types outside scikit-learn, NumPy and SciPy: {refused}. If you trust "
                f"where this model came from, load it with skops_trusted_types={refused!r}."
            )
        return sio.load(file, trusted=list(untrusted))
    if fmt in ("pickle", "cloudpickle"):
        import pickle

        if fmt == "cloudpickle":
            import cloudpickle  # noqa: F401  (registers reducers some cloudpickled objects need)
        with open(file, "rb") as f:
            return pickle.load(f)
    raise ModelFormatError(f"Unknown sklearn serialization_format '{fmt}' in '{model_dir}'.")


def load_model(model_uri: str | os.PathLike, dst_path: str | None = None,
               skops_trusted_types: Sequence[str] | None = None) -> Any:
    """Load the scikit-learn estimator of a model (path, ``runs:/``, ``s3://``, ...)."""
    from mlnb.models.reading import add_code_to_path, read_model

    path, mlmodel = read_model(model_uri, dst_path)
    conf = mlmodel.flavor(FLAVOR_NAME)
    add_code_to_path(path, conf.get("code"))
    return _read_estimator(path, conf, skops_trusted_types)


class _SklearnPyfunc:
    """The pyfunc face of an estimator: ``predict(data, params=None)`` and, as in MLflow, every
    other method of the estimator (``predict_proba``, ...) for the MLmodel's ``predict_fn``."""

    def __init__(self, model: Any) -> None:
        self.sklearn_model = model
        self._predict = model.predict if hasattr(model, "predict") else None

    def predict(self, data: Any, params: dict | None = None) -> Any:
        if self._predict is None:
            raise InvalidParameterError(f"{type(self.sklearn_model).__name__} has no predict method.")
        return self._predict(data)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        method = getattr(self.sklearn_model, name)

        def call(data: Any, params: dict | None = None) -> Any:
            return method(data)

        return call

    def get_raw_model(self) -> Any:
        return self.sklearn_model


def _load_pyfunc(path: str, model_config: dict | None = None) -> _SklearnPyfunc:
    p = Path(path)
    if p.is_file():  # MLflow passes the model file itself when the flavor has ``data``
        p = p.parent
    conf = Model.load(p).flavor(FLAVOR_NAME)
    return _SklearnPyfunc(_read_estimator(p, conf))


def autolog(*args: Any, **kwargs: Any):
    """Log every scikit-learn ``fit``: params, training metrics and the model. See ``mlnb.autolog``."""
    from mlnb.autologging.sklearn import autolog as _autolog

    return _autolog(*args, **kwargs)


__all__ = ["save_model", "log_model", "load_model", "autolog", "SERIALIZATION_FORMATS", "TRUSTED_MODULES"]

"""The XGBoost flavor: ``mlnb.xgboost.save_model / log_model / load_model``.

Files and MLmodel keys are MLflow's (``loader_module: mlflow.xgboost``; flavor keys ``data``,
``model_class``, ``model_format``, ``xgb_version``, ``code``), so MLflow loads these models and
mlnb loads MLflow's. The model is written with XGBoost's own ``save_model`` (UBJSON by default, or
JSON): data, not code, so loading runs no pickle. The class named by ``model_class`` is only
imported when it belongs to XGBoost.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Sequence

from mlnb.errors import InvalidParameterError, ModelFormatError, UntrustedTypesError
from mlnb.flavors.protocol import make_autolog, make_log_model, pyfunc_flavor
from mlnb.models.layout import CondaEnv, ExtraFiles, Requirements, SignatureArg, write_model
from mlnb.models.mlmodel import PYFUNC, Model

FLAVOR_NAME = "xgboost"
LOADER_MODULE = "mlflow.xgboost"
MODEL_FORMATS = ("ubj", "json")


def _class_name(model: Any) -> str:
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def save_model(
    xgb_model: Any,
    path: str | os.PathLike,
    model_format: str = "ubj",
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
    """Save an ``xgboost.Booster`` or a scikit-learn-style XGBoost model at ``path``.

    ``model_format`` is ``"ubj"`` (MLflow's default) or ``"json"``. Returns the written Model.
    """
    import xgboost

    if model_format not in MODEL_FORMATS:
        raise InvalidParameterError(f"Unknown model_format '{model_format}'; choose one of {MODEL_FORMATS}.")
    if not isinstance(xgb_model, (xgboost.Booster, xgboost.XGBModel)):
        raise InvalidParameterError(
            f"xgb_model must be an xgboost.Booster or an XGBoost scikit-learn model, got {type(xgb_model).__name__}."
        )

    def write_payload(model_dir: Path, code: str | None):
        file = f"model.{model_format}"
        xgb_model.save_model(str(model_dir / file))
        flavor = {
            "xgb_version": xgboost.__version__,
            "data": file,
            "model_class": _class_name(xgb_model),
            "model_format": model_format,
            "code": code,
        }
        pyfunc = {"loader_module": LOADER_MODULE, "data": file}
        if code:
            pyfunc["code"] = code
        modules = {"xgboost", "numpy", "scipy"}
        if isinstance(xgb_model, xgboost.XGBModel):
            modules.add("sklearn")
        return {PYFUNC: pyfunc, FLAVOR_NAME: flavor}, modules

    return write_model(
        path, write_payload, mlmodel=mlmodel, signature=signature, input_example=input_example,
        predict=_XGBPyfunc(xgb_model).predict, pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements, metadata=metadata, code_paths=code_paths,
        conda_env=conda_env, extra_files=extra_files,
    )


log_model = make_log_model(save_model, "model")


def _model_class(name: str, consent: Any):
    module, _, attr = name.rpartition(".")
    if module != "xgboost" and not module.startswith("xgboost.") and not consent.code:
        from mlnb.models.trust import CONSENT_CODE

        raise UntrustedTypesError(
            f"Refused to instantiate model_class '{name}', which is not an XGBoost class: mlnb "
            f"instantiates only XGBoost's own classes. If you trust this model, {CONSENT_CODE}."
        )
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        raise ModelFormatError(f"model_class '{name}' does not exist in the installed XGBoost.") from None


def _read_model(model_dir: Path, conf: dict, consent: Any = None) -> Any:
    from mlnb.models import trust

    consent = consent or trust.current()
    trust.add_code(model_dir, conf.get("code"), consent)
    file = trust.inside(model_dir, conf.get("data") or "model.ubj", "the xgboost flavor's data")
    if not file.is_file():
        raise ModelFormatError(f"The xgboost flavor names '{file.name}', which is missing from '{model_dir}'.")
    model = _model_class(str(conf.get("model_class") or "xgboost.core.Booster"), consent)()
    model.load_model(str(file))
    return model


def load_model(model_uri: str | os.PathLike, dst_path: str | None = None, *, trust_code: bool | None = None) -> Any:
    """Load the XGBoost model of a model (path, ``runs:/``, ``s3://``, ...). Its files are data;
    ``trust_code=True`` is needed only to honour a ``code/`` directory."""
    from mlnb.models.reading import read_model
    from mlnb.models.trust import resolve

    path, mlmodel = read_model(model_uri, dst_path)
    return _read_model(path, mlmodel.flavor(FLAVOR_NAME), resolve(trust_code))


class _XGBPyfunc:
    """The pyfunc face of an XGBoost model: a Booster predicts on a DMatrix built from the input."""

    def __init__(self, model: Any) -> None:
        self.xgb_model = model

    def predict(self, data: Any, params: dict | None = None) -> Any:
        import xgboost

        if isinstance(self.xgb_model, xgboost.Booster):
            return self.xgb_model.predict(xgboost.DMatrix(data), validate_features=True)
        return self.xgb_model.predict(data, validate_features=True)

    def get_raw_model(self) -> Any:
        return self.xgb_model


def load_pyfunc(path: str, model_config: dict | None = None) -> _XGBPyfunc:
    """Loader-module entry point: ``path`` is the model file (MLflow's ``data``) or its directory."""
    return _XGBPyfunc(_read_model(*pyfunc_flavor(path, FLAVOR_NAME)))


_load_pyfunc = load_pyfunc   # MLflow's loader-module entry point (the name MLflow calls)


#: The autolog integration behind :func:`autolog` (see :func:`mlnb.flavors.protocol.make_autolog`)
AUTOLOG_INTEGRATION = "mlnb.autologging.xgboost"
autolog = make_autolog(__name__, AUTOLOG_INTEGRATION, """\
    Log every XGBoost training: params, per-iteration evaluation metrics, feature importance and the
    model, under MLflow's names. See ``mlnb.autologging.xgboost.autolog``.""")


__all__ = ["save_model", "log_model", "load_model", "load_pyfunc", "autolog", "MODEL_FORMATS"]

"""The CatBoost flavor: ``mlnb.catboost.save_model / log_model / load_model``.

Files and MLmodel keys are MLflow's (``loader_module: mlflow.catboost``; the model in ``model.cb``,
flavor keys ``catboost_version``, ``model_type``, ``save_format``, ``data``, ``code``), so MLflow
loads these models and mlnb loads MLflow's.

Trust policy: the model is written with CatBoost's own ``save_model``, as ``cbm`` (CatBoost's binary
format, the default) or ``json``. Both are data, not code, so they load without consent; on load mlnb
instantiates ``model_type`` only if it is one of CatBoost's model classes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from mlnb.errors import InvalidParameterError, ModelFormatError
from mlnb.flavors.protocol import NativePyfunc, make_log_model, pyfunc_flavor
from mlnb.models.layout import CondaEnv, ExtraFiles, Requirements, SignatureArg, write_model
from mlnb.models.mlmodel import PYFUNC, Model

FLAVOR_NAME = "catboost"
LOADER_MODULE = "mlflow.catboost"
DATA_FILE = "model.cb"
#: the formats CatBoost loads back (its other exports, cpp, python, pmml..., are not models it reads)
SAVE_FORMATS = ("cbm", "json")
MODEL_TYPES = ("CatBoost", "CatBoostClassifier", "CatBoostRegressor", "CatBoostRanker")


def save_model(
    cb_model: Any,
    path: str | os.PathLike,
    signature: SignatureArg = None,
    input_example: Any = None,
    pip_requirements: Requirements = None,
    extra_pip_requirements: Requirements = None,
    metadata: dict | None = None,
    code_paths: Sequence[str] | None = None,
    conda_env: CondaEnv = None,
    extra_files: ExtraFiles = None,
    mlmodel: Model | None = None,
    **kwargs: Any,
) -> Model:
    """Save a CatBoost model (``CatBoostClassifier``, ``CatBoostRegressor``, ``CatBoostRanker`` or
    ``CatBoost``) at ``path``. ``kwargs`` go to CatBoost's ``save_model``, as in MLflow:
    ``format="cbm"`` (the default) or ``"json"``, ``export_parameters``, ``pool``. Returns the Model.
    """
    import catboost

    if not isinstance(cb_model, catboost.CatBoost):
        raise InvalidParameterError(
            f"cb_model must be a CatBoost model (CatBoostClassifier, CatBoostRegressor, CatBoostRanker, "
            f"CatBoost), got {type(cb_model).__name__}. Save other models with their own flavor.")
    save_format = kwargs.get("format", "cbm")
    if save_format not in SAVE_FORMATS:
        raise InvalidParameterError(
            f"format='{save_format}' is an export CatBoost cannot load back; save with format= one of "
            f"{SAVE_FORMATS}, and export other formats with CatBoost's own save_model.")
    model_type = type(cb_model).__name__
    if model_type not in MODEL_TYPES:
        raise InvalidParameterError(
            f"{model_type} is a subclass of CatBoost's models; save the CatBoost model it wraps "
            f"(one of {', '.join(MODEL_TYPES)}), so that it loads without running code.")

    def write_payload(model_dir: Path, code: str | None):
        cb_model.save_model(str(model_dir / DATA_FILE), **kwargs)
        flavor = {"catboost_version": catboost.__version__, "code": code, "model_type": model_type,
                  "save_format": save_format, "data": DATA_FILE}
        pyfunc = {"loader_module": LOADER_MODULE, "data": DATA_FILE}
        if code:
            pyfunc["code"] = code
        return {PYFUNC: pyfunc, FLAVOR_NAME: flavor}, {"catboost", "numpy", "pandas"}

    return write_model(
        path, write_payload, mlmodel=mlmodel, signature=signature, input_example=input_example,
        predict=cb_model.predict, pip_requirements=pip_requirements, extra_pip_requirements=extra_pip_requirements,
        metadata=metadata, code_paths=code_paths, conda_env=conda_env, extra_files=extra_files,
    )


log_model = make_log_model(save_model)


def _read_model(model_dir: Path, conf: dict, consent: Any = None) -> Any:
    from mlnb.models import trust

    consent = consent or trust.current()
    trust.add_code(model_dir, conf.get("code"), consent)
    file = trust.inside(model_dir, conf.get("data") or DATA_FILE, "the catboost flavor's data")
    model_type = str(conf.get("model_type") or "CatBoost")
    save_format = str(conf.get("save_format") or "cbm")
    if model_type not in MODEL_TYPES:
        raise ModelFormatError(f"model_type '{model_type}' in '{model_dir}' is not one of CatBoost's model "
                               f"classes ({', '.join(MODEL_TYPES)}).")
    if save_format not in SAVE_FORMATS:
        raise ModelFormatError(f"save_format '{save_format}' in '{model_dir}' is not a format CatBoost loads "
                               f"({', '.join(SAVE_FORMATS)}).")
    if not file.is_file():
        raise ModelFormatError(f"The catboost flavor names '{file.name}', which is missing from '{model_dir}'.")
    import catboost

    model = getattr(catboost, model_type)()
    try:
        return model.load_model(str(file), format=save_format)
    except catboost.CatBoostError as exc:
        raise ModelFormatError(
            f"CatBoost {catboost.__version__} cannot read '{file}': {exc}. A model saved by a newer "
            f"CatBoost needs that version (see the model's requirements.txt); otherwise the file is damaged.") from None


def load_model(model_uri: str | os.PathLike, dst_path: str | None = None, *, trust_code: bool | None = None) -> Any:
    """Load the CatBoost model of a model (path, ``runs:/``, ``s3://``, ...). Its file is data;
    ``trust_code=True`` is needed only to honour a ``code/`` directory."""
    from mlnb.models.reading import read_model
    from mlnb.models.trust import resolve

    path, mlmodel = read_model(model_uri, dst_path)
    return _read_model(path, mlmodel.flavor(FLAVOR_NAME), resolve(trust_code))


def load_pyfunc(path: str, model_config: dict | None = None) -> NativePyfunc:
    """Loader-module entry point: ``path`` is the model file (MLflow's ``data``) or its directory."""
    return NativePyfunc(_read_model(*pyfunc_flavor(path, FLAVOR_NAME)))


_load_pyfunc = load_pyfunc   # MLflow's loader-module entry point (the name MLflow calls)


__all__ = ["save_model", "log_model", "load_model", "load_pyfunc", "SAVE_FORMATS"]

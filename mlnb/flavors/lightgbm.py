"""The LightGBM flavor: ``mlnb.lightgbm.save_model / log_model / load_model``.

Files and MLmodel keys are MLflow's (``loader_module: mlflow.lightgbm``; flavor keys ``data``,
``lgb_version``, ``model_class``, ``serialization_format``, ``skops_trusted_types``, ``code``), so
MLflow loads these models and mlnb loads MLflow's.

Trust policy: a ``lightgbm.Booster`` is written in LightGBM's text format (``model.lgb``), data that
loads without any consent. A scikit-learn-API model (``LGBMClassifier``, ...) is written as the
sklearn flavor writes estimators: skops by default (LightGBM's classes are on mlnb's reviewed list),
or cloudpickle / pickle, which load only under the pickle policy (``mlnb.models.trust``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from mlnb.errors import InvalidParameterError, ModelFormatError
from mlnb.flavors.protocol import NativePyfunc, make_autolog, make_log_model, pyfunc_flavor
from mlnb.models.layout import CondaEnv, ExtraFiles, Requirements, SignatureArg, write_model
from mlnb.models.mlmodel import PYFUNC, Model

FLAVOR_NAME = "lightgbm"
LOADER_MODULE = "mlflow.lightgbm"
BOOSTER_CLASS = "lightgbm.basic.Booster"
BOOSTER_FILE = "model.lgb"
SKOPS_FILE = "model.skops"   # a scikit-learn-API model in skops, as MLflow's lightgbm flavor names it
#: what MLflow writes into MLmodel's skops_trusted_types (mlnb reads it, but trusts its own policy)
SKOPS_TYPES = ("lightgbm.sklearn.LGBMRegressor", "collections.OrderedDict", "lightgbm.sklearn.LGBMClassifier",
               BOOSTER_CLASS)


def _class_name(model: Any) -> str:
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def _write_plain_skops(lgb_model: Any, model_dir: Path) -> bool:
    """Write a LightGBM scikit-learn model with skops when skops finds in it nothing beyond what
    MLflow's lightgbm flavor trusts (:data:`SKOPS_TYPES`): one skops audit, as MLflow checks it, instead
    of mlnb's full policy at save time (loading still runs it). False, with nothing written, when the
    model holds anything else (a custom objective, ...): the sklearn flavor's policy then decides."""
    import skops.io

    data = skops.io.dumps(lgb_model)
    if not set(skops.io.get_untrusted_types(data=data)) <= set(SKOPS_TYPES):
        return False
    (model_dir / SKOPS_FILE).write_bytes(data)
    return True


def save_model(
    lgb_model: Any,
    path: str | os.PathLike,
    signature: SignatureArg = None,
    input_example: Any = None,
    pip_requirements: Requirements = None,
    extra_pip_requirements: Requirements = None,
    metadata: dict | None = None,
    code_paths: Sequence[str] | None = None,
    serialization_format: str | None = None,
    skops_trusted_types: Sequence[str] | None = None,
    conda_env: CondaEnv = None,
    extra_files: ExtraFiles = None,
    mlmodel: Model | None = None,
) -> Model:
    """Save a ``lightgbm.Booster`` or a LightGBM scikit-learn model (``LGBMClassifier``, ...) at ``path``.

    A Booster is written in LightGBM's text format; a scikit-learn model as ``serialization_format``
    says (``"skops"``, the default, ``"cloudpickle"`` or ``"pickle"``). Returns the written Model.
    """
    import lightgbm

    from mlnb.flavors.sklearn import SERIALIZATION_FORMATS, write_estimator

    if serialization_format is not None and serialization_format not in SERIALIZATION_FORMATS:
        raise InvalidParameterError(
            f"Unknown serialization_format '{serialization_format}'; choose one of {SERIALIZATION_FORMATS}.")
    is_booster = isinstance(lgb_model, lightgbm.Booster)
    if not is_booster and not isinstance(lgb_model, lightgbm.LGBMModel):
        raise InvalidParameterError(
            f"lgb_model must be a lightgbm.Booster or a LightGBM scikit-learn model (LGBMClassifier, "
            f"LGBMRegressor, LGBMRanker), got {type(lgb_model).__name__}. Save other models with their own flavor.")

    def write_payload(model_dir: Path, code: str | None):
        if is_booster:
            lgb_model.save_model(str(model_dir / BOOSTER_FILE))
            fmt, file = serialization_format or "skops", BOOSTER_FILE
        elif serialization_format in (None, "skops") and not skops_trusted_types \
                and _write_plain_skops(lgb_model, model_dir):
            fmt, file = "skops", SKOPS_FILE
        else:
            fmt, file, _ = write_estimator(lgb_model, model_dir, serialization_format, skops_trusted_types)
        flavor = {
            "lgb_version": lightgbm.__version__,
            "data": file,
            "model_class": _class_name(lgb_model),
            "code": code,
            "serialization_format": fmt,
            "skops_trusted_types": sorted({*SKOPS_TYPES, *(skops_trusted_types or ())}) if fmt == "skops" else None,
        }
        pyfunc = {"loader_module": LOADER_MODULE, "data": file}
        if code:
            pyfunc["code"] = code
        modules = {"lightgbm", "numpy", "scipy"}
        if not is_booster:
            modules |= {"sklearn", "skops" if fmt == "skops" else fmt}
        return {PYFUNC: pyfunc, FLAVOR_NAME: flavor}, modules

    return write_model(
        path, write_payload, mlmodel=mlmodel, signature=signature, input_example=input_example,
        predict=lgb_model.predict, pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements, metadata=metadata, code_paths=code_paths,
        conda_env=conda_env, extra_files=extra_files,
    )


log_model = make_log_model(save_model)


def _read_model(model_dir: Path, conf: dict, skops_trusted_types: Sequence[str] | None = None,
                consent: Any = None) -> Any:
    from mlnb.models import trust

    consent = consent or trust.current()
    model_class = str(conf.get("model_class") or BOOSTER_CLASS)
    data = conf.get("data") or BOOSTER_FILE
    if model_class != BOOSTER_CLASS:
        from mlnb.flavors.sklearn import read_estimator

        # MLflow reads a missing serialization_format as cloudpickle (models from before skops)
        return read_estimator(model_dir, data, conf.get("serialization_format") or "cloudpickle", conf.get("code"),
                              skops_trusted_types, consent, flavor=FLAVOR_NAME)
    trust.add_code(model_dir, conf.get("code"), consent)
    file = trust.inside(model_dir, data, "the lightgbm flavor's data")
    if not file.is_file():
        raise ModelFormatError(f"The lightgbm flavor names '{file.name}', which is missing from '{model_dir}'.")
    import lightgbm

    try:
        return lightgbm.Booster(model_file=str(file))
    except lightgbm.basic.LightGBMError as exc:
        raise ModelFormatError(
            f"LightGBM cannot read '{file}' ({exc}). The file is damaged or was written by a newer "
            f"LightGBM than {lightgbm.__version__}; upgrade LightGBM or save the model again.") from None


def load_model(model_uri: str | os.PathLike, dst_path: str | None = None,
               skops_trusted_types: Sequence[str] | None = None, *, trust_code: bool | None = None,
               allow_pickle: bool | None = None) -> Any:
    """Load the LightGBM model of a model (path, ``runs:/``, ``s3://``, ...): a Booster, or the
    scikit-learn model that was saved. ``trust_code`` / ``allow_pickle`` consent to code and pickles."""
    from mlnb.models.reading import read_model
    from mlnb.models.trust import resolve

    path, mlmodel = read_model(model_uri, dst_path)
    return _read_model(path, mlmodel.flavor(FLAVOR_NAME), skops_trusted_types, resolve(trust_code, allow_pickle))


def load_pyfunc(path: str, model_config: dict | None = None) -> NativePyfunc:
    """Loader-module entry point: ``path`` is the model file (MLflow's ``data``) or its directory."""
    return NativePyfunc(_read_model(*pyfunc_flavor(path, FLAVOR_NAME)))


_load_pyfunc = load_pyfunc   # MLflow's loader-module entry point (the name MLflow calls)


#: The autolog integration behind :func:`autolog` (see :func:`mlnb.flavors.protocol.make_autolog`)
AUTOLOG_INTEGRATION = "mlnb.autologging.lightgbm"
autolog = make_autolog(__name__, AUTOLOG_INTEGRATION, """\
    Log every LightGBM training: params, per-iteration evaluation metrics, feature importance and the
    model, under MLflow's names. See ``mlnb.autologging.lightgbm.autolog``.""")


__all__ = ["save_model", "log_model", "load_model", "load_pyfunc", "autolog"]

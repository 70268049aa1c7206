"""The scikit-learn flavor: ``mlnb.sklearn.save_model / log_model / load_model / autolog``.

Files and MLmodel keys are MLflow's (``loader_module: mlflow.sklearn``), so MLflow loads these
models and mlnb loads MLflow's.

Trust policy
------------
* ``skops`` (the default) runs no code: mlnb trusts what skops trusts by default plus a reviewed
  list of scikit-learn, NumPy and SciPy classes, each under its real name and only built the way
  skops writes it (``mlnb.flavors._skops``). MLmodel's ``skops_trusted_types`` records the types
  that passed; on load mlnb does not take the file's word for it. Other types need the caller's
  ``skops_trusted_types=[...]`` (or ``trust_code=True``). An estimator holding such types is saved
  with cloudpickle instead when ``serialization_format`` was left at its default, with a warning.
* ``cloudpickle`` and ``pickle`` run code when loaded: they follow ``allow_pickle`` /
  ``MLNB_ALLOW_PICKLE`` / MLflow's ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION`` (allowed when unset, as
  in MLflow). See ``mlnb.models.trust``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Sequence

from mlnb.errors import InvalidParameterError, ModelFormatError, UntrustedTypesError
from mlnb.flavors.protocol import make_autolog, make_log_model, pyfunc_flavor
from mlnb.models.layout import CondaEnv, ExtraFiles, Requirements, SignatureArg, pick_mlmodel, write_model
from mlnb.models.mlmodel import PYFUNC, Model
from mlnb.models.trust import Consent

FLAVOR_NAME = "sklearn"
LOADER_MODULE = "mlflow.sklearn"
SERIALIZATION_FORMATS = ("skops", "cloudpickle", "pickle")
_FILES = {"skops": "model.skops", "cloudpickle": "model.pkl", "pickle": "model.pkl"}


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
    """Write ``model`` with skops; return the types that passed the policy, or None when skops
    cannot be used (types the policy refuses, and the format was not asked for)."""
    import skops.io

    from mlnb.flavors._skops import Refused, trusted_types

    data = skops.io.dumps(model)
    try:
        passed = trusted_types(data, trusted or ())
    except Refused as exc:
        if explicit:
            raise UntrustedTypesError(
                f"skops would need to trust types mlnb's policy does not: {exc.types}. "
                f"Pass skops_trusted_types={exc.types!r} if you trust them, or use "
                f"serialization_format='cloudpickle'."
            ) from None
        return None
    file.write_bytes(data)
    return passed


def write_estimator(model: Any, model_dir: Path, serialization_format: str | None,
                    skops_trusted_types: Sequence[str] | None) -> tuple[str, str, list[str] | None]:
    """Write a scikit-learn-API model into ``model_dir`` in MLflow's sklearn formats; return the format
    used, the file name and, for skops, the types that passed the policy. Left at None, the format is
    skops, falling back to cloudpickle (with a warning) for types the policy does not trust."""
    fmt = serialization_format or "skops"
    trusted = None
    if fmt == "skops":
        trusted = _skops_dump(model, model_dir / _FILES["skops"], skops_trusted_types,
                              explicit=serialization_format == "skops")
        if trusted is None:
            fmt = "cloudpickle"
            warnings.warn(
                f"{type(model).__name__} holds types mlnb's skops policy does not trust; "
                f"saved with cloudpickle. Pass serialization_format='skops' with "
                f"skops_trusted_types=[...] to use skops.",
                stacklevel=5,
            )
    if fmt != "skops":
        if fmt == "cloudpickle":
            import cloudpickle as pickler
        else:
            import pickle as pickler
        with open(model_dir / _FILES[fmt], "wb") as f:
            pickler.dump(model, f)
    return fmt, _FILES[fmt], trusted


def save_model(
    sk_model: Any,
    path: str | os.PathLike,
    serialization_format: str | None = None,
    signature: SignatureArg = None,
    input_example: Any = None,
    pip_requirements: Requirements = None,
    extra_pip_requirements: Requirements = None,
    metadata: dict | None = None,
    code_paths: Sequence[str] | None = None,
    pyfunc_predict_fn: str = "predict",
    skops_trusted_types: Sequence[str] | None = None,
    conda_env: CondaEnv = None,
    extra_files: ExtraFiles = None,
    mlmodel: Model | None = None,
    mlflow_model: Model | None = None,
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
        fmt, file, trusted = write_estimator(sk_model, model_dir, serialization_format, skops_trusted_types)
        import sklearn

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
        path, write_payload, mlmodel=pick_mlmodel(mlmodel, mlflow_model), signature=signature, input_example=input_example,
        predict=predict, pip_requirements=pip_requirements, extra_pip_requirements=extra_pip_requirements,
        metadata=metadata, code_paths=code_paths,
        conda_env=conda_env, extra_files=extra_files,
    )


log_model = make_log_model(save_model, "estimator")


def _read_estimator(model_dir: Path, conf: dict, skops_trusted_types: Sequence[str] | None = None,
                    consent: Consent | None = None) -> Any:
    """Check the caller's consent for what the model holds, then deserialize the estimator."""
    return read_estimator(model_dir, conf.get("pickled_model") or "model.pkl",
                          conf.get("serialization_format") or "pickle", conf.get("code"),
                          skops_trusted_types, consent)


def read_estimator(model_dir: Path, file_name: str, fmt: str, code: str | None,
                   skops_trusted_types: Sequence[str] | None = None, consent: Consent | None = None,
                   flavor: str = FLAVOR_NAME) -> Any:
    """Read a scikit-learn-API model written by :func:`write_estimator` (or MLflow) under the trust
    policy: skops through mlnb's type policy, a pickle only with the caller's consent."""
    from mlnb.models import trust

    consent = consent or trust.current()
    file = trust.inside(model_dir, file_name, f"the {flavor} flavor's model file")
    if fmt not in SERIALIZATION_FORMATS:
        raise ModelFormatError(f"Unknown {flavor} serialization_format '{fmt}' in '{model_dir}'.")
    if fmt != "skops":
        trust.require_pickle(consent, f"'{file}' (serialization_format: {fmt})")
    trust.add_code(model_dir, code, consent, pickled=fmt != "skops")
    if not file.is_file():
        raise ModelFormatError(f"The {flavor} flavor names '{file.name}', which is missing from '{model_dir}'.")
    if fmt == "skops":
        import skops.io

        from mlnb.flavors._skops import Refused, trusted_types

        try:
            passed = trusted_types(file, skops_trusted_types or (), trust_all=consent.code)
        except Refused as exc:
            raise UntrustedTypesError(
                f"Refused to load '{file}': {exc}. If you trust this model, load it with "
                f"skops_trusted_types={exc.types!r} (mlnb.{flavor}.load_model), or {trust.CONSENT_CODE} "
                f"to trust every type it names."
            ) from None
        return skops.io.load(file, trusted=passed)
    import pickle

    if fmt == "cloudpickle":
        import cloudpickle  # noqa: F401  (registers reducers some cloudpickled objects need)
    with open(file, "rb") as f:
        return pickle.load(f)


def load_model(model_uri: str | os.PathLike, dst_path: str | None = None,
               skops_trusted_types: Sequence[str] | None = None, *, trust_code: bool | None = None,
               allow_pickle: bool | None = None) -> Any:
    """Load the scikit-learn estimator of a model (path, ``runs:/``, ``s3://``, ...).

    ``skops_trusted_types`` names types of a skops file to trust beyond mlnb's policy;
    ``trust_code`` and ``allow_pickle`` consent to code and pickles (see ``mlnb.models.trust``).
    """
    from mlnb.models.reading import read_model
    from mlnb.models.trust import resolve

    path, mlmodel = read_model(model_uri, dst_path)
    conf = mlmodel.flavor(FLAVOR_NAME)
    return _read_estimator(path, conf, skops_trusted_types, resolve(trust_code, allow_pickle))


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

    def validated_rows_predictor(self, columns: tuple[str, ...], predict_fn: str = "predict"):
        """The estimator's own ``predict_fn`` for float64 rows in the order of ``columns`` (see PyFuncModel).

        Declined (None) when the estimator was fitted on other column names, another order or
        another width, or when it may read more of a DataFrame than its values (``_reads_values_only``).
        """
        model = self.sklearn_model
        fitted_on = getattr(model, "feature_names_in_", None)
        if fitted_on is not None and tuple(map(str, fitted_on)) != tuple(columns):
            return None
        if getattr(model, "n_features_in_", len(columns)) != len(columns) or not _reads_values_only(model):
            return None
        return getattr(model, predict_fn, None)


#: scikit-learn modules whose estimators take from a DataFrame only its values, in column order
#: (after checking its column names): handed the same float64 values as an array, they answer the same.
_VALUES_ONLY_MODULES = tuple(f"sklearn.{name}." for name in (
    "linear_model", "tree", "ensemble._forest", "ensemble._gb", "svm", "neighbors", "naive_bayes",
    "discriminant_analysis", "preprocessing._data", "decomposition", "neural_network", "kernel_ridge"))


def _reads_values_only(estimator: Any) -> bool:
    """Whether ``estimator`` predicts the same on a float64 array as on a float64 DataFrame of those columns.

    Decided from its type, conservatively: an estimator from a scikit-learn module known to read only
    a DataFrame's values, or a Pipeline whose every step is one. Anything else may select columns by
    name or read dtypes (a ColumnTransformer, a FunctionTransformer, a subclass or another library's
    estimator), so it keeps getting the DataFrame.
    """
    from sklearn.pipeline import Pipeline

    if type(estimator) is Pipeline:
        return all(step is None or step == "passthrough" or _reads_values_only(step) for _, step in estimator.steps)
    return f"{type(estimator).__module__}.".startswith(_VALUES_ONLY_MODULES)


def load_pyfunc(path: str, model_config: dict | None = None) -> _SklearnPyfunc:
    """Loader-module entry point: ``path`` is the model file (MLflow's ``data``) or its directory."""
    return _SklearnPyfunc(_read_estimator(*pyfunc_flavor(path, FLAVOR_NAME)))


_load_pyfunc = load_pyfunc   # MLflow's loader-module entry point (the name MLflow calls)


#: The autolog integration behind :func:`autolog` (see :func:`mlnb.flavors.protocol.make_autolog`)
AUTOLOG_INTEGRATION = "mlnb.autologging.sklearn"
autolog = make_autolog(__name__, AUTOLOG_INTEGRATION, """\
    Log every scikit-learn ``fit``: params, training metrics and the model. See ``mlnb.autolog``.""")


def get_default_pip_requirements(include_cloudpickle: bool = False, include_skops: bool = False) -> list[str]:
    """The pinned scikit-learn this environment has, plus cloudpickle and skops when asked (MLflow's
    list for the sklearn flavor; a saved model's requirements.txt adds what its pickle names)."""
    from mlnb.models.environment import pinned

    return [pinned("scikit-learn"), *([pinned("cloudpickle")] if include_cloudpickle else []),
            *([pinned("skops")] if include_skops else [])]


def get_default_conda_env(include_cloudpickle: bool = False, include_skops: bool = False) -> dict:
    """conda.yaml's content for :func:`get_default_pip_requirements`."""
    from mlnb.models.environment import default_conda_env

    return default_conda_env(get_default_pip_requirements(include_cloudpickle, include_skops))


__all__ = ["save_model", "log_model", "load_model", "load_pyfunc", "autolog", "SERIALIZATION_FORMATS",
           "get_default_pip_requirements", "get_default_conda_env"]

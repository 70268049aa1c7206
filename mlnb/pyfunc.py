"""Any model as a generic predictor, and custom models written in Python.

``load_model(uri)`` returns a :class:`PyFuncModel` for a model of any flavor, mlnb's or MLflow's:
``predict(data, params=None)`` checks the input against the model's signature, then calls the
flavor's predictor. ``PythonModel`` is the base class of custom models; ``save_model`` writes one
with its artifacts and code, loadable by MLflow too (its ``loader_module`` is ``mlnb.pyfunc``).
"""

from __future__ import annotations

import importlib
import inspect
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from mlnb.errors import FlavorNotFoundError, InvalidParameterError, ModelFormatError
from mlnb.flavors import flavor_for_loader
from mlnb.models.layout import CondaEnv, Requirements, SignatureArg, pick_mlmodel, write_model
from mlnb.models.mlmodel import PYFUNC, Model
from mlnb.tracebacks import public

FLAVOR_NAME = PYFUNC
LOADER_MODULE = "mlnb.pyfunc"
PYTHON_MODEL_FILE = "python_model.pkl"
MODEL_CODE_KEY = "model_code_path"  # MLflow's key for models from code
ARTIFACTS_DIR = "artifacts"


class PythonModelContext:
    """What a custom model sees at load and predict time: its artifacts and its config."""

    def __init__(self, artifacts: Mapping[str, str] | None = None, model_config: Mapping[str, Any] | None = None):
        self._artifacts = dict(artifacts or {})
        self._model_config = dict(model_config or {})

    @property
    def artifacts(self) -> dict[str, str]:
        """Artifact name -> absolute local path inside the loaded model directory."""
        return self._artifacts

    @property
    def model_config(self) -> dict[str, Any]:
        return self._model_config


class PythonModel:
    """Base class of custom models: override ``predict`` and, if needed, ``load_context``."""

    def load_context(self, context: PythonModelContext) -> None:
        """Called once when the model is loaded: open artifacts here."""

    def predict(self, context: PythonModelContext, model_input: Any, params: dict | None = None) -> Any:
        raise NotImplementedError("A PythonModel must implement predict(self, context, model_input, params=None).")


def _accepts(fn, name: str) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    return name in sig.parameters or any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())


class _FunctionModel:
    """A plain function given to ``set_model``, as a model: ``predict(model_input)`` calls it."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.predict = fn


class _PythonModelPredictor:
    """Adapts a PythonModel (mlnb's or MLflow's) to ``predict(data, params=None)``.

    When ``predict`` hints its input as a ``list[...]`` (``model_input: list[str]``), the input is
    turned into that list and checked against the hint, as MLflow does (``hinted`` is then True).
    """

    def __init__(self, python_model: Any, context: PythonModelContext) -> None:
        from mlnb.models.type_hints import input_hint

        if not hasattr(python_model, "predict") and callable(python_model):
            python_model = _FunctionModel(python_model)
        self.python_model = python_model
        self.context = context
        fn = python_model.predict
        params = list(inspect.signature(fn).parameters) if callable(fn) else []
        self._with_context = bool(params) and params[0] == "context"
        self._with_params = _accepts(fn, "params")
        self._hint = input_hint(fn)
        self.hinted = self._hint is not None

    def _args(self, data: Any) -> tuple:
        if self._hint is not None:
            from mlnb.models.type_hints import to_hinted_input

            data = to_hinted_input(data, self._hint)
        return (self.context, data) if self._with_context else (data,)

    def predict(self, data: Any, params: dict | None = None) -> Any:
        args = self._args(data)
        if self._with_params:
            return self.python_model.predict(*args, params=params)
        return self.python_model.predict(*args)

    @property
    def streamable(self) -> bool:
        return _is_streamable(self.python_model)

    def predict_stream(self, data: Any, params: dict | None = None):
        fn = self.python_model.predict_stream
        args = self._args(data)
        return fn(*args, params=params) if _accepts(fn, "params") else fn(*args)


class PyFuncModel:
    """A loaded model of any flavor behind one interface."""

    def __init__(self, model_meta: Model, model_impl: Any, model_dir: Path | None = None,
                 predict_fn: str = "predict") -> None:
        self._meta = model_meta
        self._impl = model_impl
        self._dir = model_dir
        self._predict_fn = predict_fn
        self._predict = getattr(model_impl, predict_fn, None)
        if not callable(self._predict):
            raise ModelFormatError(
                f"The model's predict_fn '{predict_fn}' is not a method of its {type(model_impl).__name__} "
                f"predictor. Fix predict_fn in the python_function flavor of MLmodel."
            )
        self._takes_params = _accepts(self._predict, "params")
        sig = model_meta.get_signature()
        # a model whose predict hints its input converts and checks it itself (MLflow's rule)
        self._input_schema = sig.inputs if sig and not getattr(model_impl, "hinted", False) else None
        self._param_schema = sig.params if sig else None

    @property
    def metadata(self) -> Model:
        """The model's MLmodel manifest."""
        return self._meta

    @property
    def loader_module(self) -> str:
        return (self._meta.pyfunc_conf or {}).get("loader_module", "")

    @property
    def model_dir(self) -> Path | None:
        return self._dir

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Predict on ``data`` after checking it against the signature (casting where safe)."""
        if self._input_schema is not None:
            from mlnb.models.signature import enforce_schema

            data = enforce_schema(data, self._input_schema)
        if params is not None or self._param_schema is not None:
            from mlnb.models.signature import enforce_params

            params = enforce_params(params, self._param_schema)
        if self._takes_params:
            return self._predict(data, params=params)
        return self._predict(data)

    def validated_rows_predictor(self, columns: Sequence[str]):
        """A function predicting straight on float64 rows already checked against the signature, or None.

        For callers (the scoring server) that read input straight into a 2-d float64 array whose
        columns are ``columns``, in order. When the signature is exactly those double columns and has
        no params, such an array passes ``predict``'s checks unchanged, and a flavor whose predictor
        offers ``validated_rows_predictor(columns, predict_fn)`` may hand back its library's own
        predict, skipping a DataFrame the library would only turn back into the same array.
        Otherwise (or when the flavor declines) None: use ``predict``.
        """
        schema = self._input_schema
        if schema is None or self._param_schema is not None or schema.is_tensor_spec() or not schema.has_input_names():
            return None
        if tuple(schema.input_names()) != tuple(columns) or any(
                s.type != "double" or not s.required for s in schema.inputs):
            return None
        offer = getattr(type(self._impl), "validated_rows_predictor", None)
        return offer(self._impl, tuple(columns), self._predict_fn) if callable(offer) else None
    def predict_stream(self, data: Any, params: Mapping[str, Any] | None = None):
        """An iterator over the model's streamed answer (custom models that define ``predict_stream``)."""
        if not getattr(self._impl, "streamable", False):
            raise InvalidParameterError(
                "This model does not stream: its predict_stream is not defined (MLmodel says "
                "streamable: false). Use predict().")
        if self._input_schema is not None:
            from mlnb.models.signature import enforce_schema

            data = enforce_schema(data, self._input_schema)
        if params is not None or self._param_schema is not None:
            from mlnb.models.signature import enforce_params

            params = enforce_params(params, self._param_schema)
        return self._impl.predict_stream(data, params=params)

    def get_raw_model(self) -> Any:
        """The flavor's native model (an estimator, a torch module, ...)."""
        impl = self._impl
        for attr in ("get_raw_model",):
            if hasattr(impl, attr):
                return getattr(impl, attr)()
        if isinstance(impl, _PythonModelPredictor):
            return impl.python_model
        return impl

    def unwrap_python_model(self) -> Any:
        """The custom :class:`PythonModel` instance of a custom model."""
        python_model = getattr(self._impl, "python_model", None)  # mlnb's predictor and MLflow's wrapper
        if python_model is None:
            raise InvalidParameterError("unwrap_python_model() is for custom PythonModel models; use get_raw_model().")
        return python_model

    def __repr__(self) -> str:
        meta = self._meta
        lines = [f"mlnb.pyfunc.PyFuncModel (loader {self.loader_module})"]
        if meta.run_id:
            lines.append(f"  run_id: {meta.run_id}")
        flavors = ", ".join(f for f in meta.flavors if f != PYFUNC)
        if flavors:
            lines.append(f"  flavor: {flavors}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from mlnb.cards import model_card_html

        return model_card_html(self)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        """The model card, as HTML and as text (what a saved notebook shows without a kernel)."""
        from mlnb.cards import model_card_text

        return {"text/plain": model_card_text(self), "text/html": self._repr_html_()}


# -- loading ---------------------------------------------------------------------------------
#: MLflow's own loaders of custom models (models defined in code, chat models and agents): mlnb
#: hands such models to them, as a code-running format (allowed unless pickles are disallowed).
MLFLOW_CUSTOM_LOADERS = ("mlflow.pyfunc.loaders.code_model", "mlflow.pyfunc.loaders.chat_model",
                         "mlflow.pyfunc.loaders.chat_agent", "mlflow.pyfunc.loaders.responses_agent")


def _loader_for(loader_module: str, model_dir: Path, conf: Mapping[str, Any], consent):
    """The function that loads this model's pyfunc face: a registered flavor's ``load_pyfunc``, or the
    ``_load_pyfunc`` of MLflow's loader of custom models or (with the caller's trust in the model's
    code) of any importable module."""
    from mlnb.models import trust

    flavor = flavor_for_loader(loader_module)
    if flavor is not None:
        return flavor.pyfunc_loader()
    if loader_module in MLFLOW_CUSTOM_LOADERS:
        trust.require_pickle(consent, f"'{model_dir}', a custom MLflow model loaded by '{loader_module}' (its "
                                      f"Python code or pickle runs)")
        trust.add_code(model_dir, conf.get("code"), consent, pickled=True)
    else:
        trust.require_code(consent, f"import the model's loader module '{loader_module}', which is not a "
                                    f"registered mlnb flavor")
        trust.add_code(model_dir, conf.get("code"), consent)
    try:
        return importlib.import_module(loader_module)._load_pyfunc
    except ImportError as exc:
        raise FlavorNotFoundError(
            f"The model's loader module '{loader_module}' is neither an mlnb flavor nor importable "
            f"({exc}). Install the library that provides it."
        ) from None


@public
def load_model(model_uri: str | os.PathLike, dst_path: str | None = None,
               model_config: Mapping[str, Any] | None = None, *, trust_code: bool | None = None,
               allow_pickle: bool | None = None) -> PyFuncModel:
    """Load any model (path, ``file://``, ``runs:/``, ``s3://``) as a :class:`PyFuncModel`.

    Code in a model runs only with consent: ``trust_code=True`` (its ``code/``, a loader module
    that is not a registered flavor) and ``allow_pickle`` (pickled models; default: MLflow's
    ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION``, allowed when unset). See ``mlnb.models.trust``.
    """
    from mlnb.models import trust
    from mlnb.models.reading import read_model

    path, meta = read_model(model_uri, dst_path)
    conf = meta.pyfunc_conf
    if conf is None:
        raise FlavorNotFoundError(
            f"Model '{model_uri}' has no python_function flavor (it has: {', '.join(meta.flavors)}); "
            f"load it with its own flavor's load_model."
        )
    consent = trust.resolve(trust_code, allow_pickle)
    data_path = trust.inside(path, conf["data"], "the python_function flavor's data") if conf.get("data") else path
    loader = _loader_for(conf["loader_module"], path, conf, consent)
    config = {**(conf.get("config") or {}), **(model_config or {})}
    with trust.granted(consent):
        impl = loader(str(data_path), config) if config else loader(str(data_path))
    return PyFuncModel(meta, impl, path, conf.get("predict_fn", "predict"))


def _load_pyfunc(path: str, model_config: Mapping[str, Any] | None = None) -> _PythonModelPredictor:
    """Loader-module entry point for custom models (mlnb's and MLflow's ``mlflow.pyfunc.model``).

    Also MLflow's way into mlnb (``loader_module: mlnb.pyfunc``): without mlnb's consent arguments
    it follows the environment, so ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false`` refuses the pickle.
    """
    from mlnb.models import trust

    consent = trust.current()
    model_dir = Path(path)
    meta = Model.load(model_dir)
    conf = meta.pyfunc_conf or {}
    file = trust.inside(model_dir, conf.get("python_model") or PYTHON_MODEL_FILE, "the custom model's python_model")
    if file.suffix == ".py":
        trust.require_pickle(consent, f"'{file}', the Python file that defines this model (running it runs its code)")
    else:
        trust.require_pickle(consent, f"'{file}' (a custom model, pickled with cloudpickle)")
    trust.add_code(model_dir, conf.get("code"), consent, pickled=True)
    if not file.is_file():
        raise ModelFormatError(f"Custom model file '{file}' is missing.")
    if file.suffix == ".py":
        if not conf.get(MODEL_CODE_KEY):  # written by MLflow 2's own loader
            return _load_model_from_code(model_dir, file, model_config)
        from mlnb.models.code import run_model_file  # mlnb's models from code: running the file is running code

        python_model = run_model_file(file, {**(conf.get("config") or {}), **(model_config or {})})
    else:
        import cloudpickle  # noqa: F401  (custom models are cloudpickled)
        import pickle

        with open(file, "rb") as f:
            python_model = pickle.load(f)
    artifacts = {
        name: str(trust.inside(model_dir, entry["path"] if isinstance(entry, Mapping) else entry, f"artifact '{name}'"))
        for name, entry in (conf.get("artifacts") or {}).items()
    }
    config = {**(conf.get("config") or {}), **(model_config or {})}
    context = PythonModelContext(artifacts, config)
    if hasattr(python_model, "load_context"):
        python_model.load_context(context)
    return _PythonModelPredictor(python_model, context)


def _load_model_from_code(model_dir: Path, file: Path, model_config: Mapping[str, Any] | None):
    """MLflow's "models from code" (``python_model: model.py``): the file runs MLflow's
    ``set_model`` to build the model, so only MLflow's own loader can load it."""
    try:
        loader = importlib.import_module("mlflow.pyfunc.model")
    except ImportError:
        from mlnb.errors import MissingDependencyError

        raise MissingDependencyError(
            f"'{model_dir}' is an MLflow model defined in code ('{file.name}'), which needs MLflow "
            f"to load. Install it with: pip install mlflow"
        ) from None
    return loader._load_pyfunc(str(model_dir), model_config) if model_config else loader._load_pyfunc(str(model_dir))


# -- saving ----------------------------------------------------------------------------------
def _copy_artifacts(artifacts: Mapping[str, str], model_dir: Path) -> dict[str, dict[str, str]]:
    from mlnb.models.uri import local_path

    out = {}
    dest = model_dir / ARTIFACTS_DIR
    for name, uri in artifacts.items():
        if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
            raise InvalidParameterError(f"Artifact name {name!r} must be a non-empty name without '/'.")
        src = local_path(uri)
        dest.mkdir(exist_ok=True)
        target = dest / src.name
        if target.exists():
            target = dest / f"{name}-{src.name}"
        if src.is_dir():
            shutil.copytree(src, target)
        else:
            shutil.copy2(src, target)
        out[name] = {"path": f"{ARTIFACTS_DIR}/{target.name}", "uri": str(uri)}
    return out


def _is_streamable(python_model: Any) -> bool:
    """True when the model defines its own ``predict_stream`` (MLflow's base class has a stub)."""
    method = getattr(type(python_model), "predict_stream", None)
    return callable(method) and not method.__qualname__.startswith("PythonModel.")


def save_model(
    path: str | os.PathLike,
    python_model: Any = None,
    artifacts: Mapping[str, str] | None = None,
    code_paths: Sequence[str] | None = None,
    model_config: Mapping[str, Any] | None = None,
    signature: SignatureArg = None,
    input_example: Any = None,
    pip_requirements: Requirements = None,
    extra_pip_requirements: Requirements = None,
    metadata: Mapping[str, Any] | None = None,
    conda_env: CondaEnv = None,
    infer_code_paths: bool = False,
    streamable: bool | None = None,
    mlmodel: Model | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Save a custom :class:`PythonModel` (or a models-from-code file) with its artifacts and code.

    ``python_model`` is a PythonModel instance, or the path of a ``.py`` file that ends with
    ``mlnb.models.set_model(model)`` (models from code: the file is copied, nothing is pickled).
    ``infer_code_paths=True`` copies the local modules the model uses into ``code/``. When
    ``predict`` hints its input (``model_input: list[str]``), the signature comes from the hints.
    """
    import cloudpickle

    from mlnb.models import environment
    from mlnb.models.type_hints import signature_from_hints

    code_file = None
    if isinstance(python_model, (str, os.PathLike)):
        from mlnb.models.code import run_model_file

        code_file = Path(python_model).absolute()
        python_model = run_model_file(code_file, model_config)
    if callable(python_model) and not hasattr(python_model, "predict"):
        python_model = _FunctionModel(python_model)
    if python_model is None or not callable(getattr(python_model, "predict", None)):
        raise InvalidParameterError("python_model must be an object with a predict(context, model_input) method, "
                                    "or the path of a models-from-code .py file.")
    if artifacts is not None and not isinstance(artifacts, Mapping):
        raise InvalidParameterError("artifacts must be a dict of name -> path or URI.")
    if infer_code_paths and code_paths:
        raise InvalidParameterError("Pass code_paths or infer_code_paths=True, not both.")
    to_pickle = python_model.fn if isinstance(python_model, _FunctionModel) else python_model
    pickled = None  # pickled inside the save (after the target is checked), unless code must be found first
    if infer_code_paths and code_file is None:
        pickled = cloudpickle.dumps(to_pickle)
        code_paths = environment.local_module_sources(environment.pickled_modules(pickled))
    mlmodel = pick_mlmodel(mlmodel, mlflow_model) or Model()
    if signature is None:
        signature = signature_from_hints(python_model.predict)
        if signature is not None:
            mlmodel.extra["is_signature_from_type_hint"] = True

    def write_payload(model_dir: Path, code: str | None):
        conf: dict[str, Any] = {"loader_module": LOADER_MODULE}
        if code_file is not None:
            shutil.copy2(code_file, model_dir / code_file.name)
            conf["python_model"] = code_file.name
            conf[MODEL_CODE_KEY] = str(code_file)
            modules = {"mlnb"}
        else:
            data = pickled if pickled is not None else cloudpickle.dumps(to_pickle)
            (model_dir / PYTHON_MODEL_FILE).write_bytes(data)
            conf["python_model"] = PYTHON_MODEL_FILE
            modules = {"mlnb", "cloudpickle", type(python_model).__module__, *environment.pickled_modules(data)}
        conf["cloudpickle_version"] = cloudpickle.__version__
        conf["streamable"] = _is_streamable(python_model) if streamable is None else bool(streamable)
        if artifacts:
            conf["artifacts"] = _copy_artifacts(artifacts, model_dir)
        if code:
            conf["code"] = code
        if model_config:
            conf["config"] = dict(model_config)
        return {PYFUNC: conf}, modules

    def predict(example):
        ctx = PythonModelContext(
            {k: str(_local_path(v)) for k, v in (artifacts or {}).items()}, model_config)
        if hasattr(python_model, "load_context"):
            python_model.load_context(ctx)
        return _PythonModelPredictor(python_model, ctx).predict(example)

    return write_model(
        path, write_payload, mlmodel=mlmodel, signature=signature, input_example=input_example,
        predict=predict, pip_requirements=pip_requirements, extra_pip_requirements=extra_pip_requirements,
        metadata=metadata, code_paths=code_paths, conda_env=conda_env,
    )


def _local_path(uri: str) -> Path:
    from mlnb.models.uri import local_path

    return local_path(uri)


def log_model(name: str | None = None, *, python_model: Any = None, artifact_path: str | None = None,
              registered_model_name: str | None = None, **kwargs: Any):
    """Save a custom model into the active run; returns a ``ModelInfo`` with ``model_uri``."""
    from mlnb.hooks import run_logger

    def save(model, path, **kw):
        return save_model(path, python_model=model, **kw)

    return run_logger().log_model(save, python_model, name=name, artifact_path=artifact_path,
                                  registered_model_name=registered_model_name, **kwargs)


def get_model_dependencies(model_uri: str, format: str = "pip") -> str:
    """The local path of a model's requirements file (``format="pip"``: requirements.txt) or
    conda environment (``format="conda"``: conda.yaml), downloading the model if it is remote."""
    from mlnb.models import environment
    from mlnb.models.reading import read_model

    if format not in ("pip", "conda"):
        raise InvalidParameterError(f"format must be 'pip' or 'conda', got {format!r}.")
    path, meta = read_model(model_uri)
    env = (meta.pyfunc_conf or {}).get("env") or {}
    name = env.get("conda", environment.CONDA_FILE) if format == "conda" else environment.REQUIREMENTS_FILE
    file = path / name
    if not file.is_file():
        raise ModelFormatError(f"Model '{model_uri}' has no {name}; it was saved without its environment.")
    return str(file)


def get_default_pip_requirements() -> list[str]:
    """The pinned cloudpickle this environment has: what a PythonModel needs beyond what it
    imports (MLflow's list; a saved model's requirements.txt adds the modules its pickle names)."""
    from mlnb.models.environment import pinned

    return [pinned("cloudpickle")]


def get_default_conda_env() -> dict:
    """conda.yaml's content for :func:`get_default_pip_requirements`."""
    from mlnb.models.environment import default_conda_env

    return default_conda_env(get_default_pip_requirements())


if TYPE_CHECKING:  # for IDEs and type checkers; at run time __getattr__ below imports it on first use
    from mlnb.spark_udf import spark_udf


def __getattr__(name: str) -> Any:
    """``mlnb.pyfunc.spark_udf`` (MLflow's name) lives in :mod:`mlnb.spark_udf`, which builds on this
    module and on serving (restored environments); naming it here lazily keeps pyfunc below both."""
    if name == "spark_udf":
        import importlib

        return importlib.import_module("mlnb.spark_udf").spark_udf
    raise AttributeError(f"module 'mlnb.pyfunc' has no attribute {name!r}")


__all__ = ["PyFuncModel", "PythonModel", "PythonModelContext", "load_model", "save_model", "log_model",
           "get_model_dependencies", "get_default_pip_requirements", "get_default_conda_env", "spark_udf"]

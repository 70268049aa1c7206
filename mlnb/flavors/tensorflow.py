"""The TensorFlow flavor: ``mlnb.tensorflow.save_model / log_model / load_model / autolog``.

Files and MLmodel keys are MLflow's (``mlflow.tensorflow``), for both kinds of model it holds:

* a ``tf.Module`` (``model_type: tf2-module``): ``tf.saved_model.save`` writes a SavedModel into
  ``tf2model/``; the flavor section holds ``saved_model_dir``;
* a Keras model on the TensorFlow backend (``model_type: keras``): Keras' own ``model.save`` writes
  ``data/model.keras`` beside ``data/keras_module.txt`` and ``data/save_format.txt``; the flavor
  section holds ``data``, ``keras_version`` (TensorFlow's version, as MLflow writes it) and
  ``save_format``.

pyfunc's ``loader_module`` is ``mlflow.tensorflow``, so MLflow loads these models and mlnb loads
MLflow's (its older ``tf1-estimator`` SavedModels too). A module's pyfunc calls the module on arrays
as MLflow's does, and feeds DataFrames and dicts of arrays to its serving signature.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from mlnb.errors import InvalidParameterError, ModelFormatError
from mlnb.flavors.protocol import make_autolog, make_log_model, model_dir
from mlnb.models.layout import CondaEnv, ExtraFiles, Requirements, SignatureArg, write_model
from mlnb.models.mlmodel import PYFUNC, Model

FLAVOR_NAME = "tensorflow"
LOADER_MODULE = "mlflow.tensorflow"
MODEL_TYPE_KERAS = "keras"
MODEL_TYPE_MODULE = "tf2-module"
MODEL_TYPE_TF1 = "tf1-estimator"
KERAS_DATA_DIR = "data"
KERAS_MODEL_STEM = "model"         # data/model.keras (data/model.h5 in older MLflow models)
KERAS_MODULE_FILE = "keras_module.txt"
SAVE_FORMAT_FILE = "save_format.txt"
SAVED_MODEL_DIR = "tf2model"
SERVING = "serving_default"


def _tensorflow():
    from mlnb.errors import require

    return require("tensorflow", "tensorflow", "The 'tensorflow' flavor")


def save_model(
    model: Any,
    path: str | os.PathLike,
    signature: SignatureArg = None,
    input_example: Any = None,
    pip_requirements: Requirements = None,
    extra_pip_requirements: Requirements = None,
    saved_model_kwargs: dict | None = None,
    keras_model_kwargs: dict | None = None,
    metadata: dict | None = None,
    code_paths: Sequence[str] | None = None,
    conda_env: CondaEnv = None,
    extra_files: ExtraFiles = None,
    mlmodel: Model | None = None,
) -> Model:
    """Save a ``tf.Module`` (as a SavedModel) or a Keras model on the TensorFlow backend (as a
    ``.keras`` file) at ``path``.

    ``saved_model_kwargs`` go to ``tf.saved_model.save`` (e.g. ``signatures=``), ``keras_model_kwargs``
    to ``model.save``. Without a signature or an input example, a module's signature is read from its
    serving signature (tensor specs), so MLflow's pyfunc accepts DataFrames for it too.
    Returns the written Model.
    """
    tf = _tensorflow()
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(model, keras.Model):
        if keras.backend.backend() != "tensorflow":
            raise InvalidParameterError(
                f"This Keras model runs on the '{keras.backend.backend()}' backend; the tensorflow flavor holds "
                f"TensorFlow models. Save it with mlnb.keras.save_model, or set KERAS_BACKEND=tensorflow "
                f"before Keras is first imported and build the model again."
            )
        payload = _keras_payload(tf, model, keras_model_kwargs)
        predict = _KerasOnTensorflow(model).predict
    elif isinstance(model, tf.Module):
        payload = _module_payload(tf, model, saved_model_kwargs)
        predict = None
    else:
        raise InvalidParameterError(
            f"The tensorflow flavor saves a tf.Module or a Keras model on the TensorFlow backend, got "
            f"{type(model).__module__}.{type(model).__name__}. Use the flavor of that model's library."
        )

    mlmodel = mlmodel if mlmodel is not None else Model()

    def write_payload(directory: Path, code: str | None):
        flavor, pyfunc, modules = payload(directory)
        if signature is None and input_example is None and flavor["model_type"] == MODEL_TYPE_MODULE:
            found = serving_signature(directory / SAVED_MODEL_DIR)
            if found is not None:
                mlmodel.set_signature(found)
        pyfunc = {"loader_module": LOADER_MODULE, **({"code": code} if code else {}), **pyfunc}
        return ({PYFUNC: pyfunc,
                 FLAVOR_NAME: {"code": code, **flavor}}, modules)

    return write_model(
        path, write_payload, mlmodel=mlmodel, signature=signature, input_example=input_example,
        predict=predict, pip_requirements=pip_requirements, extra_pip_requirements=extra_pip_requirements,
        metadata=metadata, code_paths=code_paths, conda_env=conda_env, extra_files=extra_files,
    )


def _keras_payload(tf, model: Any, keras_model_kwargs: dict | None):
    def write(directory: Path):
        data = directory / KERAS_DATA_DIR
        data.mkdir()
        (data / KERAS_MODULE_FILE).write_text("tensorflow.keras", encoding="utf-8")
        (data / SAVE_FORMAT_FILE).write_text("tf", encoding="utf-8")
        model.save(str(data / f"{KERAS_MODEL_STEM}.keras"), **(keras_model_kwargs or {}))
        flavor = {"data": KERAS_DATA_DIR, "model_type": MODEL_TYPE_KERAS, "keras_version": tf.__version__,
                  "save_format": "tf"}
        return flavor, {"data": KERAS_DATA_DIR}, {"tensorflow", "keras", "numpy"}

    return write


def _module_payload(tf, model: Any, saved_model_kwargs: dict | None):
    def write(directory: Path):
        tf.saved_model.save(model, str(directory / SAVED_MODEL_DIR), **(saved_model_kwargs or {}))
        return {"saved_model_dir": SAVED_MODEL_DIR, "model_type": MODEL_TYPE_MODULE}, {}, {"tensorflow", "numpy"}

    return write


log_model = make_log_model(save_model, "TensorFlow module or Keras model")


# -- signatures of a SavedModel ---------------------------------------------------------------
def saved_signatures(saved_model_dir: Path) -> dict[str, Any]:
    """The SavedModel's signature defs by key, read from ``saved_model.pb`` without loading it."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString((saved_model_dir / "saved_model.pb").read_bytes())
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"'{saved_model_dir}' holds no readable SavedModel ({exc}).") from exc
    return dict(proto.meta_graphs[0].signature_def) if proto.meta_graphs else {}


def serving_signature(saved_model_dir: Path):
    """A tensor signature from the SavedModel's serving signature, or None when it has none. A lone
    input or output is unnamed, so a DataFrame feeds it as one array (in MLflow's pyfunc too)."""
    import numpy as np
    import tensorflow as tf

    from mlnb.models.signature import ModelSignature, Schema, TensorSpec

    found = saved_signatures(saved_model_dir).get(SERVING)
    if found is None:
        return None

    def schema(infos) -> Schema:
        specs = []
        for name, info in sorted(infos.items()):
            dims = tuple(-1 if d.size < 0 else int(d.size) for d in info.tensor_shape.dim)
            specs.append(TensorSpec(np.dtype(tf.dtypes.as_dtype(info.dtype).as_numpy_dtype), dims,
                                    name if len(infos) > 1 else None))
        return Schema(specs)

    return ModelSignature(inputs=schema(found.inputs), outputs=schema(found.outputs))


def _no_serving_signature(saved_model_dir: Path, available: list[str]) -> ModelFormatError:
    return ModelFormatError(
        f"The SavedModel in '{saved_model_dir}' has no serving signature ('{SERVING}') and is not callable, so "
        f"its pyfunc cannot predict. Its signatures: {available or 'none'}. Save the module with "
        f"saved_model_kwargs={{'signatures': {{'{SERVING}': module.<fn>.get_concrete_function(...)}}}}, or give "
        f"its __call__ an input_signature, or load it with mlnb.tensorflow.load_model and call a signature."
    )


# -- loading ------------------------------------------------------------------------------------
def _model_type(conf: Mapping[str, Any]) -> str:
    found = conf.get("model_type")
    if found in (MODEL_TYPE_KERAS, MODEL_TYPE_MODULE, MODEL_TYPE_TF1):
        return found
    if found is None:   # MLflow before 2.x wrote no model_type: Keras models came with keras_version
        return MODEL_TYPE_KERAS if "keras_version" in conf else MODEL_TYPE_TF1
    raise ModelFormatError(f"Unknown tensorflow model_type '{found}'; mlnb reads keras, tf2-module and tf1-estimator.")


def _read_model(path: Path, conf: Mapping[str, Any], keras_model_kwargs: dict | None = None,
                saved_model_kwargs: dict | None = None, consent: Any = None) -> Any:
    from mlnb.models import trust

    consent = consent or trust.current()
    trust.add_code(path, conf.get("code"), consent)
    kind = _model_type(conf)
    if kind == MODEL_TYPE_KERAS:
        from mlnb.flavors.keras import read_keras_file

        data = trust.inside(path, conf.get("data") or KERAS_DATA_DIR, "the tensorflow flavor's data")
        if (data / "custom_objects.cloudpickle").exists() or (data / "global_custom_objects.cloudpickle").exists():
            trust.require_code(consent, "unpickle the Keras custom objects MLflow saved with this model")
        file = next((data / f"{KERAS_MODEL_STEM}{ext}" for ext in (".keras", ".h5")
                     if (data / f"{KERAS_MODEL_STEM}{ext}").is_file()), None)
        if file is None:
            raise ModelFormatError(
                f"'{data}' holds no model.keras or model.h5: a Keras model saved as a SavedModel by TensorFlow "
                f"before 2.16, which Keras 3 cannot read. Load it where tf-keras is installed.")
        kwargs = dict(keras_model_kwargs or {})
        custom = kwargs.pop("custom_objects", None) or _pickled_custom_objects(data, consent)
        return read_keras_file(file, "tensorflow", custom, kwargs, consent)
    _tensorflow()
    import tensorflow as tf

    saved = trust.inside(path, conf.get("saved_model_dir") or SAVED_MODEL_DIR, "the tensorflow flavor's SavedModel")
    if not (saved / "saved_model.pb").is_file():
        raise ModelFormatError(f"The tensorflow flavor names '{saved.relative_to(path)}', which holds no "
                               f"saved_model.pb in '{path}'.")
    kwargs = dict(saved_model_kwargs or {})
    if kind == MODEL_TYPE_TF1:
        kwargs.setdefault("tags", conf.get("meta_graph_tags"))
    try:
        return tf.saved_model.load(str(saved), **kwargs)
    except (ValueError, OSError, tf.errors.OpError) as exc:
        raise ModelFormatError(f"'{saved}' is not a readable SavedModel ({type(exc).__name__}: "
                               f"{str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}).") from exc


def _pickled_custom_objects(data: Path, consent: Any) -> dict | None:
    """Custom objects MLflow cloudpickled beside the model (only read with the caller's consent)."""
    found: dict = {}
    for name in ("global_custom_objects.cloudpickle", "custom_objects.cloudpickle"):
        if (data / name).is_file() and consent.code:
            import cloudpickle

            found.update(cloudpickle.loads((data / name).read_bytes()))
    return found or None


def load_model(model_uri: str | os.PathLike, dst_path: str | None = None, saved_model_kwargs: dict | None = None,
               keras_model_kwargs: dict | None = None, *, trust_code: bool | None = None) -> Any:
    """Load the native model: the Keras model, or the restored SavedModel of a module (call it, or its
    ``signatures``). ``keras_model_kwargs`` go to ``keras.saving.load_model`` (safe mode unless
    ``trust_code=True``), ``saved_model_kwargs`` to ``tf.saved_model.load``."""
    from mlnb.models.reading import read_model
    from mlnb.models.trust import resolve

    path, mlmodel = read_model(model_uri, dst_path)
    return _read_model(path, mlmodel.flavor(FLAVOR_NAME), keras_model_kwargs, saved_model_kwargs, resolve(trust_code))


# -- pyfunc ---------------------------------------------------------------------------------------
class _KerasOnTensorflow:
    """The pyfunc face of a Keras model, as MLflow's (see :class:`mlnb.flavors.keras.KerasPyfunc`)."""

    def __init__(self, model: Any) -> None:
        from mlnb.flavors.keras import KerasPyfunc

        self._face = KerasPyfunc(model)
        self.keras_model = model

    def predict(self, data: Any, params: dict | None = None) -> Any:
        return self._face.predict(data, params)

    def get_raw_model(self) -> Any:
        return self.keras_model


class SavedModelPyfunc:
    """The pyfunc face of a SavedModel: arrays and lists go to the module's ``__call__`` (as in
    MLflow), or to its serving signature when it has a single input; a dict of arrays feeds the
    serving signature's inputs by name and gives a dict of arrays; a DataFrame whose columns name the
    signature's inputs feeds them column by column and gives a DataFrame, any other DataFrame is
    one array."""

    def __init__(self, model: Any, saved_model_dir: Path, signature_key: str = SERVING) -> None:
        self.model = model
        self.signature_key = signature_key
        self.signature = model.signatures.get(signature_key) if hasattr(model, "signatures") else None
        if self.signature is None and not callable(model):
            raise _no_serving_signature(saved_model_dir, sorted(getattr(model, "signatures", {}) or {}))
        self._dir = saved_model_dir

    def get_raw_model(self) -> Any:
        return self.model

    def _inputs(self) -> list[str]:
        return sorted(self.signature.structured_input_signature[1]) if self.signature is not None else []

    def _by_signature(self, feed: dict) -> dict:
        import tensorflow as tf

        if self.signature is None:
            raise InvalidParameterError(
                f"A dict or named columns feed the SavedModel's serving signature ('{SERVING}'), which this "
                f"model lacks; its signatures: {sorted(self.model.signatures) or 'none'}. Pass one array instead.")
        missing = sorted(set(self._inputs()) - set(feed))
        if missing:
            raise InvalidParameterError(f"The serving signature takes inputs {self._inputs()}; missing: {missing}.")
        out = self.signature(**{k: tf.convert_to_tensor(feed[k]) for k in self._inputs()})
        return {k: v.numpy() for k, v in out.items()}

    def _call(self, array: Any) -> Any:
        import tensorflow as tf

        if callable(self.model):
            out = self.model(tf.convert_to_tensor(array))
            return out.numpy() if hasattr(out, "numpy") else out
        inputs = self._inputs()
        if len(inputs) != 1:
            raise InvalidParameterError(
                f"The serving signature takes several inputs {inputs}: pass a dict of arrays or a DataFrame "
                f"with those columns.")
        out = self._by_signature({inputs[0]: array})
        return next(iter(out.values())) if len(out) == 1 else out

    def predict(self, data: Any, params: dict | None = None) -> Any:
        import numpy as np
        import pandas as pd

        try:
            if isinstance(data, dict):
                return self._by_signature(data)
            if isinstance(data, pd.DataFrame):
                inputs = self._inputs()
                if len(inputs) > 1 and set(inputs) <= set(data.columns):
                    out = self._by_signature({k: np.asarray(data[k].to_list()) for k in inputs})
                    return pd.DataFrame({k: v.ravel() if v.ndim == 2 and v.shape[1] == 1 else list(v)
                                         for k, v in out.items()}, index=data.index)
                return self._call(data.to_numpy())
            if isinstance(data, (np.ndarray, list)):
                return self._call(data)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, InvalidParameterError):
                raise
            raise InvalidParameterError(
                f"The SavedModel refused the input ({type(exc).__name__}: "
                f"{str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}). It expects "
                f"{self.signature.structured_input_signature[1] if self.signature is not None else 'what its __call__ takes'}."
            ) from None
        raise InvalidParameterError(
            f"A TensorFlow module predicts on a numpy array, a list, a dict of arrays or a DataFrame, got "
            f"{type(data).__name__}.")


def load_pyfunc(path: str, model_config: Mapping[str, Any] | None = None) -> Any:
    p = model_dir(path)
    if not (p / "MLmodel").is_file() and (p.parent / "MLmodel").is_file():   # MLflow's ``data`` path
        p = p.parent
    conf = Model.load(p).flavor(FLAVOR_NAME)
    model = _read_model(p, conf)
    if _model_type(conf) == MODEL_TYPE_KERAS:
        return _KerasOnTensorflow(model)
    key = conf.get("signature_def_key") or SERVING
    return SavedModelPyfunc(model, p / (conf.get("saved_model_dir") or SAVED_MODEL_DIR), key)


_load_pyfunc = load_pyfunc   # MLflow's loader-module entry point (the name MLflow calls)


#: The autolog integration behind :func:`autolog` (see :func:`mlnb.flavors.protocol.make_autolog`)
AUTOLOG_INTEGRATION = "mlnb.autologging.tensorflow"
autolog = make_autolog(__name__, AUTOLOG_INTEGRATION, """\
    Log every Keras ``fit`` on the TensorFlow backend: params, the per-epoch history and the model,
    under MLflow's ``mlflow.tensorflow.autolog`` names. See ``mlnb.autologging.tensorflow.autolog``.""")


__all__ = ["save_model", "log_model", "load_model", "load_pyfunc", "autolog", "serving_signature",
           "saved_signatures", "SavedModelPyfunc"]

"""Keras autologging, for both of MLflow's integrations that train Keras models: ``mlnb.keras.autolog()``
(MLflow's ``mlflow.keras.autolog``, any backend) and ``mlnb.tensorflow.autolog()`` (MLflow's
``mlflow.tensorflow.autolog``, the TensorFlow backend).

One patch of ``keras.Model.fit`` serves both; a fit logs under the tensorflow integration's names when
that one is on and the model runs on TensorFlow, under the keras integration's names otherwise:

* params: ``fit``'s arguments (``batch_size``, ``epochs``, ``shuffle``, ...; not the data, callbacks
  or verbosity) and the optimizer's config, as ``optimizer_<key>`` (keras) or ``opt_<key>``
  (tensorflow); with an ``EarlyStopping`` callback (tensorflow) its ``monitor``, ``patience``, ...;
* metrics: each epoch's ``fit`` history (``loss``, ``val_loss``, compiled metrics) at step = epoch,
  the last evaluation as ``validation_<name>`` (keras), ``stopped_epoch`` and ``restored_epoch``
  after early stopping (tensorflow);
* ``model_summary.txt`` and the model, logged with the flavor of the integration.

Lifecycle as the scikit-learn integration's (:mod:`mlnb.autologging.session`): only the outermost
fit logs, an active run is reused, a run autolog started ends FINISHED, FAILED or KILLED,
``disable=True`` restores ``fit``, and a failure to log is one warning while the training goes on.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass, field
from typing import Any

from mlnb.autologging import lifecycle, patching
from mlnb.autologging.checkpoints import check_options
from mlnb.autologging.datasets import check_log_datasets, log_training_dataset
from mlnb.autologging.options import CheckpointOptions, Options, extra_tags_dict
from mlnb.autologging.session import FitRun
from mlnb.errors import InvalidParameterError

PATCH = "keras.Model.fit"   # the patch both integrations share
UNLOGGED = ("self", "x", "y", "callbacks", "validation_data", "verbose")
#: versions autolog is tested with, [low, high)
TESTED = {"keras": ("3.0.0", "3.16.0"), "tensorflow": ("2.16.0", "2.22.0")}
OPTIMIZER_PREFIX = {"keras": "optimizer_", "tensorflow": "opt_"}


@dataclass(frozen=True, kw_only=True)
class Config(CheckpointOptions, Options):
    log_every_epoch: bool = True
    log_every_n_steps: int | None = None
    log_model_signatures: bool = True
    log_input_examples: bool = False
    model_kwargs: dict = field(default_factory=dict)   # save_model_kwargs / keras_model_kwargs
    checkpoint: bool = False   # tensorflow's autolog turns it on; MLflow's keras autolog writes no checkpoints


_configs: dict[str, Config] = {}
_options: dict[str, dict[str, Any]] = {}


def enable(integration: str, options: dict[str, Any]) -> None:
    """``mlnb.keras.autolog(**options)`` or ``mlnb.tensorflow.autolog(**options)``: turn the
    integration on with MLflow's options, or off with ``disable=True``."""
    import importlib

    options = dict(options)
    disable = options.pop("disable", False)
    _configs.pop(integration, None)
    _options.pop(integration, None)
    if disable:
        if not _configs:
            patching.unpatch(PATCH)
        return
    extra_tags = extra_tags_dict(options.pop("extra_tags", None))
    check_log_datasets(options.get("log_datasets"), integration)
    check_options(options.get("checkpoint", False), options.get("checkpoint_mode", "min"),
                  options.get("checkpoint_save_best_only", True), options.get("checkpoint_save_freq", "epoch"))
    if not options.get("log_every_epoch", True) and options.get("log_every_n_steps") is None:
        raise InvalidParameterError("log_every_n_steps must be set when log_every_epoch=False.")
    model_kwargs = options.pop("save_model_kwargs", None) or options.pop("keras_model_kwargs", None) or {}
    options.pop("save_model_kwargs", None), options.pop("keras_model_kwargs", None)
    options.pop("save_exported_model", None)
    cfg = Config(**options, model_kwargs=dict(model_kwargs), extra_tags=extra_tags)
    patching.set_silent(integration, cfg.silent)
    library = importlib.import_module(integration)
    if not _tested(integration, library.__version__):
        patching.warn(integration, f"{integration} {library.__version__} is outside the versions autolog is tested "
                                   f"with ({TESTED[integration][0]} to before {TESTED[integration][1]}); "
                                   + ("autolog stays off." if cfg.disable_for_unsupported_versions
                                      else "it may miss some values."))
        if cfg.disable_for_unsupported_versions:
            return
    _configs[integration] = cfg
    import keras

    if not patching.is_patched(PATCH):
        original = keras.Model.fit

        def fit(self, *args, **kwargs):
            return _fit_hook(self, original, args, kwargs)

        fit.__mlnb_original__ = original
        fit.__name__, fit.__qualname__, fit.__doc__ = original.__name__, original.__qualname__, original.__doc__
        patching.replace_attribute(PATCH, keras.Model, "fit", fit)


def config(integration: str) -> dict[str, Any] | None:
    """The options ``integration``'s autolog is on with, or None when it is off."""
    cfg = _configs.get(integration)
    if cfg is None:
        return None
    found = asdict(cfg)
    if integration == "keras":
        found = {k: v for k, v in found.items() if not k.startswith("checkpoint")}
    key = "save_model_kwargs" if integration == "keras" else "keras_model_kwargs"
    found[key] = found.pop("model_kwargs") or None
    return found


def _tested(integration: str, version: str) -> bool:
    def parts(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in (v.split("+")[0].split(".") + ["0", "0"])[:3] if p.isdigit())

    low, high = TESTED[integration]
    return parts(low) <= parts(version) < parts(high)


def _integration_for(model: Any) -> str | None:
    """Which integration logs this fit: tensorflow's for a TensorFlow-backed model when it is on."""
    if "tensorflow" in _configs:
        import keras

        if keras.backend.backend() == "tensorflow":
            return "tensorflow"
    return "keras" if "keras" in _configs else None


# -- the hook ------------------------------------------------------------------------------------
def _fit_hook(model: Any, original, args: tuple, kwargs: dict) -> Any:
    st = patching.state
    integration = _integration_for(model)
    if st.depth or st.busy or integration is None or patching.is_suspended():
        return patching.call_nested(lambda *a, **k: original(model, *a, **k), args, kwargs)
    cfg = _configs[integration]
    st.depth = 1
    try:
        with patching.one_warning(integration):
            run = patching.guard(integration, "start a run", FitRun.open, integration, model, cfg.exclusive,
                                 cfg.extra_tags)
            if run is None:
                return original(model, *args, **kwargs)
            bound = patching.guard(integration, "read fit's arguments", _bound, original, model, args, kwargs)
            early = None
            if bound is not None:
                patching.guard(integration, "read the params", _add_params, integration, run, model, bound)
                early = patching.guard(integration, "read the early stopping", _early_stopping, integration, run, bound)
                if cfg.log_datasets is not False:
                    patching.guard(integration, "log the datasets", _log_datasets, run, bound)
                wired = patching.guard(integration, "follow the training history", _with_recorder,
                                       integration, cfg, run, args, kwargs, bound)
                if wired is not None:
                    args, kwargs = wired
            history = lifecycle.training(integration, run, lambda *a, **k: original(model, *a, **k), args, kwargs)
            if early is not None:
                patching.guard(integration, "log the early stopping", _early_stopping_metrics, run, early, history)
            patching.guard(integration, "write the model summary", _add_summary, run, model)
            if cfg.log_models:
                x = bound.arguments.get("x") if bound is not None else None
                patching.guard(integration, "log the model", _log_model, integration, cfg, run, model, x)
            lifecycle.end(integration, run, "FINISHED")
            return history
    finally:
        st.depth = 0


def _bound(original, model: Any, args: tuple, kwargs: dict) -> inspect.BoundArguments:
    bound = inspect.signature(original).bind(model, *args, **kwargs)
    bound.apply_defaults()
    return bound


def _add_params(integration: str, run: FitRun, model: Any, bound: inspect.BoundArguments) -> None:
    params = {k: v for k, v in bound.arguments.items() if k not in UNLOGGED and k != "kwargs"}
    if params.get("batch_size") is None:
        data = bound.arguments.get("x")
        size = getattr(data, "batch_size", None) or getattr(data, "_batch_size", None)
        if size is not None:
            params["batch_size"] = size if isinstance(size, int) else int(size.numpy())
    run.add_params(params)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        run.add_params({f"{OPTIMIZER_PREFIX[integration]}{k}": v for k, v in optimizer.get_config().items()})


def _early_stopping(integration: str, run: FitRun, bound: inspect.BoundArguments) -> Any:
    """The fit's ``EarlyStopping`` callback (tensorflow integration), its settings logged as params."""
    if integration != "tensorflow":
        return None
    import keras

    found = next((c for c in bound.arguments.get("callbacks") or () if isinstance(c, keras.callbacks.EarlyStopping)), None)
    if found is not None:
        run.add_params({"monitor": found.monitor, "min_delta": found.min_delta, "patience": found.patience,
                        "baseline": found.baseline, "restore_best_weights": found.restore_best_weights})
    return found


def _log_datasets(run: FitRun, bound: inspect.BoundArguments) -> None:
    """``fit``'s ``x`` and ``y`` as the run's ``train`` input, and a ``validation_data=(x, y)`` as its
    ``eval`` input, as MLflow logs them (arrays and DataFrames; a ``tf.data`` pipeline is not logged)."""
    import numpy as np

    def loggable(data: Any) -> bool:
        return isinstance(data, np.ndarray) or hasattr(data, "iloc")

    x = bound.arguments.get("x")
    if loggable(x):
        log_training_dataset(x, bound.arguments.get("y"), run.run_id)
    validation = bound.arguments.get("validation_data")
    if isinstance(validation, tuple) and len(validation) >= 2 and loggable(validation[0]):
        log_training_dataset(validation[0], validation[1], run.run_id, context="eval")


def _early_stopping_metrics(run: FitRun, callback: Any, history: Any) -> None:
    if not callback.model.stop_training:
        return
    run.add_metrics({"stopped_epoch": callback.stopped_epoch})
    monitored = history.history.get(callback.monitor)
    if not callback.restore_best_weights or callback.best_weights is None or not monitored:
        return
    restored = history.epoch[0] + monitored.index(callback.best)
    run.add_metrics({"restored_epoch": restored})
    index = history.epoch.index(restored)
    run.add_metrics_at({k: v[index] for k, v in history.history.items()}, callback.stopped_epoch + 1)


def _with_recorder(integration: str, cfg: Config, run: FitRun, args: tuple, kwargs: dict,
                   bound: inspect.BoundArguments) -> tuple[tuple, dict]:
    callbacks = [*(bound.arguments.get("callbacks") or ()), _recorder_class()(integration, cfg, run)]
    where = list(bound.signature.parameters).index("callbacks") - 1   # bound includes self
    if len(args) > where:
        return (*args[:where], callbacks, *args[where + 1:]), kwargs
    return args, {**kwargs, "callbacks": callbacks}


_RECORDER: type | None = None


def _recorder_class() -> type:
    global _RECORDER
    if _RECORDER is None:
        import keras

        class Recorder(keras.callbacks.Callback):
            """Hands each epoch's (or every n-th step's) logs to the run."""

            def __init__(self, integration: str, cfg: Config, run: FitRun) -> None:
                super().__init__()
                self.integration, self.cfg, self.run = integration, cfg, run
                self.checkpoints = cfg.checkpoints(".h5") if cfg.checkpoint else None
                self.epoch, self.batches, self.last_batch, self.last_saved = 0, 0, 0, 0

            def on_epoch_begin(self, epoch, logs=None):
                self.epoch = epoch

            def on_epoch_end(self, epoch, logs=None):
                if self.cfg.log_every_epoch and logs:
                    self.run.add_metrics_at({k: float(v) for k, v in logs.items()}, epoch)
                if self.checkpoints is not None and self.cfg.checkpoint_save_freq == "epoch":
                    self.checkpoint(logs)

            def on_train_batch_end(self, batch, logs=None):
                n = self.cfg.log_every_n_steps
                if n and logs:
                    step = int(self.model.optimizer.iterations.numpy())
                    if step % n == 0:
                        self.run.add_metrics_at({k: float(v) for k, v in logs.items()}, step)
                # batches seen so far (batch restarts at 0 each epoch; with steps_per_execution it jumps)
                self.batches += batch + 1 if batch <= self.last_batch else batch - self.last_batch
                self.last_batch = batch
                freq = self.cfg.checkpoint_save_freq
                if self.checkpoints is not None and freq != "epoch" and self.batches - self.last_saved >= freq:
                    self.checkpoint(logs)
                    self.last_saved = self.batches

            def checkpoint(self, logs) -> None:
                def write(path: str) -> None:
                    import warnings

                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")   # Keras calls .h5 a legacy format
                        if self.cfg.checkpoint_save_weights_only:
                            self.model.save_weights(path, overwrite=True)
                        else:
                            self.model.save(path, overwrite=True)

                patching.guard(self.integration, "log a checkpoint", self.checkpoints.save, self.run,
                               {k: float(v) for k, v in (logs or {}).items()}, self.epoch, self.batches, write)

            def on_test_end(self, logs=None):
                if logs:   # each evaluation, at step 0 as MLflow logs them
                    self.run.add_metrics_at({f"validation_{k}": float(v) for k, v in logs.items()}, 0)

        _RECORDER = Recorder
    return _RECORDER


def _add_summary(run: FitRun, model: Any) -> None:
    lines: list[str] = []
    model.summary(print_fn=lambda line, *a, **k: lines.append(line))
    run.add_file("model_summary.txt", "\n".join(lines).encode())


def _log_model(integration: str, cfg: Config, run: FitRun, model: Any, x: Any) -> None:
    import importlib

    import numpy as np

    example = None
    if isinstance(x, np.ndarray) or hasattr(x, "iloc"):
        example = x[:5] if isinstance(x, np.ndarray) else x.iloc[:5]
    signature = False
    if cfg.log_model_signatures and example is not None:
        from mlnb.models.signature import infer_signature

        head = example if isinstance(example, np.ndarray) else example.to_numpy()
        signature = infer_signature(head, np.asarray(model.predict(head, verbose=0)))
    flavor = importlib.import_module(f"mlnb.flavors.{integration}")
    key = "save_model_kwargs" if integration == "keras" else "keras_model_kwargs"
    info = flavor.log_model(model, name=run.artifact_name("model"), signature=signature,
                            input_example=example if cfg.log_input_examples else None,
                            registered_model_name=cfg.registered_model_name, **{key: cfg.model_kwargs or None})
    run.model_uri = f"runs:/{info.run_id}/{info.artifact_path}"





INTEGRATION = "keras"


def autolog(
    log_every_epoch: bool = True,
    log_every_n_steps: int | None = None,
    log_models: bool = True,
    log_model_signatures: bool = True,
    save_exported_model: bool = False,
    log_datasets: bool | None = None,
    log_input_examples: bool = False,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    save_model_kwargs: dict | None = None,
    extra_tags: dict[str, Any] | None = None,
) -> None:
    """Log every Keras ``fit`` (any backend) under MLflow's ``mlflow.keras.autolog`` names. MLflow's
    options; ``save_exported_model=True`` is refused (mlnb writes the portable ``.keras`` file)."""
    if save_exported_model and not disable:
        raise InvalidParameterError("mlnb logs Keras models in the native .keras format; save_exported_model=True "
                                    "is not supported.")
    options = dict(locals())
    options.pop("save_exported_model")
    enable(INTEGRATION, options)


def autolog_config() -> dict[str, Any] | None:
    """The options autologging is on with (``autolog``'s keyword arguments), or None when it is off."""
    return config(INTEGRATION)
__all__ = ["autolog", "autolog_config", "enable", "config", "Config", "PATCH", "INTEGRATION"]

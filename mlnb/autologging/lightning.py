"""PyTorch Lightning autologging: ``mlnb.pytorch.autolog()``, MLflow's ``mlflow.pytorch.autolog``.

Each outermost ``Trainer.fit`` (of ``pytorch_lightning`` and of ``lightning.pytorch``, patched once
the package is imported) records, under MLflow's names:

* params: ``epochs`` (the trainer's ``max_epochs``), ``optimizer_name`` and the first optimizer's
  defaults (``lr``, ``momentum``, ...); with an ``EarlyStopping`` callback its ``monitor``, ``mode``,
  ``patience``, ``min_delta`` and ``stopped_epoch``;
* the trainer's ``callback_metrics`` at the end of every ``log_every_n_epoch``-th training epoch,
  step = epoch; with ``log_every_n_step``, the metrics logged on steps every n-th step instead,
  step = global step (a metric logged both ways keeps its ``_step`` / ``_epoch`` names);
* when early stopping stopped the training: ``stopped_epoch``, ``restored_epoch``, ``best_score``
  and ``wait_count`` metrics, and the best checkpoint under ``restored_model_checkpoint/``;
* ``model_summary.txt`` (Lightning's ``ModelSummary`` of every layer), the tag ``Mode``;
* with ``checkpoint`` (the default), ``checkpoints/latest_checkpoint.pth`` and its metrics each time
  the monitored metric improves (or every epoch / n steps without ``checkpoint_save_best_only``);
* the model (the pytorch flavor, pickled), with a signature from the first batch the model saw.

A later ``trainer.test()`` logs its metrics to the fit's run and sets ``Mode`` to ``testing``.
Metrics are written at the end of every epoch, so a long training shows its curves while it runs.
Lifecycle: :mod:`mlnb.autologging.lifecycle`. Nothing is downloaded and no Lightning logger is added.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import time
from dataclasses import asdict, dataclass
from typing import Any

from mlnb.autologging import lifecycle, patching
from mlnb.autologging.checkpoints import check_options, log_local_file
from mlnb.autologging.datasets import check_log_datasets
from mlnb.autologging.options import CheckpointOptions, Options, extra_tags_dict
from mlnb.autologging.session import FitRun
from mlnb.errors import InvalidParameterError

INTEGRATION = "pytorch"
TESTED = ("2.0.0", "2.7.0")
#: import name -> distribution name of the two packages Lightning ships as
PACKAGES = {"pytorch_lightning": "pytorch-lightning", "lightning": "lightning"}


@dataclass(frozen=True, kw_only=True)
class _Config(CheckpointOptions, Options):
    log_every_n_epoch: int = 1
    log_every_n_step: int | None = None
    log_model_signatures: bool = True


_config: _Config | None = None


def autolog(
    log_every_n_epoch: int = 1,
    log_every_n_step: int | None = None,
    log_models: bool = True,
    log_datasets: bool | None = None,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    extra_tags: dict[str, Any] | None = None,
    checkpoint: bool = True,
    checkpoint_monitor: str = "val_loss",
    checkpoint_mode: str = "min",
    checkpoint_save_best_only: bool = True,
    checkpoint_save_weights_only: bool = False,
    checkpoint_save_freq: str | int = "epoch",
    log_model_signatures: bool = True,
) -> None:
    """Log every PyTorch Lightning ``Trainer.fit``. MLflow's options (``mlflow.pytorch.autolog``).

    ``log_every_n_epoch`` / ``log_every_n_step``: how often metrics are logged. ``checkpoint*``:
    checkpoints logged while training (``checkpoint_mode`` ``"min"`` or ``"max"`` of
    ``checkpoint_monitor``; ``checkpoint_save_freq`` ``"epoch"`` or a number of steps).
    ``log_datasets`` is accepted as MLflow's is, and, as there, a Lightning fit logs no dataset.
    """
    global _config
    options = {k: v for k, v in locals().items() if k != "disable"}
    check_log_datasets(log_datasets, INTEGRATION)
    tags = extra_tags_dict(extra_tags)
    if not _count(log_every_n_epoch) or not (log_every_n_step is None or _count(log_every_n_step)):
        raise InvalidParameterError(f"log_every_n_epoch must be an int >= 1 and log_every_n_step None or an int "
                                    f">= 1, got {log_every_n_epoch!r} and {log_every_n_step!r}.")
    check_options(checkpoint, checkpoint_mode, checkpoint_save_best_only, checkpoint_save_freq)
    patching.unpatch(INTEGRATION)
    _config = None
    if disable:
        return
    cfg = _Config(**{**options, "extra_tags": tags})
    patching.set_silent(INTEGRATION, silent)
    installed = [package for package in PACKAGES if importlib.util.find_spec(package) is not None]
    supported = [package for package in installed if patching.version_supported(
        INTEGRATION, patching.installed_version(PACKAGES[package]), TESTED, disable_for_unsupported_versions)]
    if installed and not supported:
        return    # disable_for_unsupported_versions, and no tested Lightning
    _config = cfg
    for package in supported:
        patching.when_imported(INTEGRATION, package, _install)


def autolog_config() -> dict[str, Any] | None:
    """The options autologging is on with (``autolog``'s keyword arguments), or None when it is off."""
    return asdict(_config) if _config is not None else None


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _install(package: Any) -> None:
    lib = importlib.import_module("lightning.pytorch") if package.__name__ == "lightning" else package
    patching.patch_method(INTEGRATION, lib.Trainer, "fit", functools.partial(_fit_hook, lib))


def _fit_hook(lib: Any, trainer: Any, call, args: tuple, kwargs: dict) -> Any:
    cfg = _config
    if cfg is None:
        return call(*args, **kwargs)
    fit = _Fit(lib, cfg, trainer, args[0] if args else kwargs.get("model"))
    return lifecycle.logged_fit(INTEGRATION, cfg.exclusive, cfg.extra_tags, fit.model, fit.train(call), args, kwargs,
                                fit.before, fit.after)


# -- one logged fit ----------------------------------------------------------------------------
class _Fit:
    """What one ``Trainer.fit`` logs, gathered by a callback while it trains."""

    def __init__(self, lib: Any, cfg: _Config, trainer: Any, model: Any) -> None:
        self.lib, self.cfg, self.trainer, self.model = lib, cfg, trainer, model
        self.run: FitRun | None = None
        self.example: tuple[Any, Any] | None = None    # (input, output) of the first forward call
        self.forward_wrapped = False
        self.step_metrics: set[str] = set()
        self.epoch_metrics: set[str] = set()
        self.checkpoints = cfg.checkpoints(".pth")
        self.latest: dict[str, float] = {}             # the last epoch's metrics
        self.training = False                          # the callback reports only during this fit

    def train(self, call):
        """``call`` (the original ``fit``), putting the model's ``forward`` back however it ends."""
        def run_fit(*args: Any, **kwargs: Any) -> Any:
            self.training = True
            try:
                return call(*args, **kwargs)
            finally:
                self.training = False
                self.unwrap_forward()

        return run_fit

    def before(self, run: FitRun) -> None:
        self.run = run
        for callback in self.early_stopping():
            run.add_params({p: getattr(callback, p) for p in ("monitor", "mode", "patience", "min_delta", "stopped_epoch")
                            if hasattr(callback, p)})
        callbacks = self.trainer.callbacks
        callbacks[:] = [c for c in callbacks if not getattr(c, "_mlnb_autolog", False)]   # an earlier fit's
        callbacks.append(_callback_class(self.lib)(self))

    def after(self, run: FitRun, result: Any, prepared: Any) -> None:
        stopping = self.early_stopping()
        if stopping and stopping[-1].stopped_epoch:
            es = stopping[-1]
            metrics = {"stopped_epoch": es.stopped_epoch, "restored_epoch": es.stopped_epoch - max(1, es.patience)}
            if hasattr(es, "best_score"):
                metrics["best_score"] = float(es.best_score)
            if hasattr(es, "wait_count"):
                metrics["wait_count"] = es.wait_count
            run.add_metrics(metrics)
        summary = self.lib.utilities.model_summary.ModelSummary(self.trainer.lightning_module, max_depth=-1)
        run.add_file("model_summary.txt", str(summary).encode())
        if self.cfg.log_models:
            patching.guard(INTEGRATION, "log the model", self.log_model, run)
            best = getattr(self.trainer.checkpoint_callback, "best_model_path", None)
            if stopping and best:
                log_local_file(run, best, run.artifact_name("restored_model_checkpoint"))
        run.record(self.latest)

    def early_stopping(self) -> list:
        return [c for c in self.trainer.callbacks if isinstance(c, self.lib.callbacks.EarlyStopping)]

    def log_model(self, run: FitRun) -> None:
        from mlnb.flavors.pytorch import log_model

        signature = None
        if self.example is not None:
            from mlnb.models.signature import infer_signature

            signature = infer_signature(*self.example)
        info = log_model(self.trainer.lightning_module, name=run.artifact_name("model"), signature=signature,
                         serialization_format="pickle", registered_model_name=self.cfg.registered_model_name)
        run.model_uri = f"runs:/{info.run_id}/{info.artifact_path}"

    # -- while training (called by the callback, each guarded) --------------------------------
    def train_started(self, trainer: Any) -> None:
        run = self.run
        run.add_tags({"Mode": "training"})
        params: dict[str, Any] = {"epochs": trainer.max_epochs}
        if trainer.optimizers:
            optimizer = trainer.optimizers[0]
            optimizer = getattr(optimizer, "optimizer", optimizer)      # a LightningOptimizer wraps it
            params["optimizer_name"] = type(optimizer).__name__
            params.update(getattr(optimizer, "defaults", {}))
        run.add_params(params)
        if self.cfg.log_models and self.cfg.log_model_signatures:
            self.wrap_forward(trainer.lightning_module)

    def epoch_ended(self, trainer: Any) -> None:
        if trainer.sanity_checking:
            return
        items = {k: float(v) for k, v in trainer.callback_metrics.items() if k not in self.step_metrics}
        self.epoch_metrics.update(items)
        self.latest = items
        if (trainer.current_epoch + 1) % self.cfg.log_every_n_epoch == 0:
            self.run.add_metrics_at(items, trainer.current_epoch)
        if self.cfg.checkpoint and self.cfg.checkpoint_save_freq == "epoch":
            self.checkpoint(trainer)
        self.run.flush()   # the curves so far, for whoever watches the run

    def batch_ended(self, trainer: Any) -> None:
        step = trainer.global_step
        if self.cfg.log_every_n_step and not trainer.sanity_checking:
            metrics = trainer.callback_metrics
            items = {k: float(v) for k, v in metrics.items()
                     if k not in self.epoch_metrics and f"{k}_step" not in metrics}
            self.step_metrics.update(items)
            per_step = max(1, len(trainer.optimizers))   # the global step counts every optimizer's step
            if ((step // per_step) + 1) % self.cfg.log_every_n_step == 0:
                self.run.add_metrics_at(items, step)
        freq = self.cfg.checkpoint_save_freq
        if self.cfg.checkpoint and freq != "epoch" and step > 0 and step % freq == 0:
            self.checkpoint(trainer)

    def checkpoint(self, trainer: Any) -> None:
        """Log a checkpoint (and its metrics) if it is one to keep."""
        self.checkpoints.save(self.run, {k: float(v) for k, v in trainer.callback_metrics.items()},
                              trainer.current_epoch, trainer.global_step,
                              lambda path: trainer.save_checkpoint(path, weights_only=self.cfg.checkpoint_save_weights_only))

    def test_ended(self, trainer: Any) -> None:
        """``trainer.test()`` after the fit: its metrics, into the fit's run (ended by now)."""
        from mlnb.tracking.client import MlnbClient
        from mlnb.tracking.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(self.run.key(k), float(v), now, 0) for k, v in trainer.callback_metrics.items()]
        MlnbClient().log_batch(self.run.run_id, metrics=metrics, tags={self.run.key("Mode"): "testing"})

    # -- the first batch, for the model's signature ---------------------------------------------
    def wrap_forward(self, module: Any) -> None:
        if "forward" in module.__dict__:
            return
        original = module.forward

        def forward(*inputs: Any, **kwargs: Any) -> Any:
            result = original(*inputs, **kwargs)
            if self.example is None and self.forward_wrapped:
                self.unwrap_forward()
                patching.guard(INTEGRATION, "read the first batch for the model's signature",
                               self.keep_example, inputs, kwargs, result)
            return result

        module.forward = forward
        self.forward_wrapped = True

    def unwrap_forward(self) -> None:
        if self.forward_wrapped:
            self.forward_wrapped = False
            self.trainer.lightning_module.__dict__.pop("forward", None)

    def keep_example(self, inputs: tuple, kwargs: dict, result: Any) -> None:
        import torch

        if len(inputs) == 1 and not kwargs and isinstance(inputs[0], torch.Tensor) and isinstance(result, torch.Tensor):
            self.example = (inputs[0].detach().cpu().numpy(), result.detach().cpu().numpy())


@functools.cache
def _callback_class(lib: Any) -> type:
    """The Lightning callback that reports to a :class:`_Fit` (one class per Lightning package)."""

    class MlnbAutologCallback(lib.Callback):
        _mlnb_autolog = True

        def __init__(self, fit: _Fit) -> None:
            self.fit = fit

        def _guarded(self, trainer: Any, what: str, fn, training: bool = True) -> None:
            # a training hook acts during its own fit only; a later test() while autolog is still on
            if trainer.is_global_zero and (self.fit.training if training else _config is not None):
                patching.guard(INTEGRATION, what, fn, trainer)

        def on_train_start(self, trainer, pl_module) -> None:
            self._guarded(trainer, "log the optimizer params", self.fit.train_started)

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            self._guarded(trainer, "log the epoch's metrics", self.fit.epoch_ended)

        def on_train_batch_end(self, trainer, pl_module, *args: Any) -> None:
            self._guarded(trainer, "log the step's metrics", self.fit.batch_ended)

        def on_test_end(self, trainer, pl_module) -> None:
            self._guarded(trainer, "log the test metrics", self.fit.test_ended, training=False)

    return MlnbAutologCallback


__all__ = ["autolog", "autolog_config", "INTEGRATION", "PACKAGES"]

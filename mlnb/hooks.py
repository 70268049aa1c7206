"""Hooks: where an upper layer plugs into a lower one, so the lower one never imports it.

Flavors save models; only tracking knows runs. Tracking registers a :class:`RunLogger` (how a saved
model, or a directory of files, is logged to the active run) when it is imported, and ``mlnb``'s
``__init__`` names the module that does so, so ``mlnb.xgboost.log_model`` works in a fresh process
without the flavor layer ever importing tracking. This module imports nothing of mlnb's.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


class RunLogger:
    """How saved models and files reach the active run (registered by the tracking layer).

    A plain class, not a dataclass: ``import mlnb`` runs this module and must stay cheap.
    """

    __slots__ = ("log_model", "log_artifacts")

    def __init__(self, log_model: Callable[..., object], log_artifacts: Callable[..., None]) -> None:
        #: log_model(save_fn, model, name=None, artifact_path=None, **kwargs) -> ModelInfo, where
        #: save_fn(model, path, mlmodel=..., **save_kwargs) writes the model directory at path
        self.log_model = log_model
        #: log_artifacts(local_dir, artifact_path=None): copy a directory into the run's artifacts
        self.log_artifacts = log_artifacts


_run_logger: RunLogger | None = None
_provider: str | None = None


def set_run_logger(logger: RunLogger) -> None:
    """Make ``logger`` the way flavors log to runs (tracking calls this when it is imported)."""
    global _run_logger
    _run_logger = logger


def set_run_logger_provider(module: str) -> None:
    """Name the module whose import calls :func:`set_run_logger`; it is imported on first use."""
    global _provider
    _provider = module


def run_logger() -> RunLogger:
    """The registered :class:`RunLogger`, importing its provider the first time it is needed."""
    if _run_logger is None and _provider is not None:
        importlib.import_module(_provider)
    if _run_logger is None:  # only when mlnb's own wiring is missing (mlnb/__init__ names the provider)
        raise RuntimeError("No tracking layer is registered to log models to a run: import mlnb.tracking first.")
    return _run_logger


__all__ = ["RunLogger", "set_run_logger", "set_run_logger_provider", "run_logger"]

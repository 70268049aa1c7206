"""Hooks: where an upper layer plugs into a lower one, so the lower one never imports it.

Two seams live here:

- the run logger. Flavors save models; only tracking knows runs. Tracking registers a :class:`RunLogger` (how a saved
model, or a directory of files, is logged to the active run) when it is imported, and :data:`WIRING`
names the module that does so, so ``mlnb.xgboost.log_model`` works in a fresh process without the
flavor layer ever importing tracking.
- URI schemes. The model format resolves plain paths itself; ``runs:/``, ``models:/``, ``s3://`` and
  ``mlflow-artifacts:/`` belong to tracking, which :data:`WIRING` names as ``"module:function"``
  resolvers, imported the first time a URI of that scheme is opened.

This module imports nothing of mlnb's: it names tracking's modules as text, and nothing is imported
until a model is logged or a URI opened. ``import mlnb`` does not import it at all.
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


#: mlnb's own wiring, as text: the module whose import registers the run logger, and the
#: ``"module:function"`` resolver of each URI scheme tracking owns
WIRING = {
    "run_logger": "mlnb.tracking.logged_models",
    "uri_resolvers": {
        "runs": "mlnb.tracking.run_uris:download_runs_uri",
        "models": "mlnb.tracking.model_uris:download_models_uri",
        "s3": "mlnb.tracking.s3:download_s3_uri",
        "mlflow-artifacts": "mlnb.tracking.run_uris:download_mlflow_artifacts_uri",
    },
}

_run_logger: RunLogger | None = None


def set_run_logger(logger: RunLogger) -> None:
    """Make ``logger`` the way flavors log to runs (tracking calls this when it is imported)."""
    global _run_logger
    _run_logger = logger


def run_logger() -> RunLogger:
    """The registered :class:`RunLogger`, importing the module :data:`WIRING` names for it the first
    time it is needed."""
    if _run_logger is None:
        importlib.import_module(WIRING["run_logger"])
    if _run_logger is None:  # only when that module no longer registers one
        raise RuntimeError("No tracking layer is registered to log models to a run: import mlnb.tracking first.")
    return _run_logger


#: scheme -> resolver(uri, dst) -> local path, or "module:function" naming one (imported on first use)
UriResolver = Callable[[str, "str | None"], str]
_uri_resolvers: dict[str, str | UriResolver] = dict(WIRING["uri_resolvers"])


def set_uri_resolver(scheme: str, resolver: str | UriResolver) -> None:
    """Resolve URIs of ``scheme`` with ``resolver(uri, dst)``, or the ``"module:function"`` it names."""
    _uri_resolvers[scheme] = resolver


def uri_resolver(scheme: str) -> UriResolver | None:
    """The resolver registered for ``scheme`` (importing its module the first time), or None."""
    resolver = _uri_resolvers.get(scheme)
    if isinstance(resolver, str):
        module, _, name = resolver.partition(":")
        resolver = _uri_resolvers[scheme] = getattr(importlib.import_module(module), name)
    return resolver


def uri_schemes() -> list[str]:
    """Every scheme with a registered resolver."""
    return sorted(_uri_resolvers)


__all__ = ["WIRING", "RunLogger", "set_run_logger", "run_logger", "UriResolver",
           "set_uri_resolver", "uri_resolver", "uri_schemes"]

"""mlnb: the whole life of a machine-learning model inside a Jupyter notebook.

Models are saved in MLflow's format and served with MLflow's scoring protocol. Everything here is
imported lazily, so ``import mlnb`` and ``%load_ext mlnb`` cost milliseconds.

Flavors are reached as ``mlnb.sklearn``, ``mlnb.pyfunc``, ... (``import mlnb.sklearn`` works too).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    # tracking (fluent API, MLflow's names)
    **dict.fromkeys(
        [
            "set_tracking_uri", "get_tracking_uri", "set_experiment", "get_experiment_by_name",
            "start_run", "end_run", "active_run", "last_active_run", "log_param", "log_params",
            "log_metric", "log_metrics", "set_tag", "set_tags", "log_artifact", "log_artifacts",
            "log_text", "log_dict", "log_figure", "get_run", "search_runs", "delete_run",
            "get_artifact_uri", "download_artifacts",
            "log_stream",
            "register_model", "set_registry_uri", "get_registry_uri",
        ],
        "mlnb.tracking.fluent",
    ),
    "MlnbClient": "mlnb.tracking.client",
    "Client": "mlnb.tracking.client",
    "autolog": "mlnb.autologging",
    "evaluate": "mlnb.evaluation",
    "MetricThreshold": "mlnb.evaluation",
    "EvaluationResult": "mlnb.evaluation",
    "serve": "mlnb.serving",
    "runs": "mlnb.notebook.browser",
    "infer_signature": "mlnb.models.signature",
    "ModelSignature": "mlnb.models.signature",
    "Model": "mlnb.models.mlmodel",
}
# short flavor names -> their modules (``mlnb.sklearn`` is ``mlnb.flavors.sklearn``)
_FLAVOR_ALIASES = {
    "sklearn": "mlnb.flavors.sklearn",
    "xgboost": "mlnb.flavors.xgboost",
    "onnx": "mlnb.flavors.onnx",
    "h2o": "mlnb.flavors.h2o",
    "pytorch": "mlnb.flavors.pytorch",
    "keras": "mlnb.flavors.keras",
    "spark": "mlnb.flavors.spark",
}
_SUBMODULES = {"pyfunc", "models", "flavors", "tracking", "errors", "notebook", "cli", "cards"}

__all__ = sorted([*_EXPORTS, *_FLAVOR_ALIASES, "pyfunc", "load_ipython_extension", "unload_ipython_extension"])


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _FLAVOR_ALIASES:
        value = importlib.import_module(f"mlnb.{name}")
    elif name in _SUBMODULES:
        value = importlib.import_module(f"mlnb.{name}")
    else:
        raise AttributeError(f"module 'mlnb' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


def load_ipython_extension(ipython) -> None:
    """``%load_ext mlnb``: register mlnb's magics."""
    from mlnb.notebook.magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython) -> None:
    """``%unload_ext mlnb``: remove mlnb's magics."""
    from mlnb.notebook.magics import unload_ipython_extension as _unload

    _unload(ipython)


class _FlavorAliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Make ``import mlnb.sklearn`` load ``mlnb.flavors.sklearn`` (one module, two names)."""

    def find_spec(self, fullname, path=None, target=None):
        prefix, _, short = fullname.partition(".")
        if prefix == "mlnb" and short in _FLAVOR_ALIASES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        module = importlib.import_module(_FLAVOR_ALIASES[spec.name.partition(".")[2]])
        self._specs = {**getattr(self, "_specs", {}), spec.name: (module.__spec__, module.__loader__)}
        return module

    def exec_module(self, module):
        # the import system stamped the alias's spec on the module: give it back its own
        module.__spec__, module.__loader__ = self._specs[module.__spec__.name]


if not any(isinstance(f, _FlavorAliasFinder) for f in sys.meta_path):
    sys.meta_path.append(_FlavorAliasFinder())

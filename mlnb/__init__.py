"""mlnb: the whole life of a machine-learning model inside a Jupyter notebook.

Models are saved in MLflow's format and served with MLflow's scoring protocol. Everything here is
imported lazily, so ``import mlnb`` and ``%load_ext mlnb`` cost milliseconds.

Flavors are reached by their registry names, ``mlnb.sklearn``, ``mlnb.xgboost``, ... (module
``__getattr__`` consults the registry in :mod:`mlnb.flavors`, so a flavor added with
``register_flavor()`` is ``mlnb.<name>`` too); mlnb's own also have a module of that name
(``mlnb/sklearn.py``), so ``import mlnb.sklearn`` works and IDEs resolve it.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# The flavors' run logger and the URI schemes tracking resolves are wired in mlnb.hooks (as module
# names, imported on first use): importing mlnb imports no submodule.

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
            "get_experiment", "create_experiment", "search_experiments", "delete_experiment",
            "set_experiment_tag", "set_experiment_tags", "log_image",
            "register_model", "set_registry_uri", "get_registry_uri",
            "restore_run", "restore_experiment", "delete_tag", "get_parent_run", "is_tracking_uri_set",
            "search_registered_models", "search_model_versions", "set_model_version_tag", "ActiveRun",
        ],
        "mlnb.tracking.fluent",
    ),
    # experiments, MLflow 3's logged models and datasets (the embedded store and MLflow servers)
    **dict.fromkeys(["get_experiment", "create_experiment", "last_logged_model", "get_logged_model",
                     "search_logged_models", "log_input"], "mlnb.tracking.fluent"),
    # MLflow 3's logged-model lifecycle and run-to-model links
    **dict.fromkeys(["initialize_logged_model", "finalize_logged_model", "set_logged_model_tags",
                     "delete_logged_model_tag", "log_model_params", "log_outputs", "log_inputs",
                     "delete_experiment_tag"], "mlnb.tracking.logged_model_fluent"),
    "log_table": "mlnb.tracking.fluent",
    "Image": "mlnb.tracking.image",
    "load_table": "mlnb.tracking.fluent",
    "MlnbClient": "mlnb.tracking.client",
    "MlflowClient": "mlnb.tracking.client",
    "Client": "mlnb.tracking.client",
    "MlflowException": "mlnb.exceptions",
    "__mlflow_version__": "mlnb.version",
    "autolog": "mlnb.autologging",
    "evaluate": "mlnb.evaluation",
    "validate_evaluation_results": "mlnb.evaluation",
    "MetricThreshold": "mlnb.evaluation",
    "EvaluationResult": "mlnb.evaluation",
    "serve": "mlnb.serving",
    "runs": "mlnb.notebook.browser",
    "infer_signature": "mlnb.models.signature",
    "ModelSignature": "mlnb.models.signature",
    "Model": "mlnb.models.mlmodel",
}
_SUBMODULES = {"pyfunc", "models", "flavors", "tracking", "errors", "notebook", "cli", "cards", "data",
               "types", "entities", "exceptions", "artifacts", "client", "version", "evaluation"}

# flavors are not listed: ``from mlnb import *`` must not import every model library
__all__ = sorted([*_EXPORTS, "pyfunc", "load_ipython_extension", "unload_ipython_extension"])


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"mlnb.{name}")
    else:
        value = _flavor_module(name)
    globals()[name] = value
    return value


def __dir__():
    from mlnb.flavors import registered

    return sorted(set(globals()) | set(__all__) | set(registered()))


def _flavor_module(name: str):
    """``mlnb.<name>`` for a registered flavor: the module the registry names for it."""
    from mlnb.flavors import registered, get_flavor

    if name not in registered():
        raise AttributeError(f"module 'mlnb' has no attribute {name!r}")
    return importlib.import_module(get_flavor(name).module)


def load_ipython_extension(ipython) -> None:
    """``%load_ext mlnb``: register mlnb's magics."""
    from mlnb.notebook.magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython) -> None:
    """``%unload_ext mlnb``: remove mlnb's magics."""
    from mlnb.notebook.magics import unload_ipython_extension as _unload

    _unload(ipython)

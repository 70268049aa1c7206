"""Autologging: one call, and every ``fit`` of a supported library records itself.

``mlnb.autolog()`` enables every supported library that is installed; ``mlnb.sklearn.autolog()``
enables one, with that library's options. Libraries are registered as data (name -> module with
``autolog(**options)`` and an ``autolog_config()`` function), like the flavor registry; nothing is
imported until enabled. :func:`get_autologging_config` reads back what a library was enabled with.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from typing import Any

from mlnb.autologging.patching import AutologWarning
from mlnb.autologging.session import LoggedFit, logged_fits
from mlnb.errors import InvalidParameterError

#: library import name -> mlnb module holding its ``autolog(**options)`` and ``autolog_config()``
INTEGRATIONS: dict[str, str] = {
    "sklearn": "mlnb.autologging.sklearn",
    "xgboost": "mlnb.autologging.xgboost",
    "lightgbm": "mlnb.autologging.lightgbm",
    "statsmodels": "mlnb.autologging.statsmodels",
    "pytorch": "mlnb.autologging.lightning",
    "keras": "mlnb.autologging.keras",
    "tensorflow": "mlnb.autologging.tensorflow",
}
#: integrations whose library imports under other names than the integration's: any one installed enables it
LIBRARY_MODULES: dict[str, tuple[str, ...]] = {"pytorch": ("lightning", "pytorch_lightning")}
#: integrations ``autolog()`` enables only when their library is already imported (the others patch
#: their library when it is imported): importing Keras fixes its backend, and importing TensorFlow
#: takes seconds (their own ``autolog()`` imports them)
ONLY_WHEN_IMPORTED = frozenset({"keras", "tensorflow"})


def register_integration(library: str, module: str) -> None:
    """Add (or replace) the autologging integration of ``library``: ``module`` defines
    ``autolog(**options)`` and ``autolog_config()`` (those options as a dict, or None when off)."""
    INTEGRATIONS[library] = module


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    silent: bool = False,
    extra_tags: dict[str, Any] | None = None,
    exclude_flavors: list[str] | None = None,
    log_datasets: bool | None = None,
    disable_for_unsupported_versions: bool = False,
) -> list[str]:
    """Enable (or with ``disable=True`` disable) autologging for every installed supported library.

    Options are MLflow's ``mlflow.autolog`` options; libraries named in ``exclude_flavors`` are
    left alone; each integration takes the options its own ``autolog`` has. ``log_datasets`` logs
    each fit's training data when mlnb can log datasets (None: whenever it can). Libraries are
    patched once they are imported, so this imports none. Returns the libraries enabled (or disabled).
    """
    from mlnb.autologging.datasets import check_log_datasets

    check_log_datasets(log_datasets, "mlnb")
    options = dict(log_input_examples=log_input_examples, log_model_signatures=log_model_signatures,
                   log_models=log_models, disable=disable, exclusive=exclusive, silent=silent,
                   extra_tags=extra_tags, log_datasets=False if log_datasets is False else None,
                   disable_for_unsupported_versions=disable_for_unsupported_versions)
    done = []
    for library, module in INTEGRATIONS.items():
        if library in (exclude_flavors or ()) or not _installed(library):
            continue
        if library in ONLY_WHEN_IMPORTED and library not in sys.modules:
            continue
        enable = importlib.import_module(module).autolog
        accepted = inspect.signature(enable).parameters
        enable(**{k: v for k, v in options.items() if k in accepted})
        done.append(library)
    return done


def _installed(library: str) -> bool:
    return any(importlib.util.find_spec(name) is not None for name in LIBRARY_MODULES.get(library, (library,)))


def get_autologging_config(flavor_name: str, config_key: str | None = None, default_value: Any = None) -> Any:
    """What ``flavor_name``'s autologging is on with, as MLflow's ``get_autologging_config``.

    With ``config_key``: that option's value, or ``default_value`` when autologging is off. Without:
    every option as a dict (``autolog``'s keyword arguments, so ``autolog(**config)`` turns the same
    settings back on), or ``default_value`` when it is off. Nothing is imported: a library whose
    integration was never enabled is off.
    """
    if flavor_name not in INTEGRATIONS:
        raise InvalidParameterError(
            f"No autologging integration named '{flavor_name}'; registered: {sorted(INTEGRATIONS)}.")
    read = getattr(sys.modules.get(INTEGRATIONS[flavor_name]), "autolog_config", None)
    config = read() if read is not None else None
    if config is None:
        return default_value
    return config if config_key is None else config.get(config_key, default_value)


__all__ = ["autolog", "get_autologging_config", "logged_fits", "LoggedFit", "AutologWarning", "INTEGRATIONS",
           "LIBRARY_MODULES", "ONLY_WHEN_IMPORTED", "register_integration"]

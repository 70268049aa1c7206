"""Autologging: one call, and every ``fit`` of a supported library records itself.

``mlnb.autolog()`` enables every supported library that is installed; ``mlnb.sklearn.autolog()``
enables one, with that library's options. Libraries are registered as data (name -> module with an
``autolog`` function), like the flavor registry; nothing is imported until enabled.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from mlnb.autologging.patching import AutologWarning
from mlnb.autologging.session import LoggedFit, logged_fits

#: library import name -> mlnb module holding its ``autolog(**options)``
INTEGRATIONS: dict[str, str] = {
    "sklearn": "mlnb.autologging.sklearn",
}


def register_integration(library: str, module: str) -> None:
    """Add (or replace) the autologging integration of ``library``."""
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
) -> list[str]:
    """Enable (or with ``disable=True`` disable) autologging for every installed supported library.

    Options are MLflow's ``mlflow.autolog`` options; libraries named in ``exclude_flavors`` are
    left alone. Returns the libraries enabled (or disabled).
    """
    done = []
    for library, module in INTEGRATIONS.items():
        if library in (exclude_flavors or ()) or importlib.util.find_spec(library) is None:
            continue
        importlib.import_module(module).autolog(
            log_input_examples=log_input_examples, log_model_signatures=log_model_signatures,
            log_models=log_models, disable=disable, exclusive=exclusive, silent=silent,
            extra_tags=extra_tags,
        )
        done.append(library)
    return done


__all__ = ["autolog", "logged_fits", "LoggedFit", "AutologWarning", "INTEGRATIONS", "register_integration"]

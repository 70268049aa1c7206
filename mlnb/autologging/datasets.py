"""Autolog's ``log_datasets``: the training data of a fit, logged as the run's input.

It relies on two public names of the tracking layer, ``mlnb.data.from_pandas``/``from_numpy``
and ``mlnb.tracking.fluent.log_input`` (MLflow's ``mlflow.data`` and ``mlflow.log_input``); an
mlnb without them logs fits without their datasets, and says so when asked for them explicitly.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from mlnb.autologging.patching import AutologWarning


def datasets_supported() -> bool:
    """True when this mlnb can log datasets (``mlnb.data`` and ``log_input`` exist)."""
    from mlnb.tracking import fluent

    try:
        importlib.import_module("mlnb.data")
    except ImportError:
        return False
    return hasattr(fluent, "log_input")


def check_log_datasets(log_datasets: bool | None, integration: str) -> None:
    """``log_datasets=True`` when datasets cannot be logged: warn once, at ``autolog()``."""
    if log_datasets is not None and not isinstance(log_datasets, bool):
        from mlnb.errors import InvalidParameterError

        raise InvalidParameterError(f"log_datasets must be True, False or None, got {log_datasets!r}.")
    if log_datasets and not datasets_supported():
        warnings.warn(
            f"{integration} autolog(log_datasets=True): this mlnb cannot log datasets (mlnb.data and "
            f"mlnb.log_input are missing), so fits are logged without their training data.",
            AutologWarning, stacklevel=3)


def log_training_dataset(X: Any, y: Any, run_id: str, context: str = "train") -> bool:
    """Log ``X`` (and ``y`` as targets) as the ``context`` input (``train``, ``eval``) of the active run
    ``run_id``; False when datasets cannot be logged or the fit's run is not the active one."""
    from mlnb.tracking import fluent

    if not datasets_supported():
        return False
    active = fluent.active_run()
    if active is None or active.info.run_id != run_id:
        return False
    data = importlib.import_module("mlnb.data")
    if hasattr(X, "columns"):
        frame = X if y is None else X.assign(**{_target_name(X, y): getattr(y, "values", y)})
        dataset = data.from_pandas(frame, targets=None if y is None else _target_name(X, y))
    else:
        import numpy as np

        dataset = data.from_numpy(np.asarray(X), targets=None if y is None else np.asarray(y))
    fluent.log_input(dataset, context=context)
    return True


def _target_name(X: Any, y: Any) -> str:
    name = getattr(y, "name", None)
    return str(name) if name is not None and name not in X.columns else "target"


__all__ = ["datasets_supported", "check_log_datasets", "log_training_dataset"]

"""MLflow's entity names, for code written against ``mlflow.entities``.

The classes live in :mod:`mlnb.tracking.entities` (and FileInfo in
:mod:`mlnb.tracking.artifacts`); names added there later appear here too.
"""

from __future__ import annotations

from mlnb.tracking import entities as _entities
from mlnb.tracking.artifacts import FileInfo
from mlnb.tracking.entities import (
    Dataset, Experiment, ExperimentTag, LifecycleStage, LoggedModel, Metric, Param, Run, RunData, RunInfo, RunStatus,
    RunTag, ViewType,
)
from mlnb.tracking.model_entities import (
    LoggedModelInput, LoggedModelOutput, LoggedModelParameter, LoggedModelStatus, LoggedModelTag,
    RunOutputs, SourceType,
)

__all__ = ["Dataset", "Experiment", "ExperimentTag", "FileInfo", "LifecycleStage", "LoggedModel",
           "LoggedModelInput", "LoggedModelOutput", "LoggedModelParameter", "LoggedModelStatus", "LoggedModelTag",
           "Metric", "Param", "Run", "RunData", "RunInfo", "RunOutputs", "RunStatus", "RunTag", "SourceType",
           "ViewType"]


def __getattr__(name: str):
    """Entities the tracking package defines beyond this list (datasets, logged models...)."""
    if not name.startswith("_") and name[:1].isupper() and hasattr(_entities, name):
        return getattr(_entities, name)
    raise AttributeError(f"module 'mlnb.entities' has no attribute {name!r}")

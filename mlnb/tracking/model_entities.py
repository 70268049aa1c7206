"""MLflow 3's entities around logged models: their status, tags, params, and a run's links to them.

Names, fields and conversions are MLflow's (``mlflow.entities.LoggedModelStatus.READY == "READY"``,
``LoggedModelOutput(model_id, step)``...), so code written against ``mlflow.entities`` reads the same.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from mlnb.errors import InvalidParameterError
from mlnb.tracking.entities import KeyValue


class LoggedModelStatus(str, enum.Enum):
    """Where a logged model is in its life: PENDING while its files are written, then READY or FAILED."""

    UNSPECIFIED = "UNSPECIFIED"
    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"

    def __str__(self) -> str:
        return self.value

    def to_int(self) -> int:
        """MLflow's number for this status, as its SQL store writes it."""
        return list(LoggedModelStatus).index(self)

    @classmethod
    def from_int(cls, status: int) -> "LoggedModelStatus":
        """The status MLflow's SQL store writes as ``status``."""
        try:
            return list(cls)[status]
        except (IndexError, TypeError):
            raise InvalidParameterError(f"Unknown logged-model status number {status!r}; expected 0 to 3.") from None

    def is_finalized(self) -> bool:
        return self in (LoggedModelStatus.READY, LoggedModelStatus.FAILED)

    @classmethod
    def parse(cls, status: Any) -> "LoggedModelStatus":
        """A status from its name (any case), number or member; a clear error otherwise."""
        if isinstance(status, cls):
            return status
        if isinstance(status, int) and not isinstance(status, bool):
            return cls.from_int(status)
        name = str(status).upper().removeprefix("LOGGED_MODEL_")
        if name == "UPLOAD_FAILED":
            name = "FAILED"
        try:
            return cls(name)
        except ValueError:
            raise InvalidParameterError(
                f"A logged model's status is one of {', '.join(s.value for s in cls)}, got {status!r}.") from None


class LoggedModelTag(KeyValue):
    """A tag of a logged model."""


class LoggedModelParameter(KeyValue):
    """A param of a logged model."""


@dataclass(frozen=True)
class LoggedModelInput:
    """A logged model a run used (``mlnb.log_inputs(models=[...])``)."""

    model_id: str


@dataclass(frozen=True)
class LoggedModelOutput:
    """A logged model a run produced, at a training step (``mlnb.log_outputs(models=[...])``)."""

    model_id: str
    step: int = 0


@dataclass
class RunOutputs:
    """What a run produced: its logged models."""

    model_outputs: list[LoggedModelOutput] = field(default_factory=list)


class SourceType:
    """Where a run's code came from (MLflow's ``mlflow.source.type`` tag values)."""

    NOTEBOOK, JOB, PROJECT, LOCAL, UNKNOWN = 1, 2, 3, 4, 1000
    SOURCETYPE_TO_STRING = {1: "NOTEBOOK", 2: "JOB", 3: "PROJECT", 4: "LOCAL", 1000: "UNKNOWN"}
    _STRING_TO_SOURCETYPE = {v: k for k, v in SOURCETYPE_TO_STRING.items()}

    @staticmethod
    def from_string(status_str: str) -> int:
        """The number of a source type name (``"NOTEBOOK"`` -> 1)."""
        return SourceType._look_up(SourceType._STRING_TO_SOURCETYPE, status_str)

    @staticmethod
    def to_string(status: int) -> str:
        """The name of a source type number (1 -> ``"NOTEBOOK"``)."""
        return SourceType._look_up(SourceType.SOURCETYPE_TO_STRING, status)

    @staticmethod
    def _look_up(table: dict, key: Any) -> Any:
        if key not in table:
            raise InvalidParameterError(f"Unknown source type {key!r}; expected one of {list(table)}.")
        return table[key]


__all__ = ["LoggedModelInput", "LoggedModelOutput", "LoggedModelParameter", "LoggedModelStatus",
           "LoggedModelTag", "RunOutputs", "SourceType"]

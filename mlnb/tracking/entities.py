"""The things a run store holds: experiments, runs, and a run's params, metrics and tags.

Names and fields are MLflow's (``run.info.run_id``, ``run.data.metrics``...), so code written
against MLflow's entities reads mlnb's unchanged. Times are milliseconds since the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RUNNING, SCHEDULED, FINISHED, FAILED, KILLED = "RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"
RUN_STATUSES = (RUNNING, SCHEDULED, FINISHED, FAILED, KILLED)
ACTIVE, DELETED = "active", "deleted"

# system tags MLflow sets (and its UI reads)
TAG_RUN_NAME = "mlflow.runName"
TAG_PARENT_RUN_ID = "mlflow.parentRunId"
TAG_USER = "mlflow.user"
TAG_SOURCE_NAME = "mlflow.source.name"
TAG_SOURCE_TYPE = "mlflow.source.type"
TAG_NOTE = "mlflow.note.content"
TAG_LOGGED_MODELS = "mlflow.log-model.history"


@dataclass(frozen=True)
class Metric:
    key: str
    value: float
    timestamp: int
    step: int = 0


@dataclass(frozen=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True)
class RunTag:
    key: str
    value: str


@dataclass
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = ACTIVE
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None


@dataclass
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    status: str
    start_time: int
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str = ACTIVE
    user_id: str = ""

    @property
    def run_uuid(self) -> str:  # MLflow's older name
        return self.run_id


@dataclass
class RunData:
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # latest value per key
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetInput:
    """A dataset a run used, as the store keeps it (the fields of MLflow's ``DatasetInput``)."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def context(self) -> str | None:
        return dict(self.tags).get("mlflow.data.context")

    @property
    def dataset(self) -> "DatasetInput":
        """MLflow's ``dataset_input.dataset.name`` spelling."""
        return self


@dataclass
class RunInputs:
    """What a run used: ``dataset_inputs`` (MLflow's ``DatasetInput``: ``.dataset.name``, ``.tags``)."""

    dataset_inputs: list = field(default_factory=list)


@dataclass
class Run:
    info: RunInfo
    data: RunData
    inputs: RunInputs = field(default_factory=RunInputs)

    def _repr_html_(self) -> str:
        try:
            from mlnb.cards import run_card_html
        except ImportError:
            return f"<pre>{self!r}</pre>"
        return run_card_html(self)

    def to_dictionary(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {"info": asdict(self.info), "data": asdict(self.data)}


@dataclass
class LoggedModel:
    """An MLflow 3 logged model: a model with an id of its own (``m-<hex>``), its files under
    ``artifact_location``, linked to the run that logged it. Attribute names are MLflow's."""

    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    status: str = "READY"
    lifecycle_stage: str = ACTIVE
    model_type: str | None = None
    source_run_id: str | None = None
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_id}"

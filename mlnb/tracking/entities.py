"""The things a run store holds: experiments, runs, a run's params, metrics and tags, and the
datasets it used.

Names and fields are MLflow's (``run.info.run_id``, ``run.data.metrics``...), so code written
against MLflow's entities reads mlnb's unchanged. Times are milliseconds since the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping, NamedTuple

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


class RunStatus:
    """MLflow's run statuses as numbers, with its conversions (``run.info.status`` is the name)."""

    RUNNING, SCHEDULED, FINISHED, FAILED, KILLED = 1, 2, 3, 4, 5
    _NAMES = {1: RUNNING, 2: SCHEDULED, 3: FINISHED, 4: FAILED, 5: KILLED}

    @staticmethod
    def from_string(status_str: str) -> int:
        try:
            return RUN_STATUSES.index(status_str) + 1
        except ValueError:
            raise ValueError(f"Unknown run status {status_str!r}; expected one of {list(RUN_STATUSES)}.") from None

    @staticmethod
    def to_string(status: int) -> str:
        if status not in range(1, len(RUN_STATUSES) + 1):
            raise ValueError(f"Unknown run status {status!r}; expected 1 to {len(RUN_STATUSES)}.")
        return RUN_STATUSES[status - 1]

    @staticmethod
    def is_terminated(status: int) -> bool:
        return status in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)

    @staticmethod
    def all_status() -> list[int]:
        return list(range(1, len(RUN_STATUSES) + 1))


class ViewType:
    """Which experiments or runs a search returns (MLflow's numbers: active, deleted, all)."""

    ACTIVE_ONLY, DELETED_ONLY, ALL = 1, 2, 3
    _STRINGS = {1: "active_only", 2: "deleted_only", 3: "all"}

    @classmethod
    def from_string(cls, view_str: str) -> int:
        for number, name in cls._STRINGS.items():
            if name == str(view_str).lower():
                return number
        raise ValueError(f"Unknown view type {view_str!r}; expected one of {list(cls._STRINGS.values())}.")

    @classmethod
    def to_string(cls, view_type: int) -> str:
        if view_type not in cls._STRINGS:
            raise ValueError(f"Unknown view type {view_type!r}; expected 1, 2 or 3.")
        return cls._STRINGS[view_type]


class LifecycleStage:
    """Whether an experiment or run is active or deleted."""

    ACTIVE, DELETED = ACTIVE, DELETED

    @classmethod
    def view_type_to_stages(cls, view_type: int = ViewType.ALL) -> list[str]:
        return {ViewType.ACTIVE_ONLY: [ACTIVE], ViewType.DELETED_ONLY: [DELETED]}.get(view_type, [ACTIVE, DELETED])


@dataclass(frozen=True)
class Metric:
    key: str
    value: float
    timestamp: int
    step: int = 0


@dataclass(frozen=True)
class KeyValue:
    """A string ``key`` and its ``value``: the shape of MLflow's params and tags."""

    key: str
    value: str


class Param(KeyValue):
    """A run's param."""


class RunTag(KeyValue):
    """A run's tag."""


class ExperimentTag(KeyValue):
    """An experiment's tag."""


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


class InputTag(NamedTuple):
    """A tag on a dataset input (MLflow's ``InputTag``: ``.key``, ``.value``); still a (key, value) pair."""

    key: str
    value: str


@dataclass(frozen=True)
class Dataset:
    """A dataset as the store keeps it (MLflow's ``mlflow.entities.Dataset``): name, digest, where it
    came from, and its schema and profile as JSON text."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None

    def to_dictionary(self) -> dict[str, Any]:
        """The dataset's fields by name, as MLflow's ``Dataset.to_dictionary`` and REST API give them."""
        return {f.name: getattr(self, f.name) for f in fields(Dataset)}

    @classmethod
    def from_dictionary(cls, values: Mapping[str, Any]) -> "Dataset":
        """The entity of ``to_dictionary``'s form (or a dataset object's ``to_dict()``); keys that are
        not fields are left out."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


@dataclass(frozen=True)
class DatasetInput(Dataset):
    """A dataset a run used, with the input's tags (MLflow's ``DatasetInput``). It is the dataset
    entity plus ``tags``, so the dataset's fields read both as ``input.dataset.name`` (MLflow's
    spelling) and as ``input.name``."""

    tags: tuple[InputTag, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", tuple(InputTag(str(k), str(v)) for k, v in self.tags))

    @property
    def context(self) -> str | None:
        return dict(self.tags).get("mlflow.data.context")

    @property
    def dataset(self) -> Dataset:
        """The dataset entity, without the input's tags (MLflow's ``dataset_input.dataset``)."""
        return Dataset(**Dataset.to_dictionary(self))

    def to_dictionary(self) -> dict[str, Any]:
        """MLflow's layout: ``{"dataset": {...}, "tags": {key: value}}``."""
        return {"dataset": Dataset.to_dictionary(self), "tags": dict(self.tags)}


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

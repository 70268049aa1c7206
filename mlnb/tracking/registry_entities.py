"""What the model registry holds: registered models and their versions, with MLflow's names.

A registered model is a name with tags, a description and aliases (``champion`` -> version 3);
each ``register_model`` call adds a numbered version pointing at a model's files (``source``).
Times are milliseconds since the epoch; ``version`` is an int, as in MLflow's client entities
(MLflow's REST API writes it as a string).
"""

from __future__ import annotations

from dataclasses import dataclass, field

READY = "READY"
STAGE_NONE, STAGE_STAGING, STAGE_PRODUCTION, STAGE_ARCHIVED = "None", "Staging", "Production", "Archived"
STAGES = (STAGE_NONE, STAGE_STAGING, STAGE_PRODUCTION, STAGE_ARCHIVED)
#: MLflow keeps a deleted version's row (its number is never reused) with this stage
STAGE_DELETED_INTERNAL = "Deleted_Internal"
#: the tag MLflow 3 keeps on a logged model: the registry versions made from it (JSON)
TAG_MODEL_VERSIONS = "mlflow.modelVersions"


def canonical_stage(stage: str) -> str:
    """``"production"`` -> ``"Production"``; unknown stages are refused."""
    from mlnb.errors import InvalidParameterError

    for s in STAGES:
        if str(stage).lower() == s.lower():
            return s
    raise InvalidParameterError(f"Invalid model version stage {stage!r}; stages are {', '.join(STAGES)}.")


@dataclass
class ModelVersion:
    """One version of a registered model (MLflow's ``ModelVersion``)."""

    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int | None = None
    description: str | None = None
    user_id: str | None = None
    current_stage: str = STAGE_NONE
    source: str | None = None
    run_id: str | None = None
    status: str = READY
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    run_link: str | None = None
    aliases: list[str] = field(default_factory=list)
    model_id: str | None = None

    def __post_init__(self) -> None:
        self.version = int(self.version)
        if self.model_id is None and self.source and self.source.startswith("models:/"):
            ref = self.source[len("models:/"):].strip("/")
            if ref and "/" not in ref and "@" not in ref:  # models:/<model_id>: MLflow 3's logged model
                self.model_id = ref

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        from mlnb.cards import version_card_html, version_card_text

        return {"text/plain": version_card_text(self), "text/html": version_card_html(self)}


@dataclass
class RegisteredModel:
    """A registered model (MLflow's ``RegisteredModel``); ``aliases`` maps alias -> version."""

    name: str
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    description: str | None = None
    latest_versions: list[ModelVersion] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.aliases = {a: int(v) for a, v in self.aliases.items()}

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        from mlnb.cards import registered_model_card_html, registered_model_card_text

        return {"text/plain": registered_model_card_text(self), "text/html": registered_model_card_html(self)}


__all__ = ["ModelVersion", "RegisteredModel", "canonical_stage", "STAGES", "READY"]

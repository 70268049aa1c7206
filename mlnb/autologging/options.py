"""The options an autolog integration keeps while it is on, declared once for all of them.

Every integration's ``autolog`` takes MLflow's common keywords (``log_models``, ``log_datasets``,
``exclusive``, ``disable_for_unsupported_versions``, ``silent``, ``registered_model_name``,
``extra_tags``); :class:`Options` holds them, and an integration's own options class extends it
with the rest (importance types, checkpoints, ...). The keyword lists of the ``autolog`` functions
themselves stay written out in each integration: they are MLflow's signatures, and
``inspect.signature`` and IDEs read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlnb.errors import InvalidParameterError

if TYPE_CHECKING:
    from mlnb.autologging.checkpoints import Checkpoints


@dataclass(frozen=True, kw_only=True)
class Options:
    """The options every integration's ``autolog`` takes besides ``disable`` (MLflow's names and defaults)."""

    log_models: bool = True
    log_datasets: bool | None = None
    exclusive: bool = False
    disable_for_unsupported_versions: bool = False
    silent: bool = False
    registered_model_name: str | None = None
    extra_tags: dict = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class CheckpointOptions:
    """MLflow's ``checkpoint*`` options of the integrations that log checkpoints while training."""

    checkpoint: bool = True
    checkpoint_monitor: str = "val_loss"
    checkpoint_mode: str = "min"
    checkpoint_save_best_only: bool = True
    checkpoint_save_weights_only: bool = False
    checkpoint_save_freq: str | int = "epoch"

    def checkpoints(self, suffix: str) -> Checkpoints:
        """The checkpoints of one fit, as these options say, their files named ``*<suffix>``."""
        from mlnb.autologging.checkpoints import Checkpoints

        return Checkpoints(self.checkpoint_monitor, self.checkpoint_mode, self.checkpoint_save_best_only,
                           self.checkpoint_save_weights_only, self.checkpoint_save_freq, suffix)


def extra_tags_dict(extra_tags: Any) -> dict:
    """``autolog``'s ``extra_tags``, checked and copied: a dict of tag names to values (None: no tags)."""
    if extra_tags is not None and not isinstance(extra_tags, dict):
        raise InvalidParameterError(f"extra_tags must be a dict of tag names to values, got {type(extra_tags).__name__}.")
    return dict(extra_tags or {})


__all__ = ["Options", "CheckpointOptions", "extra_tags_dict"]

"""Autolog's model checkpoints while training (``checkpoint=True``), under MLflow's names, for every
integration that writes them (PyTorch Lightning, Keras on TensorFlow).

With ``checkpoint_save_best_only`` (the default) one checkpoint is kept and replaced each time the
monitored metric improves (``checkpoint_mode`` ``"min"`` or ``"max"``):
``checkpoints/latest_checkpoint[.weights]<suffix>`` beside ``checkpoints/latest_checkpoint_metrics.json``.
Otherwise every epoch (``checkpoints/epoch_<n>/``) or every ``checkpoint_save_freq`` steps
(``checkpoints/global_step_<n>/``) gets ``checkpoint[.weights]<suffix>`` and ``checkpoint_metrics.json``.
The run's ``mlflow.latest_checkpoint_artifact`` tag names the latest checkpoint file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any, Callable

from mlnb.autologging.session import FitRun
from mlnb.errors import InvalidParameterError

CHECKPOINT_TAG = "mlflow.latest_checkpoint_artifact"


def check_options(checkpoint: bool, mode: str, save_best_only: bool, save_freq: Any) -> None:
    """Refuse checkpoint options MLflow refuses, at ``autolog()``."""
    if checkpoint and save_best_only and mode not in ("min", "max"):
        raise InvalidParameterError(f"checkpoint_mode must be 'min' or 'max', got {mode!r}.")
    every_n = isinstance(save_freq, int) and not isinstance(save_freq, bool) and save_freq >= 1
    if checkpoint and not (save_freq == "epoch" or every_n):
        raise InvalidParameterError(f"checkpoint_save_freq must be 'epoch' or an int >= 1, got {save_freq!r}.")


@dataclass
class Checkpoints:
    """The checkpoints of one fit: which to keep, and where they go."""

    monitor: str
    mode: str
    save_best_only: bool
    weights_only: bool
    save_freq: str | int
    suffix: str                      # the framework's file extension: ".pth", ".h5"
    best: float | None = None        # the monitored value of the last kept checkpoint

    def save(self, run: FitRun, metrics: dict[str, float], epoch: int, global_step: int,
             write: Callable[[str], None]) -> bool:
        """Log a checkpoint (``write(path)`` writes the model file) if it is one to keep; True if it was."""
        if self.save_best_only:
            value = metrics.get(self.monitor)
            if value is None or (self.best is not None and
                                 (value >= self.best if self.mode == "min" else value <= self.best)):
                return False
            self.best = value
            sub, prefix = "", "latest_"
        else:
            sub = f"/epoch_{epoch}" if self.save_freq == "epoch" else f"/global_step_{global_step}"
            prefix = ""
        folder = run.artifact_name("checkpoints") + sub
        model_file = f"{prefix}checkpoint{'.weights' if self.weights_only else ''}{self.suffix}"
        run.add_tags({CHECKPOINT_TAG: f"{folder}/{model_file}"})
        record = {**metrics, "epoch": epoch, "global_step": global_step}
        run.files[f"{folder}/{prefix}checkpoint_metrics.json"] = json.dumps(record).encode()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, model_file)
            write(path)
            log_local_file(run, path, folder)
        return True


def log_local_file(run: FitRun, path: str, folder: str) -> None:
    """Log the file at ``path`` into the run's artifact ``folder`` now."""
    from mlnb.tracking.client import MlnbClient

    MlnbClient().log_artifact(run.run_id, path, folder)


__all__ = ["CHECKPOINT_TAG", "Checkpoints", "check_options", "log_local_file"]

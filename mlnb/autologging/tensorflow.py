"""TensorFlow autologging: ``mlnb.tensorflow.autolog()``, for Keras models on the TensorFlow backend
(the shared logic is :mod:`mlnb.autologging.keras`). Params use MLflow's ``opt_`` prefix, early
stopping is logged, checkpoints are logged while training (:mod:`mlnb.autologging.checkpoints`, files
``.h5`` as MLflow writes them), and the model is logged with the tensorflow flavor. MLflow's
TensorBoard logs are not written.
"""

from __future__ import annotations

from typing import Any

from mlnb.autologging import keras as shared

INTEGRATION = "tensorflow"


def autolog(
    log_models: bool = True,
    log_datasets: bool | None = None,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    saved_model_kwargs: dict | None = None,
    keras_model_kwargs: dict | None = None,
    extra_tags: dict[str, Any] | None = None,
    log_every_epoch: bool = True,
    log_every_n_steps: int | None = None,
    checkpoint: bool = True,
    checkpoint_monitor: str = "val_loss",
    checkpoint_mode: str = "min",
    checkpoint_save_best_only: bool = True,
    checkpoint_save_weights_only: bool = False,
    checkpoint_save_freq: Any = "epoch",
) -> None:
    """Log every Keras ``fit`` on the TensorFlow backend under MLflow's ``mlflow.tensorflow.autolog``
    names: fit's params and the optimizer's (``opt_<key>``), the per-epoch history (``log_every_epoch``,
    or every ``log_every_n_steps``), early stopping, the training data (``log_datasets``), checkpoints
    (``checkpoint*``: the best by ``checkpoint_monitor`` / ``checkpoint_mode``, or each epoch or n steps),
    ``model_summary.txt`` and the model (tensorflow flavor)."""
    options = {k: v for k, v in locals().items() if k != "saved_model_kwargs"}
    shared.enable(INTEGRATION, options)


def autolog_config() -> dict[str, Any] | None:
    """The options autologging is on with (``autolog``'s keyword arguments), or None when it is off."""
    return shared.config(INTEGRATION)


__all__ = ["autolog", "autolog_config", "INTEGRATION"]

"""``get_model_info``: what a saved or logged model is, read from its MLmodel (MLflow's ModelInfo)."""

from __future__ import annotations

import os

from mlnb.tracking.logged_models import ModelInfo


def get_model_info(model_uri: str | os.PathLike) -> ModelInfo:
    """The :class:`ModelInfo` of any model URI (``runs:/``, a path, ``s3://``...), read from its MLmodel."""
    from mlnb.models.reading import read_model

    _, meta = read_model(model_uri, warn_versions=False)
    return ModelInfo.from_mlmodel(os.fspath(model_uri), meta)


__all__ = ["get_model_info"]

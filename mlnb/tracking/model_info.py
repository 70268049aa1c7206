"""``get_model_info``: what a saved or logged model is, read from its MLmodel (MLflow's ModelInfo)."""

from __future__ import annotations

import os

from mlnb.tracking.logged_models import ModelInfo


def get_model_info(model_uri: str | os.PathLike) -> ModelInfo:
    """The :class:`ModelInfo` of any model URI (``runs:/``, a path, ``s3://``...), read from its MLmodel."""
    from mlnb.models.reading import read_model

    _, meta = read_model(model_uri, warn_versions=False)
    return ModelInfo(
        model_uri=os.fspath(model_uri),
        run_id=meta.run_id or "",
        artifact_path=meta.artifact_path or "",
        flavors=meta.flavors,
        signature=meta.get_signature(),
        model_uuid=meta.model_uuid,
        utc_time_created=meta.utc_time_created,
        mlflow_version=meta.mlflow_version or "",
        saved_input_example_info=meta.saved_input_example_info,
        metadata=meta.metadata,
    )


__all__ = ["get_model_info"]

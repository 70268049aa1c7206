"""The format core: MLmodel manifests, signatures, environments and the save skeleton.

It knows nothing of notebooks, runs or HTTP. Names are loaded lazily so that reading a manifest
never imports numpy or pandas. For MLflow's ``mlflow.models`` names, this package also re-exports
(lazily, by name only) ``evaluate``, ``get_model_info``, ``predict``, ``build_docker`` and friends from the packages
that implement them.
"""

_EXPORTS = {
    "Model": "mlnb.models.mlmodel",
    "ModelSignature": "mlnb.models.signature",
    "Schema": "mlnb.models.signature",
    "ColSpec": "mlnb.models.signature",
    "TensorSpec": "mlnb.models.signature",
    "ParamSpec": "mlnb.models.signature",
    "ParamSchema": "mlnb.models.signature",
    "infer_signature": "mlnb.models.signature",
    "ModelInfo": "mlnb.tracking.logged_models",
    "evaluate": "mlnb.evaluation",
    "make_metric": "mlnb.evaluation",
    "MetricThreshold": "mlnb.evaluation",
    "EvaluationResult": "mlnb.evaluation",
    "get_model_info": "mlnb.tracking.model_info",
    "validate_serving_input": "mlnb.serving.offline",
    "convert_input_example_to_serving_input": "mlnb.serving.offline",
    "predict": "mlnb.serving.offline",
    "update_model_requirements": "mlnb.tracking.model_edits",
    "set_model": "mlnb.models.code",
    "set_signature": "mlnb.tracking.model_edits",
    "validate_schema": "mlnb.models.signature",
    "infer_pip_requirements": "mlnb.models.model_requirements",
    "ModelInputExample": "mlnb.models.examples",
    "EvaluationArtifact": "mlnb.evaluation",
    "EvaluationMetric": "mlnb.evaluation",
    "list_evaluators": "mlnb.evaluation.evaluator",
    "build_docker": "mlnb.environments.docker",
}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mlnb.models' has no attribute {name!r}")

"""Model evaluation: ``evaluate()`` with MLflow's metrics, diagnostic plots, SHAP and a notebook widget.

Reached as ``mlnb.evaluate``, ``mlnb.EvaluationResult`` and ``mlnb.MetricThreshold`` (also as
``mlnb.models.evaluate``...). Names load on first use: ``MetricThreshold`` and
``validate_evaluation_results`` import neither pandas nor scikit-learn; matplotlib, shap and
ipywidgets are imported only when a plot, an explanation or the widget is made.
"""

from __future__ import annotations

_EXPORTS = {
    "evaluate": "mlnb.evaluation.evaluator",
    "EvaluationResult": "mlnb.evaluation.result",
    "EvaluationArtifact": "mlnb.evaluation.result",
    "MetricThreshold": "mlnb.evaluation.validation",
    "validate_evaluation_results": "mlnb.evaluation.validation",
    "ModelValidationFailedError": "mlnb.errors",
    "make_metric": "mlnb.evaluation.metrics",
    "EvaluationMetric": "mlnb.evaluation.metrics",
    "MetricValue": "mlnb.evaluation.metrics",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mlnb.evaluation' has no attribute {name!r}")

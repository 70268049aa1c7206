"""Model evaluation: ``evaluate()`` with MLflow's metrics, diagnostic plots, SHAP and a notebook widget.

Reached as ``mlnb.evaluate``, ``mlnb.EvaluationResult`` and ``mlnb.MetricThreshold``. matplotlib,
shap and ipywidgets are imported only when a plot, an explanation or the widget is made.
"""

from __future__ import annotations

from mlnb.errors import ModelValidationFailedError
from mlnb.evaluation.evaluator import evaluate
from mlnb.evaluation.metrics import EvaluationMetric, MetricValue, make_metric
from mlnb.evaluation.result import EvaluationArtifact, EvaluationResult
from mlnb.evaluation.validation import MetricThreshold, validate_evaluation_results

__all__ = [
    "evaluate", "EvaluationResult", "EvaluationArtifact", "MetricThreshold", "ModelValidationFailedError",
    "validate_evaluation_results", "make_metric", "EvaluationMetric", "MetricValue",
]

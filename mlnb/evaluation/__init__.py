"""Model evaluation: ``evaluate()`` with MLflow's metrics, diagnostic plots, SHAP and a notebook widget.

Reached as ``mlnb.evaluate``, ``mlnb.EvaluationResult`` and ``mlnb.MetricThreshold``. Each name is
imported when first used (module ``__getattr__``), so ``mlnb.MetricThreshold`` or the NumPy scores
in :mod:`mlnb.evaluation.scores` do not import pandas or scikit-learn; matplotlib, shap and
ipywidgets are imported only when a plot, an explanation or the widget is made.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# public name -> module that defines it
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

if TYPE_CHECKING:  # what IDEs and type checkers resolve
    from mlnb.errors import ModelValidationFailedError
    from mlnb.evaluation.evaluator import evaluate
    from mlnb.evaluation.metrics import EvaluationMetric, MetricValue, make_metric
    from mlnb.evaluation.result import EvaluationArtifact, EvaluationResult
    from mlnb.evaluation.validation import MetricThreshold, validate_evaluation_results


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mlnb.evaluation' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))

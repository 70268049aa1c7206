"""Validate a candidate against thresholds and a baseline with validate_evaluation_results."""
import json

import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

import mlflow
from mlflow.models import MetricThreshold

data = load_breast_cancer(as_frame=True)
X, y = data.data, data.target
eval_data = X.assign(label=y)
candidate = LogisticRegression(max_iter=3000, random_state=0).fit(X, y)
baseline = DummyClassifier(strategy="most_frequent").fit(X, y)
config = {"log_model_explainability": False}

with mlflow.start_run():
    candidate_result = mlflow.evaluate(candidate.predict, eval_data, targets="label", model_type="classifier",
                                       evaluator_config=config)
with mlflow.start_run():
    baseline_result = mlflow.evaluate(baseline.predict, eval_data, targets="label", model_type="classifier",
                                      evaluator_config=config)

passing = {"accuracy_score": MetricThreshold(threshold=0.8, min_absolute_change=0.05, greater_is_better=True)}
mlflow.validate_evaluation_results(passing, candidate_result, baseline_result)
failing = {"accuracy_score": MetricThreshold(threshold=0.99, greater_is_better=True)}
try:
    mlflow.validate_evaluation_results(failing, candidate_result, baseline_result)
    failed = None
except Exception as exc:
    failed = type(exc).__name__
record = {
    "candidate_accuracy": round(candidate_result.metrics["accuracy_score"], 6),
    "baseline_accuracy": round(baseline_result.metrics["accuracy_score"], 6),
    "failure": failed,
}
print("COMPAT_RECORD " + json.dumps(record))

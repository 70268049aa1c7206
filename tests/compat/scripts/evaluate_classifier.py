"""mlflow.evaluate on a logged binary classifier with the default evaluator."""
import json

import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import mlflow

data = load_breast_cancer(as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(data.data, data.target, test_size=0.3, random_state=0)
model = LogisticRegression(max_iter=3000, random_state=0).fit(X_train, y_train)
eval_data = X_test.copy()
eval_data["label"] = y_test

with mlflow.start_run():
    info = mlflow.sklearn.log_model(model, name="model")
    result = mlflow.evaluate(
        info.model_uri,
        eval_data,
        targets="label",
        model_type="classifier",
        evaluators=["default"],
        evaluator_config={"default": {"log_model_explainability": False}},
    )

keys = ["accuracy_score", "precision_score", "recall_score", "f1_score", "log_loss", "roc_auc",
        "precision_recall_auc", "true_positives", "false_positives", "true_negatives", "false_negatives",
        "example_count"]
record = {
    "metrics": {k: round(float(result.metrics[k]), 6) for k in keys},
    "artifacts": sorted(k for k in result.artifacts if k in ("roc_curve_plot", "confusion_matrix",
                                                              "precision_recall_curve_plot")),
}
print("COMPAT_RECORD " + json.dumps(record))

"""Metrics computed after training (sklearn.metrics on a test split) are logged by autolog."""
import json

from sklearn.datasets import load_breast_cancer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

import mlflow

mlflow.sklearn.autolog(log_models=False, log_datasets=False)
X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
with mlflow.start_run() as run:
    model = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X_train, y_train)
    predictions = model.predict(X_test)
    accuracy_score(y_test, predictions)
    f1_score(y_test, predictions)

metrics = mlflow.get_run(run.info.run_id).data.metrics
record = {
    "post_training": {k: round(v, 6) for k, v in metrics.items() if not k.startswith("training_")},
    "training_accuracy": round(metrics["training_accuracy_score"], 6),
}
print("COMPAT_RECORD " + json.dumps(record))

"""Autologging a GridSearchCV: the parent run's best params and one child run per candidate."""
import json

from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

import mlflow

mlflow.sklearn.autolog(log_models=False, log_datasets=False)
X, y = load_iris(return_X_y=True)
search = GridSearchCV(SVC(), {"C": [0.1, 1.0], "kernel": ["linear", "rbf"]}, cv=3)
with mlflow.start_run() as run:
    search.fit(X, y)

parent = mlflow.get_run(run.info.run_id).data
children = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'")
record = {
    "best_params": {k: v for k, v in parent.params.items() if k.startswith("best_")},
    "best_cv_score": round(parent.metrics["best_cv_score"], 6),
    "children": len(children),
    "child_params": sorted(zip(children["params.C"], children["params.kernel"])),
    "artifacts": sorted(f.path for f in mlflow.MlflowClient().list_artifacts(run.info.run_id)),
}
print("COMPAT_RECORD " + json.dumps(record))

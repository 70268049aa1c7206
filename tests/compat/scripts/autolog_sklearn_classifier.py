"""mlflow.sklearn.autolog on a classifier: params, training metrics and tags of the run."""
import json

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mlflow

mlflow.sklearn.autolog()
X, y = load_iris(return_X_y=True)
with mlflow.start_run() as run:
    LogisticRegression(C=0.5, max_iter=300, random_state=0).fit(X, y)

data = mlflow.get_run(run.info.run_id).data
record = {
    "params": {k: data.params[k] for k in ("C", "max_iter", "solver", "random_state")},
    "metric_names": sorted(data.metrics),
    "metrics": {k: round(v, 6) for k, v in data.metrics.items()},
    "estimator_tags": {k: data.tags[k] for k in ("estimator_name", "estimator_class")},
}
print("COMPAT_RECORD " + json.dumps(record))

"""MLflow 3's logged models: model_id, models:/<model_id>, get/search/last logged model."""
import json

import numpy as np
from sklearn.linear_model import LogisticRegression

import mlflow

X = np.array([[0.0], [1.0], [2.0], [3.0]])
y = np.array([0, 0, 1, 1])
with mlflow.start_run() as run:
    info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="classifier", params={"C": 1.0})

logged = mlflow.get_logged_model(info.model_id)
found = mlflow.search_logged_models(output_format="list")
loaded = mlflow.pyfunc.load_model(f"models:/{info.model_id}")
record = {
    "uri_is_model_id": info.model_uri == f"models:/{info.model_id}",
    "name": logged.name,
    "source_run_matches": logged.source_run_id == run.info.run_id,
    "params": logged.params,
    "last_matches": mlflow.last_logged_model().model_id == info.model_id,
    "found": [m.name for m in found],
    "predictions": loaded.predict(np.array([[0.5], [2.5]])).tolist(),
}
print("COMPAT_RECORD " + json.dumps(record))

"""Log with registered_model_name, register again, load models:/<name>/<version>."""
import json

import numpy as np
from sklearn.linear_model import LinearRegression

import mlflow

X = np.arange(10, dtype=float).reshape(-1, 1)
y = 2 * X.ravel() + 1
model = LinearRegression().fit(X, y)

with mlflow.start_run() as run:
    mlflow.sklearn.log_model(model, name="model", registered_model_name="line-fitter")
second = mlflow.register_model(f"runs:/{run.info.run_id}/model", "line-fitter")

client = mlflow.MlflowClient()
registered = client.get_registered_model("line-fitter")
versions = client.search_model_versions("name = 'line-fitter'")
loaded = mlflow.pyfunc.load_model("models:/line-fitter/1")
record = {
    "name": registered.name,
    "second_version": second.version,
    "versions": sorted(v.version for v in versions),
    "predictions": loaded.predict(np.array([[20.0]])).tolist(),
}
print("COMPAT_RECORD " + json.dumps(record))

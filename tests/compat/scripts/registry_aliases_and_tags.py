"""Aliases and tags on model versions; models:/<name>@<alias> loads the aliased version."""
import json

import numpy as np
from sklearn.linear_model import LinearRegression

import mlflow
from mlflow import MlflowClient

client = MlflowClient()
client.create_registered_model("scorer", description="scores things")
for slope in (1.0, 3.0):
    X = np.arange(5, dtype=float).reshape(-1, 1)
    model = LinearRegression().fit(X, slope * X.ravel())
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model")
    client.create_model_version("scorer", info.model_uri, run_id=info.run_id)

client.set_registered_model_alias("scorer", "champion", "2")
client.set_model_version_tag("scorer", "2", "validated", "true")
champion = client.get_model_version_by_alias("scorer", "champion")
loaded = mlflow.pyfunc.load_model("models:/scorer@champion")
record = {
    "champion_version": champion.version,
    "champion_tags": champion.tags,
    "aliases": client.get_registered_model("scorer").aliases,
    "description": client.get_registered_model("scorer").description,
    "prediction": loaded.predict(np.array([[2.0]])).round(6).tolist(),
}
print("COMPAT_RECORD " + json.dumps(record))

"""A model logged in a run is loaded again through runs:/<run_id>/<name>."""
import json

import numpy as np
from sklearn.tree import DecisionTreeRegressor

import mlflow

rng = np.random.default_rng(0)
X = rng.normal(size=(80, 4))
y = X[:, 0] ** 2 + X[:, 1]
model = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X, y)

with mlflow.start_run() as run:
    mlflow.log_param("max_depth", 3)
    mlflow.sklearn.log_model(model, name="tree", serialization_format="cloudpickle")

loaded = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/tree")
record = {
    "predictions": loaded.predict(X[:6]).tolist(),
    "native_depth": mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/tree").get_depth(),
    "serialization_format": loaded.metadata.flavors["sklearn"]["serialization_format"],
}
print("COMPAT_RECORD " + json.dumps(record))

"""save_model to a folder with an inferred signature; the folder's files and MLmodel keys."""
import json
import os

import numpy as np
import pandas as pd
import yaml
from sklearn.linear_model import Ridge

import mlflow
from mlflow.models import infer_signature

rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(50, 3)), columns=["a", "b", "c"])
y = X["a"] * 2 - X["c"] + 0.1
model = Ridge(alpha=0.5).fit(X, y)
signature = infer_signature(X, model.predict(X))
mlflow.sklearn.save_model(model, "ridge_model", signature=signature)

with open(os.path.join("ridge_model", "MLmodel")) as f:
    mlmodel = yaml.safe_load(f)
loaded = mlflow.pyfunc.load_model("ridge_model")
record = {
    "files": sorted(os.listdir("ridge_model")),
    "mlmodel_keys": sorted(mlmodel),
    "sklearn_flavor_keys": sorted(mlmodel["flavors"]["sklearn"]),
    "pyfunc_flavor_keys": sorted(mlmodel["flavors"]["python_function"]),
    "signature": mlmodel["signature"],
    "predictions": loaded.predict(X.head(5)).tolist(),
    "input_names": loaded.metadata.get_input_schema().input_names(),
}
print("COMPAT_RECORD " + json.dumps(record))

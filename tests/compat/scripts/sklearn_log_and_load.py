"""Train, log with an input example, load back through pyfunc and the sklearn flavor."""
import json

import pandas as pd
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mlflow
import mlflow.sklearn

iris = load_iris(as_frame=True)
X, y = iris.data, iris.target
model = LogisticRegression(max_iter=500, random_state=0).fit(X, y)

with mlflow.start_run():
    info = mlflow.sklearn.log_model(model, name="model", input_example=X.head(3))

pyfunc_model = mlflow.pyfunc.load_model(info.model_uri)
native = mlflow.sklearn.load_model(info.model_uri)
sample = X.iloc[[0, 50, 100, 120]]
record = {
    "pyfunc_predictions": pyfunc_model.predict(sample).tolist(),
    "native_proba": native.predict_proba(sample).round(6).tolist(),
    "signature": info.signature.to_dict(),
    "flavors": sorted(info.flavors),
    "loader_module": info.flavors["python_function"]["loader_module"],
    "input_example_info": info.saved_input_example_info,
    "uri_scheme": info.model_uri.split(":")[0],
}
print("COMPAT_RECORD " + json.dumps(record))

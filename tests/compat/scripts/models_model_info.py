"""Inspect a logged model without loading it: get_model_info, Model.load, validate_serving_input."""
import json

import pandas as pd
from sklearn.linear_model import LinearRegression

import mlflow
from mlflow.models import Model, convert_input_example_to_serving_input, get_model_info, validate_serving_input

X = pd.DataFrame({"x1": [1.0, 2.0, 3.0, 4.0], "x2": [0.5, 0.1, 0.3, 0.9]})
y = [2.0, 4.1, 6.2, 7.9]
model = LinearRegression().fit(X, y)

with mlflow.start_run():
    info = mlflow.sklearn.log_model(model, name="linear", input_example=X.head(2))

about = get_model_info(info.model_uri)
meta = Model.load(info.model_uri)
serving_input = convert_input_example_to_serving_input(X.head(2))
served = validate_serving_input(info.model_uri, serving_input)
record = {
    "flavors": sorted(about.flavors),
    "signature_inputs": about.signature.inputs.to_dict(),
    "meta_flavors": sorted(meta.flavors),
    "serving_input": json.loads(serving_input),
    "served": [round(v, 6) for v in served.tolist()],
}
print("COMPAT_RECORD " + json.dumps(record))

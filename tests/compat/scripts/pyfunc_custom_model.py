"""A custom PythonModel saved, loaded and used on a DataFrame."""
import json

import pandas as pd

import mlflow


class AddN(mlflow.pyfunc.PythonModel):
    def __init__(self, n):
        self.n = n

    def predict(self, context, model_input, params=None):
        return model_input.apply(lambda column: column + self.n)


mlflow.pyfunc.save_model(path="add_n_model", python_model=AddN(n=5))
loaded = mlflow.pyfunc.load_model("add_n_model")
frame = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5]})
out = loaded.predict(frame)
record = {
    "type": type(out).__name__,
    "predictions": out.to_dict(orient="list"),
    "loader_module": loaded.metadata.flavors["python_function"]["loader_module"],
    "unwrapped_n": loaded.unwrap_python_model().n,
}
print("COMPAT_RECORD " + json.dumps(record))

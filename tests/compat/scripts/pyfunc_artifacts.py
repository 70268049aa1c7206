"""A PythonModel that reads its artifacts in load_context."""
import json

import pandas as pd

import mlflow
from mlflow.pyfunc import PythonModel


class Lookup(PythonModel):
    def load_context(self, context):
        with open(context.artifacts["table"]) as f:
            self.table = json.load(f)

    def predict(self, context, model_input, params=None):
        return [self.table.get(word, -1) for word in model_input["word"]]


with open("table.json", "w") as f:
    json.dump({"cat": 1, "dog": 2}, f)

with mlflow.start_run():
    info = mlflow.pyfunc.log_model(
        name="lookup",
        python_model=Lookup(),
        artifacts={"table": "table.json"},
        input_example=pd.DataFrame({"word": ["cat"]}),
    )

loaded = mlflow.pyfunc.load_model(info.model_uri)
record = {
    "predictions": list(loaded.predict(pd.DataFrame({"word": ["dog", "cat", "eel"]}))),
    "artifacts_conf": sorted(info.flavors["python_function"]["artifacts"]),
    "artifact_path": info.flavors["python_function"]["artifacts"]["table"]["path"],
}
print("COMPAT_RECORD " + json.dumps(record))

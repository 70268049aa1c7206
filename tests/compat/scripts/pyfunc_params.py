"""Inference parameters declared in the signature and passed at predict time."""
import json

import pandas as pd

import mlflow
from mlflow.models import infer_signature


class Repeat(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        times = (params or {}).get("times", 1)
        return [text * times for text in model_input["text"]]


data = pd.DataFrame({"text": ["ab", "c"]})
signature = infer_signature(data, ["abab", "cc"], params={"times": 2})
mlflow.pyfunc.save_model("repeat_model", python_model=Repeat(), signature=signature)
loaded = mlflow.pyfunc.load_model("repeat_model")
record = {
    "default_param": list(loaded.predict(data)),
    "explicit_param": list(loaded.predict(data, params={"times": 3})),
    "params_schema": signature.params.to_dict(),
    "signature": signature.to_dict(),
}
print("COMPAT_RECORD " + json.dumps(record))

"""A custom model logged with a signature, then found through the run and its model URI."""
import json

import numpy as np
import pandas as pd

import mlflow
from mlflow.models import infer_signature


class Threshold(mlflow.pyfunc.PythonModel):
    def __init__(self, cut):
        self.cut = cut

    def predict(self, context, model_input, params=None):
        return (model_input["score"] > self.cut).astype(int)


rng = np.random.default_rng(0)
frame = pd.DataFrame({"score": rng.random(10).round(3)})
model = Threshold(0.5)
signature = infer_signature(frame, model.predict(None, frame))
with mlflow.start_run() as run:
    info = mlflow.pyfunc.log_model(name="threshold", python_model=model, signature=signature)

by_model_uri = mlflow.pyfunc.load_model(info.model_uri)
by_run_uri = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/threshold")
record = {
    "predictions": by_model_uri.predict(frame).tolist(),
    "same_by_run_uri": by_run_uri.predict(frame).tolist() == by_model_uri.predict(frame).tolist(),
    "signature": info.signature.to_dict(),
    "run_matches": info.run_id == run.info.run_id,
}
print("COMPAT_RECORD " + json.dumps(record))

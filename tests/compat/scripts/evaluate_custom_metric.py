"""A custom metric made with make_metric, evaluated on static predictions in a DataFrame."""
import json

import numpy as np
import pandas as pd

import mlflow
from mlflow.models import make_metric


def within_one(predictions, targets, metrics):
    return float(np.mean(np.abs(predictions - targets) <= 1.0))


within_one_metric = make_metric(eval_fn=within_one, greater_is_better=True, name="within_one")
frame = pd.DataFrame({"target": [3.0, 5.0, 2.5, 8.0, 1.0], "prediction": [2.5, 7.0, 2.0, 8.4, 0.1]})
with mlflow.start_run():
    result = mlflow.evaluate(
        data=frame, targets="target", predictions="prediction", model_type="regressor",
        extra_metrics=[within_one_metric],
    )
record = {
    "within_one": result.metrics["within_one"],
    "mae": round(result.metrics["mean_absolute_error"], 6),
    "metric_name": within_one_metric.name,
}
print("COMPAT_RECORD " + json.dumps(record))

"""mlflow.models.evaluate on a regressor passed as a function, no run opened by the script."""
import json

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

import mlflow

rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["x0", "x1", "x2"])
y = 3 * X["x0"] - X["x1"] + rng.normal(scale=0.2, size=200) + 10
model = LinearRegression().fit(X, y)
eval_data = X.assign(target=y)

result = mlflow.models.evaluate(
    model.predict, eval_data, targets="target", model_type="regressor",
    evaluator_config={"log_model_explainability": False},
)
keys = ["example_count", "mean_absolute_error", "mean_squared_error", "root_mean_squared_error", "sum_on_target",
        "mean_on_target", "r2_score", "max_error", "mean_absolute_percentage_error"]
record = {
    "metrics": {k: round(float(result.metrics[k]), 6) for k in keys},
    "logged": sorted(k for k in mlflow.last_active_run().data.metrics if k in keys),
}
print("COMPAT_RECORD " + json.dumps(record))

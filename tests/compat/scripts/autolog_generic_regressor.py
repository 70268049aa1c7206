"""mlflow.autolog() with no run open: the fit starts and ends a run of its own."""
import json

import numpy as np
from sklearn.linear_model import Ridge

import mlflow

mlflow.autolog(log_models=False)
rng = np.random.default_rng(0)
X = rng.normal(size=(100, 4))
y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(scale=0.1, size=100)
Ridge(alpha=1.0).fit(X, y)

run = mlflow.last_active_run()
record = {
    "status": run.info.status,
    "params": {k: run.data.params[k] for k in ("alpha", "fit_intercept")},
    "metric_names": sorted(run.data.metrics),
    "metrics": {k: round(v, 6) for k, v in run.data.metrics.items()},
    "estimator_name": run.data.tags["estimator_name"],
}
print("COMPAT_RECORD " + json.dumps(record))

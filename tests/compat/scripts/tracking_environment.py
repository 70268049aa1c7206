"""MLflow's environment variables choose the experiment and say where runs go."""
import json
import os

os.environ["MLFLOW_EXPERIMENT_NAME"] = "from-the-environment"

import mlflow

with mlflow.start_run() as run:
    mlflow.log_param("x", 1)

experiment = mlflow.get_experiment(run.info.experiment_id)
record = {
    "experiment": experiment.name,
    "tracking_uri_is_env": mlflow.get_tracking_uri() == os.environ["MLFLOW_TRACKING_URI"],
    "db_exists": os.path.exists("mlflow.db"),
}
print("COMPAT_RECORD " + json.dumps(record))

"""Log params, metrics and tags in a run, then read them back."""
import json

import mlflow

mlflow.set_experiment("params-and-metrics")
with mlflow.start_run(run_name="baseline") as run:
    mlflow.log_param("learning_rate", 0.01)
    mlflow.log_params({"epochs": 5, "optimizer": "adam"})
    mlflow.log_metric("loss", 0.75)
    mlflow.log_metrics({"accuracy": 0.9, "f1": 0.85})
    mlflow.set_tag("team", "vision")
    mlflow.set_tags({"stage": "dev", "owner": "ana"})

fetched = mlflow.get_run(run.info.run_id)
record = {
    "status": fetched.info.status,
    "run_name": fetched.info.run_name,
    "params": fetched.data.params,
    "metrics": fetched.data.metrics,
    "user_tags": {k: v for k, v in fetched.data.tags.items() if not k.startswith("mlflow.")},
    "run_name_tag": fetched.data.tags["mlflow.runName"],
    "active_after": mlflow.active_run() is None,
}
print("COMPAT_RECORD " + json.dumps(record))

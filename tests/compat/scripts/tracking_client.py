"""MlflowClient with explicit ids: create, log in batches, terminate, read back."""
import json
import time

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

client = MlflowClient()
experiment_id = client.create_experiment("client-demo", tags={"project": "demo"})
run = client.create_run(experiment_id, run_name="by-hand")
now = int(time.time() * 1000)
client.log_param(run.info.run_id, "alpha", 0.5)
client.log_batch(
    run.info.run_id,
    metrics=[Metric("rmse", 1.5, now, 0), Metric("rmse", 1.2, now, 1)],
    params=[Param("beta", "2")],
    tags=[RunTag("source", "script")],
)
client.set_tag(run.info.run_id, "reviewed", "yes")
client.set_terminated(run.info.run_id, status="FINISHED")
got = client.get_run(run.info.run_id)
experiment = client.get_experiment(experiment_id)
record = {
    "status": got.info.status,
    "params": got.data.params,
    "metrics": got.data.metrics,
    "tags": {k: v for k, v in got.data.tags.items() if not k.startswith("mlflow.")},
    "experiment": [experiment.name, experiment.lifecycle_stage, experiment.tags.get("project")],
    "history": [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "rmse")],
}
print("COMPAT_RECORD " + json.dumps(record))

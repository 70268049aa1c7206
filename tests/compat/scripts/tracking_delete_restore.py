"""Delete a run, search with each view type, then restore it."""
import json

import mlflow
from mlflow.entities import ViewType

experiment_id = mlflow.create_experiment("cleanup")
ids = []
for i in range(3):
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"r{i}") as run:
        ids.append(run.info.run_id)

client = mlflow.MlflowClient()
client.delete_run(ids[1])
views = {}
for label, view in [("active", ViewType.ACTIVE_ONLY), ("deleted", ViewType.DELETED_ONLY), ("all", ViewType.ALL)]:
    found = mlflow.search_runs([experiment_id], run_view_type=view, order_by=["attributes.run_name ASC"])
    views[label] = found["tags.mlflow.runName"].tolist()
stage = client.get_run(ids[1]).info.lifecycle_stage
client.restore_run(ids[1])
record = {
    "views": views,
    "deleted_stage": stage,
    "restored_stage": client.get_run(ids[1]).info.lifecycle_stage,
}
print("COMPAT_RECORD " + json.dumps(record))

"""A parent run with nested child runs, found again by their parent's id."""
import json

import mlflow

mlflow.set_experiment("tuning")
with mlflow.start_run(run_name="parent") as parent:
    for lr in (0.1, 0.01, 0.001):
        with mlflow.start_run(run_name=f"lr-{lr}", nested=True):
            mlflow.log_param("lr", lr)
            mlflow.log_metric("score", 1.0 - lr)
    inner_active = mlflow.active_run().info.run_id == parent.info.run_id

children = mlflow.search_runs(
    filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    order_by=["params.lr ASC"],
)
record = {
    "parent_active_again": inner_active,
    "children": len(children),
    "child_names": children["tags.mlflow.runName"].tolist(),
    "child_lrs": children["params.lr"].tolist(),
    "child_scores": children["metrics.score"].tolist(),
}
print("COMPAT_RECORD " + json.dumps(record))

"""search_runs with a filter and an ordering, as a DataFrame and as a list."""
import json

import mlflow

experiment_id = mlflow.create_experiment("search-me")
for i, acc in enumerate([0.2, 0.9, 0.6, 0.75, 0.4]):
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"run-{i}"):
        mlflow.log_param("i", i)
        mlflow.log_metric("acc", acc)
        mlflow.set_tag("kind", "even" if i % 2 == 0 else "odd")

frame = mlflow.search_runs(
    experiment_ids=[experiment_id],
    filter_string="metrics.acc > 0.5 and tags.kind = 'odd'",
    order_by=["metrics.acc DESC"],
)
runs = mlflow.search_runs(
    experiment_ids=[experiment_id], filter_string="params.i != '0'", output_format="list",
    order_by=["metrics.acc ASC"], max_results=3,
)
by_name = mlflow.search_runs(experiment_names=["search-me"], filter_string="attributes.run_name = 'run-2'")
record = {
    "columns": sorted(c for c in frame.columns if c.startswith(("metrics.", "params.", "tags.kind"))),
    "fixed_columns": [c for c in ("run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time")
                      if c in frame.columns],
    "acc": frame["metrics.acc"].tolist(),
    "names": frame["tags.mlflow.runName"].tolist(),
    "list_names": [r.info.run_name for r in runs],
    "by_name": by_name["params.i"].tolist(),
}
print("COMPAT_RECORD " + json.dumps(record))

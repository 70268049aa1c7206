"""Create, find, list and tag experiments with the fluent API."""
import json

import mlflow

first = mlflow.create_experiment("forecasting", tags={"area": "sales"})
mlflow.set_experiment("churn")
mlflow.set_experiment_tag("owner", "data-team")
by_name = mlflow.get_experiment_by_name("forecasting")
by_id = mlflow.get_experiment(first)
churn = mlflow.get_experiment_by_name("churn")
names = sorted(e.name for e in mlflow.search_experiments())
record = {
    "same": by_name.experiment_id == by_id.experiment_id == first,
    "name": by_id.name,
    "tags": {k: v for k, v in by_id.tags.items() if not k.startswith("mlflow.")},
    "churn_tags": {k: v for k, v in churn.tags.items() if not k.startswith("mlflow.")},
    "stage": by_id.lifecycle_stage,
    "names": names,
    "missing": mlflow.get_experiment_by_name("nope") is None,
}
print("COMPAT_RECORD " + json.dumps(record))

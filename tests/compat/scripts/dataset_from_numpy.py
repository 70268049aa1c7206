"""A numpy dataset with features and targets; its schema and profile."""
import json

import numpy as np

import mlflow

rng = np.random.default_rng(0)
features = rng.random((6, 2)).round(3)
targets = np.array([0, 1, 0, 1, 1, 0])
np.save("features.npy", features)
dataset = mlflow.data.from_numpy(features, targets=targets, source="features.npy", name="numbers")
with mlflow.start_run() as run:
    mlflow.log_input(dataset, context="evaluation", tags={"split": "test"})

inputs = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
record = {
    "name": dataset.name,
    "digest": dataset.digest,
    "profile": dataset.profile,
    "schema": dataset.schema.to_dict() if hasattr(dataset.schema, "to_dict") else str(dataset.schema),
    "tags": sorted((t.key, t.value) for t in inputs[0].tags),
}
print("COMPAT_RECORD " + json.dumps(record))

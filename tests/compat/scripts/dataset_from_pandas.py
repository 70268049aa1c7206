"""A pandas dataset logged as a run input, read back from the run."""
import json

import pandas as pd

import mlflow

frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
dataset = mlflow.data.from_pandas(frame, source="data/train.csv", targets="y", name="train-set")
with mlflow.start_run() as run:
    mlflow.log_input(dataset, context="training")

inputs = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
logged = inputs[0].dataset
record = {
    "count": len(inputs),
    "name": logged.name,
    "digest": logged.digest,
    "source_type": logged.source_type,
    "schema": json.loads(logged.schema),
    "context": {t.key: t.value for t in inputs[0].tags},
    "targets": dataset.targets,
    "profile": json.loads(logged.profile),
}
print("COMPAT_RECORD " + json.dumps(record))

"""Text, dict, file and directory artifacts, listed and downloaded again."""
import json
import os

import mlflow
from mlflow import MlflowClient

os.makedirs("outputs/plots", exist_ok=True)
with open("outputs/summary.txt", "w") as f:
    f.write("all good\n")
with open("outputs/plots/curve.csv", "w") as f:
    f.write("x,y\n0,1\n")
with open("notes.md", "w") as f:
    f.write("# notes\n")

with mlflow.start_run() as run:
    mlflow.log_text("hello", "texts/greeting.txt")
    mlflow.log_dict({"a": 1, "b": [1, 2]}, "config.json")
    mlflow.log_artifact("notes.md")
    mlflow.log_artifacts("outputs", artifact_path="outputs")

client = MlflowClient()
top = sorted((f.path, f.is_dir) for f in client.list_artifacts(run.info.run_id))
nested = sorted(f.path for f in client.list_artifacts(run.info.run_id, "outputs/plots"))
local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="config.json")
with open(local) as f:
    config = json.load(f)
text = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/texts/greeting.txt")
record = {"top": top, "nested": nested, "config": config, "text": text}
print("COMPAT_RECORD " + json.dumps(record))

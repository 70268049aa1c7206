"""A metric logged at every step of a training loop; its history read back."""
import json

import numpy as np

import mlflow

rng = np.random.default_rng(0)
with mlflow.start_run() as run:
    loss = 1.0
    for step in range(20):
        loss *= 0.9 + 0.05 * rng.random()
        mlflow.log_metric("loss", loss, step=step)
    mlflow.log_metrics({"val_loss": loss * 1.1, "val_acc": 0.8}, step=19)

client = mlflow.MlflowClient()
history = client.get_metric_history(run.info.run_id, "loss")
final = mlflow.get_run(run.info.run_id).data.metrics
record = {
    "steps": [m.step for m in history],
    "values": [m.value for m in history],
    "latest": final,
}
print("COMPAT_RECORD " + json.dumps(record))

"""MLflow 3's logged-model lifecycle: build a model step by step, tag it, give it metrics, search
for it by metric and param, keep an evaluation table, and copy a registered version."""
import json

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import mlflow
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus

X = np.array([[0.0], [1.0], [2.0], [3.0]])
y = np.array([0, 0, 1, 1])
client = MlflowClient()
results = []
with mlflow.start_run() as run:
    for c in (0.1, 1.0):
        info = mlflow.sklearn.log_model(LogisticRegression(C=c).fit(X, y), name=f"clf-{int(c * 10)}", params={"C": c})
        mlflow.log_metric("accuracy", 0.5 + c / 4, model_id=info.model_id)
        mlflow.set_logged_model_tags(info.model_id, {"stage": "candidate"})
        results.append({"C": c, "accuracy": 0.5 + c / 4})
    draft = mlflow.initialize_logged_model(name="draft", params={"C": "9"})
    mlflow.finalize_logged_model(draft.model_id, LoggedModelStatus.FAILED)
    mlflow.log_table(pd.DataFrame(results), artifact_file="eval/results.json")

best = mlflow.search_logged_models(filter_string="metrics.accuracy > 0.6 AND tags.stage = 'candidate'",
                                   order_by=[{"field_name": "metrics.accuracy", "ascending": False}],
                                   output_format="list")
draft_status = str(mlflow.get_logged_model(draft.model_id).status)
client.delete_logged_model_tag(best[0].model_id, "stage")
mv = mlflow.register_model(f"models:/{best[0].model_id}", "churn-dev")
copy = client.copy_model_version(f"models:/churn-dev/{mv.version}", "churn-prod")
table = mlflow.load_table("eval/results.json", extra_columns=["run_id"])
record = {
    "best": [m.name for m in best],
    "draft_status": draft_status,
    "best_tags": sorted(k for k in mlflow.get_logged_model(best[0].model_id).tags if not k.startswith("mlflow.")),
    "copy": [copy.name, int(copy.version), copy.source],
    "table": table[["C", "accuracy"]].to_dict(orient="list"),
    "table_run_matches": set(table["run_id"]) == {run.info.run_id},
    "prod_predicts": mlflow.pyfunc.load_model("models:/churn-prod/1").predict(np.array([[0.2], [2.8]])).tolist(),
}
print("COMPAT_RECORD " + json.dumps(record))

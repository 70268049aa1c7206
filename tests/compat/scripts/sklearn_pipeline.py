"""A preprocessing pipeline logged as one model; predict_proba chosen as the pyfunc method."""
import json

from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlflow
from mlflow.models import infer_signature

data = load_breast_cancer(as_frame=True)
X, y = data.data, data.target
pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=0)).fit(X, y)
signature = infer_signature(X, pipeline.predict_proba(X))

with mlflow.start_run():
    info = mlflow.sklearn.log_model(
        pipeline, name="pipeline", signature=signature, pyfunc_predict_fn="predict_proba",
    )

loaded = mlflow.pyfunc.load_model(info.model_uri)
record = {
    "proba": loaded.predict(X.head(4)).round(6).tolist(),
    "predict_fn": info.flavors["python_function"]["predict_fn"],
    "output_schema": loaded.metadata.get_output_schema().to_dict(),
    "steps": [name for name, _ in mlflow.sklearn.load_model(info.model_uri).steps],
}
print("COMPAT_RECORD " + json.dumps(record))

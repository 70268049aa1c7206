"""Model registry: mlnb's registry store against MLflow's, on one SQLite file MLflow created.

    python benchmarks/run.py registry

1. create_model_version on an existing registered model;
2. get_model_version_by_alias and search_model_versions (500 versions of one model);
3. pyfunc.load_model("models:/<name>@champion") of a small scikit-learn model.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import median_of, report, scratch_dir  # noqa: E402

N_VERSIONS = 500


def main() -> None:
    logging.disable(logging.WARNING)
    for var in ("MLNB_TRACKING_URI", "MLNB_REGISTRY_URI", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        os.environ.pop(var, None)
    tmp = scratch_dir("mlnb-bench-registry-")
    os.chdir(tmp)
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import mlflow
    import mlnb
    import mlnb.pyfunc
    import mlnb.sklearn

    db = f"sqlite:///{tmp / 'mlflow.db'}"
    theirs = mlflow.MlflowClient(tracking_uri=db, registry_uri=db)
    theirs.search_experiments()  # MLflow creates the schema
    ours = mlnb.MlnbClient(registry_uri=db)
    X = np.random.default_rng(0).normal(size=(200, 4))
    model_dir = tmp / "model"
    mlnb.sklearn.save_model(LogisticRegression().fit(X, X[:, 0] > 0), model_dir)
    source = str(model_dir)
    for client, name in ((ours, "ours"), (theirs, "theirs")):
        client.create_registered_model(name)
        for _ in range(N_VERSIONS):
            client.create_model_version(name, source)
        client.set_registered_model_alias(name, "champion", 1)

    rows = [
        ("create_model_version", median_of(lambda: ours.create_model_version("ours", source), repeat=30),
         median_of(lambda: theirs.create_model_version("theirs", source), repeat=30)),
        ("get_model_version_by_alias", median_of(lambda: ours.get_model_version_by_alias("ours", "champion"), 30),
         median_of(lambda: theirs.get_model_version_by_alias("theirs", "champion"), 30)),
        (f"search_model_versions ({N_VERSIONS}+ versions)",
         median_of(lambda: ours.search_model_versions("name = 'ours'"), 10),
         median_of(lambda: theirs.search_model_versions("name = 'theirs'"), 10)),
    ]
    mlnb.set_registry_uri(db)
    mlflow.set_registry_uri(db)
    mlflow.set_tracking_uri(db)
    mlnb.pyfunc.load_model("models:/ours@champion"), mlflow.pyfunc.load_model("models:/theirs@champion")  # warm up
    rows.append(("pyfunc.load_model(models:/<name>@champion)",
                 median_of(lambda: mlnb.pyfunc.load_model("models:/ours@champion"), 10),
                 median_of(lambda: mlflow.pyfunc.load_model("models:/theirs@champion"), 10)))
    report("Registry on one MLflow SQLite file (median)", rows)


if __name__ == "__main__":
    main()

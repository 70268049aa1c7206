"""Models, data and custom-model modules shared by the format-core tests (seeded, small, real)."""

from __future__ import annotations

import importlib
import json
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

#: Requirements given to MLflow's savers so they skip their seconds-long subprocess inference.
MLFLOW_PIP = ["scikit-learn", "numpy", "pandas"]


def classification(n: int = 200, features: int = 5):
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=n, n_features=features, n_informative=3, random_state=0)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(features)]), y


def regression(n: int = 200, features: int = 5):
    from sklearn.datasets import make_regression

    X, y = make_regression(n_samples=n, n_features=features, noise=0.1, random_state=0)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(features)]), y


def estimator(kind: str):
    """A fitted estimator of ``kind`` and the DataFrame it was fitted on."""
    from sklearn import ensemble, linear_model, pipeline, preprocessing

    X, y = regression() if kind.endswith("_regressor") else classification()
    model = {
        "logistic_regression": lambda: linear_model.LogisticRegression(max_iter=500),
        "random_forest": lambda: ensemble.RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0),
        "gradient_boosting": lambda: ensemble.GradientBoostingClassifier(n_estimators=5, random_state=0),
        "gradient_boosting_regressor": lambda: ensemble.GradientBoostingRegressor(n_estimators=5, random_state=0),
        "pipeline": lambda: pipeline.make_pipeline(
            preprocessing.StandardScaler(), linear_model.LogisticRegression(max_iter=500)),
    }[kind]()
    return model.fit(X, y), X


ESTIMATORS = ["logistic_regression", "random_forest", "gradient_boosting", "gradient_boosting_regressor", "pipeline"]


def assert_same(a, b) -> None:
    """Predictions equal (exactly for labels, to float precision for numbers)."""
    a = a.to_numpy() if hasattr(a, "to_numpy") else np.asarray(a)
    b = b.to_numpy() if hasattr(b, "to_numpy") else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_array_equal(a, b)


_CUSTOM_MODEL = '''
import json

from {base} import PythonModel


class ScaledSum(PythonModel):
    """Row sums times a weight read from an artifact, plus model_config's offset and a param."""

    def load_context(self, context):
        with open(context.artifacts["weights"]) as f:
            self.weight = json.load(f)["weight"]
        self.offset = context.model_config.get("offset", 0.0)

    def predict(self, context, model_input, params=None):
        shift = (params or {{}}).get("shift", 0.0)
        return model_input.sum(axis=1).to_numpy() * self.weight + self.offset + shift
'''


def custom_model(directory: Path, base: str = "mlnb.pyfunc"):
    """Write a uniquely named module defining ``ScaledSum`` (on ``base``'s PythonModel) and a weights
    artifact; return ``(instance, module_file, artifacts)``. The module is importable only from
    ``directory``, so a model can find it again only through its ``code_paths``."""
    name = f"custom_model_{uuid.uuid4().hex[:8]}"
    module_file = directory / f"{name}.py"
    module_file.write_text(_CUSTOM_MODEL.format(base=base), encoding="utf-8")
    weights = directory / "weights.json"
    weights.write_text(json.dumps({"weight": 2.5}), encoding="utf-8")
    sys.path.insert(0, str(directory))
    try:
        module = importlib.import_module(name)
    finally:
        sys.path.remove(str(directory))
    return module.ScaledSum(), module_file, {"weights": str(weights)}


def custom_expected(X: pd.DataFrame, offset: float = 0.0, shift: float = 0.0) -> np.ndarray:
    return X.sum(axis=1).to_numpy() * 2.5 + offset + shift


def double(x):
    """A plain function outside scikit-learn, NumPy and SciPy (for the skops trust policy)."""
    return x * 2

"""Seeded data and fitted models shared by the evaluation tests (fitted once per test process)."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _frame(X, y, prefix="f"):
    df = pd.DataFrame(X, columns=[f"{prefix}{i}" for i in range(X.shape[1])])
    df["y"] = y
    return df


@functools.lru_cache(maxsize=None)
def binary_frame(n: int = 400) -> pd.DataFrame:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=n, n_features=6, n_informative=4, random_state=0)
    return _frame(X, y)


@functools.lru_cache(maxsize=None)
def multiclass_frame(n: int = 450, classes: int = 3) -> pd.DataFrame:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=n, n_features=8, n_informative=6, n_classes=classes,
                               n_clusters_per_class=1, random_state=0)
    return _frame(X, y)


@functools.lru_cache(maxsize=None)
def regression_frame(n: int = 400) -> pd.DataFrame:
    from sklearn.datasets import make_regression

    X, y = make_regression(n_samples=n, n_features=6, n_informative=4, noise=3.0, random_state=0)
    return _frame(X, y + 200.0)


def features(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["y"])


def fitted(estimator, df: pd.DataFrame):
    return estimator.fit(features(df), df["y"])


def is_png(data: bytes) -> bool:
    return data[:8] == PNG_MAGIC


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) read from the PNG header, after checking the file decodes."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.verify()
    with Image.open(io.BytesIO(data)) as im:
        return im.size


def evaluate_in_own_store(folder, *args, **kwargs):
    """``mlnb.evaluate`` logging into a store of its own under ``folder`` (for module-scoped fixtures,
    which run outside the per-test store); the tracking state is reset afterwards."""
    import pytest

    import mlnb
    import mlnb.tracking.fluent as fluent

    with pytest.MonkeyPatch.context() as env:
        # the tracking variables a test may have left in the process must not pick this store's experiment
        for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID", "MLNB_TRACKING_URI"):
            env.delenv(name, raising=False)
        env.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
        try:
            return mlnb.evaluate(*args, **kwargs)
        finally:
            fluent._reset_for_tests()


def no_shap(**extra) -> dict:
    return {"log_model_explainability": False, **extra}


def assert_close(a, b, tol=1e-9):
    assert np.isclose(a, b, rtol=tol, atol=tol), (a, b)

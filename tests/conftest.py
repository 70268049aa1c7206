"""Shared fixtures: every test gets its own run store in a temp dir and fixed seeds."""

from __future__ import annotations

import os
import random
import socket
import sys
import tempfile

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _main_module_kept():
    """An IPython shell made by a test swaps ``sys.modules['__main__']`` for its namespace, which
    has no ``__spec__``; later tests in the worker (pyspark's connect check, MLflow's inference)
    must see the interpreter's own ``__main__`` again."""
    main = sys.modules.get("__main__")
    yield
    if main is not None and sys.modules.get("__main__") is not main:
        sys.modules["__main__"] = main


@pytest.fixture(autouse=True)
def _isolated(tmp_path, tmp_path_factory, monkeypatch):
    """A fresh tracking store and working directory per test; nothing leaks between tests."""
    # mlnb and MLflow share one store per test: MLflow's default file, in the test's own directory
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    # mlflow.set_experiment sets MLFLOW_EXPERIMENT_ID and mlflow.set_registry_uri sets
    # MLFLOW_REGISTRY_URI in os.environ. Set then deleted, so that monkeypatch records each as absent
    # and removes it again after the test: a value a test sets must not reach the next test's
    # module-scoped fixtures (they start before this fixture runs)
    for name in ("MLNB_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLNB_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID",
                 "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    scratch = tmp_path_factory.mktemp("scratch")  # where fresh temp dirs go (downloads without dst_path)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("TMPDIR", str(scratch))
    random.seed(0)
    np.random.seed(0)
    yield
    _forget_mlflow_experiment()
    try:
        import mlnb.tracking.fluent as fluent
    except ImportError:
        return
    reset = getattr(fluent, "_reset_for_tests", None)
    if reset is not None:
        reset()


def _forget_mlflow_experiment() -> None:
    """End MLflow's active runs and forget its active experiment, which name an experiment of this
    test's store: the next test has a store of its own, where that id does not exist."""
    fluent = sys.modules.get("mlflow.tracking.fluent")
    if fluent is None:
        return
    while fluent.active_run() is not None:
        fluent.end_run()
    fluent._active_experiment_id = None
    # a test's mlflow.set_tracking_uri / set_registry_uri outlives it in MLflow's module state (and
    # wins over $MLFLOW_TRACKING_URI): forget both, so the next test's MLflow reads its own store
    import mlflow

    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


#: Seconds a test waits for what is slow only on a loaded machine: a server or kernel getting ready, a
#: first request that imports the model's libraries, a short subprocess. Every such wait polls or
#: returns as soon as the answer is in, so a quiet machine never waits this long; a real hang fails
#: after it. MLNB_TEST_WAIT sets another value.
WAIT = float(os.environ.get("MLNB_TEST_WAIT", "300"))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def classification_data():
    """A small, seeded binary classification DataFrame and target."""
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=300, n_features=5, n_informative=3, random_state=0)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(5)]), y


@pytest.fixture
def regression_data():
    import pandas as pd
    from sklearn.datasets import make_regression

    X, y = make_regression(n_samples=300, n_features=5, noise=0.1, random_state=0)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(5)]), y


# -- test tiers --------------------------------------------------------------------------------
# Every test is in one tier: ``java``, ``browser`` and ``install`` are marked in their modules,
# everything else is ``core``. tests/run.sh installs every tier's prerequisite and selects the tiers
# explicitly; a tier whose prerequisite is missing fails (it never skips), saying what to run.
TIERS = ("java", "browser", "install")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if not any(item.get_closest_marker(tier) for tier in TIERS):
            item.add_marker(pytest.mark.core)


def pytest_runtest_setup(item):
    for tier in TIERS:
        if item.get_closest_marker(tier):
            from tests._tiers import missing_prerequisite

            problem = missing_prerequisite(tier)
            if problem:
                pytest.fail(f"{problem} The '{tier}' tests need it: run `bash tests/run.sh`, which "
                            f"installs it (or leave the tier out with -m 'not {tier}').", pytrace=False)

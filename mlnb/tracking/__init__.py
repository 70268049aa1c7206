"""Runs: the embedded run store, the fluent API and client, artifacts, and the MLflow server backend.

Submodules load on first use; ``mlnb.start_run`` and friends are re-exported from
:mod:`mlnb.tracking.fluent`, and :class:`MlnbClient` (also named ``MlflowClient``, MLflow's
``mlflow.tracking.MlflowClient``) from :mod:`mlnb.tracking.client`.
"""


def __getattr__(name: str):
    if name in ("MlflowClient", "MlnbClient"):
        from mlnb.tracking import client

        return getattr(client, name)
    raise AttributeError(f"module 'mlnb.tracking' has no attribute {name!r}")

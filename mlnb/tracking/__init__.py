"""Runs: the embedded run store, the fluent API and client, artifacts, and the MLflow server backend.

Submodules load on first use; ``mlnb.start_run`` and friends are re-exported from
:mod:`mlnb.tracking.fluent`, and :class:`MlnbClient` (also named ``MlflowClient``, MLflow's
``mlflow.tracking.MlflowClient``) from :mod:`mlnb.tracking.client`.
"""


#: MLflow's ``mlflow.tracking`` functions, defined in the fluent API
_FLUENT = ("get_tracking_uri", "set_tracking_uri", "is_tracking_uri_set", "get_registry_uri", "set_registry_uri")


def __getattr__(name: str):
    if name in ("MlflowClient", "MlnbClient"):
        from mlnb.tracking import client

        return getattr(client, name)
    if name in _FLUENT:
        from mlnb.tracking import fluent

        return getattr(fluent, name)
    raise AttributeError(f"module 'mlnb.tracking' has no attribute {name!r}")

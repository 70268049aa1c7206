"""Runs: the embedded run store, the fluent API and client, artifacts, and the MLflow server backend.

Submodules load on first use; ``mlnb.start_run`` and friends are re-exported from
:mod:`mlnb.tracking.fluent`, and :class:`MlnbClient` from :mod:`mlnb.tracking.client`.
"""

"""``mlnb.client.MlflowClient``: MLflow's import path for the tracking client (:class:`MlnbClient`)."""

from __future__ import annotations

from mlnb.tracking.client import MlflowClient, MlnbClient

__all__ = ["MlflowClient", "MlnbClient"]

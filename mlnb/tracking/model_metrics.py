"""Run metrics that also belong to logged models (MLflow 3), and what ``synchronous=False`` returns.

Below :mod:`mlnb.tracking.fluent`, which calls it; it needs only the client.
"""

from __future__ import annotations

from typing import Any, Sequence

from mlnb.tracking.client import MlnbClient
from mlnb.tracking.model_entities import LoggedModelInput


class RunOperations:
    """What MLflow's ``synchronous=False`` returns; mlnb has already logged, so ``wait()`` returns at once."""

    def wait(self) -> None:
        """Nothing to wait for: the values are in the store."""
        return None


def log_model_metrics(run_id: str, metrics: Sequence[Any], model_id: str | None, dataset: Any) -> None:
    """Log run metrics that also belong to logged models: ``model_id``, else the run's models output
    at the metrics' step (MLflow 3); record the model and ``dataset`` among the run's inputs if new."""
    from mlnb.data import as_dataset_input

    client = MlnbClient()
    outputs, inputs = client.store.model_links(run_id)
    if model_id is not None:
        model_ids = [model_id]
        if model_id not in inputs and model_id not in [m for m, _ in outputs]:
            client.log_model_inputs(run_id, [LoggedModelInput(model_id)])
    else:
        steps = {m.step for m in metrics}
        model_ids = list(dict.fromkeys(m for m, step in outputs if step in steps))
    found = None
    if dataset is not None:
        record = as_dataset_input(dataset)
        found = (record.name, record.digest)
        logged = {(d.name, d.digest) for d in client.get_run(run_id).inputs.dataset_inputs}
        if found not in logged:
            client.log_inputs(run_id, [dataset])
    client.store.log_model_metrics(run_id, list(metrics), model_ids, found)


__all__ = ["RunOperations", "log_model_metrics"]

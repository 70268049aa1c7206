"""``MlnbClient``: the run store with explicit ids, as MLflow's ``MlflowClient``.

The fluent API (``mlnb.start_run``, ``mlnb.log_metric``...) is a thin layer over this client;
use the client directly to work on several runs at once or on runs other processes created.
Every name and value is validated here (MLflow's rules) before it reaches a store.
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any, BinaryIO, Iterable, Mapping, Sequence

from mlnb.errors import InvalidParameterError
from mlnb.tracking import validation as v
from mlnb.tracking.artifacts import FileInfo, clean_artifact_path
from mlnb.tracking.entities import (
    FINISHED, RUN_STATUSES, TAG_RUN_NAME, Experiment, Metric, Param, Run, RunTag,
)
from mlnb.tracking.registry_client import RegistryClientMixin
from mlnb.tracking.store import ACTIVE_ONLY, Store, get_store, run_view

_ADJECTIVES = ("agile", "bold", "bright", "calm", "clever", "crisp", "daring", "eager", "fair", "gentle",
               "honest", "keen", "lucid", "merry", "nimble", "placid", "quick", "sharp", "steady", "witty")
_NOUNS = ("ant", "bat", "carp", "crane", "deer", "eel", "finch", "fox", "hare", "heron", "lark", "lynx",
          "mole", "newt", "owl", "ram", "seal", "shrew", "stork", "wren")


def random_run_name() -> str:
    rng = random.Random(time.time_ns() ^ os.getpid())
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{rng.randint(100, 999)}"


def now_ms() -> int:
    return int(time.time() * 1000)


def _pairs(items: Any, cls) -> list:
    """Entities, (key, value) pairs or a mapping -> list of ``cls`` entities."""
    if items is None:
        return []
    if isinstance(items, Mapping):
        items = items.items()
    out = []
    for it in items:
        if isinstance(it, cls):
            out.append(it)
        elif hasattr(it, "key") and hasattr(it, "value"):  # MLflow's entities, for example
            out.append(cls(it.key, it.value))
        elif isinstance(it, Mapping):
            out.append(cls(it["key"], it["value"]))
        else:
            out.append(cls(*it))
    return out


class MlnbClient(RegistryClientMixin):
    """Explicit-id access to a run store (``tracking_uri`` defaults to the current one) and a model
    registry (``registry_uri`` defaults to the current registry URI, else the tracking URI)."""

    def __init__(self, tracking_uri: str | os.PathLike | None = None,
                 registry_uri: str | os.PathLike | None = None) -> None:
        self._uri = os.fspath(tracking_uri) if tracking_uri is not None else None
        self._registry_uri = os.fspath(registry_uri) if registry_uri is not None else None

    @property
    def store(self) -> Store:
        return get_store(self._uri)

    @property
    def tracking_uri(self) -> str:
        return self.store.uri

    # -- experiments ---------------------------------------------------------------------------
    def create_experiment(self, name: str, artifact_location: str | None = None,
                          tags: Mapping[str, Any] | None = None) -> str:
        v.check_experiment_name(name)
        tags = {v.check_key(k, "Tag"): v.tag_value(k, val) for k, val in (tags or {}).items()}
        return self.store.create_experiment(name, artifact_location, tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.store.get_experiment(str(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.store.get_experiment_by_name(name)

    def search_experiments(self, view_type: Any = ACTIVE_ONLY) -> list[Experiment]:
        return self.store.search_experiments(run_view(view_type))

    # -- runs ----------------------------------------------------------------------------------
    def create_run(self, experiment_id: str, start_time: int | None = None,
                   tags: Mapping[str, Any] | None = None, run_name: str | None = None) -> Run:
        tags = {v.check_key(k, "Tag"): v.tag_value(k, val) for k, val in (tags or {}).items()}
        run_name = run_name or tags.get(TAG_RUN_NAME) or random_run_name()
        user = tags.get("mlflow.user", "")
        return self.store.create_run(str(experiment_id), str(run_name), start_time or now_ms(), tags, user)

    def get_run(self, run_id: str) -> Run:
        return self.store.get_run(v.check_run_id(run_id))

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        if status is not None and status not in RUN_STATUSES:
            raise InvalidParameterError(f"Run status must be one of {RUN_STATUSES}, got {status!r}.")
        end = now_ms() if status is not None and status != "RUNNING" else None
        self.store.update_run(v.check_run_id(run_id), status, end, name)

    def set_terminated(self, run_id: str, status: str = FINISHED, end_time: int | None = None) -> None:
        if status not in RUN_STATUSES:
            raise InvalidParameterError(f"Run status must be one of {RUN_STATUSES}, got {status!r}.")
        self.store.update_run(v.check_run_id(run_id), status, end_time or now_ms())

    def delete_run(self, run_id: str) -> None:
        self.store.delete_run(v.check_run_id(run_id))

    def restore_run(self, run_id: str) -> None:
        self.store.restore_run(v.check_run_id(run_id))

    # -- params, metrics, tags -----------------------------------------------------------------
    def log_param(self, run_id: str, key: str, value: Any) -> Any:
        self.log_batch(run_id, params=[Param(key, value)])
        return value

    def log_metric(self, run_id: str, key: str, value: float, timestamp: int | None = None,
                   step: int | None = None) -> None:
        self.log_batch(run_id, metrics=[Metric(key, value, timestamp if timestamp is not None else now_ms(), step or 0)])

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.log_batch(run_id, tags=[RunTag(key, value)])

    def log_batch(self, run_id: str, metrics: Iterable[Metric] = (), params: Iterable[Param] | Mapping = (),
                  tags: Iterable[RunTag] | Mapping = ()) -> None:
        """Log many values in one store transaction (one HTTP request on a tracking server)."""
        v.check_run_id(run_id)
        ms = [Metric(v.check_key(m.key, "Metric"), v.metric_value(m.key, m.value),
                     v.timestamp_value(m.key, m.timestamp), v.step_value(m.key, m.step))
              for m in (metrics or ())]
        ps = [Param(v.check_key(p.key, "Param"), v.param_value(p.key, p.value)) for p in _pairs(params, Param)]
        ts = [RunTag(v.check_key(t.key, "Tag"), v.tag_value(t.key, t.value)) for t in _pairs(tags, RunTag)]
        self.store.log_batch(run_id, ms, ps, ts)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.store.get_metric_history(v.check_run_id(run_id), key)

    def search_runs(self, experiment_ids: str | Sequence[str], filter_string: str = "",
                    run_view_type: Any = ACTIVE_ONLY, max_results: int = 1000,
                    order_by: Sequence[str] | None = None) -> list[Run]:
        ids = [experiment_ids] if isinstance(experiment_ids, (str, int)) else list(experiment_ids)
        table = self.store.search_runs([str(i) for i in ids], filter_string, order_by, max_results,
                                       run_view(run_view_type))
        return table.to_runs()

    # -- artifacts -----------------------------------------------------------------------------
    def _repo(self, run_id: str):
        return self.store.artifact_repo(self.get_run(run_id).info.artifact_uri)

    def log_artifact(self, run_id: str, local_path: str | os.PathLike, artifact_path: str | None = None) -> None:
        self._repo(run_id).log_artifact(local_path, clean_artifact_path(artifact_path))

    def log_artifacts(self, run_id: str, local_dir: str | os.PathLike, artifact_path: str | None = None) -> None:
        self._repo(run_id).log_artifacts(local_dir, clean_artifact_path(artifact_path))

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._repo(run_id).log_bytes(text.encode("utf-8"), artifact_file)

    def log_dict(self, run_id: str, dictionary: Mapping, artifact_file: str) -> None:
        if artifact_file.endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_dump(dict(dictionary), default_flow_style=False)
        else:
            data = json.dumps(dictionary, indent=2, default=str)
        self._repo(run_id).log_bytes(data.encode("utf-8"), artifact_file)

    def log_stream(self, run_id: str, stream: BinaryIO, artifact_file: str) -> None:
        """Log what a binary file-like object (``io.BytesIO``, an open file) holds as ``artifact_file``."""
        self._repo(run_id).log_bytes(stream.read(), artifact_file)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        return self._repo(run_id).list_artifacts(clean_artifact_path(path))

    def download_artifacts(self, run_id: str, path: str, dst_path: str | os.PathLike | None = None) -> str:
        return str(self._repo(run_id).download_artifacts(clean_artifact_path(path), dst_path))


Client = MlnbClient

__all__ = ["MlnbClient", "Client"]

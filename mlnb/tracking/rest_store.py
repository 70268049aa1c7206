"""The MLflow Tracking Server backend: MLflow's REST API (``/api/2.0/mlflow/...``); its artifact
proxy is :mod:`mlnb.tracking.mlflow_artifacts`.

Set the tracking URI to ``http(s)://host:port`` and the fluent API logs there; what mlnb logs is
what MLflow's own client reads back. Batches are split to the server's limits (1,000 metrics,
100 params and 100 tags per request); searches follow page tokens.
"""

from __future__ import annotations

from typing import Iterable, Sequence
from urllib.parse import quote

from mlnb.errors import InvalidParameterError, ResourceNotFoundError
from mlnb.tracking.base import ACTIVE_ONLY, RunTable, Store
from mlnb.tracking.entities import (
    Experiment, LoggedModel, Metric, Param, Run, RunData, RunInfo, RunTag,
)
from mlnb.tracking.httpclient import HttpClient

API = "api/2.0/mlflow"
_MAX_METRICS, _MAX_PARAMS, _MAX_TAGS, _MAX_ENTITIES = 1000, 100, 100, 1000
_PAGE = 50_000


def _kv(d: dict[str, str] | Iterable) -> list[dict[str, str]]:
    items = d.items() if isinstance(d, dict) else ((x.key, x.value) for x in d)
    return [{"key": k, "value": v} for k, v in items]


def _experiment(e: dict) -> Experiment:
    return Experiment(
        str(e["experiment_id"]), e["name"], e.get("artifact_location", ""), e.get("lifecycle_stage", "active"),
        {t["key"]: t.get("value", "") for t in e.get("tags", [])},
        _int(e.get("creation_time")), _int(e.get("last_update_time")),
    )


def _int(x) -> int | None:
    return int(x) if x is not None else None


def _run(r: dict) -> Run:
    i, d = r["info"], r.get("data", {})
    info = RunInfo(
        i.get("run_id") or i["run_uuid"], str(i["experiment_id"]), i.get("run_name", ""), i["status"],
        int(i.get("start_time", 0)), _int(i.get("end_time")), i.get("artifact_uri", ""),
        i.get("lifecycle_stage", "active"), i.get("user_id", ""),
    )
    metrics = {m["key"]: float(m["value"]) for m in d.get("metrics", [])}
    params = {p["key"]: p.get("value", "") for p in d.get("params", [])}
    tags = {t["key"]: t.get("value", "") for t in d.get("tags", [])}
    return Run(info, RunData(params, metrics, tags))


def _logged_model(m: dict) -> LoggedModel:
    info, data = m.get("info", {}), m.get("data", {})
    status = str(info.get("status", "")).replace("LOGGED_MODEL_", "")
    return LoggedModel(
        model_id=info["model_id"], experiment_id=str(info.get("experiment_id", "")), name=info.get("name", ""),
        artifact_location=info.get("artifact_uri", ""), creation_timestamp=_int(info.get("creation_timestamp_ms")),
        last_updated_timestamp=_int(info.get("last_updated_timestamp_ms")),
        status="FAILED" if status == "UPLOAD_FAILED" else status or "UNSPECIFIED",
        model_type=info.get("model_type"), source_run_id=info.get("source_run_id"),
        status_message=info.get("status_message"), tags={t["key"]: t.get("value", "") for t in info.get("tags", [])},
        params={p["key"]: p.get("value", "") for p in data.get("params", [])},
        metrics={x["key"]: float(x["value"]) for x in data.get("metrics", [])},
    )


class RestStore(Store):
    """Runs on an MLflow Tracking Server at ``uri``."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.http = HttpClient(self.uri)

    def _call(self, method: str, endpoint: str, body: dict | None = None, params: dict | None = None) -> dict:
        return self.http.json(method, f"{API}/{endpoint}", body, params)

    def _pages(self, method: str, endpoint: str, request: dict, items: str):
        """Every item of a paged answer, following ``next_page_token``."""
        token = None
        while True:
            req = {**request, "page_token": token} if token else request
            page = self._call(method, endpoint, req) if method == "POST" else self._call(method, endpoint, params=req)
            yield from page.get(items, [])
            token = page.get("next_page_token")
            if not token:
                return

    # -- experiments ---------------------------------------------------------------------------
    def create_experiment(self, name, artifact_location=None, tags=None) -> str:
        body = {"name": name, "tags": _kv(tags or {})}
        if artifact_location:
            body["artifact_location"] = artifact_location
        return str(self._call("POST", "experiments/create", body)["experiment_id"])

    def get_experiment(self, experiment_id) -> Experiment:
        return _experiment(self._call("GET", "experiments/get", params={"experiment_id": experiment_id})["experiment"])

    def get_experiment_by_name(self, name) -> Experiment | None:
        try:
            found = self._call("GET", "experiments/get-by-name", params={"experiment_name": name})
        except ResourceNotFoundError:
            return None
        return _experiment(found["experiment"])

    def search_experiments(self, view=ACTIVE_ONLY) -> list[Experiment]:
        body = {"max_results": 1000, "view_type": view}
        return [_experiment(e) for e in self._pages("POST", "experiments/search", body, "experiments")]

    def rename_experiment(self, experiment_id, new_name) -> None:
        self._call("POST", "experiments/update", {"experiment_id": str(experiment_id), "new_name": new_name})

    def delete_experiment(self, experiment_id) -> None:
        self._call("POST", "experiments/delete", {"experiment_id": str(experiment_id)})

    def restore_experiment(self, experiment_id) -> None:
        self._call("POST", "experiments/restore", {"experiment_id": str(experiment_id)})

    def set_experiment_tag(self, experiment_id, key, value) -> None:
        self._call("POST", "experiments/set-experiment-tag",
                   {"experiment_id": str(experiment_id), "key": key, "value": value})

    def delete_experiment_tag(self, experiment_id, key) -> None:
        self._call("POST", "experiments/delete-experiment-tag", {"experiment_id": str(experiment_id), "key": key})

    # -- runs ----------------------------------------------------------------------------------
    def create_run(self, experiment_id, run_name, start_time, tags, user_id="") -> Run:
        body = {"experiment_id": str(experiment_id), "run_name": run_name, "start_time": start_time,
                "tags": _kv(tags), "user_id": user_id}
        return _run(self._call("POST", "runs/create", body)["run"])

    def get_run(self, run_id) -> Run:
        return _run(self._call("GET", "runs/get", params={"run_id": run_id})["run"])

    def update_run(self, run_id, status=None, end_time=None, run_name=None) -> None:
        body = {"run_id": run_id, "run_uuid": run_id}
        if status is not None:
            body["status"] = status
        if end_time is not None:
            body["end_time"] = end_time
        if run_name is not None:
            body["run_name"] = run_name
        self._call("POST", "runs/update", body)

    def log_batch(self, run_id, metrics: Iterable[Metric] = (), params: Iterable[Param] = (),
                  tags: Iterable[RunTag] = ()) -> None:
        metrics, params, tags = list(metrics), list(params), list(tags)
        seen: dict[str, str] = {}
        for p in params:
            if seen.setdefault(p.key, p.value) != p.value:
                raise InvalidParameterError(
                    f"Param '{p.key}' appears twice in one batch with different values ('{seen[p.key]}', '{p.value}').")
        while metrics or params or tags:
            ps, params = params[:_MAX_PARAMS], params[_MAX_PARAMS:]
            ts, tags = tags[:_MAX_TAGS], tags[_MAX_TAGS:]
            room = _MAX_ENTITIES - len(ps) - len(ts)
            ms, metrics = metrics[:min(room, _MAX_METRICS)], metrics[min(room, _MAX_METRICS):]
            self._call("POST", "runs/log-batch", {
                "run_id": run_id,
                "metrics": [{"key": m.key, "value": m.value, "timestamp": m.timestamp, "step": m.step} for m in ms],
                "params": _kv(ps), "tags": _kv(ts),
            })

    def get_metric_history(self, run_id, key) -> list[Metric]:
        params = {"run_id": run_id, "metric_key": key, "max_results": 25000}
        out = [Metric(m["key"], float(m["value"]), int(m.get("timestamp", 0)), int(m.get("step", 0)))
               for m in self._pages("GET", "metrics/get-history", params, "metrics")]
        return sorted(out, key=lambda m: (m.step, m.timestamp))

    def search_runs(self, experiment_ids: Sequence[str], filter_string: str = "",
                    order_by: Sequence[str] | None = None, max_results: int = 100_000,
                    view: str = ACTIVE_ONLY) -> RunTable:
        from mlnb.tracking.search import parse_filter, parse_order_by

        parse_filter(filter_string)  # the same clear errors as the embedded store, before any request
        parse_order_by(order_by)
        runs: list[Run] = []
        token = None
        while len(runs) < max_results:
            body = {"experiment_ids": [str(e) for e in experiment_ids], "filter": filter_string or "",
                    "run_view_type": view, "max_results": min(_PAGE, max_results - len(runs)),
                    "order_by": list([order_by] if isinstance(order_by, str) else order_by or [])}
            if token:
                body["page_token"] = token
            page = self._call("POST", "runs/search", body)
            runs += [_run(r) for r in page.get("runs", [])]
            token = page.get("next_page_token")
            if not token:
                break
        return RunTable.from_runs(runs)

    def logged_model_uri(self, run: Run, name: str) -> str | None:
        """MLflow 3 keeps models logged by its own client outside the run's artifacts, as
        "logged models"; find the one named ``name`` that ``run`` logged (MLflow's runs:/ rule)."""
        body = {"experiment_ids": [run.info.experiment_id], "filter": f"name = '{name}'"}
        try:
            for model in self._pages("POST", "logged-models/search", body, "models"):
                info = model.get("info", {})
                if info.get("source_run_id") == run.info.run_id and info.get("artifact_uri"):
                    return info["artifact_uri"]
        except ResourceNotFoundError:  # an older server without logged models
            pass
        return None

    def log_inputs(self, run_id, datasets) -> None:
        body = {"run_id": run_id, "datasets": [
            {"tags": [{"key": k, "value": v} for k, v in d.tags],
             "dataset": {k: v for k, v in d.dataset.to_dictionary().items() if v is not None}} for d in datasets]}
        self._call("POST", "runs/log-inputs", body)

    # -- logged models (MLflow 3) --------------------------------------------------------------
    def create_logged_model(self, experiment_id, name, source_run_id=None, tags=None, params=None,
                            model_type=None, artifact_location=None) -> LoggedModel:
        """The server picks the model's id and artifact location (``artifact_location`` is ignored)."""
        body = {"experiment_id": str(experiment_id), "name": name, "tags": _kv(tags or {}),
                "params": _kv({k: str(v) for k, v in (params or {}).items()})}
        if source_run_id:
            body["source_run_id"] = source_run_id
        if model_type:
            body["model_type"] = model_type
        return _logged_model(self._call("POST", "logged-models", body)["model"])

    def finalize_logged_model(self, model_id, status="READY") -> LoggedModel:
        body = {"model_id": model_id, "status": f"LOGGED_MODEL_{'UPLOAD_FAILED' if status == 'FAILED' else status}"}
        return _logged_model(self._call("PATCH", f"logged-models/{quote(model_id)}", body)["model"])

    def get_logged_model(self, model_id) -> LoggedModel:
        return _logged_model(self._call("GET", f"logged-models/{quote(model_id)}")["model"])

    def search_logged_models(self, experiment_ids, filter_string="", max_results=100_000, order_by=None,
                             datasets=None):
        from dataclasses import asdict

        from mlnb.tracking.logged_model_search import parse_logged_model_order_by

        body: dict = {"experiment_ids": [str(e) for e in experiment_ids]}
        if filter_string:
            body["filter"] = filter_string
        if datasets:
            body["datasets"] = [dict(d) for d in datasets]
        if order_by:
            body["order_by"] = [
                {"field_name": (o.key if o.entity == "attribute" else f"metrics.{o.key}"),
                 **{k: v for k, v in asdict(o).items() if k not in ("entity", "key") and v is not None}}
                for o in parse_logged_model_order_by(order_by)]
        return [_logged_model(m) for m in self._pages("POST", "logged-models/search", body, "models")][:max_results]

    def set_logged_model_tags(self, model_id, tags) -> None:
        self._call("PATCH", f"logged-models/{quote(model_id)}/tags", {"tags": _kv(tags)})

    def delete_logged_model_tag(self, model_id, key) -> None:
        self._call("DELETE", f"logged-models/{quote(model_id)}/tags/{quote(key, safe='')}")

    def log_logged_model_params(self, model_id, params) -> None:
        items = list(params.items())
        for i in range(0, max(len(items), 1), 100):  # the server takes at most 100 params per request
            self._call("POST", f"logged-models/{quote(model_id)}/params",
                       {"model_id": model_id, "params": _kv(dict(items[i:i + 100]))})

    def delete_logged_model(self, model_id) -> None:
        self._call("DELETE", f"logged-models/{quote(model_id)}")

    def log_model_links(self, run_id, outputs=(), inputs=()) -> None:
        if outputs:
            self._call("POST", "runs/outputs",
                       {"run_id": run_id, "models": [{"model_id": m, "step": int(s)} for m, s in outputs]})
        if inputs:
            self._call("POST", "runs/log-inputs", {"run_id": run_id, "models": [{"model_id": m} for m in inputs]})

    def log_model_metrics(self, run_id, metrics, model_ids, dataset=None) -> None:
        """The server logs each metric to the run and to the logged model it names."""
        extra = {"dataset_name": dataset[0], "dataset_digest": dataset[1]} if dataset else {}
        for model_id in model_ids or [None]:
            self._call("POST", "runs/log-batch", {"run_id": run_id, "metrics": [
                {"key": m.key, "value": m.value, "timestamp": m.timestamp, "step": m.step, **extra,
                 **({"model_id": model_id} if model_id else {})} for m in metrics]})

    def model_links(self, run_id) -> tuple[list[tuple[str, int]], list[str]]:
        got = self._call("GET", "runs/get", params={"run_id": run_id})["run"]
        return ([(o["model_id"], int(o.get("step", 0))) for o in got.get("outputs", {}).get("model_outputs", [])],
                [i["model_id"] for i in got.get("inputs", {}).get("model_inputs", [])])

    def delete_run(self, run_id) -> None:
        self._call("POST", "runs/delete", {"run_id": run_id})

    def restore_run(self, run_id) -> None:
        self._call("POST", "runs/restore", {"run_id": run_id})

    def delete_tag(self, run_id, key) -> None:
        self._call("POST", "runs/delete-tag", {"run_id": run_id, "key": key})

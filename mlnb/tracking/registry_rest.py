"""The model registry of an MLflow Tracking Server: ``/api/2.0/mlflow/registered-models/...`` and
``/api/2.0/mlflow/model-versions/...``, over mlnb's HTTP client (timeouts, retries, credentials).

Filters are parsed here first, so a bad one fails with the same message as on the embedded store.
When the server answers "not found", one more request lists what exists, for the error message.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from mlnb.errors import InvalidParameterError, ResourceNotFoundError
from mlnb.tracking.httpclient import HttpClient
from mlnb.tracking.registry_entities import ModelVersion, RegisteredModel
from mlnb.tracking.registry_search import MODELS, VERSIONS, parse_registry_filter, parse_registry_order_by
from mlnb.tracking.registry_store import (
    PagedList, RegistryStore, alias_not_found, alias_to_missing_version, model_not_found, version_not_found,
)

API = "api/2.0/mlflow"


def _int(x: Any) -> int | None:
    return int(x) if x is not None else None


def _tags(items: list[dict] | None) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in items or []}


def _version(mv: dict) -> ModelVersion:
    return ModelVersion(
        name=mv["name"], version=mv["version"], creation_timestamp=_int(mv.get("creation_timestamp")),
        last_updated_timestamp=_int(mv.get("last_updated_timestamp")), description=mv.get("description") or None,
        user_id=mv.get("user_id") or None, current_stage=mv.get("current_stage", "None"), source=mv.get("source"),
        run_id=mv.get("run_id") or None, status=mv.get("status", "READY"), status_message=mv.get("status_message"),
        tags=_tags(mv.get("tags")), run_link=mv.get("run_link") or None, aliases=list(mv.get("aliases", [])),
        model_id=mv.get("model_id") or None,
    )


def _model(rm: dict) -> RegisteredModel:
    return RegisteredModel(
        name=rm["name"], creation_timestamp=_int(rm.get("creation_timestamp")),
        last_updated_timestamp=_int(rm.get("last_updated_timestamp")), description=rm.get("description") or None,
        latest_versions=[_version(mv) for mv in rm.get("latest_versions", [])], tags=_tags(rm.get("tags")),
        aliases={a["alias"]: a["version"] for a in rm.get("aliases", [])},
    )


def _kv(d: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in d.items()]


class RestRegistryStore(RegistryStore):
    """The registry of the MLflow Tracking Server at ``uri``."""

    resolves_sources = True

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.http = HttpClient(self.uri)

    def _call(self, method: str, endpoint: str, body: dict | None = None) -> dict:
        if method == "GET":
            return self.http.json("GET", f"{API}/{endpoint}", params=body)
        return self.http.json(method, f"{API}/{endpoint}", body)

    # -- what exists, for errors ---------------------------------------------------------------
    def _names(self) -> list[str]:
        names, token = [], None
        while True:
            page = self._call("GET", "registered-models/search", {"max_results": 1000, "page_token": token})
            names += [rm["name"] for rm in page.get("registered_models", [])]
            token = page.get("next_page_token")
            if not token:
                return names

    def _live_versions(self, name: str) -> list[str]:
        return [mv.version for mv in self._all_versions(f"name = '{_quote(name)}'")]

    def _all_versions(self, filter_string: str) -> list[ModelVersion]:
        out, token = [], None
        while True:
            page = self.search_model_versions(filter_string, 1000, None, token)
            out += page
            token = page.token
            if not token:
                return out

    def _model_or_error(self, name: str) -> RegisteredModel:
        with self._explained(name):
            return _model(self._call("GET", "registered-models/get", {"name": name})["registered_model"])

    @contextlib.contextmanager
    def _explained(self, name: str, version: int | None = None) -> Iterator[None]:
        """Turn the server's "not found" into an error that lists what exists."""
        try:
            yield
        except ResourceNotFoundError:
            if version is None:
                raise model_not_found(name, self._names(), self.uri) from None
            self._model_or_error(name)
            raise version_not_found(name, version, self._live_versions(name)) from None

    def _search(self, kind: str, filter_string, max_results, order_by, page_token) -> PagedList:
        """One page of a search; the filter is parsed here first, for mlnb's error messages."""
        parse_registry_filter(filter_string, kind)
        parse_registry_order_by(order_by, kind)
        endpoint, items, entity = (("registered-models/search", "registered_models", _model) if kind == MODELS
                                   else ("model-versions/search", "model_versions", _version))
        body = {"filter": filter_string or None, "max_results": max_results,
                "order_by": list(order_by or []) or None, "page_token": page_token}
        page = self._call("GET", endpoint, body)
        return PagedList([entity(x) for x in page.get(items, [])], page.get("next_page_token"))

    # -- registered models ---------------------------------------------------------------------
    def create_registered_model(self, name, tags, description) -> RegisteredModel:
        body: dict[str, Any] = {"name": name, "tags": _kv(tags)}
        if description is not None:
            body["description"] = description
        try:
            return _model(self._call("POST", "registered-models/create", body)["registered_model"])
        except InvalidParameterError as exc:
            if "RESOURCE_ALREADY_EXISTS" in str(exc):
                raise InvalidParameterError(
                    f"Registered model '{name}' already exists on {self.uri}. Add a version with "
                    f"mlnb.register_model(model_uri, '{name}'), or choose another name.") from None
            raise

    def get_registered_model(self, name) -> RegisteredModel:
        return self._model_or_error(name)

    def update_registered_model(self, name, description) -> RegisteredModel:
        body = {"name": name, "description": description or ""}
        with self._explained(name):
            return _model(self._call("PATCH", "registered-models/update", body)["registered_model"])

    def rename_registered_model(self, name, new_name) -> RegisteredModel:
        with self._explained(name):
            found = self._call("POST", "registered-models/rename", {"name": name, "new_name": new_name})
        return _model(found["registered_model"])

    def delete_registered_model(self, name) -> None:
        with self._explained(name):
            self._call("DELETE", "registered-models/delete", {"name": name})

    def search_registered_models(self, filter_string=None, max_results=100, order_by=None,
                                 page_token=None) -> PagedList:
        return self._search(MODELS, filter_string, max_results, order_by, page_token)

    def set_registered_model_tag(self, name, key, value) -> None:
        with self._explained(name):
            self._call("POST", "registered-models/set-tag", {"name": name, "key": key, "value": value})

    def delete_registered_model_tag(self, name, key) -> None:
        with self._explained(name):
            self._call("DELETE", "registered-models/delete-tag", {"name": name, "key": key})

    def get_latest_versions(self, name, stages=None) -> list[ModelVersion]:
        body = {"name": name, "stages": list(stages or [])}
        with self._explained(name):
            found = self._call("POST", "registered-models/get-latest-versions", body)
        return [_version(mv) for mv in found.get("model_versions", [])]

    # -- model versions ------------------------------------------------------------------------
    def create_model_version(self, name, source, run_id=None, tags=None, run_link=None, description=None,
                             model_id=None, storage_location=None) -> ModelVersion:
        body: dict[str, Any] = {"name": name, "source": source, "tags": _kv(tags or {})}
        for key, value in (("run_id", run_id), ("run_link", run_link), ("description", description),
                           ("model_id", model_id)):
            if value is not None:
                body[key] = value
        with self._explained(name):
            return _version(self._call("POST", "model-versions/create", body)["model_version"])

    def get_model_version(self, name, version) -> ModelVersion:
        with self._explained(name, version):
            return _version(self._call("GET", "model-versions/get",
                                       {"name": name, "version": str(version)})["model_version"])

    def update_model_version(self, name, version, description) -> ModelVersion:
        body = {"name": name, "version": str(version), "description": description or ""}
        with self._explained(name, version):
            return _version(self._call("PATCH", "model-versions/update", body)["model_version"])

    def transition_model_version_stage(self, name, version, stage, archive_existing_versions=False) -> ModelVersion:
        body = {"name": name, "version": str(version), "stage": stage,
                "archive_existing_versions": bool(archive_existing_versions)}
        with self._explained(name, version):
            return _version(self._call("POST", "model-versions/transition-stage", body)["model_version"])

    def delete_model_version(self, name, version) -> None:
        with self._explained(name, version):
            self._call("DELETE", "model-versions/delete", {"name": name, "version": str(version)})

    def search_model_versions(self, filter_string=None, max_results=1000, order_by=None,
                              page_token=None) -> PagedList:
        return self._search(VERSIONS, filter_string, max_results, order_by, page_token)

    def set_model_version_tag(self, name, version, key, value) -> None:
        with self._explained(name, version):
            self._call("POST", "model-versions/set-tag",
                       {"name": name, "version": str(version), "key": key, "value": value})

    def delete_model_version_tag(self, name, version, key) -> None:
        with self._explained(name, version):
            self._call("DELETE", "model-versions/delete-tag", {"name": name, "version": str(version), "key": key})

    def get_model_version_download_uri(self, name, version) -> str:
        with self._explained(name, version):
            return self._call("GET", "model-versions/get-download-uri",
                              {"name": name, "version": str(version)})["artifact_uri"]

    # -- aliases -------------------------------------------------------------------------------
    def set_registered_model_alias(self, name, alias, version) -> None:
        with self._explained(name, version):
            self._call("POST", "registered-models/alias", {"name": name, "alias": alias, "version": str(version)})

    def delete_registered_model_alias(self, name, alias) -> None:
        with self._explained(name):
            self._call("DELETE", "registered-models/alias", {"name": name, "alias": alias})

    def get_model_version_by_alias(self, name, alias) -> ModelVersion:
        model = self._model_or_error(name)
        if alias not in model.aliases:
            raise alias_not_found(name, alias, model.aliases)
        try:
            return _version(self._call("GET", "registered-models/alias", {"name": name, "alias": alias})["model_version"])
        except ResourceNotFoundError:
            raise alias_to_missing_version(name, alias, model.aliases[alias], self._live_versions(name)) from None


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


__all__ = ["RestRegistryStore"]

"""The model registry interface, the registry URI, and the errors that list what exists.

Two registries exist: MLflow's registry tables in an SQLite file with MLflow's schema
(:mod:`mlnb.tracking.registry_sqlite`) and an MLflow Tracking Server's registry API
(:mod:`mlnb.tracking.registry_rest`). The registry URI is ``set_registry_uri(...)``, else
``$MLNB_REGISTRY_URI``, else the tracking URI: MLflow's default, one file or server for both.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Sequence

from mlnb.errors import ResourceNotFoundError, TrackingError
from mlnb.tracking.registry_entities import ModelVersion, RegisteredModel

ENV_REGISTRY_URI = "MLNB_REGISTRY_URI"
REGISTRY_TABLES = ("registered_models", "registered_model_tags", "registered_model_aliases",
                   "model_versions", "model_version_tags")
_LISTED = 20  # names shown in an error message


class PagedList(list):
    """A page of search results; ``token`` fetches the next page (None on the last one)."""

    def __init__(self, items: Iterable = (), token: str | None = None) -> None:
        super().__init__(items)
        self.token = token


class RegistryStore:
    """What every registry store does. Versions are ints in, strings out; times are epoch ms."""

    uri: str
    #: True when the store works out a ``models:/`` source's files itself (an MLflow server does)
    resolves_sources: bool = False

    # registered models
    def create_registered_model(self, name: str, tags: dict[str, str], description: str | None) -> RegisteredModel: raise NotImplementedError
    def get_registered_model(self, name: str) -> RegisteredModel: raise NotImplementedError
    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel: raise NotImplementedError
    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel: raise NotImplementedError
    def delete_registered_model(self, name: str) -> None: raise NotImplementedError
    def search_registered_models(self, filter_string: str | None, max_results: int, order_by: Sequence[str] | None,
                                 page_token: str | None) -> PagedList: raise NotImplementedError
    def set_registered_model_tag(self, name: str, key: str, value: str) -> None: raise NotImplementedError
    def delete_registered_model_tag(self, name: str, key: str) -> None: raise NotImplementedError
    def get_latest_versions(self, name: str, stages: Sequence[str] | None) -> list[ModelVersion]: raise NotImplementedError

    # model versions
    def create_model_version(self, name: str, source: str, run_id: str | None, tags: dict[str, str],
                             run_link: str | None, description: str | None, model_id: str | None,
                             storage_location: str | None) -> ModelVersion: raise NotImplementedError
    def get_model_version(self, name: str, version: int) -> ModelVersion: raise NotImplementedError
    def update_model_version(self, name: str, version: int, description: str | None) -> ModelVersion: raise NotImplementedError
    def transition_model_version_stage(self, name: str, version: int, stage: str,
                                       archive_existing_versions: bool) -> ModelVersion: raise NotImplementedError
    def delete_model_version(self, name: str, version: int) -> None: raise NotImplementedError
    def search_model_versions(self, filter_string: str | None, max_results: int, order_by: Sequence[str] | None,
                              page_token: str | None) -> PagedList: raise NotImplementedError
    def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None: raise NotImplementedError
    def delete_model_version_tag(self, name: str, version: int, key: str) -> None: raise NotImplementedError
    def get_model_version_download_uri(self, name: str, version: int) -> str: raise NotImplementedError

    # aliases
    def set_registered_model_alias(self, name: str, alias: str, version: int) -> None: raise NotImplementedError
    def delete_registered_model_alias(self, name: str, alias: str) -> None: raise NotImplementedError
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: raise NotImplementedError

    def close(self) -> None:
        pass


# -- errors that say what exists -----------------------------------------------------------------
def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    return shown + (f", ... ({len(items)} in all)" if len(items) > _LISTED else "")


def model_not_found(name: str, existing: Sequence[str], where: str) -> ResourceNotFoundError:
    if existing:
        known = f"Registered models: {_listing(sorted(existing))}."
    else:
        known = "The registry is empty: register a model with mlnb.register_model(model_uri, name)."
    return ResourceNotFoundError(f"No registered model named '{name}' in {where}. {known}")


def version_not_found(name: str, version: int | str, existing: Sequence[int | str],
                      deleted: bool = False) -> ResourceNotFoundError:
    why = "was deleted" if deleted else "does not exist"
    if existing:
        known = f"Its versions are {_listing([str(v) for v in sorted(existing, key=int)])}."
    else:
        known = "It has no versions yet: add one with mlnb.register_model(model_uri, name)."
    return ResourceNotFoundError(f"Version {version} of registered model '{name}' {why}. {known}")


def alias_not_found(name: str, alias: str, aliases: dict[str, str]) -> ResourceNotFoundError:
    if aliases:
        known = "Its aliases are " + _listing([f"{a} -> version {v}" for a, v in sorted(aliases.items())]) + "."
    else:
        known = "It has no aliases: set one with MlnbClient().set_registered_model_alias(name, alias, version)."
    return ResourceNotFoundError(f"Registered model '{name}' has no alias '{alias}'. {known}")


def alias_to_missing_version(name: str, alias: str, version: int | str,
                             existing: Sequence[int | str]) -> ResourceNotFoundError:
    live = ", ".join(str(v) for v in sorted(existing, key=int)) or "none"
    return ResourceNotFoundError(
        f"Alias '{alias}' of registered model '{name}' points at version {version}, which was deleted "
        f"(live versions: {live}). Point it at a live version with set_registered_model_alias, or delete it "
        f"with delete_registered_model_alias.")


# -- the registry URI ----------------------------------------------------------------------------
_override: str | None = None
_stores: dict[tuple[int, str], RegistryStore] = {}
_lock = threading.Lock()


def set_registry_uri(uri: str | os.PathLike | None) -> None:
    """Keep the registry at ``uri`` (None: follow the tracking URI again)."""
    from mlnb.tracking.store import resolve_uri

    global _override
    _override = resolve_uri(os.fspath(uri)) if uri is not None else None


def get_registry_uri() -> str:
    """The registry URI in force: set_registry_uri, else $MLNB_REGISTRY_URI, else the tracking URI."""
    return registry_uri_for(None)


def registry_uri_for(tracking_uri: str | None) -> str:
    """The registry for a client of ``tracking_uri`` (None: the current one), as MLflow chooses it."""
    from mlnb.tracking.store import get_tracking_uri

    return _override or os.environ.get(ENV_REGISTRY_URI) or tracking_uri or get_tracking_uri()


def registry_tables(path: Path) -> set[str]:
    """The registry tables an SQLite file holds; a clear error if it is no SQLite database."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise TrackingError(f"'{path}' is not an MLflow store (not an SQLite database: {exc}).") from None
    return names & set(REGISTRY_TABLES)


def get_registry_store(uri: str | os.PathLike | None = None) -> RegistryStore:
    """The (cached) registry store for ``uri`` or the current registry URI."""
    from mlnb.tracking.store import resolve_uri

    key = resolve_uri(os.fspath(uri) if uri is not None else get_registry_uri())
    cache_key = (os.getpid(), key)
    store = _stores.get(cache_key)
    if store is not None:
        return store
    with _lock:
        store = _stores.get(cache_key)
        if store is None:
            if key.startswith(("http://", "https://")):
                from mlnb.tracking.registry_rest import RestRegistryStore

                store = RestRegistryStore(key)
            else:
                from mlnb.tracking.store import get_store

                run_store = get_store(key)
                run_store.connection()  # opens the file, or creates it with MLflow's whole schema
                path = Path(run_store.path)
                found = registry_tables(path)
                if len(found) < len(REGISTRY_TABLES):
                    raise TrackingError(
                        f"'{path}' holds no MLflow model registry (it is not an SQLite file with MLflow's "
                        f"schema). Keep the registry in an MLflow store: mlnb.set_registry_uri('sqlite:///mlflow.db') "
                        f"for a file MLflow created, or mlnb.set_registry_uri('http://host:port') for an MLflow "
                        f"Tracking Server.")
                from mlnb.tracking.registry_sqlite import SqliteRegistryStore

                store = SqliteRegistryStore(path)
            _stores[cache_key] = store
    return store


def forget_registry_stores() -> None:
    """Close and forget every cached registry store and the registry URI (tests)."""
    global _override
    with _lock:
        for (pid, _), store in list(_stores.items()):
            if pid == os.getpid():
                store.close()
        _stores.clear()
    _override = None

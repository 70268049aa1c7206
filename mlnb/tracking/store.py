"""Which store serves a URI: the run store for a tracking URI, the registry for a registry URI.

A tracking URI names the embedded store (MLflow's SQLite store, :mod:`mlnb.tracking.sqlite_store`)
or an MLflow Tracking Server (:mod:`mlnb.tracking.rest_store`); a registry URI names the registry
tables of such a file (:mod:`mlnb.tracking.registry_sqlite`, on the run store's connection) or the
server's registry API (:mod:`mlnb.tracking.registry_rest`). Both kinds are cached in one place,
per process and URI, so each process keeps one connection to a file.

This module only chooses and caches; the interfaces live in :mod:`mlnb.tracking.base` and
:mod:`mlnb.tracking.registry_store`, the URIs in :mod:`mlnb.tracking.uris` (their names are
re-exported here, where callers have long found them).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable

from mlnb.errors import TrackingError
from mlnb.tracking.base import ACTIVE_ONLY, ALL, DELETED_ONLY, INFO_COLUMNS, RunTable, Store, run_view
from mlnb.tracking.registry_store import REGISTRY_TABLES, RegistryStore, registry_tables
from mlnb.tracking.uris import (
    DEFAULT_DB, ENV_LEGACY_TRACKING_URI, ENV_TRACKING_URI, get_registry_uri, get_tracking_uri, is_tracking_uri_set,
    resolve_uri, set_registry_uri, set_tracking_uri,
)

LEGACY_DB = "mlnb.db"  # the store of mlnb before it kept runs in MLflow's schema
_RUNS, _REGISTRY = "runs", "registry"

_stores: dict[tuple[int, str, str], Any] = {}   # (pid, kind, resolved URI) -> store
_lock = threading.RLock()   # re-entrant: opening a registry opens (or finds) its file's run store
_resolved: dict[tuple[str, str], str] = {}


def _cached(kind: str, key: str, make: Callable[[str], Any]) -> Any:
    """The store of ``kind`` for the resolved URI ``key``, made once per process."""
    cache_key = (os.getpid(), kind, key)
    store = _stores.get(cache_key)
    if store is None:
        with _lock:
            store = _stores.get(cache_key)
            if store is None:
                store = _stores[cache_key] = make(key)
    return store


def get_store(uri: str | os.PathLike | None = None) -> Store:
    """The (cached) run store for ``uri`` or the current tracking URI."""
    raw = os.fspath(uri) if uri is not None else get_tracking_uri()
    memo = (raw, os.getcwd())
    key = _resolved.get(memo)
    if key is None:
        key = _resolved[memo] = resolve_uri(raw)
    return _cached(_RUNS, key, _open_run_store)


def _open_run_store(key: str) -> Store:
    if key.startswith(("http://", "https://")):
        from mlnb.tracking.rest_store import RestStore

        return RestStore(key)
    from mlnb.tracking.sqlite_store import SqliteStore

    path = key[len("sqlite:///"):]
    _convert_legacy_beside(path)
    return SqliteStore(path)


def _convert_legacy_beside(path: str) -> None:
    """First use of ``mlflow.db`` where an older mlnb kept runs in ``mlnb.db``: convert them."""
    target = Path(path)
    legacy = target.with_name(LEGACY_DB)
    if target.name == DEFAULT_DB and not target.exists() and legacy.is_file():
        from mlnb.tracking.convert import convert_legacy_store, is_legacy_store

        if is_legacy_store(legacy):
            convert_legacy_store(legacy, target)


def get_registry_store(uri: str | os.PathLike | None = None) -> RegistryStore:
    """The (cached) registry store for ``uri`` or the current registry URI."""
    key = resolve_uri(os.fspath(uri) if uri is not None else get_registry_uri())
    return _cached(_REGISTRY, key, _open_registry_store)


def _open_registry_store(key: str) -> RegistryStore:
    if key.startswith(("http://", "https://")):
        from mlnb.tracking.registry_rest import RestRegistryStore

        return RestRegistryStore(key)
    from mlnb.tracking.registry_sqlite import SqliteRegistryStore

    run_store = get_store(key)
    run_store.connection()  # opens the file, or creates it with MLflow's whole schema
    if len(registry_tables(run_store.path)) < len(REGISTRY_TABLES):
        raise TrackingError(
            f"'{run_store.path}' holds no MLflow model registry (it is not an SQLite file with MLflow's "
            f"schema). Keep the registry in an MLflow store: mlnb.set_registry_uri('sqlite:///mlflow.db') "
            f"for a file MLflow created, or mlnb.set_registry_uri('http://host:port') for an MLflow "
            f"Tracking Server.")
    return SqliteRegistryStore(run_store)


def _forget(kinds: tuple[str, ...]) -> None:
    with _lock:
        for cache_key, store in list(_stores.items()):
            if cache_key[1] in kinds:
                if cache_key[0] == os.getpid():
                    store.close()
                del _stores[cache_key]


def forget_stores() -> None:
    """Close and forget every cached store (tests; after fork the pid key already separates them)."""
    _forget((_REGISTRY, _RUNS))   # registries first: an embedded one uses its run store's connection
    _resolved.clear()


def forget_registry_stores() -> None:
    """Forget every cached registry store and the registry URI set in this process (tests)."""
    _forget((_REGISTRY,))
    set_registry_uri(None)


__all__ = [
    "get_store", "get_registry_store", "forget_stores", "forget_registry_stores", "LEGACY_DB",
    # re-exported from base and uris
    "ACTIVE_ONLY", "ALL", "DELETED_ONLY", "INFO_COLUMNS", "RunTable", "Store", "run_view", "DEFAULT_DB",
    "ENV_LEGACY_TRACKING_URI", "ENV_TRACKING_URI", "get_registry_uri", "get_tracking_uri", "is_tracking_uri_set",
    "resolve_uri", "set_registry_uri", "set_tracking_uri",
]

"""The model registry interface, and the errors that list what exists.

Two registries implement it: MLflow's registry tables in an SQLite file with MLflow's schema
(:mod:`mlnb.tracking.registry_sqlite`) and an MLflow Tracking Server's registry API
(:mod:`mlnb.tracking.registry_rest`). Which one serves a registry URI is decided in
:mod:`mlnb.tracking.store`; the URI itself is kept in :mod:`mlnb.tracking.uris` (its functions are
re-exported here).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Sequence

from mlnb.errors import ResourceNotFoundError, TrackingError
from mlnb.tracking.paging import PagedList
from mlnb.tracking.registry_entities import ModelVersion, RegisteredModel
from mlnb.tracking.uris import ENV_REGISTRY_URI, get_registry_uri, registry_uri_for, set_registry_uri

REGISTRY_TABLES = ("registered_models", "registered_model_tags", "registered_model_aliases",
                   "model_versions", "model_version_tags")
_LISTED = 20  # names shown in an error message


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


__all__ = [
    "RegistryStore", "REGISTRY_TABLES", "registry_tables", "model_not_found", "version_not_found",
    "alias_not_found", "alias_to_missing_version",
    # re-exported from paging and uris
    "PagedList", "ENV_REGISTRY_URI", "get_registry_uri", "registry_uri_for", "set_registry_uri",
]

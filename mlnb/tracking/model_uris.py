"""``models:/`` URIs resolved to local paths, MLflow's forms:

    models:/<name>/<version>     a version of a registered model
    models:/<name>@<alias>       the version an alias points at (models:/churn@champion)
    models:/<name>/latest        the newest live version
    models:/<name>/<stage>       the newest version in a stage (Staging, Production...: MLflow 3 keeps it)
    models:/<model_id>           an MLflow 3 logged model, by id (from the tracking store)

Registered at :mod:`mlnb.models.uri` for the ``models`` scheme, so every place that takes a model
URI (``load_model``, ``pyfunc.load_model``, ``%load_model``, ``mlnb models serve -m``,
``evaluate``) takes these too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from mlnb.errors import InvalidParameterError, ResourceNotFoundError
from mlnb.tracking.registry_entities import ModelVersion, canonical_stage
from mlnb.tracking.registry_store import RegistryStore, version_not_found
from mlnb.tracking.store import get_registry_store

_FORMS = "models:/<name>/<version>, models:/<name>@<alias>, models:/<name>/latest or models:/<model_id>"


@dataclass(frozen=True)
class ModelsRef:
    """A parsed ``models:/`` URI: ``model_id``, or ``name`` with one of version/alias/stage/latest."""

    name: str | None = None
    version: int | None = None
    alias: str | None = None
    stage: str | None = None
    model_id: str | None = None

    @property
    def latest(self) -> bool:
        return self.name is not None and self.version is None and self.alias is None and self.stage is None


def parse_models_uri(uri: str) -> ModelsRef:
    """Split a ``models:/`` URI into its parts; a clear error for any other shape."""
    path = urlparse(uri, allow_fragments=False).path
    parts = path.lstrip("/").split("/") if path.startswith("/") else []
    if not parts or len(parts) > 2 or not parts[0].strip() or (len(parts) == 2 and not parts[1].strip()):
        raise InvalidParameterError(f"'{uri}' is not a models:/ URI mlnb reads: write {_FORMS}.")
    if len(parts) == 2:
        name, suffix = parts
        if "@" in name:
            raise InvalidParameterError(f"'{uri}' has both an alias and a version: write {_FORMS}.")
        if suffix.isdigit():
            return ModelsRef(name=name, version=int(suffix))
        if suffix.lower() == "latest":
            return ModelsRef(name=name)
        try:
            return ModelsRef(name=name, stage=canonical_stage(suffix))
        except InvalidParameterError:
            raise InvalidParameterError(
                f"'{uri}': '{suffix}' is neither a version number, 'latest' nor a stage; write {_FORMS}.") from None
    if "@" in parts[0]:
        name, _, alias = parts[0].rpartition("@")
        if not name or not alias:
            raise InvalidParameterError(f"'{uri}' names no model or no alias: write {_FORMS}.")
        return ModelsRef(name=name, alias=alias)
    return ModelsRef(model_id=parts[0])


def version_of(registry: RegistryStore, ref: ModelsRef) -> ModelVersion:
    """The registry version a parsed ``models:/<name>...`` URI names."""
    if ref.version is not None:
        return registry.get_model_version(ref.name, ref.version)
    if ref.alias is not None:
        return registry.get_model_version_by_alias(ref.name, ref.alias)
    found = registry.get_latest_versions(ref.name, [ref.stage] if ref.stage else None)
    if not found:
        live = [v.version for v in registry.get_latest_versions(ref.name, None)]
        if ref.stage:
            raise ResourceNotFoundError(
                f"Registered model '{ref.name}' has no version in stage {ref.stage}"
                f"{'' if live else ' (it has no versions)'}. Use models:/{ref.name}/latest, a version number, "
                f"or an alias.")
        raise version_not_found(ref.name, "latest", live)
    return max(found, key=lambda mv: int(mv.version))


def download_models_uri(uri: str, dst: str | None = None) -> Path:
    """Resolve a ``models:/`` URI through the registry (or the tracking store's logged models)
    to a local path, downloading the files if they are remote."""
    from mlnb.models.uri import local_path

    ref = parse_models_uri(uri)
    if ref.model_id is not None:
        location = logged_model_location(ref.model_id, uri)
    else:
        registry = get_registry_store()
        version = version_of(registry, ref)
        location = registry.get_model_version_download_uri(version.name, int(version.version))
    if location.startswith("models:/") and location.rstrip("/") == uri.rstrip("/"):
        raise ResourceNotFoundError(f"'{uri}' points at itself in the registry; its source cannot be resolved.")
    return local_path(location, dst)


def _registered_hint(name: str) -> str:
    """A pointer to the registry's URI forms when ``name`` is a registered model's name."""
    try:
        get_registry_store().get_registered_model(name)
    except Exception:  # no registry here, or no model of that name: nothing to add
        return ""
    return f" A registered model '{name}' exists: load models:/{name}/latest or models:/{name}@<alias>."


def logged_model_location(model_id: str, uri: str) -> str:
    """Where an MLflow 3 logged model's files are, from the tracking store (its ``get_logged_model``)."""
    from mlnb.tracking.store import get_store

    store = get_store()
    lookup = getattr(store, "get_logged_model", None)
    if lookup is not None:
        try:
            return lookup(model_id).artifact_location
        except ResourceNotFoundError as exc:
            raise ResourceNotFoundError(f"{exc}{_registered_hint(model_id)}") from None
    raise ResourceNotFoundError(
        f"'{uri}' names a logged model by id, and the tracking store {store.uri} keeps no logged models. "
        f"Write {_FORMS}.{_registered_hint(model_id)}")


__all__ = ["ModelsRef", "parse_models_uri", "version_of", "download_models_uri", "logged_model_location"]

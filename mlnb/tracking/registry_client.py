"""The model registry half of ``MlnbClient``: MLflow's method names, arguments and meanings.

    client = mlnb.MlnbClient(registry_uri="sqlite:///mlflow.db")
    client.create_registered_model("churn", tags={"team": "ml"})
    mv = client.create_model_version("churn", source="runs:/<run_id>/model", run_id="<run_id>")
    client.set_registered_model_alias("churn", "champion", mv.version)
    client.get_model_version_by_alias("churn", "champion")       # models:/churn@champion

Names, versions, aliases and tags are validated here, before a store is touched. Sources naming
another registry entry (``models:/...``) or a run (``runs:/...``) are resolved to where the files
are, as MLflow does, so MLflow and mlnb both load the version from its ``storage_location``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from mlnb.errors import InvalidParameterError, ResourceNotFoundError
from mlnb.tracking import registry_validation as rv
from mlnb.tracking.registry_entities import TAG_MODEL_VERSIONS, ModelVersion, RegisteredModel, canonical_stage
from mlnb.tracking.registry_store import PagedList, RegistryStore
from mlnb.tracking.store import get_registry_store
from mlnb.tracking.uris import registry_uri_for

SEARCH_MODELS_DEFAULT = 100
SEARCH_VERSIONS_DEFAULT = 10_000


@dataclass(frozen=True)
class ModelSource:
    """Where a new version's files are: ``source`` as recorded, the resolved ``storage_location``,
    and the run and logged model it came from (MLflow's rules for each kind of URI)."""

    source: str
    storage_location: str | None = None
    run_id: str | None = None
    model_id: str | None = None


def resolve_source(model_uri: str, tracking_store: Any, registry: RegistryStore) -> ModelSource:
    """``runs:/`` -> the run's artifact URI (or its logged model); ``models:/<id>`` -> the logged
    model's artifact location; ``models:/<name>/<version>`` (or ``@alias``) -> that version's
    location; a local path -> its absolute path; anything else as given."""
    from mlnb.models.uri import scheme_of
    from mlnb.tracking.model_uris import parse_models_uri, version_of

    uri = os.fspath(model_uri)
    scheme = scheme_of(uri)
    if scheme == "runs":
        from mlnb.tracking.artifacts import join_uri
        from mlnb.tracking.run_uris import parse_runs_uri

        run_id, path = parse_runs_uri(uri)
        run = tracking_store.get_run(run_id)
        repo = tracking_store.artifact_repo(run.info.artifact_uri)
        if repo.exists(f"{path}/MLmodel" if path else "MLmodel"):
            return ModelSource(join_uri(run.info.artifact_uri, path), run_id=run_id)
        logged = tracking_store.logged_model_uri(run, path) if path else None
        if logged is None:
            raise ResourceNotFoundError(
                f"'{uri}' holds no model: run '{run_id}' has no MLmodel under '{path}'. Register the URI "
                f"log_model returned (ModelInfo.model_uri).")
        # an MLflow 3 logged model: recorded as models:/<model_id>, as MLflow records it
        model_id = _logged_model_id(tracking_store, logged)
        if model_id is None:
            return ModelSource(logged, run_id=run_id)
        return ModelSource(f"models:/{model_id}", logged, run_id, model_id)
    if scheme == "models":
        ref = parse_models_uri(uri)
        if registry.resolves_sources:  # an MLflow server resolves models:/ sources itself
            return ModelSource(uri, model_id=ref.model_id)
        if ref.model_id is not None:
            lookup = getattr(tracking_store, "get_logged_model", None)
            if lookup is None:
                raise InvalidParameterError(
                    f"'{uri}' names a logged model by id, and the tracking store {tracking_store.uri} keeps no "
                    f"logged models. Register runs:/<run_id>/<name> or a path instead.")
            logged = lookup(ref.model_id)
            return ModelSource(uri, logged.artifact_location, getattr(logged, "source_run_id", None), ref.model_id)
        version = version_of(registry, ref)
        return ModelSource(uri, registry.get_model_version_download_uri(ref.name, int(version.version)))
    if scheme == "":
        path = Path(uri).expanduser().absolute()
        if not path.exists():
            raise ResourceNotFoundError(f"No model at '{uri}' (resolved to '{path}'): nothing was registered.")
        return ModelSource(str(path))
    return ModelSource(uri)


def _logged_model_id(tracking_store: Any, artifact_uri: str) -> str | None:
    """The ``model_id`` a logged model's MLmodel records (one small file read)."""
    import tempfile

    from mlnb.models.mlmodel import Model

    with tempfile.TemporaryDirectory(prefix="mlnb-mlmodel-") as tmp:
        local = tracking_store.artifact_repo(artifact_uri).download_artifacts("MLmodel", tmp)
        return Model.load(local).model_id or None


class RegistryClientMixin:
    """Registered models, versions, tags and aliases; mixed into ``MlnbClient``."""

    _uri: str | None
    _registry_uri: str | None = None

    @property
    def registry_store(self) -> RegistryStore:
        return get_registry_store(self._registry_uri or registry_uri_for(self._uri))

    @property
    def registry_uri(self) -> str:
        return self.registry_store.uri

    # -- registered models ---------------------------------------------------------------------
    def create_registered_model(self, name: str, tags: Mapping[str, Any] | None = None,
                                description: str | None = None) -> RegisteredModel:
        """A new, empty registered model; an error if the name is taken."""
        return self.registry_store.create_registered_model(rv.check_model_name(name), rv.check_tags(tags), description)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.registry_store.get_registered_model(rv.check_model_name(name))

    def search_registered_models(self, filter_string: str | None = None, max_results: int = SEARCH_MODELS_DEFAULT,
                                 order_by: Sequence[str] | None = None, page_token: str | None = None) -> PagedList:
        """Registered models matching ``filter_string`` (``"name LIKE 'churn%'"``), by name; one
        page of ``max_results`` (``.token`` fetches the next)."""
        return self.registry_store.search_registered_models(filter_string, max_results, order_by, page_token)

    def update_registered_model(self, name: str, description: str | None = None) -> RegisteredModel:
        return self.registry_store.update_registered_model(rv.check_model_name(name), description)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a model with its versions, tags and aliases (models:/<old name>/... stop resolving)."""
        return self.registry_store.rename_registered_model(
            rv.check_model_name(name), rv.check_model_name(new_name, "The new name"))

    def delete_registered_model(self, name: str) -> None:
        """Delete a registered model with all its versions (the model files stay where they are)."""
        self.registry_store.delete_registered_model(rv.check_model_name(name))

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        key, value = rv.check_tag(key, value)
        self.registry_store.set_registered_model_tag(rv.check_model_name(name), key, value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.registry_store.delete_registered_model_tag(rv.check_model_name(name), rv.check_tag(key, "")[0])

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        """The newest version in each stage (only ``stages``, if given). MLflow 3 keeps stages for
        compatibility only; aliases are how a version is chosen today."""
        stages = [canonical_stage(s) for s in stages] if stages else None
        return self.registry_store.get_latest_versions(rv.check_model_name(name), stages)

    # -- model versions ------------------------------------------------------------------------
    def create_model_version(self, name: str, source: str, run_id: str | None = None,
                             tags: Mapping[str, Any] | None = None, run_link: str | None = None,
                             description: str | None = None, await_creation_for: int = 300,
                             model_id: str | None = None) -> ModelVersion:
        """A new version of ``name`` (which must exist) whose files are at ``source``; versions are
        numbered 1, 2, 3... per model, never reused."""
        name, tags = rv.check_model_name(name), rv.check_tags(tags)
        store = self.registry_store
        from mlnb.models.uri import scheme_of

        storage_location = None
        if scheme_of(os.fspath(source)) == "models":
            resolved = resolve_source(source, self._tracking_store(), store)
            storage_location, run_id = resolved.storage_location, run_id or resolved.run_id
            model_id = model_id or resolved.model_id
        return store.create_model_version(name, os.fspath(source), run_id, tags, run_link, description, model_id,
                                          storage_location)

    def copy_model_version(self, src_model_uri: str, dst_name: str) -> ModelVersion:
        """Copy the version ``src_model_uri`` names (``models:/<name>/<version>`` or ``models:/<name>@<alias>``)
        as a new version of ``dst_name`` (created if needed), with its run, tags, description and
        logged model; the copy's source is ``models:/<name>/<version>``, as in MLflow."""
        from mlnb.models.uri import scheme_of
        from mlnb.tracking.model_uris import parse_models_uri, version_of

        if not isinstance(src_model_uri, str) or scheme_of(src_model_uri) != "models":
            raise InvalidParameterError(
                f"copy_model_version copies registered versions, named like 'models:/churn/3' or "
                f"'models:/churn@champion'; got {src_model_uri!r}.")
        ref = parse_models_uri(src_model_uri)
        if ref.name is None:
            raise InvalidParameterError(
                f"'{src_model_uri}' names a logged model, not a registered version; register it with "
                f"register_model('{src_model_uri}', '{dst_name}') instead.")
        src = version_of(self.registry_store, ref)
        dst_name = rv.check_model_name(dst_name)
        try:
            self.registry_store.create_registered_model(dst_name, {}, None)
        except InvalidParameterError as exc:
            if "already exists" not in str(exc):
                raise
        return self.create_model_version(dst_name, f"models:/{src.name}/{src.version}", src.run_id, dict(src.tags),
                                         src.run_link, src.description, model_id=src.model_id)

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        return self.registry_store.get_model_version(rv.check_model_name(name), rv.check_version(version))

    def search_model_versions(self, filter_string: str | None = None, max_results: int = SEARCH_VERSIONS_DEFAULT,
                              order_by: Sequence[str] | None = None, page_token: str | None = None) -> PagedList:
        """Versions matching ``filter_string`` (``"name = 'churn' AND version_number > 2"``), newest
        change first."""
        return self.registry_store.search_model_versions(filter_string, max_results, order_by, page_token)

    def update_model_version(self, name: str, version: str | int, description: str | None = None) -> ModelVersion:
        return self.registry_store.update_model_version(rv.check_model_name(name), rv.check_version(version),
                                                        description)

    def transition_model_version_stage(self, name: str, version: str | int, stage: str,
                                       archive_existing_versions: bool = False) -> ModelVersion:
        """Move a version to a stage (None, Staging, Production, Archived): kept as MLflow 3 keeps
        it, for older code; prefer aliases."""
        return self.registry_store.transition_model_version_stage(
            rv.check_model_name(name), rv.check_version(version), canonical_stage(stage), archive_existing_versions)

    def delete_model_version(self, name: str, version: str | int) -> None:
        """Delete a version (its number is not reused; aliases pointing at it go too)."""
        self.registry_store.delete_model_version(rv.check_model_name(name), rv.check_version(version))

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: Any) -> None:
        key, value = rv.check_tag(key, value)
        self.registry_store.set_model_version_tag(rv.check_model_name(name), rv.check_version(version), key, value)

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        self.registry_store.delete_model_version_tag(rv.check_model_name(name), rv.check_version(version),
                                                     rv.check_tag(key, "")[0])

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        """Where the version's files are (what ``models:/<name>/<version>`` loads)."""
        return self.registry_store.get_model_version_download_uri(rv.check_model_name(name), rv.check_version(version))

    # -- aliases -------------------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        """Point ``alias`` (``champion``) at a version, moving it if it pointed elsewhere."""
        self.registry_store.set_registered_model_alias(
            rv.check_model_name(name), rv.check_alias(alias, setting=True), rv.check_version(version))

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self.registry_store.delete_registered_model_alias(rv.check_model_name(name), rv.check_alias(alias))

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self.registry_store.get_model_version_by_alias(rv.check_model_name(name), rv.check_alias(alias))

    # -- registering a model ---------------------------------------------------------------------
    def _tracking_store(self):
        from mlnb.tracking.store import get_store

        return get_store(self._uri)

    def register_model_version(self, model_uri: str | os.PathLike, name: str,
                               tags: Mapping[str, Any] | None = None) -> ModelVersion:
        """What ``mlnb.register_model`` does: create ``name`` if needed, then add a version of it
        whose files are those of ``model_uri`` (resolved by MLflow's rules, see resolve_source)."""
        name, tags = rv.check_model_name(name), rv.check_tags(tags)
        store, tracking = self.registry_store, self._tracking_store()
        resolved = resolve_source(os.fspath(model_uri), tracking, store)
        try:
            store.create_registered_model(name, {}, None)
        except InvalidParameterError as exc:
            if "already exists" not in str(exc):
                raise
        version = store.create_model_version(name, resolved.source, resolved.run_id, tags, None, None,
                                             resolved.model_id, resolved.storage_location)
        if resolved.model_id is not None:
            _link_logged_model(tracking, resolved.model_id, name, version.version)
        return version


def _link_logged_model(tracking_store: Any, model_id: str, name: str, version: int) -> None:
    """Record the new version on its logged model (MLflow's ``mlflow.modelVersions`` tag), where
    the tracking store keeps logged models."""
    get, set_tags = getattr(tracking_store, "get_logged_model", None), getattr(tracking_store, "set_logged_model_tags", None)
    if get is None or set_tags is None:
        return
    entry = {"name": name, "version": int(version)}
    existing = json.loads((getattr(get(model_id), "tags", None) or {}).get(TAG_MODEL_VERSIONS, "[]"))
    if entry not in existing:
        set_tags(model_id, {TAG_MODEL_VERSIONS: json.dumps(existing + [entry])})


__all__ = ["RegistryClientMixin", "resolve_source", "ModelSource"]

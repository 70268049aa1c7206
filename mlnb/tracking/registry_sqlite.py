"""MLflow's model registry tables in an SQLite file with MLflow's schema, through sqlite3.

Rows are written exactly as MLflow's own store writes them (times in ms, ``current_stage``
``'None'``, ``status`` ``'READY'``, ``storage_location`` beside ``source``; a deleted version keeps
its row with stage ``Deleted_Internal`` and redacted fields, so its number is never reused), so
MLflow reads what mlnb registers and the other way round.

The registry works on the run store's connection to the file (:class:`~mlnb.tracking.sqlite_store.
SqliteStore`: WAL, 30 s busy timeout, the revision policy). Every write is one ``BEGIN IMMEDIATE``
transaction: two processes registering the same name at once get distinct version numbers.
When the file has MLflow's ``workspace`` columns, mlnb works in the ``default`` workspace.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any, ContextManager

from mlnb.errors import InvalidParameterError, ResourceNotFoundError
from mlnb.tracking.paging import PagedList, offset_of, token_for
from mlnb.tracking.registry_entities import (
    READY, STAGE_ARCHIVED, STAGE_DELETED_INTERNAL, STAGE_NONE, STAGE_PRODUCTION, STAGE_STAGING, ModelVersion,
    RegisteredModel, canonical_stage,
)
from mlnb.tracking.registry_search import MODELS, VERSIONS, parse_registry_filter, parse_registry_order_by
from mlnb.tracking.registry_store import (
    REGISTRY_TABLES, RegistryStore, alias_not_found, alias_to_missing_version, model_not_found,
    version_not_found,
)
from mlnb.tracking.search import ATTRIBUTE, Clause, OrderBy
from mlnb.tracking.sqlite_store import SqliteStore, compare_sql

MAX_MODELS, MAX_VERSIONS = 1000, 200_000  # MLflow's limits on one page of a search
_MV_COLUMNS = ("name, version, creation_time, last_updated_time, description, user_id, current_stage, source, "
               "run_id, status, status_message, run_link")
_MV_ORDER = {"name": "name", "version_number": "version", "creation_timestamp": "creation_time",
             "last_updated_timestamp": "last_updated_time"}
_RM_ORDER = {"name": "name", "creation_timestamp": "creation_time", "last_updated_timestamp": "last_updated_time"}
_MV_ATTRS = {"name": "name", "version_number": "version", "run_id": "run_id", "source_path": "source"}
_PROMPT_TAG = "mlflow.prompt.is_prompt"  # MLflow keeps prompts in these tables too; searches skip them


def _now() -> int:
    return int(time.time() * 1000)


def _max_results(n: Any, limit: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= limit:
        raise InvalidParameterError(f"max_results must be a whole number from 1 to {limit}, got {n!r}.")
    return n


class SqliteRegistryStore(RegistryStore):
    """The registry tables of the MLflow-schema SQLite file that ``run_store`` keeps open."""

    def __init__(self, run_store: SqliteStore) -> None:
        self._file = run_store
        self.path = run_store.path
        self.uri = f"sqlite:///{self.path}"
        with run_store.read() as c:
            columns = {r[1] for r in c.execute("PRAGMA table_info(registered_models)")}
        self._ws = " AND workspace = 'default'" if "workspace" in columns else ""

    def _write(self) -> ContextManager[sqlite3.Connection]:
        """One IMMEDIATE transaction on the file, as the run store writes it (revision policy included)."""
        return self._file.write(REGISTRY_TABLES)

    def _read(self) -> ContextManager[sqlite3.Connection]:
        return self._file.read()

    # -- reading rows into entities ------------------------------------------------------------
    def _names(self, c: sqlite3.Connection) -> list[str]:
        return [r[0] for r in c.execute(f"SELECT name FROM registered_models WHERE 1 = 1{self._ws}")]

    def _require_model(self, c: sqlite3.Connection, name: str) -> tuple:
        row = c.execute(f"SELECT name, creation_time, last_updated_time, description FROM registered_models "
                        f"WHERE name = ?{self._ws}", (name,)).fetchone()
        if row is None:
            raise model_not_found(name, self._names(c), self.uri)
        return row

    def _live_versions(self, c: sqlite3.Connection, name: str) -> list[int]:
        return [r[0] for r in c.execute(
            f"SELECT version FROM model_versions WHERE name = ? AND current_stage != ?{self._ws} ORDER BY version",
            (name, STAGE_DELETED_INTERNAL))]

    def _require_version(self, c: sqlite3.Connection, name: str, version: int) -> tuple:
        row = c.execute(f"SELECT {_MV_COLUMNS} FROM model_versions WHERE name = ? AND version = ?{self._ws}",
                        (name, version)).fetchone()
        if row is None or row[6] == STAGE_DELETED_INTERNAL:
            self._require_model(c, name)
            raise version_not_found(name, version, self._live_versions(c, name), deleted=row is not None)
        return row

    def _aliases(self, c: sqlite3.Connection, name: str) -> dict[str, int]:
        return {a: int(v) for a, v in c.execute(
            f"SELECT alias, version FROM registered_model_aliases WHERE name = ?{self._ws} ORDER BY alias", (name,))}

    def _versions(self, c: sqlite3.Connection, rows: list[tuple]) -> list[ModelVersion]:
        """Entities for model_versions rows, their tags and aliases read in one query each."""
        names = sorted({r[0] for r in rows})
        tags: dict[tuple, dict[str, str]] = {}
        aliases: dict[tuple, list[str]] = {}
        for i in range(0, len(names), 500):
            chunk = names[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for n, v, k, val in c.execute(f"SELECT name, version, key, value FROM model_version_tags "
                                          f"WHERE name IN ({marks}){self._ws}", chunk):
                tags.setdefault((n, v), {})[k] = val
            for n, v, a in c.execute(f"SELECT name, version, alias FROM registered_model_aliases "
                                     f"WHERE name IN ({marks}){self._ws} ORDER BY alias", chunk):
                aliases.setdefault((n, v), []).append(a)
        return [ModelVersion(
            name=r[0], version=r[1], creation_timestamp=r[2], last_updated_timestamp=r[3], description=r[4],
            user_id=r[5], current_stage=r[6], source=r[7], run_id=r[8], status=r[9] or READY, status_message=r[10],
            tags=tags.get((r[0], r[1]), {}), run_link=r[11], aliases=aliases.get((r[0], r[1]), []),
        ) for r in rows]

    def _version(self, c: sqlite3.Connection, row: tuple) -> ModelVersion:
        return self._versions(c, [row])[0]

    def _latest_rows(self, c: sqlite3.Connection, name: str) -> list[tuple]:
        """The newest live version in each stage (MLflow's ``latest_versions``)."""
        return list(c.execute(
            f"SELECT {_MV_COLUMNS} FROM model_versions AS mv WHERE name = ? AND current_stage != ?{self._ws} "
            f"AND version = (SELECT max(version) FROM model_versions WHERE name = mv.name "
            f"AND current_stage = mv.current_stage{self._ws}) ORDER BY version", (name, STAGE_DELETED_INTERNAL)))

    def _model(self, c: sqlite3.Connection, row: tuple) -> RegisteredModel:
        name = row[0]
        aliases = self._aliases(c, name)
        tags = dict(c.execute(f"SELECT key, value FROM registered_model_tags WHERE name = ?{self._ws}", (name,)))
        latest = self._versions(c, self._latest_rows(c, name))
        return RegisteredModel(name=name, creation_timestamp=row[1], last_updated_timestamp=row[2],
                               description=row[3], latest_versions=latest, tags=tags, aliases=aliases)

    # -- registered models ---------------------------------------------------------------------
    def create_registered_model(self, name, tags, description) -> RegisteredModel:
        now = _now()
        with self._write() as c:
            if c.execute(f"SELECT 1 FROM registered_models WHERE name = ?{self._ws}", (name,)).fetchone():
                raise InvalidParameterError(
                    f"Registered model '{name}' already exists. Add a version with "
                    f"mlnb.register_model(model_uri, '{name}'), or choose another name.")
            c.execute("INSERT INTO registered_models (name, creation_time, last_updated_time, description) "
                      "VALUES (?, ?, ?, ?)", (name, now, now, description))
            c.executemany("INSERT INTO registered_model_tags (key, value, name) VALUES (?, ?, ?)",
                          [(k, val, name) for k, val in tags.items()])
        return RegisteredModel(name, now, now, description, [], dict(tags), {})

    def get_registered_model(self, name) -> RegisteredModel:
        with self._read() as c:
            return self._model(c, self._require_model(c, name))

    def update_registered_model(self, name, description) -> RegisteredModel:
        with self._write() as c:
            self._require_model(c, name)
            c.execute(f"UPDATE registered_models SET description = ?, last_updated_time = ? WHERE name = ?{self._ws}",
                      (description, _now(), name))
            return self._model(c, self._require_model(c, name))

    def rename_registered_model(self, name, new_name) -> RegisteredModel:
        now = _now()
        with self._write() as c:
            self._require_model(c, name)
            if c.execute(f"SELECT 1 FROM registered_models WHERE name = ?{self._ws}", (new_name,)).fetchone():
                raise InvalidParameterError(f"Cannot rename '{name}' to '{new_name}': a registered model of that name exists.")
            c.execute(f"UPDATE registered_models SET name = ?, last_updated_time = ? WHERE name = ?{self._ws}",
                      (new_name, now, name))
            c.execute(f"UPDATE model_versions SET name = ?, last_updated_time = ? WHERE name = ?{self._ws}",
                      (new_name, now, name))
            for table in ("registered_model_tags", "registered_model_aliases", "model_version_tags"):
                c.execute(f"UPDATE {table} SET name = ? WHERE name = ?{self._ws}", (new_name, name))
            return self._model(c, self._require_model(c, new_name))

    def delete_registered_model(self, name) -> None:
        with self._write() as c:
            self._require_model(c, name)
            for table in ("model_version_tags", "registered_model_aliases", "registered_model_tags",
                          "model_versions", "registered_models"):
                c.execute(f"DELETE FROM {table} WHERE name = ?{self._ws}", (name,))

    def search_registered_models(self, filter_string=None, max_results=100, order_by=None,
                                 page_token=None) -> PagedList:
        clauses = parse_registry_filter(filter_string, MODELS)
        orders = parse_registry_order_by(order_by, MODELS)
        where, args = self._where(clauses, "registered_model_tags", ("name",), {"name": "rm.name"})
        order = ", ".join(f"rm.{_RM_ORDER[o.key]} {'ASC' if o.ascending else 'DESC'}" for o in orders)
        if not any(o.key == "name" for o in orders):
            order = f"{order}, rm.name ASC" if order else "rm.name ASC"
        limit, offset = _max_results(max_results, MAX_MODELS), offset_of(page_token)
        with self._read() as c:
            rows = c.execute(
                f"SELECT name, creation_time, last_updated_time, description FROM registered_models AS rm "
                f"WHERE 1 = 1{self._ws}{where} ORDER BY {order} LIMIT ? OFFSET ?", [*args, limit + 1, offset]).fetchall()
            models = [self._model(c, r) for r in rows[:limit]]
        return PagedList(models, token_for(offset + limit) if len(rows) > limit else None)

    def _where(self, clauses: list[Clause], tag_table: str, keys: tuple[str, ...],
               columns: dict[str, str]) -> tuple[str, list]:
        """SQL conditions (each starting with AND) for parsed clauses; prompts are left out unless
        the filter asks for them, as MLflow does."""
        alias = "mv" if "version" in keys else "rm"
        match = " AND ".join(f"t.{k} = {alias}.{k}" for k in keys)
        parts, args = [], []
        wants_prompts = False
        for cl in clauses:
            if cl.entity == ATTRIBUTE:
                cond, a = compare_sql(columns[cl.key], cl.op, cl.value)
            else:
                if cl.key == _PROMPT_TAG:
                    wants_prompts = (cl.op == "=" and str(cl.value).lower() == "true") or (
                        cl.op == "!=" and str(cl.value).lower() == "false")
                    continue
                inner, a = compare_sql("t.value", cl.op, cl.value)
                cond = f"EXISTS (SELECT 1 FROM {tag_table} AS t WHERE {match} AND t.key = ? AND {inner})"
                a = [cl.key, *a]
            parts.append(f" AND {cond}")
            args += a
        prompt = (f"EXISTS (SELECT 1 FROM registered_model_tags AS t WHERE t.name = {alias}.name "
                  f"AND t.key = ? AND lower(t.value) = 'true')")
        parts.append(f" AND {prompt}" if wants_prompts else f" AND NOT {prompt}")
        args.append(_PROMPT_TAG)
        return "".join(parts), args

    def set_registered_model_tag(self, name, key, value) -> None:
        with self._write() as c:
            self._require_model(c, name)
            c.execute(f"DELETE FROM registered_model_tags WHERE name = ? AND key = ?{self._ws}", (name, key))
            c.execute("INSERT INTO registered_model_tags (key, value, name) VALUES (?, ?, ?)", (key, value, name))

    def delete_registered_model_tag(self, name, key) -> None:
        with self._write() as c:
            self._require_model(c, name)
            c.execute(f"DELETE FROM registered_model_tags WHERE name = ? AND key = ?{self._ws}", (name, key))

    def get_latest_versions(self, name, stages=None) -> list[ModelVersion]:
        wanted = {canonical_stage(s) for s in stages} if stages else None
        with self._read() as c:
            self._require_model(c, name)
            return self._versions(c, [r for r in self._latest_rows(c, name) if wanted is None or r[6] in wanted])

    # -- model versions ------------------------------------------------------------------------
    def create_model_version(self, name, source, run_id=None, tags=None, run_link=None, description=None,
                             model_id=None, storage_location=None) -> ModelVersion:
        tags = tags or {}
        with self._write() as c:
            self._require_model(c, name)
            now = _now()
            version = c.execute(f"SELECT coalesce(max(version), 0) + 1 FROM model_versions WHERE name = ?{self._ws}",
                                (name,)).fetchone()[0]
            c.execute(
                "INSERT INTO model_versions (name, version, creation_time, last_updated_time, description, user_id, "
                "current_stage, source, run_id, status, status_message, run_link, storage_location) "
                "VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, NULL, ?, ?)",
                (name, version, now, now, description, STAGE_NONE, source, run_id, READY, run_link,
                 storage_location or source))
            c.executemany("INSERT INTO model_version_tags (key, value, name, version) VALUES (?, ?, ?, ?)",
                          [(k, val, name, version) for k, val in tags.items()])
            c.execute(f"UPDATE registered_models SET last_updated_time = ? WHERE name = ?{self._ws}", (now, name))
        return ModelVersion(name=name, version=version, creation_timestamp=now, last_updated_timestamp=now,
                            description=description, current_stage=STAGE_NONE, source=source, run_id=run_id,
                            tags=dict(tags), run_link=run_link, model_id=model_id)

    def get_model_version(self, name, version) -> ModelVersion:
        with self._read() as c:
            return self._version(c, self._require_version(c, name, version))

    def update_model_version(self, name, version, description) -> ModelVersion:
        with self._write() as c:
            self._require_version(c, name, version)
            c.execute(f"UPDATE model_versions SET description = ?, last_updated_time = ? "
                      f"WHERE name = ? AND version = ?{self._ws}", (description, _now(), name, version))
            return self._version(c, self._require_version(c, name, version))

    def transition_model_version_stage(self, name, version, stage, archive_existing_versions=False) -> ModelVersion:
        stage = canonical_stage(stage)
        if archive_existing_versions and stage not in (STAGE_STAGING, STAGE_PRODUCTION):
            raise InvalidParameterError(
                f"archive_existing_versions only applies to the Staging and Production stages, not {stage}.")
        now = _now()
        with self._write() as c:
            self._require_version(c, name, version)
            if archive_existing_versions:
                c.execute(f"UPDATE model_versions SET current_stage = ?, last_updated_time = ? "
                          f"WHERE name = ? AND version != ? AND current_stage = ?{self._ws}",
                          (STAGE_ARCHIVED, now, name, version, stage))
            c.execute(f"UPDATE model_versions SET current_stage = ?, last_updated_time = ? "
                      f"WHERE name = ? AND version = ?{self._ws}", (stage, now, name, version))
            c.execute(f"UPDATE registered_models SET last_updated_time = ? WHERE name = ?{self._ws}", (now, name))
            return self._version(c, self._require_version(c, name, version))

    def delete_model_version(self, name, version) -> None:
        """MLflow's soft delete: the row stays (so the number is never reused), redacted; its
        aliases go; its tags stay, as MLflow keeps them."""
        now = _now()
        with self._write() as c:
            self._require_version(c, name, version)
            c.execute(f"DELETE FROM registered_model_aliases WHERE name = ? AND version = ?{self._ws}", (name, version))
            c.execute(
                f"UPDATE model_versions SET current_stage = ?, last_updated_time = ?, description = NULL, "
                f"user_id = NULL, source = 'REDACTED-SOURCE-PATH', run_id = 'REDACTED-RUN-ID', "
                f"run_link = 'REDACTED-RUN-LINK', status_message = NULL WHERE name = ? AND version = ?{self._ws}",
                (STAGE_DELETED_INTERNAL, now, name, version))
            c.execute(f"UPDATE registered_models SET last_updated_time = ? WHERE name = ?{self._ws}", (now, name))

    def search_model_versions(self, filter_string=None, max_results=10_000, order_by=None,
                              page_token=None) -> PagedList:
        clauses = parse_registry_filter(filter_string, VERSIONS)
        orders = parse_registry_order_by(
            order_by or ["last_updated_timestamp DESC", "name ASC", "version_number DESC"], VERSIONS)
        for key, ascending in (("name", True), ("version_number", False)):
            if not any(o.key == key for o in orders):
                orders.append(OrderBy(ATTRIBUTE, key, ascending))
        where, args = self._where(clauses, "model_version_tags", ("name", "version"),
                                  {k: f"mv.{col}" for k, col in _MV_ATTRS.items()})
        order = ", ".join(f"mv.{_MV_ORDER[o.key]} {'ASC' if o.ascending else 'DESC'}" for o in orders)
        limit, offset = _max_results(max_results, MAX_VERSIONS), offset_of(page_token)
        with self._read() as c:
            rows = c.execute(
                f"SELECT {_MV_COLUMNS} FROM model_versions AS mv WHERE current_stage != ?{self._ws}{where} "
                f"ORDER BY {order} LIMIT ? OFFSET ?", [STAGE_DELETED_INTERNAL, *args, limit + 1, offset]).fetchall()
            versions = self._versions(c, rows[:limit])
        return PagedList(versions, token_for(offset + limit) if len(rows) > limit else None)

    def set_model_version_tag(self, name, version, key, value) -> None:
        with self._write() as c:
            self._require_version(c, name, version)
            c.execute(f"DELETE FROM model_version_tags WHERE name = ? AND version = ? AND key = ?{self._ws}",
                      (name, version, key))
            c.execute("INSERT INTO model_version_tags (key, value, name, version) VALUES (?, ?, ?, ?)",
                      (key, value, name, version))

    def delete_model_version_tag(self, name, version, key) -> None:
        with self._write() as c:
            self._require_version(c, name, version)
            c.execute(f"DELETE FROM model_version_tags WHERE name = ? AND version = ? AND key = ?{self._ws}",
                      (name, version, key))

    def get_model_version_download_uri(self, name, version) -> str:
        with self._read() as c:
            self._require_version(c, name, version)
            row = c.execute(f"SELECT storage_location, source FROM model_versions WHERE name = ? AND version = ?"
                            f"{self._ws}", (name, version)).fetchone()
        return row[0] or row[1]

    # -- aliases -------------------------------------------------------------------------------
    def set_registered_model_alias(self, name, alias, version) -> None:
        with self._write() as c:
            self._require_version(c, name, version)
            c.execute(f"DELETE FROM registered_model_aliases WHERE name = ? AND alias = ?{self._ws}", (name, alias))
            c.execute("INSERT INTO registered_model_aliases (alias, version, name) VALUES (?, ?, ?)",
                      (alias, version, name))
            # MLflow's own store leaves last_updated_time alone here; so does mlnb

    def delete_registered_model_alias(self, name, alias) -> None:
        with self._write() as c:
            self._require_model(c, name)
            c.execute(f"DELETE FROM registered_model_aliases WHERE name = ? AND alias = ?{self._ws}", (name, alias))

    def get_model_version_by_alias(self, name, alias) -> ModelVersion:
        with self._read() as c:
            self._require_model(c, name)
            aliases = self._aliases(c, name)
            if alias not in aliases:
                raise alias_not_found(name, alias, aliases)
            version = int(aliases[alias])
            try:
                return self._version(c, self._require_version(c, name, version))
            except ResourceNotFoundError:
                raise alias_to_missing_version(name, alias, version, self._live_versions(c, name)) from None


__all__ = ["SqliteRegistryStore"]

"""MLflow's SQLite schema, as mlnb creates, recognises and decides to write it.

A new store is made from ``mlflow_schema.sql``: MLflow's whole schema at its head revision, so
MLflow opens an mlnb store without ``mlflow db upgrade``. The revision policy for existing stores:

* read any store from ``OLDEST_READABLE`` on, newer ones included (unknown tables and columns are
  ignored: mlnb names every column it reads);
* write to a revision mlnb knows, and to a newer one when its changes are additive: every column
  mlnb writes is still there, and no table mlnb inserts into gained a required column it does not
  fill. Otherwise writes are refused with a message naming both revisions.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

HEAD = "dc11669786a5"
#: MLflow's alembic revisions, oldest first (MLflow 3.17.2's migrations)
KNOWN_REVISIONS = (
    "451aebb31d03", "90e64c465722", "181f10493468", "df50e92ffc5e", "7ac759974ad8", "89d4b8295536",
    "2b4d017a5e9b", "cfd24bdc0731", "0a8213491aaa", "728d730b5ebd", "27a6a02d2cf1", "84291f40a231",
    "a8c4a736bde6", "39d1c3be5f05", "c48cb773bb87", "bd07f7e963c5", "0c779009ac13", "cc1f77228345",
    "97727af70f4d", "3500859a5d39", "7f2a7d5fae7d", "2d6e25af4d3e", "acf3f17fdcc7", "867495a8f9d4",
    "5b0e9adcef9c", "4465047574b1", "f5a4f2784254", "0584bdc529eb", "400f98739977", "6953534de441",
    "bda7b8c39065", "cbc13b556ace", "770bee3ae1dd", "a1b2c3d4e5f6", "de4033877273", "1a0cddfcaa16",
    "534353b11cbc", "71994744cf8e", "3da73c924c2f", "bf29a5ff90ea", "1bd49d398cd23", "b7c8d9e0f1a2",
    "5d2d30f0abce", "c9d4e5f6a7b8", "2c33131f4dae", "d3e4f5a6b7c8", "d0e1f2a3b4c5", "c8d9e0f1a2b3",
    "1b5f0d9ad7c1", "e1f2a3b4c5d6", "76601a5f987d", "c3d6457b6d8a", "a5b4c3d2e1f0", "ae8bbe7743c9",
    "7d34483879f0", "da6fb0208061", "89d3d66ed43f", "b7e4c1a90f23", "a8b9c0d1e2f3", "c1d2e3f4a5b6",
    "c3d9e7f1a2b4", "6f8d9c3b2a1e", "1971f2d9a75b", "17e22815139b", "b7e2c1a4d9f3", "75868b020152",
    HEAD,
)
#: the first revision with every column mlnb reads (experiments' creation and update times)
OLDEST_READABLE = "97727af70f4d"
SQL_FILE = Path(__file__).with_name("mlflow_schema.sql")

#: the columns mlnb reads, per table: a store lacking one of these cannot be read
READS = {
    "experiments": ("experiment_id", "name", "artifact_location", "lifecycle_stage", "creation_time",
                    "last_update_time"),
    "experiment_tags": ("key", "value", "experiment_id"),
    "runs": ("run_uuid", "name", "user_id", "status", "start_time", "end_time", "lifecycle_stage",
             "artifact_uri", "experiment_id"),
    "params": ("key", "value", "run_uuid"),
    "tags": ("key", "value", "run_uuid"),
    "metrics": ("key", "value", "timestamp", "run_uuid", "step", "is_nan"),
    "latest_metrics": ("key", "value", "timestamp", "step", "is_nan", "run_uuid"),
}
#: the columns mlnb writes, per table (the optional tables only when their feature is used)
WRITES = {
    **READS,
    "runs": (*READS["runs"], "source_type", "source_name", "entry_point_name", "source_version", "deleted_time"),
    "datasets": ("dataset_uuid", "experiment_id", "name", "digest", "dataset_source_type", "dataset_source",
                 "dataset_schema", "dataset_profile"),
    "inputs": ("input_uuid", "source_type", "source_id", "destination_type", "destination_id", "step"),
    "input_tags": ("input_uuid", "name", "value"),
    "logged_models": ("model_id", "experiment_id", "name", "artifact_location", "creation_timestamp_ms",
                      "last_updated_timestamp_ms", "status", "lifecycle_stage", "model_type", "source_run_id",
                      "status_message"),
    "logged_model_params": ("model_id", "experiment_id", "param_key", "param_value"),
    "logged_model_tags": ("model_id", "experiment_id", "tag_key", "tag_value"),
    "logged_model_metrics": ("model_id", "metric_name", "metric_timestamp_ms", "metric_step", "metric_value",
                             "experiment_id", "run_id", "dataset_uuid", "dataset_name", "dataset_digest"),
}


@dataclass
class StoreSchema:
    """What an open store holds: its revision and, per table, its columns."""

    revision: str | None
    columns: dict[str, dict[str, tuple[bool, bool]]] = field(default_factory=dict)  # col -> (notnull, default)
    _verdicts: dict[tuple[str, ...], str | None] = field(default_factory=dict, repr=False, compare=False)

    @property
    def known(self) -> bool:
        return self.revision in KNOWN_REVISIONS

    def has(self, table: str) -> bool:
        return table in self.columns

    def _lacking(self, table: str, cols: tuple[str, ...]) -> str | None:
        present = self.columns.get(table)
        if present is None:
            return f"it has no '{table}' table"
        missing = [c for c in cols if c not in present]
        return f"table '{table}' lacks column(s) {', '.join(missing)}" if missing else None

    def unreadable(self) -> str | None:
        """Why mlnb cannot read this store, or None."""
        return next(filter(None, (self._lacking(t, cols) for t, cols in READS.items())), None)

    def unwritable(self, tables=WRITES) -> str | None:
        """Why mlnb must not write this store's ``tables``, or None (the revision policy). Asked
        before every write, so each answer is kept: the columns are fixed while the store is open."""
        key = tuple(tables)
        if key not in self._verdicts:
            self._verdicts[key] = self._unwritable(key)
        return self._verdicts[key]

    def _unwritable(self, tables: tuple[str, ...]) -> str | None:
        for table in tables:
            why = self._lacking(table, WRITES.get(table, ()))
            if why:
                return why
            if table not in WRITES:   # another module's table (the registry's): present is enough
                continue
            required = [c for c, (notnull, default) in self.columns[table].items()
                        if notnull and not default and c not in WRITES[table]]
            if required:
                return f"table '{table}' has new required column(s) {', '.join(required)}"
        return None


def inspect(conn: sqlite3.Connection) -> StoreSchema:
    """Read the revision and the columns of every table (a few small PRAGMA queries)."""
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    revision = None
    if "alembic_version" in tables:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = row[0] if row else None
    columns = {}
    for t in tables:
        if t in WRITES:
            columns[t] = {name: (bool(notnull), default is not None or pk > 0)
                          for _, name, _, notnull, default, pk in conn.execute(f'PRAGMA table_info("{t}")')}
        else:
            columns[t] = {}
    return StoreSchema(revision, columns)


def statements(sql: str) -> list[str]:
    """Split a script into complete statements (a trigger's body keeps its semicolons)."""
    out, buf = [], ""
    for line in sql.splitlines(keepends=True):
        if not buf and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return out


def create(conn: sqlite3.Connection) -> None:
    """Create MLflow's whole schema at HEAD inside the caller's transaction."""
    for statement in statements(SQL_FILE.read_text(encoding="utf-8")):
        conn.execute(statement)

"""A search cache inside an MLflow store: each run's params, tags and latest metrics as three JSON
documents on one row, kept current by SQLite triggers.

MLflow's tables hold one row per value, so a search over 10,000 runs reads some 170,000 rows. With
the cache it reads 10,000, which SQLite packs into a few JSON arrays that Python parses in C. The
triggers live in the file, so they run whichever tool writes (mlnb, MLflow, ``mlflow server``):
the cache cannot go stale while they exist. MLflow ignores the extra table (it checks only its
alembic revision). If a migration drops a trigger, mlnb notices on open and rebuilds the cache;
a store mlnb may not write is searched without it.
"""

from __future__ import annotations

import re
import sqlite3

TABLE = "mlnb_run_cache"
_DOCS = {
    "params": "json_group_object(key, value)",
    "tags": "json_group_object(key, value)",
    "latest_metrics": "json_group_object(key, CASE WHEN is_nan THEN NULL ELSE value END)",
}
_COLUMN = {"params": "params", "tags": "tags", "latest_metrics": "metrics"}


def _doc(table: str, run: str) -> str:
    return f"coalesce((SELECT {_DOCS[table]} FROM {table} WHERE run_uuid = {run}), '{{}}')"


def _triggers() -> dict[str, str]:
    out = {}
    for table, column in _COLUMN.items():
        for event, rows in (("INSERT", ("NEW",)), ("UPDATE", ("NEW", "OLD")), ("DELETE", ("OLD",))):
            name = f"{TABLE}_{table}_{event.lower()}"
            body = "".join(
                f"INSERT INTO {TABLE} (run_uuid) VALUES ({r}.run_uuid) ON CONFLICT DO NOTHING; "
                f"UPDATE {TABLE} SET {column} = {_doc(table, f'{r}.run_uuid')} WHERE run_uuid = {r}.run_uuid; "
                for r in rows)
            out[name] = f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {body}END"
    name = f"{TABLE}_runs_delete"
    out[name] = f"CREATE TRIGGER {name} AFTER DELETE ON runs BEGIN DELETE FROM {TABLE} WHERE run_uuid = OLD.run_uuid; END"
    return out


TRIGGERS = _triggers()


def is_current(conn: sqlite3.Connection) -> bool:
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'mlnb_run_cache%'")}
    return TABLE in names and names >= set(TRIGGERS)


def build(conn: sqlite3.Connection) -> None:
    """(Re)create the cache and its triggers, filled from MLflow's tables, in the caller's transaction."""
    for name in TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    conn.execute(f"CREATE TABLE {TABLE} (run_uuid TEXT PRIMARY KEY, params TEXT NOT NULL DEFAULT '{{}}', "
                 f"tags TEXT NOT NULL DEFAULT '{{}}', metrics TEXT NOT NULL DEFAULT '{{}}') WITHOUT ROWID")
    conn.execute(f"INSERT INTO {TABLE} (run_uuid, params, tags, metrics) SELECT run_uuid, "
                 f"{_doc('params', 'runs.run_uuid')}, {_doc('tags', 'runs.run_uuid')}, "
                 f"{_doc('latest_metrics', 'runs.run_uuid')} FROM runs")
    for sql in TRIGGERS.values():
        conn.execute(sql)


def packed(selected: str) -> str:
    """One row: the selected runs' info columns as JSON arrays, then their three documents as JSON
    arrays of objects (in the selection's order)."""
    return (
        "SELECT count(*), json_group_array(s.run_uuid), json_group_array(s.experiment_id), "
        "json_group_array(s.name), json_group_array(s.status), json_group_array(s.start_time), "
        "json_group_array(s.end_time), json_group_array(s.artifact_uri), json_group_array(s.lifecycle_stage), "
        "json_group_array(s.user_id), '[' || group_concat(coalesce(c.params, '{}'), ',') || ']', "
        "'[' || group_concat(coalesce(c.tags, '{}'), ',') || ']', "
        "'[' || group_concat(coalesce(c.metrics, '{}'), ',') || ']' "
        f"FROM ({selected}) s LEFT JOIN {TABLE} c ON c.run_uuid = s.run_uuid")


_INF = re.compile(r'(?<!\\)":(-?)Inf([,}])')


def metrics_json(text: str) -> str:
    """SQLite writes infinite values as ``Inf``, which is not JSON; Python reads ``Infinity``."""
    return _INF.sub(r'":\1Infinity\2', text) if "Inf" in text else text

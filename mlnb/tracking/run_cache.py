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

import sqlite3

TABLE = "mlnb_run_cache"
#: a metric as a JSON value: NaN as null, infinities as 9e999 (SQLite would write Inf, which its own
#: JSON functions then refuse to read)
_METRIC = ("CASE WHEN {r}is_nan THEN NULL WHEN {r}value > 1.7976931348623157e308 THEN json('9e999') "
           "WHEN {r}value < -1.7976931348623157e308 THEN json('-9e999') ELSE {r}value END")
_DOCS = {
    "params": "json_group_object(key, value)",
    "tags": "json_group_object(key, value)",
    "latest_metrics": f"json_group_object(key, {_METRIC.format(r='')})",
}
_COLUMN = {"params": "params", "tags": "tags", "latest_metrics": "metrics"}


def _doc(table: str, run: str) -> str:
    return f"coalesce((SELECT {_DOCS[table]} FROM {table} WHERE run_uuid = {run}), '{{}}')"


def _triggers() -> dict[str, str]:
    """Per row, an incremental edit of one document: MLflow's key rules (letters, digits and
    ``_ - . space : /``) make ``$."<key>"`` a safe JSON path."""
    out = {}
    for table, column in _COLUMN.items():
        value = _METRIC.format(r="{r}.") if table == "latest_metrics" else "{r}.value"
        ensure = f"INSERT INTO {TABLE} (run_uuid) VALUES ({{r}}.run_uuid) ON CONFLICT DO NOTHING; "
        put = (f"UPDATE {TABLE} SET {column} = json_set({column}, '$.\"' || {{r}}.key || '\"', {value}) "
               f"WHERE run_uuid = {{r}}.run_uuid; ")
        drop = (f"UPDATE {TABLE} SET {column} = json_remove({column}, '$.\"' || {{r}}.key || '\"') "
                f"WHERE run_uuid = {{r}}.run_uuid; ")
        moved = drop.format(r="OLD").replace("; ", " AND (OLD.key != NEW.key OR OLD.run_uuid != NEW.run_uuid); ")
        bodies = {
            "INSERT": (ensure + put).format(r="NEW"),
            "UPDATE": moved + (ensure + put).format(r="NEW"),
            "DELETE": drop.format(r="OLD"),
        }
        for event, body in bodies.items():
            name = f"{TABLE}_{table}_{event.lower()}"
            out[name] = f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {body}END"
    name = f"{TABLE}_runs_delete"
    out[name] = f"CREATE TRIGGER {name} AFTER DELETE ON runs BEGIN DELETE FROM {TABLE} WHERE run_uuid = OLD.run_uuid; END"
    return out


TRIGGERS = _triggers()


def is_current(conn: sqlite3.Connection) -> bool:
    """Whether the cache table and all of this mlnb's triggers are in place."""
    found = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE name LIKE 'mlnb_run_cache%'").fetchall())
    return TABLE in found and all(found.get(name) == sql for name, sql in TRIGGERS.items())


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



"""A search cache inside an MLflow store: each run's params, tags and latest metrics as three JSON
documents on one row, kept current by SQLite triggers, or by mlnb once per call.

MLflow's tables hold one row per value, so a search over 10,000 runs reads some 170,000 rows. With
the cache it reads 10,000, which SQLite packs into a few JSON arrays that Python parses in C.

Two writers keep it, and a reader never sees it stale:

* Tools that know nothing of the cache (MLflow, ``mlflow server``): triggers in the file edit the
  run's document for every params/tags/latest_metrics row they write.
* mlnb: a write that logs to one run first puts a row in the one-row table ``HOLD``. The triggers
  skip while it has a row, so mlnb's rows cost no document edits; at the end of its transaction
  mlnb rebuilds the run's touched documents in one statement and empties ``HOLD`` again. Writers
  of one SQLite file are serialised (each mlnb write is a ``BEGIN IMMEDIATE`` transaction), so no
  other tool writes while ``HOLD`` has a row, and no other connection ever sees that row: the
  row and the refreshed documents commit together, or roll back together.

MLflow ignores the extra tables (it checks only its alembic revision). If a migration drops a
trigger, or ``HOLD`` was ever left holding a row, mlnb notices on open and rebuilds the cache; a
store mlnb may not write is searched without it.
"""

from __future__ import annotations

import sqlite3
from typing import Iterable

TABLE = "mlnb_run_cache"
#: while this table has a row, the triggers leave the documents alone (see the module docstring)
HOLD = f"{TABLE}_hold"
#: what a document holds in place of a metric value SQLite cannot write exactly (see _METRIC)
INEXACT = "exact"
#: a metric as a JSON value: NaN as null, infinities as 9e999 (SQLite would write Inf, which its own
#: JSON functions then refuse to read), and a finite value with 17 significant digits, the text that
#: reads back as the same double. SQLite's own JSON keeps only 15 digits (1/3 would read back as
#: 0.333333333333333), and some SQLite versions miss the last digit of very large numbers, so a value
#: whose text does not read back the same in SQLite is written as the string INEXACT, and the reader
#: takes that one value from latest_metrics.
_METRIC = ("CASE WHEN {r}is_nan THEN NULL WHEN {r}value > 1.7976931348623157e308 THEN json('9e999') "
           "WHEN {r}value < -1.7976931348623157e308 THEN json('-9e999') "
           "WHEN CAST(printf('%!.17g', {r}value) AS REAL) = {r}value THEN json(printf('%!.17g', {r}value)) "
           f"ELSE '{INEXACT}' END")
_DOCS = {
    "params": "json_group_object(key, value)",
    "tags": "json_group_object(key, value)",
    "latest_metrics": "json_group_object(key, " + _METRIC.format(r="") + ")",
}
_COLUMN = {"params": "params", "tags": "tags", "latest_metrics": "metrics"}
#: the MLflow tables whose rows the documents hold
DOCUMENT_TABLES = tuple(_COLUMN)


def _doc(table: str, run: str) -> str:
    return f"coalesce((SELECT {_DOCS[table]} FROM {table} WHERE run_uuid = {run}), '{{}}')"


def _triggers() -> dict[str, str]:
    """Per row, an incremental edit of one document, skipped while ``HOLD`` has a row: MLflow's key
    rules (letters, digits and ``_ - . space : /``) make ``$."<key>"`` a safe JSON path."""
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
            out[name] = (f"CREATE TRIGGER {name} AFTER {event} ON {table} "
                         f"WHEN NOT EXISTS (SELECT 1 FROM {HOLD}) BEGIN {body}END")
    name = f"{TABLE}_runs_delete"
    out[name] = f"CREATE TRIGGER {name} AFTER DELETE ON runs BEGIN DELETE FROM {TABLE} WHERE run_uuid = OLD.run_uuid; END"
    return out


TRIGGERS = _triggers()


def is_current(conn: sqlite3.Connection) -> bool:
    """Whether the cache tables and all of this mlnb's triggers are in place, with ``HOLD`` empty."""
    found = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE name LIKE 'mlnb_run_cache%'").fetchall())
    if TABLE not in found or HOLD not in found or any(found.get(n) != sql for n, sql in TRIGGERS.items()):
        return False
    return conn.execute(f"SELECT 1 FROM {HOLD}").fetchone() is None


def build(conn: sqlite3.Connection) -> None:
    """(Re)create the cache and its triggers, filled from MLflow's tables, in the caller's transaction."""
    for name in TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    conn.execute(f"DROP TABLE IF EXISTS {HOLD}")
    conn.execute(f"CREATE TABLE {HOLD} (held INTEGER NOT NULL)")
    conn.execute(f"CREATE TABLE {TABLE} (run_uuid TEXT PRIMARY KEY, params TEXT NOT NULL DEFAULT '{{}}', "
                 f"tags TEXT NOT NULL DEFAULT '{{}}', metrics TEXT NOT NULL DEFAULT '{{}}') WITHOUT ROWID")
    conn.execute(f"INSERT INTO {TABLE} (run_uuid, params, tags, metrics) SELECT run_uuid, "
                 f"{_doc('params', 'runs.run_uuid')}, {_doc('tags', 'runs.run_uuid')}, "
                 f"{_doc('latest_metrics', 'runs.run_uuid')} FROM runs")
    for sql in TRIGGERS.values():
        conn.execute(sql)


def metric_json(row: str = "") -> str:
    """SQL for a metric row's value as JSON (``row``: the row's alias and a dot, or nothing)."""
    return _METRIC.format(r=row)


def has_inexact(document: str) -> bool:
    """Whether a text of metric documents holds an INEXACT value (keys never hold a quote)."""
    return f':"{INEXACT}"' in document


def hold(conn: sqlite3.Connection) -> None:
    """Pause the triggers for the rest of the caller's write transaction; :func:`refresh` ends it."""
    conn.execute(f"INSERT INTO {HOLD} (held) VALUES (1)")


def refresh(conn: sqlite3.Connection, run_id: str, tables: Iterable[str]) -> None:
    """Rebuild ``run_id``'s documents of ``tables`` (some of :data:`DOCUMENT_TABLES`) from MLflow's
    rows, and let the triggers run again: the end of a write begun with :func:`hold`."""
    tables = [t for t in DOCUMENT_TABLES if t in set(tables)]
    if tables:
        columns = [_COLUMN[t] for t in tables]
        conn.execute(f"INSERT INTO {TABLE} (run_uuid, {', '.join(columns)}) "
                     f"VALUES (:run, {', '.join(_doc(t, ':run') for t in tables)}) ON CONFLICT (run_uuid) "
                     f"DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in columns)}", {"run": run_id})
    conn.execute(f"DELETE FROM {HOLD}")


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



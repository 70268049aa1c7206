"""Move runs kept by older mlnb (``mlnb.db``, its own schema, versions 1-3) into an MLflow store.

The old file is never changed: a consistent copy of it is brought to version 3 in a temporary
file, copied table by table into a new MLflow store beside the target, counted against the
source, and only then renamed into place. Artifacts stay where they are (``mlnb-artifacts/``): each
converted run and experiment records its old location, so ``runs:/`` URIs of logged models keep
resolving. ``mlnb db convert [mlnb.db]`` runs it; opening ``./mlflow.db`` where only an old
``./mlnb.db`` exists runs it on first use.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from mlnb.errors import TrackingError

LEGACY_VERSION = 3
LEGACY_ARTIFACTS = "mlnb-artifacts"


def _now() -> int:
    return int(time.time() * 1000)


def _script(c: sqlite3.Connection, sql: str) -> None:
    """Run statements inside the current transaction (``executescript`` would commit it)."""
    for statement in sql.split(";"):
        if statement.strip():
            c.execute(statement)


def _v1(c: sqlite3.Connection) -> None:
    _script(c, """
        CREATE TABLE mlnb_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE experiments (
            experiment_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, artifact_location TEXT,
            lifecycle_stage TEXT NOT NULL DEFAULT 'active', creation_time INTEGER, last_update_time INTEGER);
        CREATE TABLE experiment_tags (
            experiment_id INTEGER NOT NULL, key TEXT NOT NULL, value TEXT,
            PRIMARY KEY (experiment_id, key)) WITHOUT ROWID;
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY, run_uuid TEXT NOT NULL UNIQUE, experiment_id INTEGER NOT NULL,
            name TEXT, status TEXT NOT NULL, start_time INTEGER, end_time INTEGER, artifact_uri TEXT,
            lifecycle_stage TEXT NOT NULL DEFAULT 'active', user_id TEXT, deleted_time INTEGER);
        CREATE INDEX runs_by_experiment ON runs (experiment_id, lifecycle_stage, start_time);
        CREATE TABLE params (run INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
            PRIMARY KEY (run, key)) WITHOUT ROWID;
        CREATE TABLE tags (run INTEGER NOT NULL, key TEXT NOT NULL, value TEXT,
            PRIMARY KEY (run, key)) WITHOUT ROWID;
        CREATE TABLE metrics (run INTEGER NOT NULL, key TEXT NOT NULL, step INTEGER NOT NULL,
            timestamp INTEGER NOT NULL, value REAL);
        CREATE INDEX metrics_by_run_key ON metrics (run, key);
    """)
    now = _now()
    c.execute("INSERT INTO experiments VALUES (0, 'Default', NULL, 'active', ?, ?)", (now, now))


def _v2(c: sqlite3.Connection) -> None:
    """Keep each metric's latest value in its own table, so searches never scan the history."""
    _script(c, """
        CREATE TABLE latest_metrics (run INTEGER NOT NULL, key TEXT NOT NULL, step INTEGER NOT NULL,
            timestamp INTEGER NOT NULL, value REAL, PRIMARY KEY (run, key)) WITHOUT ROWID;
        INSERT INTO latest_metrics (run, key, step, timestamp, value)
            SELECT run, key, step, timestamp, value FROM (
                SELECT *, ROW_NUMBER() OVER (PARTITION BY run, key
                    ORDER BY step DESC, timestamp DESC, coalesce(value, -1e308) DESC) AS rn
                FROM metrics) WHERE rn = 1;
    """)


def _v3(c: sqlite3.Connection) -> None:
    """Fold params, tags and latest metrics into JSON documents on the run's row (searches read
    one row per run instead of a row per value), and index runs in search order (no sort step)."""
    _script(c, """
        ALTER TABLE runs ADD COLUMN params_json TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE runs ADD COLUMN tags_json TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE runs ADD COLUMN metrics_json TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE runs ADD COLUMN metric_steps_json TEXT NOT NULL DEFAULT '{}';
        UPDATE runs SET
            params_json = coalesce((SELECT json_group_object(key, value) FROM params WHERE run = runs.id), '{}'),
            tags_json = coalesce((SELECT json_group_object(key, value) FROM tags WHERE run = runs.id), '{}'),
            metrics_json = coalesce((SELECT json_group_object(key, value)
                                     FROM latest_metrics WHERE run = runs.id), '{}'),
            metric_steps_json = coalesce((SELECT json_group_object(key, json_array(step, timestamp))
                                          FROM latest_metrics WHERE run = runs.id), '{}');
        DROP INDEX runs_by_experiment;
        CREATE INDEX runs_in_search_order ON runs (experiment_id, lifecycle_stage, start_time DESC, run_uuid);
        DROP TABLE params;
        DROP TABLE tags;
        DROP TABLE latest_metrics
    """)


#: version -> migration from the previous version (1 creates the store)
LEGACY_MIGRATIONS = {1: _v1, 2: _v2, 3: _v3}


def is_legacy_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a run store of an older mlnb."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{Path(path).absolute()}?mode=ro", uri=True)) as conn:
            return bool(conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'mlnb_meta'").fetchone())
    except sqlite3.Error:
        return False


def _legacy_copy(src: Path, work: Path) -> None:
    """A consistent copy of ``src`` at ``work``, brought to LEGACY_VERSION (the source is untouched)."""
    with contextlib.closing(sqlite3.connect(f"file:{src}?mode=ro", uri=True)) as s, \
            contextlib.closing(sqlite3.connect(work, isolation_level=None)) as w:
        s.backup(w)
        found = int(w.execute("SELECT value FROM mlnb_meta WHERE key = 'schema_version'").fetchone()[0])
        if found > LEGACY_VERSION:
            raise TrackingError(f"'{src}' has mlnb schema version {found}; this mlnb converts versions 1-3.")
        w.execute("BEGIN IMMEDIATE")
        for version in range(found + 1, LEGACY_VERSION + 1):
            LEGACY_MIGRATIONS[version](w)
        w.execute("COMMIT")


_COPY = [
    ("DELETE FROM experiments", ()),
    ("INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, "
     "last_update_time) SELECT experiment_id, name, coalesce(artifact_location, :root || '/' || experiment_id), "
     "lifecycle_stage, creation_time, last_update_time FROM old.experiments", ()),
    ("INSERT INTO experiment_tags (key, value, experiment_id) SELECT key, value, experiment_id "
     "FROM old.experiment_tags", ()),
    ("INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, start_time, "
     "end_time, source_version, lifecycle_stage, artifact_uri, experiment_id, deleted_time) "
     "SELECT run_uuid, name, 'UNKNOWN', '', '', coalesce(user_id, ''), status, start_time, end_time, '', lifecycle_stage, "
     "coalesce(artifact_uri, :root || '/' || experiment_id || '/' || run_uuid || '/artifacts'), experiment_id, "
     "deleted_time FROM old.runs", ()),
    ("INSERT INTO params (key, value, run_uuid) SELECT j.key, j.value, r.run_uuid "
     "FROM old.runs r, json_each(r.params_json) j", ()),
    ("INSERT INTO tags (key, value, run_uuid) SELECT j.key, j.value, r.run_uuid "
     "FROM old.runs r, json_each(r.tags_json) j", ()),
    ("INSERT OR IGNORE INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
     "SELECT m.key, coalesce(m.value, 0), m.timestamp, r.run_uuid, m.step, m.value IS NULL "
     "FROM old.metrics m JOIN old.runs r ON r.id = m.run ORDER BY m.rowid", ()),
    ("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
     "SELECT key, value, timestamp, step, is_nan, run_uuid FROM (SELECT *, ROW_NUMBER() OVER ("
     "PARTITION BY run_uuid, key ORDER BY step DESC, timestamp DESC, "
     "CASE WHEN is_nan THEN -9e999 ELSE value END DESC) AS rn FROM metrics) WHERE rn = 1", ()),
]
_COUNTS = [
    ("SELECT count(*) FROM old.runs", "SELECT count(*) FROM runs"),
    ("SELECT count(*) FROM old.experiments", "SELECT count(*) FROM experiments"),
    ("SELECT count(*) FROM old.runs r, json_each(r.params_json)", "SELECT count(*) FROM params"),
    ("SELECT count(*) FROM old.runs r, json_each(r.tags_json)", "SELECT count(*) FROM tags"),
    ("SELECT count(*) FROM (SELECT DISTINCT run, key, step, timestamp, value FROM old.metrics)",
     "SELECT count(*) FROM metrics"),
]


def convert_legacy_store(src: str | os.PathLike, dst: str | os.PathLike | None = None) -> Path:
    """Convert the old mlnb store ``src`` into a new MLflow store ``dst`` (default: ``mlflow.db``
    beside it); return ``dst``. ``src`` is kept as it was."""
    from mlnb.tracking.sqlite_store import SqliteStore

    src = Path(src).absolute()
    dst = Path(dst).absolute() if dst is not None else src.with_name("mlflow.db")
    if not is_legacy_store(src):
        raise TrackingError(f"'{src}' is not a run store of an older mlnb; nothing to convert.")
    if dst.exists():
        raise TrackingError(f"'{dst}' already exists; convert into a new file (pass another destination).")
    root = str(src.parent / LEGACY_ARTIFACTS)
    with tempfile.TemporaryDirectory(prefix=".mlnb-convert-", dir=dst.parent) as tmp:
        work, new = Path(tmp) / "legacy.db", Path(tmp) / "new.db"
        _legacy_copy(src, work)
        store = SqliteStore(new, artifact_root=root)
        store.connection()
        store.close()
        with contextlib.closing(sqlite3.connect(new, isolation_level=None)) as c:
            c.execute("ATTACH DATABASE ? AS old", (str(work),))
            c.execute("BEGIN IMMEDIATE")
            try:
                for sql, _ in _COPY:
                    c.execute(sql, {"root": root} if ":root" in sql else {})
                for old_sql, new_sql in _COUNTS:
                    before, after = c.execute(old_sql).fetchone()[0], c.execute(new_sql).fetchone()[0]
                    if before != after:
                        raise TrackingError(f"Converting '{src}' lost rows ({old_sql!r}: {before} -> {after}); "
                                            f"the old store is unchanged.")
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("DETACH DATABASE old")
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        os.replace(new, dst)
    return dst

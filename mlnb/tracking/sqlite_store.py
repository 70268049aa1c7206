"""The embedded run store: one SQLite file (WAL) plus an artifact directory beside it.

Design for speed and safety:
* one connection per process (re-opened after fork), ``journal_mode=WAL`` and
  ``synchronous=NORMAL``: a commit is a write to the log, not an fsync, and readers never block
  writers. A process killed mid-write loses only its open transaction.
* every write is one ``BEGIN IMMEDIATE`` transaction (a whole ``log_batch``), with a 30 s busy
  timeout and retries, so several processes can log at once without losing anything.
* a run's row carries its params, tags and the latest value of each metric as three small JSON
  documents; the full metric history has its own table. Reading a run is one row; a search is
  one query whose result SQLite packs into a few JSON arrays, parsed in C, so 10,000 runs become a
  DataFrame without a Python loop per value. Filters and ``order_by`` use ``json_extract``.
* the schema carries a version (``mlnb_meta``); opening an older store migrates it in place, in
  one transaction; a store from a newer mlnb is refused with a clear message.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from mlnb.errors import InvalidParameterError, ResourceNotFoundError, TrackingError
from mlnb.tracking import search as q
from mlnb.tracking.entities import (
    ACTIVE, DELETED, RUNNING, TAG_RUN_NAME, Experiment, Metric, Param, Run, RunData, RunInfo, RunTag,
)
from mlnb.tracking.store import ACTIVE_ONLY, ALL, ARTIFACTS_DIRNAME, DELETED_ONLY, RunTable, Store, paused_gc

SCHEMA_VERSION = 3
_BUSY_TIMEOUT_S = 30.0
_RETRIES = 5
_NEG_INF = -1e308  # NaN metrics are stored as NULL; ordered below every number


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
MIGRATIONS = {1: _v1, 2: _v2, 3: _v3}

_ATTR_COLUMNS = {
    "run_id": "r.run_uuid", "run_name": "r.name", "status": "r.status", "artifact_uri": "r.artifact_uri",
    "user_id": "r.user_id", "start_time": "r.start_time", "end_time": "r.end_time",
    "lifecycle_stage": "r.lifecycle_stage",
}
_DOCS = {q.METRIC: "r.metrics_json", q.PARAM: "r.params_json", q.TAG: "r.tags_json"}
_RUN_COLUMNS = "r.id, r.run_uuid, r.experiment_id, r.name, r.status, r.start_time, r.end_time, " \
               "r.artifact_uri, r.lifecycle_stage, r.user_id"
_PACKED_INFO = ("run_id", "experiment_id", "run_name", "status", "start_time", "end_time", "artifact_uri",
              "lifecycle_stage", "user_id")
_SEARCHED = ("r.run_uuid, r.experiment_id, r.name, r.status, r.start_time, r.end_time, r.artifact_uri, "
             "r.lifecycle_stage, r.user_id, r.params_json, r.tags_json, r.metrics_json")
_PACKED = ("json_group_array(run_uuid), json_group_array(experiment_id), json_group_array(name), "
           "json_group_array(status), json_group_array(start_time), json_group_array(end_time), "
           "json_group_array(artifact_uri), json_group_array(lifecycle_stage), json_group_array(user_id), "
           "'[' || group_concat(params_json, ',') || ']', '[' || group_concat(tags_json, ',') || ']', "
           "'[' || group_concat(metrics_json, ',') || ']'")


def _number(v: float) -> str:
    """A float as JSON both Python and SQLite read back exactly (NaN as null, infinities as 1e999)."""
    if v is None or v != v:
        return "null"
    if math.isinf(v):
        return "1e999" if v > 0 else "-1e999"
    return repr(v)


def _dump_metrics(latest: dict[str, float | None]) -> str:
    return "{" + ",".join(f"{json.dumps(k)}:{_number(v)}" for k, v in latest.items()) + "}"


def _metric_value(v) -> float:
    return math.nan if v is None else float(v)


def _ordered(v) -> float:
    """NaN (or its stored null) sorts below every number when picking the latest value."""
    return -math.inf if v is None or v != v else v


def _now() -> int:
    return int(time.time() * 1000)


def _locked(exc: sqlite3.OperationalError) -> bool:
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


def migrate(conn: sqlite3.Connection, path: str = "") -> int:
    """Bring the schema to SCHEMA_VERSION in one transaction; return the version found."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "mlnb_meta" in names:
            found = int(conn.execute("SELECT value FROM mlnb_meta WHERE key = 'schema_version'").fetchone()[0])
        elif names:
            hint = " It looks like an MLflow database; point MLflow at it, or mlnb at a new file." \
                if "alembic_version" in names else ""
            raise TrackingError(f"'{path}' is an SQLite database but not an mlnb run store.{hint}")
        else:
            found = 0
        if found > SCHEMA_VERSION:
            raise TrackingError(
                f"The run store '{path}' has schema version {found}, newer than this mlnb understands "
                f"({SCHEMA_VERSION}). Upgrade mlnb to open it.")
        for version in range(found + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version](conn)
        if found < SCHEMA_VERSION:
            conn.execute("INSERT OR REPLACE INTO mlnb_meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        conn.execute("COMMIT")
        return found
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class SqliteStore(Store):
    """Runs in an SQLite file; artifacts in ``mlnb-artifacts/`` in the same directory."""

    def __init__(self, path: str | os.PathLike, artifact_root: str | os.PathLike | None = None) -> None:
        self.path = Path(path).absolute()
        self.uri = f"sqlite:///{self.path}"
        self.artifact_root = Path(artifact_root) if artifact_root else self.path.parent / ARTIFACTS_DIRNAME
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._lock = threading.RLock()

    # -- connection and transactions -----------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            for attempt in range(_RETRIES):
                try:
                    conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None,
                                           check_same_thread=False)
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=NORMAL")
                    conn.execute("PRAGMA case_sensitive_like=ON")
                    migrate(conn, str(self.path))
                    break
                except sqlite3.OperationalError as exc:
                    if not _locked(exc) or attempt == _RETRIES - 1:
                        raise TrackingError(f"Cannot open the run store '{self.path}': {exc}") from None
                    time.sleep(0.05 * (attempt + 1))
                except sqlite3.DatabaseError as exc:
                    raise TrackingError(f"'{self.path}' is not a usable SQLite run store: {exc}") from None
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction, retried if another process holds the lock too long."""
        with self._lock:
            conn = self._connection()
            for attempt in range(_RETRIES):
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    if not _locked(exc) or attempt == _RETRIES - 1:
                        raise TrackingError(f"The run store '{self.path}' is locked by another process: {exc}") from None
                    time.sleep(0.05 * (attempt + 1))
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot across several SELECTs."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    # -- experiments ---------------------------------------------------------------------------
    def _experiment(self, row, tags: dict[str, str]) -> Experiment:
        eid, name, location, stage, created, updated = row
        return Experiment(str(eid), name, location or str(self.artifact_root / str(eid)), stage, tags, created, updated)

    def create_experiment(self, name: str, artifact_location: str | None = None,
                          tags: dict[str, str] | None = None) -> str:
        now = _now()
        with self._write() as c:
            if c.execute("SELECT 1 FROM experiments WHERE name = ?", (name,)).fetchone():
                raise InvalidParameterError(f"An experiment named '{name}' already exists in {self.path}.")
            cur = c.execute(
                "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time) "
                "VALUES (?, ?, 'active', ?, ?)", (name, artifact_location, now, now))
            eid = cur.lastrowid
            c.executemany("INSERT INTO experiment_tags VALUES (?, ?, ?)", [(eid, k, v) for k, v in (tags or {}).items()])
        return str(eid)

    def _experiment_where(self, where: str, args: tuple) -> list[Experiment]:
        with self._read() as c:
            rows = c.execute(
                "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time "
                f"FROM experiments WHERE {where} ORDER BY experiment_id", args).fetchall()
            tags: dict[int, dict[str, str]] = {}
            for eid, k, v in c.execute("SELECT experiment_id, key, value FROM experiment_tags"):
                tags.setdefault(eid, {})[k] = v
        return [self._experiment(r, tags.get(r[0], {})) for r in rows]

    def get_experiment(self, experiment_id: str) -> Experiment:
        found = self._experiment_where("experiment_id = ?", (_int_id(experiment_id, "experiment"),))
        if not found:
            raise ResourceNotFoundError(f"No experiment with id '{experiment_id}' in {self.path}.")
        return found[0]

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        found = self._experiment_where("name = ?", (name,))
        return found[0] if found else None

    def update_experiment(self, experiment_id: str, name: str | None = None,
                          lifecycle_stage: str | None = None) -> None:
        """Rename an experiment, or delete/restore it together with its runs (as MLflow does)."""
        eid = _int_id(experiment_id, "experiment")
        with self._write() as c:
            if not c.execute("SELECT 1 FROM experiments WHERE experiment_id = ?", (eid,)).fetchone():
                raise ResourceNotFoundError(f"No experiment with id '{experiment_id}' in {self.path}.")
            if name is not None:
                if c.execute("SELECT 1 FROM experiments WHERE name = ? AND experiment_id != ?", (name, eid)).fetchone():
                    raise InvalidParameterError(f"An experiment named '{name}' already exists in {self.path}.")
                c.execute("UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?",
                          (name, _now(), eid))
            if lifecycle_stage is not None:
                c.execute("UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? WHERE experiment_id = ?",
                          (lifecycle_stage, _now(), eid))
                c.execute("UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE experiment_id = ?",
                          (lifecycle_stage, _now() if lifecycle_stage == DELETED else None, eid))

    def search_experiments(self, view: str = ACTIVE_ONLY) -> list[Experiment]:
        where, args = _stage_where("lifecycle_stage", view)
        return self._experiment_where(where, args)

    # -- runs ----------------------------------------------------------------------------------
    def _artifact_uri(self, stored: str | None, experiment_id, run_uuid: str) -> str:
        return stored or f"{self.artifact_root}/{experiment_id}/{run_uuid}/artifacts"

    def create_run(self, experiment_id: str, run_name: str, start_time: int, tags: dict[str, str],
                   user_id: str = "") -> Run:
        run_uuid = uuid.uuid4().hex
        eid = _int_id(experiment_id, "experiment")
        tags = {**tags, TAG_RUN_NAME: run_name}
        with self._write() as c:
            row = c.execute("SELECT artifact_location, lifecycle_stage FROM experiments WHERE experiment_id = ?",
                            (eid,)).fetchone()
            if row is None:
                raise ResourceNotFoundError(f"No experiment with id '{experiment_id}' in {self.path}.")
            if row[1] != ACTIVE:
                raise InvalidParameterError(f"Experiment '{experiment_id}' is deleted; restore it or use another.")
            stored = f"{row[0].rstrip('/')}/{run_uuid}/artifacts" if row[0] else None
            cur = c.execute(
                "INSERT INTO runs (run_uuid, experiment_id, name, status, start_time, artifact_uri, user_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", (run_uuid, eid, run_name, RUNNING, start_time, stored, user_id))
            c.execute("UPDATE runs SET tags_json = ? WHERE id = ?", (json.dumps(tags), cur.lastrowid))
        info = RunInfo(run_uuid, str(eid), run_name, RUNNING, start_time, None,
                       self._artifact_uri(stored, eid, run_uuid), ACTIVE, user_id)
        return Run(info, RunData(tags=tags))

    def _run_row(self, c: sqlite3.Connection, run_id: str):
        row = c.execute(f"SELECT {_RUN_COLUMNS} FROM runs r WHERE r.run_uuid = ?", (run_id,)).fetchone()
        if row is None:
            raise ResourceNotFoundError(f"No run with id '{run_id}' in {self.path}.")
        return row

    def _info(self, row) -> RunInfo:
        _, run_uuid, eid, name, status, start, end, art, stage, user = row
        return RunInfo(run_uuid, str(eid), name or "", status, start, end,
                       self._artifact_uri(art, eid, run_uuid), stage, user or "")

    def get_run(self, run_id: str) -> Run:
        with self._read() as c:
            row = self._run_row(c, run_id)
            params, tags, metrics = c.execute("SELECT params_json, tags_json, metrics_json FROM runs WHERE id = ?",
                                              (row[0],)).fetchone()
        latest = {k: _metric_value(v) for k, v in json.loads(metrics).items()}
        return Run(self._info(row), RunData(json.loads(params), latest, json.loads(tags)))

    def update_run(self, run_id: str, status: str | None = None, end_time: int | None = None,
                   run_name: str | None = None) -> None:
        with self._write() as c:
            rid = self._run_row(c, run_id)[0]
            if status is not None:
                c.execute("UPDATE runs SET status = ?, end_time = ? WHERE id = ?", (status, end_time, rid))
        if run_name is not None:
            self.log_batch(run_id, tags=[RunTag(TAG_RUN_NAME, run_name)])

    def log_batch(self, run_id: str, metrics: Iterable[Metric] = (), params: Iterable[Param] = (),
                  tags: Iterable[RunTag] = ()) -> None:
        metrics, params, tags = list(metrics), list(params), list(tags)
        if not (metrics or params or tags):
            return
        with self._write() as c:
            row = c.execute("SELECT id, lifecycle_stage, params_json, tags_json, metrics_json, metric_steps_json, "
                            "name FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()
            if row is None:
                raise ResourceNotFoundError(f"No run with id '{run_id}' in {self.path}.")
            rid, stage, params_doc, tags_doc, metrics_doc, steps_doc, name = row
            if stage != ACTIVE:
                raise InvalidParameterError(f"Run '{run_id}' is deleted; restore it before logging to it.")
            if params:
                current = json.loads(params_doc)
                _check_params(current, run_id, params)
                current.update((p.key, p.value) for p in params)
                params_doc = json.dumps(current)
            if tags:
                current = json.loads(tags_doc)
                current.update((t.key, t.value) for t in tags)
                tags_doc = json.dumps(current)
                name = current.get(TAG_RUN_NAME, name)
            if metrics:
                rows = [(rid, m.key, m.step, m.timestamp, None if m.value != m.value else m.value) for m in metrics]
                c.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)", rows)
                latest, steps = json.loads(metrics_doc), json.loads(steps_doc)
                for m in metrics:  # the latest value is the one of the highest step, then timestamp, then value
                    old = steps.get(m.key)
                    if old is None or (m.step, m.timestamp, _ordered(m.value)) >= (*old, _ordered(latest[m.key])):
                        latest[m.key] = None if m.value != m.value else m.value
                        steps[m.key] = [m.step, m.timestamp]
                metrics_doc, steps_doc = _dump_metrics(latest), json.dumps(steps)
            c.execute("UPDATE runs SET params_json = ?, tags_json = ?, metrics_json = ?, metric_steps_json = ?, "
                      "name = ? WHERE id = ?", (params_doc, tags_doc, metrics_doc, steps_doc, name, rid))

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        with self._read() as c:
            rid = self._run_row(c, run_id)[0]
            rows = c.execute("SELECT value, timestamp, step FROM metrics WHERE run = ? AND key = ? "
                             "ORDER BY step, timestamp, rowid", (rid, key)).fetchall()
        return [Metric(key, float("nan") if v is None else v, ts, st) for v, ts, st in rows]

    def delete_run(self, run_id: str) -> None:
        with self._write() as c:
            self._run_row(c, run_id)
            c.execute("UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_uuid = ?",
                      (DELETED, _now(), run_id))

    def restore_run(self, run_id: str) -> None:
        with self._write() as c:
            self._run_row(c, run_id)
            c.execute("UPDATE runs SET lifecycle_stage = ?, deleted_time = NULL WHERE run_uuid = ?", (ACTIVE, run_id))

    # -- search --------------------------------------------------------------------------------
    def search_runs(self, experiment_ids: Sequence[str], filter_string: str = "",
                    order_by: Sequence[str] | None = None, max_results: int = 100_000,
                    view: str = ACTIVE_ONLY, offset: int = 0) -> RunTable:
        orders = q.parse_order_by(order_by)
        if not isinstance(max_results, int) or max_results < 1:
            raise InvalidParameterError(f"max_results must be a positive integer, got {max_results!r}.")
        where, args = self._runs_where(experiment_ids, filter_string, view)
        if where is None:
            return RunTable.empty()
        order_sql, order_args = _order_sql(orders)
        runs_sql = f"SELECT {_SEARCHED} FROM runs r WHERE {' AND '.join(where)} ORDER BY {order_sql} LIMIT ? OFFSET ?"
        runs_args = [*args, *order_args, max_results, max(0, int(offset))]
        with self._read() as c:
            packed = c.execute(f"SELECT count(*), {_PACKED} FROM ({runs_sql})", runs_args).fetchone()
        return self._table(packed)

    def _runs_where(self, experiment_ids: Sequence[str], filter_string: str, view: str):
        """The WHERE clauses (and their arguments) selecting runs; (None, []) when none can match."""
        clauses = q.parse_filter(filter_string)
        eids = [_int_id(e, "experiment") for e in experiment_ids]
        if not eids:
            return None, []
        where = [f"r.experiment_id IN ({','.join('?' * len(eids))})"]
        args: list = list(eids)
        stage_sql, stage_args = _stage_where("r.lifecycle_stage", view)
        where.append(stage_sql)
        args += stage_args
        for clause in clauses:
            sql, a = _clause_sql(clause)
            where.append(sql)
            args += a
        return where, args

    def count_runs(self, experiment_ids: Sequence[str], filter_string: str = "", view: str = ACTIVE_ONLY) -> int:
        """How many runs ``search_runs`` would find, counted in SQL (for paging)."""
        where, args = self._runs_where(experiment_ids, filter_string, view)
        if where is None:
            return 0
        with self._read() as c:
            return c.execute(f"SELECT COUNT(*) FROM runs r WHERE {' AND '.join(where)}", args).fetchone()[0]

    def _table(self, packed: tuple) -> RunTable:
        """Unpack the JSON arrays of one search into columns.

        Unpacking 10,000 runs allocates tens of thousands of small dicts and lists at once; in a
        process holding many objects (a notebook with pandas, scikit-learn, MLflow loaded) each
        burst triggers full garbage-collection passes that cost more than the parsing itself (see
        :func:`~mlnb.tracking.store.paused_gc`).
        """
        if not packed[0]:
            return RunTable.empty()
        with paused_gc():
            return self._unpack(packed)

    def _unpack(self, packed: tuple) -> RunTable:
        info = dict(zip(_PACKED_INFO, (json.loads(x) for x in packed[1:10])))
        info["experiment_id"] = [str(e) for e in info["experiment_id"]]
        root = self.artifact_root
        info["artifact_uri"] = [a or f"{root}/{e}/{u}/artifacts"
                                for a, e, u in zip(info["artifact_uri"], info["experiment_id"], info["run_id"])]
        info["run_name"] = [x or "" for x in info["run_name"]]
        info["user_id"] = [x or "" for x in info["user_id"]]
        params, tags, metrics = (json.loads(x) for x in packed[10:13])
        table = RunTable(info=info)
        table.params = {k: list(map(dict.get, params, itertools.repeat(k)))
                        for k in dict.fromkeys(itertools.chain.from_iterable(params))}
        table.tags = {k: list(map(dict.get, tags, itertools.repeat(k)))
                      for k in dict.fromkeys(itertools.chain.from_iterable(tags))}
        nan = math.nan
        table.metrics = {k: [nan if v is None else v for v in map(dict.get, metrics, itertools.repeat(k))]
                         for k in dict.fromkeys(itertools.chain.from_iterable(metrics))}
        return table


def _int_id(value, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ResourceNotFoundError(f"No {what} with id '{value}': ids in an mlnb store are integers.") from None


def _stage_where(column: str, view: str) -> tuple[str, list]:
    if view == ALL:
        return "1", []
    return f"{column} = ?", [DELETED if view == DELETED_ONLY else ACTIVE]


def _check_params(current: dict[str, str], run_id: str, params: list[Param]) -> None:
    """A param is written once: the same value again is fine, another value is an error (as in MLflow)."""
    seen: dict[str, str] = {}
    for p in params:
        if seen.setdefault(p.key, p.value) != p.value:
            raise InvalidParameterError(
                f"Param '{p.key}' appears twice in one batch with different values ('{seen[p.key]}', '{p.value}').")
        old = current.get(p.key)
        if old is not None and old != p.value:
            raise InvalidParameterError(
                f"Param '{p.key}' of run '{run_id}' is already '{old}'; it cannot change to '{p.value}'. Params "
                f"are written once per run: log the new value in a new run, or under another key.")


def _compare(expr: str, op: str, value) -> tuple[str, list]:
    if op == "ILIKE":
        return f"lower({expr}) LIKE lower(?)", [value]
    if op in ("IN", "NOT IN"):
        return f"{expr} {op} ({','.join('?' * len(value))})", list(value)
    return f"{expr} {op} ?", [value]


def _json_path(clause_key: str) -> str:
    return '$."' + clause_key.replace('"', '') + '"'


def _clause_sql(clause: q.Clause) -> tuple[str, list]:
    if clause.entity == q.ATTRIBUTE:
        return _compare(_ATTR_COLUMNS[clause.key], clause.op, clause.value)
    cond, args = _compare(f"json_extract({_DOCS[clause.entity]}, ?)", clause.op, clause.value)
    return cond, [_json_path(clause.key), *args]


def _order_sql(orders: list[q.OrderBy]) -> tuple[str, list]:
    parts, args = [], []
    for o in orders:
        direction = "ASC" if o.ascending else "DESC"
        if o.entity == q.ATTRIBUTE:
            expr = _ATTR_COLUMNS[o.key]
        else:
            expr = f"json_extract({_DOCS[o.entity]}, ?)"
            args += [_json_path(o.key)] * 2
        parts.append(f"{expr} IS NULL, {expr} {direction}")
    parts.append("r.start_time DESC, r.run_uuid")
    return ", ".join(parts), args

"""One SQLite file used by several processes at once: the connection and transaction rules.

* one connection per process (re-opened after fork), ``journal_mode=WAL`` with
  ``synchronous=NORMAL``: readers never block writers, and a commit is a log append (a crash
  never corrupts the file; a power loss may lose the last commits);
* every write is one ``BEGIN IMMEDIATE`` transaction: writers queue on the file's lock (30 s busy
  timeout, then a few retries), so read-then-write sequences (the next version number) are atomic
  across processes;
* ``LIKE`` is case-sensitive, as in MLflow's filters (``ILIKE`` is ``lower() LIKE lower()``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from mlnb.errors import TrackingError

BUSY_TIMEOUT_S = 30.0
RETRIES = 5


def is_locked(exc: sqlite3.OperationalError) -> bool:
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


def compare_sql(expr: str, op: str, value: Any) -> tuple[str, list]:
    """One filter comparison (``=``, ``LIKE``, ``ILIKE``, ``IN``...) as SQL and its arguments."""
    if op == "ILIKE":
        return f"lower({expr}) LIKE lower(?)", [value]
    if op in ("IN", "NOT IN"):
        return f"{expr} {op} ({','.join('?' * len(value))})", list(value)
    return f"{expr} {op} ?", [value]


class SqliteDb:
    """Transactions on the SQLite file at ``path``; ``what`` names it in errors ("the model registry")."""

    def __init__(self, path: str | os.PathLike, what: str,
                 on_open: Callable[[sqlite3.Connection], None] | None = None) -> None:
        self.path = Path(path).absolute()
        self.what = what
        self._on_open = on_open
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._lock = threading.RLock()

    def connection(self) -> sqlite3.Connection:
        """This process's connection, opened (and ``on_open`` run) on first use."""
        if self._conn is None or self._pid != os.getpid():
            try:
                conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                       check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")  # a commit appends to the log; no fsync each time
                conn.execute("PRAGMA case_sensitive_like=ON")
                if self._on_open is not None:
                    self._on_open(conn)
            except sqlite3.DatabaseError as exc:
                raise TrackingError(f"Cannot open {self.what} '{self.path}': {exc}") from None
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: other writers wait (busy timeout, retries); readers go on."""
        with self._lock:
            conn = self.connection()
            for attempt in range(RETRIES):
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    if not is_locked(exc) or attempt == RETRIES - 1:
                        raise TrackingError(f"{self.what.capitalize()} '{self.path}' is locked by another "
                                            f"process: {exc}") from None
                    time.sleep(0.05 * (attempt + 1))
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot across several SELECTs."""
        with self._lock:
            conn = self.connection()
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


__all__ = ["SqliteDb", "compare_sql", "is_locked", "BUSY_TIMEOUT_S"]

"""Real servers for the tracking tests: an MLflow Tracking Server and an S3-compatible (moto) server.

Both listen on 127.0.0.1 on a port picked at run time; readiness is polled; teardown stops them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

from tests.conftest import WAIT, free_port


def wait_until_ready(url: str, proc: subprocess.Popen | None, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text() if log else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout} s:\n{log.read_text()[-3000:] if log else ''}")


@contextlib.contextmanager
def mlflow_server(workdir: Path) -> Iterator[str]:
    """``mlflow server`` with a SQLite backend and proxied artifacts in ``workdir``; yields its URL."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "server.log"
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{workdir / 'server.db'}",
           "--artifacts-destination", str(workdir / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLNB_"))}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no background job runner: the tests need none
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=workdir, env=env,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{url}/health", proc, timeout=WAIT, log=log)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (real HTTP, in a thread); yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{url}/moto-api/", None, timeout=WAIT)
        yield url
    finally:
        server.stop()


def mlflow_schema(db: Path) -> str:
    """The schema MLflow creates in a fresh SQLite store at ``db``, as SQL in creation order.

    This is how mlnb/tracking/mlflow_schema.sql was made (and how the test compares it):
        python -c "from pathlib import Path; from tests._tracking import mlflow_schema; \
                   print(mlflow_schema(Path('/tmp/fresh.db')))" > body.sql
    """
    code = ("import sys, mlflow; mlflow.set_tracking_uri('sqlite:///' + sys.argv[1]); "
            "mlflow.search_experiments()")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLNB_"))}
    subprocess.run([sys.executable, "-c", code, str(db)], check=True, env=env, cwd=db.parent,
                   capture_output=True)
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
                            "ORDER BY rowid").fetchall()
    return "".join(f"{sql};\n" for (sql,) in rows)

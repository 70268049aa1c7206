"""Helpers for the serving tests: a saved LogisticRegression, and servers started as real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import WAIT

COLUMNS = [f"f{i}" for i in range(5)]


def save_logistic_model(path: Path) -> Path:
    """A LogisticRegression on 5 double columns, saved by mlnb with a signature (MLflow loads it too)."""
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    import mlnb.sklearn
    from mlnb.models.signature import infer_signature

    X, y = make_classification(n_samples=300, n_features=5, n_informative=3, random_state=0)
    frame = pd.DataFrame(X, columns=COLUMNS)
    model = LogisticRegression().fit(frame, y)
    mlnb.sklearn.save_model(model, path, signature=infer_signature(frame, model.predict(frame)))
    return path


def wait_ready(url: str, proc: subprocess.Popen | None = None, timeout: float = WAIT) -> None:
    """Poll ``url/ping`` until it answers 200; fail early if the process exits."""
    from mlnb.serving.server import wait_until_ready

    alive = (lambda: proc.poll() is None) if proc is not None else (lambda: True)
    if not wait_until_ready(url, time.monotonic() + timeout, alive):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {_output(proc)}")
        raise TimeoutError(f"server at {url} not ready after {timeout} s")


def _output(proc: subprocess.Popen) -> str:
    out = getattr(proc, "_log", None)
    if out is None:
        return ""
    out.seek(0)
    return out.read().decode(errors="replace")[-2000:]


def start(cmd: list[str], url: str, log_path: Path, env: dict | None = None) -> subprocess.Popen:
    """Start a server process logging to ``log_path`` and wait until it is ready."""
    log = open(log_path, "w+b")
    # its own session, so stop() reaches the workers (and MLflow's uvicorn child) too
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                            start_new_session=True)
    proc._log = log  # type: ignore[attr-defined]
    try:
        wait_ready(url, proc)
    except BaseException:
        stop(proc)
        raise
    return proc


def stop(proc: subprocess.Popen) -> None:
    """Terminate a server (and the workers it started) and close its log."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log = getattr(proc, "_log", None)
    if log is not None:
        log.close()


def output_when_ready(proc: subprocess.Popen, marker: str, timeout: float = WAIT) -> str:
    """The server's output so far, once it holds ``marker`` (polled; fails if the process exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = _output(proc)
        if marker in out:
            return out
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {out}")
        time.sleep(0.05)
    raise TimeoutError(f"{marker!r} not in the server's output after {timeout} s: {_output(proc)}")


def read_response(sock) -> tuple[int, dict, bytes]:
    """(status, lower-cased headers, body) of one HTTP/1.1 response with a Content-Length, read from ``sock``."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"server closed the connection after {buf!r}")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection mid-body")
        body += chunk
    return int(lines[0].split()[1]), headers, body[:length]


def mlnb_serve_cmd(model: Path, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mlnb.cli", "models", "serve", "-m", str(model), "-p", str(port),
            "--env-manager", "local", *extra]


def mlflow_serve_cmd(model: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model), "-p", str(port),
            "--env-manager", "local"]


class RawClient:
    """A minimal keep-alive HTTP/1.1 client on one socket: cheap enough to send thousands of requests."""

    def __init__(self, url: str) -> None:
        import socket
        from urllib.parse import urlparse

        parts = urlparse(url)
        self.host = parts.hostname
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=WAIT)
        self.buf = b""

    def post(self, body: bytes, content_type: str, path: str = "/invocations") -> tuple[int, bytes]:
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.sock.sendall(head + body)
        while b"\r\n\r\n" not in self.buf:
            self._recv()
        header, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = header.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = next(int(v) for k, _, v in (line.partition(b":") for line in lines[1:])
                      if k.strip().lower() == b"content-length")
        while len(self.buf) < length:
            self._recv()
        payload, self.buf = self.buf[:length], self.buf[length:]
        return status, payload

    def _recv(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RawClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

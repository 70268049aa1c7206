"""``mlnb.serve(model)``: the scoring server in the background of a notebook.

With one worker the server runs on a thread of the kernel, so any model object can be served
as it is, without saving it first. With several workers it runs as ``mlnb models serve`` in a
child process and needs a model URI or path. Either way the server stops with ``handle.stop()``
or when the kernel exits.
"""

from __future__ import annotations

import atexit
import html
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from typing import Any

from mlnb.errors import InvalidParameterError, ServingError
from mlnb.serving.app import DEFAULT_TIMEOUT
from mlnb.serving.examples import curl_example, example_body
from mlnb.serving.limits import Limits, limits_from
from mlnb.serving.server import network_warning, server_url
from mlnb.tracebacks import public

_STARTUP_SECONDS = 120


class ServingHandle:
    """A running background server: ``url``, ``stop()``, and a curl example in its repr."""

    def __init__(self, url: str, model: Any, stop_fn, alive_fn) -> None:
        self.url = url
        self.model = model
        self._stop_fn = stop_fn
        self._alive_fn = alive_fn
        self._stopped = False
        self._example_file: str | None = None

    @property
    def running(self) -> bool:
        return not self._stopped and self._alive_fn()

    @property
    def curl(self) -> str:
        """A ready-to-paste shell command that scores one example row (a long body is read from
        :attr:`example_file`, written once, so the command stays one short line)."""
        return curl_example(self.url, self.model, body_file=self.example_file)

    @property
    def example_file(self) -> str:
        """A file holding the example request body (written on first use, atomically)."""
        if self._example_file is None:
            folder = tempfile.mkdtemp(prefix="mlnb-serve-")
            path = os.path.join(folder, "request.json")
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                f.write(example_body(self.model))
            os.replace(path + ".tmp", path)
            self._example_file = path
        return self._example_file

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        if not self._stopped:
            self._stopped = True
            self._stop_fn()
            if self._example_file is not None:
                import shutil

                shutil.rmtree(os.path.dirname(self._example_file), ignore_errors=True)
            atexit.unregister(self.stop)

    def __enter__(self) -> "ServingHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"mlnb scoring server at {self.url} ({state})\n  {self.curl}"

    def _repr_html_(self) -> str:
        state = "running" if self.running else "stopped"
        curl = self.curl
        body = ""
        if "-d @" in curl:
            body = (f"<details><summary style='cursor:pointer'>request body ({html.escape(self.example_file)})"
                    f"</summary><pre style='white-space:pre-wrap;font-size:11px'>"
                    f"{html.escape(example_body(self.model))}</pre></details>")
        return (
            f"<div class='mlnb-serve-handle'><b>mlnb scoring server</b> at "
            f"<a href='{html.escape(self.url)}/ping' target='_blank'>{html.escape(self.url)}</a> ({state})"
            f"<pre style='white-space:pre-wrap;margin:4px 0'>{html.escape(curl)}</pre>{body}</div>")


@public
def serve(model_or_uri: Any, port: int | None = None, host: str = "127.0.0.1", workers: int = 1,
          timeout: float = DEFAULT_TIMEOUT, debug: bool = False, env_manager: str | None = None,
          allow_python_mismatch: bool = False, **limits: Any) -> ServingHandle:
    """Start a scoring server in the background and return its handle once it answers ``/ping``.

    ``model_or_uri`` is a model URI or path, a PyFuncModel, or any object with ``predict``.
    ``port=None`` picks a free port. ``debug=True`` puts the stack trace of a model failure in the
    answer (it is always in the log). Further keywords are the server's limits, by the names of
    :class:`mlnb.serving.limits.Limits` (``max_body``, ``max_concurrency``, ``header_timeout``, ...).
    ``env_manager="uv"`` or ``"virtualenv"`` serves a saved model from its restored environment (its
    Python and requirements, see :mod:`mlnb.environments`) in a child process; ``"local"`` from this one.
    By default a model object is served from here, and so is a saved model whose requirements this
    environment meets (a model saved in this kernel); other saved models are restored as by
    ``mlnb models serve``.
    """
    if workers < 1:
        raise InvalidParameterError(f"workers must be at least 1, got {workers}.")
    config = limits_from({"timeout": timeout, "debug": debug, **limits})
    warning = network_warning(host)
    if warning is not None:
        warnings.warn(warning, stacklevel=2)
    if env_manager is None:
        env_manager = _default_manager(model_or_uri)
    if env_manager != "local":
        if not isinstance(model_or_uri, (str, os.PathLike)):
            raise InvalidParameterError(
                f"env_manager='{env_manager}' runs the model in its own environment, so it needs a model URI or "
                f"path. Save or log the model first, or serve it with env_manager='local'.")
        handle = _serve_restored(os.fspath(model_or_uri), port, host, workers, config, env_manager,
                                 allow_python_mismatch)
    elif workers == 1:
        handle = _serve_in_thread(model_or_uri, port, host, config)
    elif isinstance(model_or_uri, (str, os.PathLike)):
        handle = _serve_in_process(os.fspath(model_or_uri), port, host, workers, config)
    else:
        raise InvalidParameterError(
            "Several workers load the model in their own processes, so they need a model URI or path. "
            "Save or log the model first, or serve it with workers=1.")
    atexit.register(handle.stop)
    return handle


def _default_manager(model_or_uri: Any) -> str:
    """``local`` for a model object or a model this environment can run as it asks; else the
    restoring manager (see :func:`mlnb.environments.choose`)."""
    if not isinstance(model_or_uri, (str, os.PathLike)):
        return "local"
    from mlnb.environments import choose
    from mlnb.models.uri import local_path

    return choose(local_path(model_or_uri), None, log=lambda line: print(line, file=sys.stderr, flush=True))


def _serve_in_thread(model_or_uri: Any, port: int | None, host: str, limits: Limits) -> ServingHandle:
    from mlnb.serving.app import ScoringApp
    from mlnb.serving.scoring import load
    from mlnb.serving.server import uvicorn_config

    import uvicorn

    model = load(model_or_uri)
    config = uvicorn_config(ScoringApp(model, limits), host, port or 0, limits)
    sock = config.bind_socket()
    bound = sock.getsockname()[1]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"mlnb-serve-{bound}", daemon=True)
    thread.start()
    deadline = time.monotonic() + _STARTUP_SECONDS
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        server.should_exit = True
        sock.close()
        raise ServingError(f"The scoring server on {host}:{bound} did not start.", 500, "INTERNAL_ERROR")

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

    return ServingHandle(server_url(host, bound), model, stop, thread.is_alive)


def _serve_restored(uri: str, port: int | None, host: str, workers: int, limits: Limits, env_manager: str,
                    allow_python_mismatch: bool, env: Any = None, extra_env: dict | None = None,
                    die_with_parent: bool = False) -> ServingHandle:
    """Serve from the model's restored environment: built (or found) here unless ``env`` (an
    :class:`mlnb.environments.Environment`) is given, then run there."""
    from mlnb.environments import prepare
    from mlnb.models.reading import read_model

    path, mlmodel = read_model(uri, warn_versions=False)  # the model is loaded only in its own environment
    if env is None:
        env = prepare(path, env_manager, allow_python_mismatch=allow_python_mismatch)
    from types import SimpleNamespace

    described = SimpleNamespace(metadata=mlmodel)  # what the curl example reads: the signature
    return _serve_in_process(str(path), port, host, workers, limits, model=described,
                             command=env.mlnb_command, environ=env.environ(extra=extra_env),
                             die_with_parent=die_with_parent)


def _end_with_parent():
    """A ``preexec_fn`` that has Linux send the child SIGTERM when its parent ends, so a server
    started for a Spark worker or an evaluation never outlives it (None where prctl is missing).
    Everything is looked up here, in the parent: the child only makes the call."""
    import ctypes
    import signal

    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    term = int(signal.SIGTERM)
    return lambda: prctl(1, term)  # PR_SET_PDEATHSIG


def _serve_in_process(uri: str, port: int | None, host: str, workers: int, limits: Limits, model: Any = None,
                      command=None, environ: dict | None = None, die_with_parent: bool = False) -> ServingHandle:
    from mlnb.serving.scoring import load
    from mlnb.serving.server import wait_until_ready

    if model is None:
        model = load(uri)  # fails here, with a clear message, if the model cannot load
    if port is None:
        import socket

        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
    args = ["models", "serve", "-m", uri, "-p", str(port), "-h", host, "-w", str(workers), *limits.to_args(),
            "--env-manager", "local"]  # chosen already: restored (command and environ) or this one
    cmd = command(*args) if command is not None else [sys.executable, "-m", "mlnb.cli", *args]
    log = tempfile.TemporaryFile()  # a file, not a pipe: a chatty server never blocks on it
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=environ,
                            preexec_fn=_end_with_parent() if die_with_parent else None)
    url = server_url(host, port)
    alive = lambda: proc.poll() is None  # noqa: E731
    if not wait_until_ready(url, time.monotonic() + _STARTUP_SECONDS, alive):
        proc.kill()
        proc.wait()
        log.seek(0)
        err = log.read().decode(errors="replace").strip()
        raise ServingError(f"The scoring server did not start: {err or 'no output'}", 500, "INTERNAL_ERROR")

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()

    return ServingHandle(url, model, stop, alive)


__all__ = ["serve", "ServingHandle"]

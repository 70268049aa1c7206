"""The scoring server as a raw ASGI app: five routes, no framework on the hot path.

``GET /ping`` and ``GET /health`` answer 200 once the model is loaded, ``GET /version`` the mlnb
version, ``POST /invocations`` scores. mlnb's own addition: ``GET /model`` says which other methods
of the native model ``POST /invocations?method=predict_proba`` may call (and the classes that order
its columns), so a model served from its restored environment gives ``mlnb.evaluate`` probabilities.
Parsing, prediction and encoding run in a worker thread under ``asyncio.wait_for``, so a slow model is a 504 after the timeout and never blocks
``/ping``. The app enforces the request limits of :class:`~mlnb.serving.limits.Limits` that
concern a request once its headers are in: at most ``max_concurrency`` scoring requests in flight
(503), a body of at most ``max_body`` bytes (413, before it is read when the client sends a
Content-Length), arriving within ``body_timeout`` seconds (408). Every refusal is MLflow's JSON error.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from mlnb.errors import ServingError
from mlnb.serving.bulk import LARGE
from mlnb.serving.limits import Limits
from mlnb.serving.parsing import media_type
from mlnb.serving.responses import error_body
from mlnb.serving.scoring import Scorer, load

DEFAULT_TIMEOUT = Limits.timeout
DEFAULT_MAX_BODY = Limits.max_body  # bytes
_CLOSE = 408  # answered with Connection: close (the client is too slow to keep)


class Placement:
    """Decides, per request, whether scoring runs on the event loop or in a worker thread.

    A request runs on the loop when its body is at most ``small`` bytes and the model's last
    ``streak`` small requests were each quick: under ``budget`` seconds of CPU time, and under
    ``slack`` times the budget of wall time. CPU time is what the scoring itself costs, so a busy
    machine (other processes taking the cores) does not push a quick model off the loop, where it
    would pay a thread hand-over on top; the wall-time bound still catches a model that waits
    (I/O, a lock, sleep). One request that is not quick resets the streak, so later small requests
    go back to the thread (and its timeout) until the model has been quick ``streak`` times again.
    Large bodies always go to the thread. The price: the one request that breaks a streak is not
    bounded by the timeout, since code running on the loop cannot be interrupted.
    """

    def __init__(self, small: int = 64 * 1024, budget: float = 0.002, streak: int = 16, slack: float = 10.0) -> None:
        self.small, self.budget, self.streak, self.slack = small, budget, streak, slack
        self.quick = 0  # consecutive small requests scored within the budget

    def on_loop(self, size: int) -> bool:
        return size <= self.small and self.quick >= self.streak

    def record(self, size: int, seconds: float, cpu_seconds: float | None = None) -> None:
        """Note one request's scoring time (wall, and CPU when known: the wall time otherwise)."""
        if size <= self.small:
            cpu = seconds if cpu_seconds is None else cpu_seconds
            quick = cpu < self.budget and seconds < self.budget * self.slack
            self.quick = self.quick + 1 if quick else 0


class ScoringApp:
    """An ASGI application serving one model over MLflow's scoring protocol."""

    def __init__(self, model: Any, limits: Limits | None = None, own_process: bool = False) -> None:
        import mlnb

        self.limits = limits = limits or Limits()
        self.scorer = Scorer(model, own_process=own_process, debug=limits.debug)
        self.timeout = float(limits.timeout)
        self.max_body = int(limits.max_body)
        self.in_flight = 0  # POST /invocations being read or scored
        self._version = mlnb.__version__.encode()
        self.placement = Placement()
        self._handover = _QuickHandover() if own_process else None
        if own_process:
            _freeze_heap()
            _map_large_blocks()

    async def __call__(self, scope: dict, receive, send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def _http(self, scope: dict, receive, send) -> None:
        path, method = scope["path"], scope["method"]
        if path == "/invocations":
            if method == "POST":
                status, body = await self._invocations(scope, receive)
            else:
                status, body = 405, error_body("BAD_REQUEST", f"{method} {path} is not allowed; use POST.")
            await _respond(send, status, body)
        elif path in ("/ping", "/health", "/version", "/model"):
            if method not in ("GET", "HEAD"):
                await _respond(send, 405, error_body("BAD_REQUEST", f"{method} {path} is not allowed; use GET."))
            elif path == "/version":
                await _respond(send, 200, self._version)
            elif path == "/model":
                import json

                await _respond(send, 200, json.dumps(self.scorer.description()).encode())
            else:
                await _respond(send, 200, b"\n")
        else:
            await _respond(send, 404, error_body(
                "ENDPOINT_NOT_FOUND",
                f"No endpoint at {path}. This server answers GET /ping, GET /health, GET /version, GET /model "
                f"and POST /invocations."))

    async def _invocations(self, scope: dict, receive) -> tuple[int, bytes]:
        if self.in_flight >= self.limits.max_concurrency:
            return 503, error_body(
                "TEMPORARILY_UNAVAILABLE",
                f"The server is already scoring {self.limits.max_concurrency} requests, its limit. Retry "
                f"shortly, or start the server with a larger --max-concurrency or more --workers.")
        self.in_flight += 1
        try:
            return await self._score_request(scope, receive)
        finally:
            self.in_flight -= 1

    async def _score_request(self, scope: dict, receive) -> tuple[int, bytes]:
        content_type = length = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                length = int(value) if value.isdigit() else None
        try:
            if length is not None and length > self.max_body:
                raise self._too_large()
            mime = media_type(content_type)
            method = _method(scope.get("query_string"))
            body = await self._read_body_in_time(receive)
        except ServingError as exc:
            return exc.status, error_body(exc.error_code, str(exc))
        if body is None:
            return 499, b""  # the client went away
        size, box = len(body), [body]
        del body  # the scorer takes it out of the box: freed once parsed, before the model runs
        if self.placement.on_loop(size):
            status, answer, seconds, cpu = self._timed_score(box, mime, method)
            self.placement.record(size, seconds, cpu)
            return status, answer
        work = asyncio.get_running_loop().run_in_executor(None, self._timed_score, box, mime, method)
        try:
            if self._handover is not None and size > LARGE:
                with self._handover:
                    status, answer, seconds, cpu = await asyncio.wait_for(work, self.timeout)
            else:
                status, answer, seconds, cpu = await asyncio.wait_for(work, self.timeout)
            self.placement.record(size, seconds, cpu)
            return status, answer
        except asyncio.TimeoutError:
            self.placement.record(size, self.timeout)
            return 504, error_body(
                "DEADLINE_EXCEEDED",
                f"The prediction did not finish within the server's timeout of {self.timeout:g} s. "
                f"Send smaller batches, or start the server with a longer --timeout.")

    def _timed_score(self, box: list, mime: str, method: str = "predict") -> tuple[int, bytes, float, float]:
        """(status, body, wall seconds, CPU seconds of this thread) of scoring one request."""
        start, cpu = time.perf_counter(), time.thread_time()
        status, answer = self.scorer.score_taking(box, mime, method)
        return status, answer, time.perf_counter() - start, time.thread_time() - cpu

    async def _read_body_in_time(self, receive) -> bytes | bytearray | None:
        """The body, or a 408 ServingError when it has not all arrived within the body timeout.

        One timer cancels this task when the time is up (``asyncio.wait_for`` would wrap the read
        in a task of its own, an extra turn of the event loop for every request).
        """
        task, expired = asyncio.current_task(), []
        timer = asyncio.get_running_loop().call_later(self.limits.body_timeout, _expire, task, expired)
        try:
            return await self._read_body(receive)
        except asyncio.CancelledError:
            if not expired:
                raise
            if hasattr(task, "uncancel"):
                task.uncancel()
            raise ServingError(
                f"The request body did not arrive within this server's limit of {self.limits.body_timeout:g} s. "
                f"Send it faster or in smaller batches, or start the server with a longer --body-timeout.",
                _CLOSE, "DEADLINE_EXCEEDED") from None
        finally:
            timer.cancel()

    async def _read_body(self, receive) -> bytes | bytearray | None:
        """The whole body: a one-chunk body as it came, a longer one appended into one bytearray.

        Appending grows the buffer in place (no list of chunks joined at the end, so the body is
        held once), and touches memory only as the body arrives: allocating the declared length up
        front would zero it all on the event loop, a quarter second for 100 MB.
        """
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        if not message.get("more_body", False):
            if len(chunk) > self.max_body:
                raise self._too_large()
            return chunk
        buf = bytearray(chunk)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            buf += message.get("body", b"")
            if len(buf) > self.max_body:
                raise self._too_large()
            if not message.get("more_body", False):
                return buf

    def _too_large(self) -> ServingError:
        return ServingError(
            f"The request body is larger than this server's limit of {self.max_body:,} bytes. Send "
            f"smaller batches, or start the server with a larger --max-body-size.", 413, "REQUEST_LIMIT_EXCEEDED")


def _method(query: bytes | None) -> str:
    """The model method a ``POST /invocations`` query names (``?method=predict_proba``): ``predict`` without one."""
    if not query:
        return "predict"
    key, _, value = query.decode("latin-1").partition("=")
    if key != "method" or not value or "&" in value:
        raise ServingError(f"POST /invocations takes one query parameter, method=<name> (such as "
                           f"method=predict_proba); got {query.decode('latin-1')!r}.", 400, "INVALID_PARAMETER_VALUE")
    return value


def _expire(task: asyncio.Task, expired: list) -> None:
    expired.append(True)
    task.cancel()


def _freeze_heap() -> None:
    """Move everything loaded so far (the model, pandas, scikit-learn) out of the garbage collector's reach.

    A request that builds many objects (10,000 JSON rows are 10,000 lists) triggers collection
    passes; without this, each full pass walks every object of the loaded libraries and the
    model, which costs more than scoring the request. Only for a process that does nothing but serve.
    Only the young generations are collected first (the loaded model's fresh garbage): the oldest
    holds what the imports left, which the collector has already been through, and a full pass over
    it adds about 0.1 s of CPU to every server start for nothing freed.
    """
    import gc

    gc.collect(1)
    gc.freeze()


class _QuickHandover:
    """While a large body is scored in a worker thread, threads hand over the GIL after 1 ms, not 5.

    The event loop then answers ``/ping`` within milliseconds while the worker parses. Only for a
    while: GIL hand-overs cost CPU when several threads are busy, so small requests keep the
    interval Python set. Used from the event loop only, and only in a process that just serves
    (the interval is process-wide).
    """

    def __init__(self) -> None:
        self.active = 0
        self.normal = sys.getswitchinterval()

    def __enter__(self) -> None:
        if not self.active:
            sys.setswitchinterval(0.001)
        self.active += 1

    def __exit__(self, *exc: Any) -> None:
        self.active -= 1
        if not self.active:
            sys.setswitchinterval(self.normal)


def _map_large_blocks() -> None:
    """glibc: blocks from 8 MiB up get their own mapping, so a large body does not cost memory twice.

    glibc's default threshold rises to 32 MiB as large blocks come and go. With a fixed one, a
    growing body is resized in place instead of copied, and a freed body goes back to the system
    at once rather than staying in the heap. Smaller blocks stay in the heap, which keeps up to
    twice that free for the next request. Only for a process that does nothing but serve.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            mallopt = ctypes.CDLL(None).mallopt  # a no-op outside glibc
        except (OSError, AttributeError):
            return
        mallopt(-3, 8 * 1024 * 1024)  # M_MMAP_THRESHOLD: its own mapping from 8 MiB up
        mallopt(-1, 16 * 1024 * 1024)  # M_TRIM_THRESHOLD: twice that, as glibc's own tuning would set


async def _respond(send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == _CLOSE:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(model_uri_or_pyfunc: Any, limits: Limits | None = None, **limit_values: Any) -> ScoringApp:
    """An ASGI app serving a model URI, a path, a PyFuncModel or any object with ``predict``.

    Limits come as a :class:`Limits` or as its fields by name (``timeout=``, ``max_body=``, ...).
    Header limits are not the app's: they hold when the app runs under ``mlnb.serve`` or
    ``mlnb models serve``.
    """
    if limits is None:
        limits = Limits(**limit_values)
    elif limit_values:
        from dataclasses import replace

        limits = replace(limits, **limit_values)
    return ScoringApp(load(model_uri_or_pyfunc), limits)


__all__ = ["Placement", "ScoringApp", "create_app", "DEFAULT_TIMEOUT", "DEFAULT_MAX_BODY"]

"""The scoring server as a raw ASGI app: four routes, no framework on the hot path.

``GET /ping`` and ``GET /health`` answer 200 once the model is loaded, ``GET /version`` the mlnb
version, ``POST /invocations`` scores. Parsing, prediction and encoding run in a worker thread
under ``asyncio.wait_for``, so a slow model is a 504 after the timeout and never blocks
``/ping``. Bodies over the size limit are refused with a 413 that names the limit, before they
are read when the client sends a Content-Length.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from mlnb.errors import ServingError
from mlnb.serving.parsing import media_type
from mlnb.serving.responses import error_body
from mlnb.serving.scoring import Scorer, load

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_BODY = 100 * 1024 * 1024  # bytes


def _headers(content_type: bytes, length: int) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", content_type), (b"content-length", str(length).encode())]


class Placement:
    """Decides, per request, whether scoring runs on the event loop or in a worker thread.

    A request runs on the loop when its body is at most ``small`` bytes and the model's last
    ``streak`` small requests each took under ``budget`` seconds to score. Every small request is
    timed; one over the budget resets the streak, so later small requests go back to the thread
    (and its timeout) until the model has been quick ``streak`` times again. Large bodies always
    go to the thread. The price: the one request that breaks a streak is not bounded by the
    timeout, since code running on the loop cannot be interrupted.
    """

    def __init__(self, small: int = 64 * 1024, budget: float = 0.002, streak: int = 16) -> None:
        self.small, self.budget, self.streak = small, budget, streak
        self.quick = 0  # consecutive small requests scored within the budget

    def on_loop(self, size: int) -> bool:
        return size <= self.small and self.quick >= self.streak

    def record(self, size: int, seconds: float) -> None:
        if size <= self.small:
            self.quick = self.quick + 1 if seconds < self.budget else 0


class ScoringApp:
    """An ASGI application serving one model over MLflow's scoring protocol."""

    def __init__(self, model: Any, timeout: float = DEFAULT_TIMEOUT, max_body: int = DEFAULT_MAX_BODY,
                 own_process: bool = False) -> None:
        import mlnb

        self.scorer = Scorer(model, own_process=own_process)
        self.timeout = float(timeout)
        self.max_body = int(max_body)
        self._version = mlnb.__version__.encode()
        self.placement = Placement()
        if own_process:
            _freeze_heap()

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
        elif path in ("/ping", "/health", "/version"):
            if method not in ("GET", "HEAD"):
                await _respond(send, 405, error_body("BAD_REQUEST", f"{method} {path} is not allowed; use GET."))
            elif path == "/version":
                await _respond(send, 200, self._version)
            else:
                await _respond(send, 200, b"\n")
        else:
            await _respond(send, 404, error_body(
                "ENDPOINT_NOT_FOUND",
                f"No endpoint at {path}. This server answers GET /ping, GET /health, GET /version and "
                f"POST /invocations."))

    async def _invocations(self, scope: dict, receive) -> tuple[int, bytes]:
        content_type = length = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                length = value
        try:
            if length is not None and length.isdigit() and int(length) > self.max_body:
                raise self._too_large()
            mime = media_type(content_type)
            body = await self._read_body(receive)
        except ServingError as exc:
            return exc.status, error_body(exc.error_code, str(exc))
        if body is None:
            return 499, b""  # the client went away
        if self.placement.on_loop(len(body)):
            status, answer, seconds = self._timed_score(body, mime)
            self.placement.record(len(body), seconds)
            return status, answer
        work = asyncio.get_running_loop().run_in_executor(None, self._timed_score, body, mime)
        try:
            status, answer, seconds = await asyncio.wait_for(work, self.timeout)
            self.placement.record(len(body), seconds)
            return status, answer
        except asyncio.TimeoutError:
            self.placement.record(len(body), self.timeout)
            return 504, error_body(
                "DEADLINE_EXCEEDED",
                f"The prediction did not finish within the server's timeout of {self.timeout:g} s. "
                f"Send smaller batches, or start the server with a longer --timeout.")

    def _timed_score(self, body: bytes, mime: str) -> tuple[int, bytes, float]:
        start = time.perf_counter()
        status, answer = self.scorer.score(body, mime)
        return status, answer, time.perf_counter() - start

    async def _read_body(self, receive) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _too_large(self) -> ServingError:
        return ServingError(
            f"The request body is larger than this server's limit of {self.max_body:,} bytes. Send "
            f"smaller batches, or start the server with a larger --max-body-size.", 413, "REQUEST_LIMIT_EXCEEDED")


def _freeze_heap() -> None:
    """Move everything loaded so far (the model, pandas, scikit-learn) out of the garbage collector's reach.

    A request that builds many objects (10,000 JSON rows are 10,000 lists) triggers collection
    passes; without this, each full pass walks every object of the loaded libraries and the
    model, which costs more than scoring the request. Only for a process that does nothing but serve.
    """
    import gc

    gc.collect()
    gc.freeze()


async def _respond(send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": _headers(b"application/json", len(body))})
    await send({"type": "http.response.body", "body": body})


def create_app(model_uri_or_pyfunc: Any, timeout: float = DEFAULT_TIMEOUT, max_body: int = DEFAULT_MAX_BODY) -> ScoringApp:
    """An ASGI app serving a model URI, a path, a PyFuncModel or any object with ``predict``."""
    return ScoringApp(load(model_uri_or_pyfunc), timeout=timeout, max_body=max_body)


__all__ = ["Placement", "ScoringApp", "create_app", "DEFAULT_TIMEOUT", "DEFAULT_MAX_BODY"]

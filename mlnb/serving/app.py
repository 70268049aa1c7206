"""The scoring server as a raw ASGI app: four routes, no framework on the hot path.

``GET /ping`` and ``GET /health`` answer 200 once the model is loaded, ``GET /version`` the mlnb
version, ``POST /invocations`` scores. Parsing, prediction and encoding run in a worker thread
under ``asyncio.wait_for``, so a slow model is a 504 after the timeout and never blocks
``/ping``. Bodies over the size limit are refused with a 413 that names the limit, before they
are read when the client sends a Content-Length.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mlnb.errors import ServingError
from mlnb.serving.parsing import media_type
from mlnb.serving.responses import error_body
from mlnb.serving.scoring import Scorer, load

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_BODY = 100 * 1024 * 1024  # bytes


def _headers(content_type: bytes, length: int) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", content_type), (b"content-length", str(length).encode())]


class ScoringApp:
    """An ASGI application serving one model over MLflow's scoring protocol."""

    def __init__(self, model: Any, timeout: float = DEFAULT_TIMEOUT, max_body: int = DEFAULT_MAX_BODY,
                 own_process: bool = False) -> None:
        import mlnb

        self.scorer = Scorer(model, own_process=own_process)
        self.timeout = float(timeout)
        self.max_body = int(max_body)
        self._version = mlnb.__version__.encode()

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
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(None, self.scorer.score, body, mime)
        try:
            return await asyncio.wait_for(work, self.timeout)
        except asyncio.TimeoutError:
            return 504, error_body(
                "DEADLINE_EXCEEDED",
                f"The prediction did not finish within the server's timeout of {self.timeout:g} s. "
                f"Send smaller batches, or start the server with a longer --timeout.")

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


async def _respond(send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": _headers(b"application/json", len(body))})
    await send({"type": "http.response.body", "body": body})


def create_app(model_uri_or_pyfunc: Any, timeout: float = DEFAULT_TIMEOUT, max_body: int = DEFAULT_MAX_BODY) -> ScoringApp:
    """An ASGI app serving a model URI, a path, a PyFuncModel or any object with ``predict``."""
    return ScoringApp(load(model_uri_or_pyfunc), timeout=timeout, max_body=max_body)


__all__ = ["ScoringApp", "create_app", "DEFAULT_TIMEOUT", "DEFAULT_MAX_BODY"]

"""uvicorn's httptools protocol with limits on the request head: size, header count and time.

uvicorn bounds none of these for httptools: a client may send headers forever, or slowly, or
open a connection and send nothing. ``HeadLimitedProtocol`` counts the bytes that arrive while a
request head is incomplete (431 past ``max_header_bytes``), the header lines (431 past
``max_headers``), and gives each head ``header_timeout`` seconds from the connection, or from the
first piece of a later request on the same connection, to arrive whole (408). A head that arrives
in one piece (the usual case) never starts a timer. Refusals are MLflow-style JSON and close the
connection. The class plugs into uvicorn through its public ``http=`` option.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mlnb.serving.limits import Limits
from mlnb.serving.responses import error_body


class _HeadRefused(Exception):
    """Raised inside a parser callback to stop parsing a head that broke a limit."""


def raw_response(status: int, phrase: str, body: bytes) -> bytes:
    """A complete HTTP/1.1 response that closes the connection."""
    return (f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode("ascii") + body


class HeadLimitedProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that refuses over-large, over-long and too-slow request heads."""

    def __init__(self, *args: Any, limits: Limits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._in_head = True
        self._head_begun = False  # the parser is inside a request head
        self._head_bytes = 0
        self._head_lines = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._conn: asyncio.Transport | None = None
        self._refusal: bytes | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        transport = OneWriteTransport(transport)
        super().connection_made(transport)
        self._conn = transport
        self._start_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return  # refused: the connection is closing, ignore what is still in flight
        if self._in_head:
            self._head_bytes += _head_part(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(431, "Request Header Fields Too Large", self._too_large_message())
                return
        super().data_received(data)
        if self._head_begun and self._head_timer is None and self._refusal is None:
            self._start_timer()  # a head is incomplete after this piece: it has header_timeout to finish

    # httptools callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_begun = True

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_lines += 1
        if self._head_lines > self.limits.max_headers:
            self._refusal = _refusal(
                431, "Request Header Fields Too Large",
                f"The request has more than {self.limits.max_headers} header lines, this server's limit. "
                f"Send fewer headers, or start the server with a larger --max-headers.")
            raise _HeadRefused()
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = self._head_begun = False
        self._stop_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # what arrives next is the next request's head
        self._head_bytes = self._head_lines = 0

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parser error; a limit broken inside a callback answers instead."""
        if self._refusal is not None:
            self._close_with(self._refusal)
        else:
            super().send_400_response(msg)

    # helpers
    def _start_timer(self) -> None:
        self._head_timer = asyncio.get_running_loop().call_later(self.limits.header_timeout, self._head_timed_out)

    def _stop_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head or self._conn.is_closing():
            return
        if self._head_bytes == 0:
            self._conn.close()  # a connection that never sent a byte: close it without a word
            return
        self._refuse(408, "Request Timeout",
                     f"The request headers did not arrive within this server's limit of "
                     f"{self.limits.header_timeout:g} s. Send the whole request at once, or start the server "
                     f"with a longer --header-timeout.")

    def _too_large_message(self) -> str:
        return (f"The request line and headers are larger than this server's limit of "
                f"{self.limits.max_header_bytes:,} bytes. Send smaller headers, or start the server with a "
                f"larger --max-header-size.")

    def _refuse(self, status: int, phrase: str, message: str) -> None:
        self._refusal = _refusal(status, phrase, message)
        self._close_with(self._refusal)

    def _close_with(self, response: bytes) -> None:
        self._stop_timer()
        if not self._conn.is_closing():
            self._conn.write(response)
            self._conn.close()


_COALESCE = 64 * 1024  # bodies up to this size are sent in one piece with their head


class OneWriteTransport:
    """A transport that sends a response's head together with its body: one send, one segment.

    uvicorn writes the head of a response (status line and headers) as soon as the app starts it,
    then the body: two system calls and two packets for what is usually a few hundred bytes, and
    the client wakes up twice. Here a write is held back until the next write or the end of the
    event loop's turn, whichever comes first, then sent with it. Everything else is the wrapped transport's.
    """

    __slots__ = ("_transport", "_held", "_loop")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = bytes(data)
            self._loop.call_soon(self._flush)
        elif len(data) > _COALESCE:  # a large body goes as it is, not copied onto the head
            self._held = None
            self._transport.write(held)
            self._transport.write(data)
        else:
            self._held = None
            self._transport.write(held + data)

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _head_part(data: bytes) -> int:
    """How many bytes of ``data`` belong to a request head: up to its blank line, if it has one."""
    ends = [i for i in (data.find(b"\n\r\n"), data.find(b"\n\n")) if i >= 0]
    return min(ends) + 3 if ends else len(data)


def _refusal(status: int, phrase: str, message: str) -> bytes:
    code = "DEADLINE_EXCEEDED" if status == 408 else "REQUEST_LIMIT_EXCEEDED"
    return raw_response(status, phrase, error_body(code, message))


def protocol_factory(limits: Limits):
    """What to pass as uvicorn's ``http=``: the protocol class bound to ``limits`` (picklable for workers)."""
    return functools.partial(HeadLimitedProtocol, limits=limits)


__all__ = ["HeadLimitedProtocol", "OneWriteTransport", "protocol_factory", "raw_response"]

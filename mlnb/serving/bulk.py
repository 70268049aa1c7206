"""Large request bodies read in bounded pieces: memory close to the body's size, the GIL let go often.

Parsed whole, a 100 MB JSON body of numeric rows becomes about 2 GB of Python lists and floats,
and the parse holds the GIL for seconds, so ``/ping`` stalls. When the model's signature is all
double columns, the rows of a large body are instead read piece by piece (a few hundred KB of
text each) straight into float64 blocks, then joined: the peak is the body, the blocks and one
piece. Between pieces the worker thread lets the event loop run.

JSON: the rows array (``dataframe_split.data``, ``inputs``, ``instances`` or ``dataframe_records``)
is cut at row boundaries and each piece parsed as a JSON array of its own. The rest of the document
is then parsed with the rows replaced by a per-request random marker, and must hold that marker at
the place the rows were taken from; otherwise (an odd layout, a nested tensor, NaN tokens, rows
that are not the signature's columns) the reader returns None and the body is parsed whole, as a
small one would be. Either way the answer is the one the whole parse would give.

CSV: the rows after the header are cut at line ends and each piece read by pandas' C parser.
"""

from __future__ import annotations

import io
import re
import secrets
from typing import Any, Callable

import numpy as np

LARGE = 1024 * 1024  # bodies above this many bytes are read in pieces
JSON_PIECE = 256 * 1024
CSV_PIECE = 1024 * 1024
_WINDOW = 64 * 1024  # the longest single row a piece boundary is searched for
_ROWS_START = re.compile(rb'"(data|inputs|instances|dataframe_records)"\s*:\s*(\[)\s*([\[{])')
_LIST_SEP, _LIST_END = re.compile(rb"\]\s*,"), re.compile(rb"\]\s*\]")
_DICT_SEP, _DICT_END = re.compile(rb"\}\s*,"), re.compile(rb"\}\s*\]")


def json_rows(body: bytes | bytearray,
              to_block: Callable[[str, list], Any]) -> tuple[str, np.ndarray, dict] | None:
    """``(input key, rows, skeleton)`` for a large JSON body whose rows array converts piecewise, else None.

    ``to_block(input key, rows)`` turns one piece's parsed rows (a list of lists or of objects)
    into a float64 block, or None. ``skeleton`` is the rest of the document, with None where the
    rows were (``skeleton["dataframe_split"]["data"]`` or ``skeleton[input key]``).
    """
    import orjson

    match = _ROWS_START.search(body)
    if match is None or not _outside_strings(body, match.start()):
        return None
    outer, first = match.start(2), match.start(3)
    name = match.group(1).decode()
    key = "dataframe_split" if name == "data" else name
    sep, end = (_LIST_SEP, _LIST_END) if body[first:first + 1] == b"[" else (_DICT_SEP, _DICT_END)
    view = memoryview(body)
    blocks, pos, n = [], first, len(body)
    try:
        while True:
            target = pos + JSON_PIECE
            last = end.search(body, pos, min(n, target + _WINDOW))
            if last is not None and last.start() < target:
                piece, span_end, pos = view[pos:last.start() + 1], last.end(), None
            else:
                cut = sep.search(body, target, min(n, target + _WINDOW))
                if cut is None:
                    return None
                piece, pos = view[pos:cut.start() + 1], cut.end()
            try:
                rows = orjson.loads(b"[" + piece.tobytes() + b"]")
            except orjson.JSONDecodeError:
                return None
            block = to_block(key, rows)
            del rows
            if block is None:
                return None
            blocks.append(block)
            if pos is None:
                break
        marker = "\u0000mlnb-rows-" + secrets.token_hex(8)
        try:
            skeleton = orjson.loads(
                b"".join((view[:outer], orjson.dumps(marker), view[span_end:])))
        except orjson.JSONDecodeError:
            return None
    finally:
        view.release()
    if not isinstance(skeleton, dict):
        return None
    holder = skeleton.get("dataframe_split") if name == "data" else skeleton
    if not isinstance(holder, dict) or holder.get(name) != marker:
        return None
    holder[name] = None
    return key, (blocks[0] if len(blocks) == 1 else np.concatenate(blocks)), skeleton


def _outside_strings(body: bytes | bytearray, pos: int) -> bool:
    """True when ``pos`` is outside every JSON string (no escapes before it: otherwise unknown, so False)."""
    head = memoryview(body)[:pos]
    try:
        raw = head.tobytes() if pos < LARGE else None
    finally:
        head.release()
    if raw is None:
        return False  # rows start after a megabyte of something else: not the layout this reader is for
    return b"\\" not in raw and raw.count(b'"') % 2 == 0


def csv_rows(body: bytes | bytearray, start: int, width: int) -> np.ndarray | None:
    """The numeric rows after the header (from byte ``start``) as one float64 block, or None."""
    import pandas as pd

    blocks, pos, n = [], start, len(body)
    view = memoryview(body)
    try:
        while pos < n:
            cut = body.find(b"\n", min(n, pos + CSV_PIECE))
            stop = n if cut < 0 else cut + 1
            try:
                frame = pd.read_csv(io.BytesIO(view[pos:stop].tobytes()), header=None, dtype=np.float64,
                                    na_filter=False, low_memory=False)
            except Exception:  # not a plain numeric block: the general path reports it properly
                return None
            if frame.shape[1] != width:
                return None
            blocks.append(frame.to_numpy())
            pos = stop
    finally:
        view.release()
    if not blocks:
        return None
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


def check_utf8(body: bytes | bytearray) -> None:
    """Raise UnicodeDecodeError unless ``body`` is UTF-8, without holding a decoded copy of it."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(body)
    try:
        for pos in range(0, len(body), CSV_PIECE):
            decoder.decode(view[pos:pos + CSV_PIECE])
        decoder.decode(b"", final=True)
    finally:
        view.release()


class BufferReader(io.RawIOBase):
    """A file over a bytes-like object, read without copying it whole (``io.BytesIO`` copies a bytearray)."""

    def __init__(self, data: bytes | bytearray) -> None:
        self._data, self._pos = data, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), len(self._data) - self._pos)
        with memoryview(self._data) as view:
            buffer[:count] = view[self._pos:self._pos + count]
        self._pos += count
        return count


__all__ = ["LARGE", "json_rows", "csv_rows", "check_utf8", "BufferReader"]

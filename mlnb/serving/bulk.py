"""Large request bodies read in bounded pieces: memory close to the body's size, the GIL let go often.

Parsed whole, a 100 MB JSON body of numeric rows becomes about 2 GB of Python lists and floats,
and the parse holds the GIL for seconds, so ``/ping`` stalls. When the model's signature is all
double columns, the rows of a large body are instead read piece by piece (a few hundred KB of
text each) straight into one float64 array: the peak is the body, the rows and one piece. Between pieces the worker thread lets the event loop run.

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

LARGE = 4 * 1024 * 1024  # bodies above this many bytes are read in pieces (below, a whole parse is quicker)
JSON_PIECE = 256 * 1024
CSV_PIECE = 1024 * 1024
_WINDOW = 64 * 1024  # the longest single row a piece boundary is searched for
_ROWS_START = re.compile(rb'"(data|inputs|instances|dataframe_records)"\s*:\s*(\[)\s*([\[{])')
_LIST_SEP, _LIST_END = re.compile(rb"\]\s*,"), re.compile(rb"\]\s*\]")
_DICT_SEP, _DICT_END = re.compile(rb"\}\s*,"), re.compile(rb"\}\s*\]")


class _Rows:
    """float64 rows filled piece by piece into one array sized by an upper bound on the row count.

    Pieces are copied in as they are parsed and never joined, so the rows are held once; the
    pages past the last row are never touched, so the bound costs no memory.
    """

    def __init__(self, bound: int, width: int) -> None:
        self.out = np.empty((bound, width))
        self.count = 0

    def add(self, block: np.ndarray) -> bool:
        end = self.count + len(block)
        if block.ndim != 2 or block.shape[1] != self.out.shape[1] or end > len(self.out):
            return False
        self.out[self.count:end] = block
        self.count = end
        return True

    def rows(self) -> np.ndarray:
        return self.out[:self.count]


def _count(body: bytes | bytearray, char: bytes, start: int = 0) -> int:
    """Occurrences of ``char`` in ``body[start:]``, counted a piece at a time (the GIL is let go between)."""
    return sum(body.count(char, pos, pos + CSV_PIECE) for pos in range(start, len(body), CSV_PIECE))


def json_rows(body: bytes | bytearray, width: int,
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
    rows = _Rows(_count(body, body[first:first + 1], first), width)
    view = memoryview(body)
    pos, n = first, len(body)
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
                parsed = orjson.loads(b"[" + piece.tobytes() + b"]")
            except orjson.JSONDecodeError:
                return None
            block = to_block(key, parsed)
            del parsed
            if block is None or not rows.add(block):
                return None
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
    return key, rows.rows(), skeleton


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

    rows = _Rows(_count(body, b"\n", start) + 1, width)
    pos, n = start, len(body)
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
            if not rows.add(frame.to_numpy()):
                return None
            pos = stop
    finally:
        view.release()
    return rows.rows() if rows.count else None


def csv_block(body: bytes | bytearray, start: int, width: int) -> np.ndarray | None:
    """The numeric rows after the header (from byte ``start``) of a body read whole, as one float64
    block, or None when they are not ``width`` plain numbers per line.

    pyarrow's CSV reader parses the body where it lies (no copy of the text) and lets the GIL go
    while it parses; without pyarrow, pandas' C parser reads a copy.
    """
    try:
        import pyarrow as pa
        import pyarrow.csv as pcsv
    except ImportError:
        return _pandas_block(body, start, width)
    names = [f"c{i}" for i in range(width)]
    try:
        table = pcsv.read_csv(
            pa.py_buffer(body)[start:],
            read_options=pcsv.ReadOptions(use_threads=False, column_names=names, block_size=max(1 << 20, len(body))),
            convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(names, pa.float64()), null_values=[],
                                                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not a plain numeric block: the general path reports it
        return None
    if not table.num_rows:
        return None
    block = np.empty((table.num_rows, width))
    for i, column in enumerate(table.columns):
        block[:, i] = column.to_numpy()
    return block


def _pandas_block(body: bytes | bytearray, start: int, width: int) -> np.ndarray | None:
    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(body[start:]), header=None, dtype=np.float64, na_filter=False,
                            low_memory=False)
    except Exception:  # not a plain numeric block: the general path reports it properly
        return None
    if frame.shape[1] != width or not len(frame):
        return None
    return frame.to_numpy()


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


__all__ = ["LARGE", "json_rows", "csv_rows", "csv_block", "check_utf8", "BufferReader"]

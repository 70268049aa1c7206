"""Results a page at a time, as MLflow's clients page them: a :class:`PagedList` and its opaque
``page_token`` (the offset of the next page, base64-encoded JSON)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Iterable

from mlnb.errors import InvalidParameterError


class PagedList(list):
    """One page of results; ``token`` asks for the next page (None on the last one), as in MLflow."""

    def __init__(self, items: Iterable = (), token: str | None = None) -> None:
        super().__init__(items)
        self.token = token


def token_for(offset: int) -> str:
    """The token that asks for the page starting at ``offset``."""
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def offset_of(token: str | None) -> int:
    """Where the page ``token`` asks for starts (0 without a token); a clear error for a bad one."""
    if not token:
        return 0
    try:
        offset = json.loads(base64.b64decode(token))["offset"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        offset = None
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidParameterError(f"Invalid page_token {token!r}: pass the .token of a previous page.")
    return offset

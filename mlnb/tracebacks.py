"""What a user sees when a public mlnb function fails: the mlnb message, not mlnb's insides.

An :class:`~mlnb.errors.MlnbError` raised from inside mlnb often carries the library error it was
made from (``raise ... from exc``), so Python prints the whole chain, dozens of lines, above the one
line that says what to do. Public entry points wrapped with :func:`public` re-raise such an error
with the chain and mlnb's own frames cut off: the traceback is the caller's line and the message, in
plain Python and in IPython alike. ``MLNB_SHOW_INTERNALS=1`` keeps everything, for debugging mlnb;
the original exception always stays reachable as ``error.internal_cause``.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, TypeVar

from mlnb.errors import MlnbError

F = TypeVar("F", bound=Callable[..., Any])

#: Set to 1 (or true/yes) to see the full chain and mlnb's frames in tracebacks.
SHOW_INTERNALS_ENV = "MLNB_SHOW_INTERNALS"


def show_internals() -> bool:
    """Whether tracebacks keep mlnb's internal chain (``MLNB_SHOW_INTERNALS`` is set)."""
    return os.environ.get(SHOW_INTERNALS_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def public(func: F) -> F:
    """Mark ``func`` as a public boundary: an MlnbError leaving it loses its internal chain and frames."""

    @functools.wraps(func)
    def boundary(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MlnbError as exc:
            if show_internals():
                raise
            cause = exc.__cause__ or exc.__context__
            if cause is not None and getattr(exc, "internal_cause", None) is None:
                exc.internal_cause = cause
            exc.__cause__ = None
            exc.__suppress_context__ = True
            raise exc.with_traceback(None) from None

    return boundary  # type: ignore[return-value]


__all__ = ["public", "show_internals", "SHOW_INTERNALS_ENV"]

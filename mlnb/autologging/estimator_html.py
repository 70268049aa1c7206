"""``estimator.html``: the estimator's diagram that scikit-learn autolog logs, as MLflow does.

It is drawn on the fitting thread (drawing is pure Python: on a worker thread it only takes turns with
the fit's own logging for the interpreter lock), through scikit-learn's public
``estimator_html_repr``. About half of its cost is ``inspect.getdoc`` cleaning the estimator class's
whole docstring again for every parameter's and fitted attribute's tooltip (twenty times for a
``LogisticRegression``). A class's docstring does not change while the process runs, so while a page
is drawn ``inspect.getdoc`` answers for classes from a cache keyed on the class and its docstring
object: the same text ``inspect.getdoc`` gives, cleaned once per class. scikit-learn's own modules
are not touched, and the page is the one it draws.
"""

from __future__ import annotations

import functools
import inspect
import threading
from typing import Any

_lock = threading.RLock()
_GETDOC = inspect.getdoc   # the standard function: the cache gives its answers for classes


@functools.lru_cache(maxsize=512)
def _cleaned(cls: type, doc: str) -> str:
    """``inspect.getdoc(cls)`` for a class whose own docstring is ``doc`` (cached per class and text)."""
    return inspect.cleandoc(doc)


def _getdoc(obj: Any) -> str | None:
    """``inspect.getdoc``, answering for a class with its docstring cleaned once (see the module)."""
    if isinstance(obj, type):
        doc = obj.__doc__
        if isinstance(doc, str):   # inspect.getdoc returns this text cleaned
            return _cleaned(obj, doc)
    return _GETDOC(obj)


def render(estimator: Any) -> bytes:
    """The estimator's diagram (scikit-learn's ``estimator_html_repr``) as a standalone page."""
    from sklearn.utils import estimator_html_repr

    with _lock:
        swap = inspect.getdoc is _GETDOC   # someone else's getdoc in place: its answers are left alone
        if swap:
            inspect.getdoc = _getdoc
        try:
            body = estimator_html_repr(estimator)
        finally:
            if swap and inspect.getdoc is _getdoc:
                inspect.getdoc = _GETDOC
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="UTF-8"/></head>\n'
            f"<body>\n{body}\n</body>\n</html>\n").encode("utf-8")


__all__ = ["render"]

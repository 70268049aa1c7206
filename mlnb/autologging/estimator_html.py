"""``estimator.html``: the estimator's diagram that scikit-learn autolog logs, as MLflow does.

scikit-learn (1.7+) draws each parameter's and fitted attribute's tooltip from the class docstring,
and re-reads and re-cleans that whole docstring (``inspect.getdoc``) once per row: more than half of
a LogisticRegression's drawing time. While autolog is on, the per-row lookup is memoized by
(class, section, name), which gives the same text (the memo lives as long as the process, so a
class's second fit draws fast); ``autolog(disable=True)`` restores scikit-learn's own function with
the other patches.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from mlnb.autologging import patching

#: scikit-learn's modules that call its docstring lookup while drawing an estimator
_DOC_USERS = ("sklearn.utils._repr_html.params", "sklearn.utils._repr_html.fitted_attributes")


def memoize_docstrings(integration: str) -> None:
    """Memoize scikit-learn's tooltip lookup while ``integration`` is patched (nothing when this
    scikit-learn draws estimators without it)."""
    try:
        modules = [importlib.import_module(name) for name in _DOC_USERS]
        lookup = patching.original_of(modules[0].get_docstring)
    except (ImportError, AttributeError):
        return
    cached = _memoized(lookup)
    for module in modules:
        if getattr(module, "get_docstring", None) is lookup:
            patching.replace_attribute(integration, module, "get_docstring", cached)


@functools.lru_cache(maxsize=None)
def _memoized(lookup: Any) -> Any:
    """One memo per lookup function for the life of the process, so turning autolog off and on
    again keeps what was looked up."""
    cached = functools.lru_cache(maxsize=4096)(lookup)
    cached.__mlnb_original__ = lookup   # type: ignore[attr-defined]
    return cached


def render(estimator: Any) -> bytes:
    """The estimator's diagram (scikit-learn's ``estimator_html_repr``) as a standalone page."""
    from sklearn.utils import estimator_html_repr

    body = estimator_html_repr(estimator)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="UTF-8"/></head>\n'
            f"<body>\n{body}\n</body>\n</html>\n").encode("utf-8")


__all__ = ["memoize_docstrings", "render"]

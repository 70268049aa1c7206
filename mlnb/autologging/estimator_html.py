"""``estimator.html``: the estimator's diagram that scikit-learn autolog logs, as MLflow does.

It is drawn on the fitting thread (drawing is pure Python: on a worker thread it only takes turns with
the fit's own logging for the interpreter lock), through scikit-learn's public
``estimator_html_repr``. Most of its cost is scikit-learn re-reading the class docstring for each
parameter's tooltip; mlnb leaves that to scikit-learn rather than patch its private modules.
"""

from __future__ import annotations

from typing import Any


def render(estimator: Any) -> bytes:
    """The estimator's diagram (scikit-learn's ``estimator_html_repr``) as a standalone page."""
    from sklearn.utils import estimator_html_repr

    body = estimator_html_repr(estimator)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="UTF-8"/></head>\n'
            f"<body>\n{body}\n</body>\n</html>\n").encode("utf-8")


__all__ = ["render"]

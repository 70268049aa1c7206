"""HtmlView: a widget showing HTML rendered in Python that reports header clicks and row ticks.

The front end is a few lines of JavaScript shipped beside this module (``html_view.js``) and run by
anywidget, so nothing is fetched at run time. A header cell with ``data-sort="<key>"`` sends its key
when clicked; checkboxes of class ``mlnb-pick`` (``data-run-id``) keep ``selected`` in sync, and a
``mlnb-pick-page`` checkbox ticks or clears every row shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import anywidget
import traitlets

_ESM = Path(__file__).with_name("html_view.js")


class HtmlView(anywidget.AnyWidget):
    """``html`` shown as is; ``selected`` holds the ticked ids; :meth:`on_sort` hears header clicks."""

    _esm = _ESM
    html = traitlets.Unicode("").tag(sync=True)
    selected = traitlets.List(traitlets.Unicode(), default_value=[]).tag(sync=True)

    def on_sort(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(key)`` when a sortable header is clicked."""
        self.on_msg(lambda _widget, content, _buffers: callback(content["sort"])
                    if isinstance(content, dict) and isinstance(content.get("sort"), str) else None)


__all__ = ["HtmlView"]

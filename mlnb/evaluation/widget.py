"""The evaluation widget: a metric table and a tab per plot, SHAP included.

Plain ipywidgets 8 (``VBox``, ``HTML``, ``Tab``, ``Image``): no custom JavaScript, so it works in
JupyterLab 4 and Notebook 7 as installed. Imported only when a result is displayed.
"""

from __future__ import annotations

import html

from mlnb.errors import require
from mlnb.evaluation.html import header_html, metrics_table_html, notes_html, title_of


def build_widget(result):
    """An ``ipywidgets.VBox``: header and metric table, then a ``Tab`` with one plot per tab."""
    widgets = require("ipywidgets", "notebook", "The evaluation widget")
    table = widgets.HTML(header_html(result) + metrics_table_html(result) + notes_html(result))
    children, titles = [], []
    for name, png in result.images.items():
        children.append(widgets.Image(value=png, format="png", layout=widgets.Layout(max_width="720px")))
        titles.append(title_of(name))
    exp = result.explanation
    if exp is not None and not exp.ok:
        children.append(widgets.HTML(f"<p>{html.escape(exp.summary())}</p>"))
        titles.append("SHAP")
    parts = [table]
    if children:
        parts.append(widgets.Tab(children=children, titles=titles))
    box = widgets.VBox(parts)
    box.add_class("mlnb-evaluation")
    return box

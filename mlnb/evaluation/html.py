"""The static view of an EvaluationResult: plain HTML with the plots as embedded PNG images.

No IPython, no JavaScript and no <style> block (GitHub strips them): inline styles only, so the same
markup reads in JupyterLab, in nbconvert's HTML and on GitHub.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from mlnb.formatting import format_number

#: Human titles of the plots, by artifact name (also the widget's tab titles).
TITLES = {
    "confusion_matrix": "Confusion matrix",
    "roc_curve_plot": "ROC",
    "precision_recall_curve_plot": "Precision-recall",
    "lift_curve_plot": "Lift",
    "calibration_curve_plot": "Calibration",
    "residuals_plot": "Residuals",
    "predicted_vs_actual_plot": "Predicted vs actual",
    "shap_beeswarm_plot": "SHAP beeswarm",
    "shap_summary_plot": "SHAP summary",
    "shap_feature_importance_plot": "SHAP importance",
}

_CELL = "padding:2px 10px;text-align:right;border-bottom:1px solid #e5e5e5"
_HEAD = "padding:2px 10px;text-align:right;border-bottom:1px solid #999"


def title_of(name: str) -> str:
    """The heading shown for an artifact or metric name."""
    return TITLES.get(name, name.replace("_", " "))


def _delta_cell(result, name: str, delta: float | None) -> str:
    if delta is None:
        return f'<td style="{_CELL}"></td>'
    good = (delta > 0) == result.greater_is_better_for(name)
    color = "#888" if delta == 0 else ("#1a7f37" if good else "#cf222e")
    return f'<td style="{_CELL};color:{color}">{delta:+.4g}</td>'


def metrics_table_html(result) -> str:
    """The metric table (with baseline and delta columns when there is a baseline)."""
    base = result.baseline_metrics
    deltas = result.baseline_deltas
    head = ["metric", "value"] + (["baseline", "Δ"] if base is not None else [])
    rows = ["<tr>" + "".join(
        f'<th style="{_HEAD}{";text-align:left" if i == 0 else ""}">{h}</th>' for i, h in enumerate(head)) + "</tr>"]
    for name, value in result.metrics.items():
        cells = [f'<td style="{_CELL};text-align:left;font-family:monospace">{html.escape(name)}</td>',
                 f'<td style="{_CELL}">{html.escape(format_number(value))}</td>']
        if base is not None:
            cells.append(f'<td style="{_CELL}">{html.escape(format_number(base.get(name)))}</td>')
            cells.append(_delta_cell(result, name, deltas.get(name)))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table style="border-collapse:collapse;font-size:13px">{"".join(rows)}</table>'


def header_html(result) -> str:
    """The result's heading: which model, its type, and the run it was logged to."""
    what = html.escape(result.model_name or "model")
    bits = [f"<b>Evaluation of {what}</b> ({html.escape(result.model_type)})"]
    if result.run_id:
        bits.append(f'run <code>{html.escape(result.run_id)}</code>')
    return '<div style="margin:4px 0">' + " · ".join(bits) + "</div>"


def notes_html(result) -> str:
    """The SHAP summary and the evaluation's notes as an HTML list."""
    items = list(result.notes)
    exp = result.explanation
    if exp is not None:
        items.insert(0, exp.summary())
    if not items:
        return ""
    lis = "".join(f"<li>{html.escape(n)}</li>" for n in items)
    return f'<ul style="margin:4px 0;color:#555;font-size:12px">{lis}</ul>'


def image_html(png: bytes, alt: str, width: int | None = None) -> str:
    """PNG bytes as an inline ``<img>`` (a data URI, so a saved notebook still shows it)."""
    data = base64.b64encode(png).decode("ascii")
    style = f"max-width:{width}px;width:100%" if width else "max-width:100%"
    return f'<img alt="{html.escape(alt)}" style="{style}" src="data:image/png;base64,{data}"/>'


def result_html(result) -> str:
    """The whole static view: header, metric table, notes, and every plot with its title."""
    figures = "".join(
        f'<figure style="margin:6px;display:inline-block;vertical-align:top">'
        f'<figcaption style="font-weight:bold;font-size:12px">{html.escape(title_of(name))}</figcaption>'
        f"{image_html(png, title_of(name), 480)}</figure>"
        for name, png in result.images.items()
    )
    return (f'<div class="mlnb-evaluation">{header_html(result)}{metrics_table_html(result)}'
            f"{notes_html(result)}<div>{figures}</div></div>")

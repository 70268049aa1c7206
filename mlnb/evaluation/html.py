"""The evaluation panel: an EvaluationResult as HTML that needs no kernel, no script and no CDN.

The panel is headline metrics, then tabs (Metrics, one per plot, SHAP). The tabs are radio inputs
and labels driven by a ``<style>`` block scoped to this one panel, so they switch in JupyterLab,
Notebook 7 and nbconvert's HTML without JavaScript. Where the ``<style>`` block is dropped (a
notebook JupyterLab does not trust, GitHub), inline styles alone lay the same markup out as a
readable stack: the tab bar is hidden inline and every panel shows under its own caption. The
style block's ``!important`` rules are what override those inline fallbacks.

Colours come from JupyterLab's CSS variables with light-theme fallbacks, or from ``opacity`` over the
inherited text colour, so the panel reads in the dark theme too.
"""

from __future__ import annotations

import base64
import hashlib
import html

from mlnb.formatting import format_number

#: Human titles of the plots, by artifact name (also the tab titles).
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

#: The metrics people read first, in the order they are shown (classifier, then regressor).
HEADLINE = (
    "accuracy_score", "f1_score", "roc_auc", "precision_recall_auc", "precision_score", "recall_score",
    "log_loss", "r2_score", "root_mean_squared_error", "mean_absolute_error", "mean_squared_error",
    "mean_absolute_percentage_error", "max_error", "score",
)
#: Counts: shown after every other metric.
COUNTS = ("example_count", "true_positives", "true_negatives", "false_positives", "false_negatives")
#: How many headline metrics get a large tile above the tabs.
TILES = 4

_LINE = "1px solid rgba(128,128,128,.3)"
_CELL = f"padding:2px 12px;text-align:right;border-bottom:{_LINE}"
_HEAD = "padding:2px 12px;text-align:right;border-bottom:1px solid rgba(128,128,128,.6)"
_MUTED = "opacity:.75"
_GOOD, _BAD = "#1a7f37", "#cf222e"

def title_of(name: str) -> str:
    """The heading shown for an artifact or metric name."""
    return TITLES.get(name, name.replace("_", " "))


def ordered_metrics(metrics: dict) -> list[str]:
    """Metric names in display order: headline metrics, then the others as given, counts last."""
    def key(item):
        index, name = item
        base = name.split("/")[0]
        if base in HEADLINE:
            return (0, HEADLINE.index(base), index)
        return (2 if base in COUNTS else 1, 0, index)

    return [name for _, name in sorted(enumerate(metrics), key=key)]


def headline_metrics(result) -> list[str]:
    """The few metrics shown as tiles: headline names the result has (overall, not per class)."""
    return [n for n in ordered_metrics(result.metrics) if n in HEADLINE][:TILES]


def _delta_cell(result, name: str, delta: float | None) -> str:
    if delta is None:
        return f'<td style="{_CELL}"></td>'
    good = (delta > 0) == result.greater_is_better_for(name)
    color = "inherit" if delta == 0 else (_GOOD if good else _BAD)
    sign = "+" if delta > 0 else ""
    return f'<td style="{_CELL};color:{color}">{sign}{html.escape(format_number(delta))}</td>'


def metrics_table_html(result) -> str:
    """The metric table, headline metrics first, counts last (baseline and Δ columns when there is
    a baseline)."""
    base = result.baseline_metrics
    deltas = result.baseline_deltas
    head = ["metric", "value"] + (["baseline", "Δ"] if base is not None else [])
    rows = ["<tr>" + "".join(
        f'<th style="{_HEAD}{";text-align:left" if i == 0 else ""}">{h}</th>' for i, h in enumerate(head)) + "</tr>"]
    for name in ordered_metrics(result.metrics):
        value = result.metrics[name]
        cells = [f'<td style="{_CELL};text-align:left;font-family:monospace">{html.escape(name)}</td>',
                 f'<td style="{_CELL}">{html.escape(format_number(value))}</td>']
        if base is not None:
            cells.append(f'<td style="{_CELL}">{html.escape(format_number(base.get(name)))}</td>')
            cells.append(_delta_cell(result, name, deltas.get(name)))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="mlnb-metrics" style="border-collapse:collapse;font-size:13px">{"".join(rows)}</table>'


def tiles_html(result) -> str:
    """The headline metrics as large numbers, with the change against the baseline under each."""
    deltas = result.baseline_deltas
    tiles = []
    for name in headline_metrics(result):
        delta = ""
        if name in deltas:
            d = deltas[name]
            good = (d > 0) == result.greater_is_better_for(name)
            color = "inherit" if d == 0 else (_GOOD if good else _BAD)
            delta = (f'<div style="font-size:11px;color:{color}">{"+" if d > 0 else ""}'
                     f"{html.escape(format_number(d))} vs baseline</div>")
        tiles.append(
            f'<div class="mlnb-tile" style="display:inline-block;vertical-align:top;margin:2px 20px 6px 0">'
            f'<div style="font-size:11px;{_MUTED}">{html.escape(title_of(name))}</div>'
            f'<div style="font-size:20px;font-weight:600">{html.escape(format_number(result.metrics[name]))}</div>'
            f"{delta}</div>")
    return f'<div class="mlnb-tiles">{"".join(tiles)}</div>' if tiles else ""


def header_html(result) -> str:
    """The result's heading: which model, its type, and the run it was logged to."""
    what = html.escape(result.model_name or "model")
    bits = [f"<b>Evaluation of {what}</b> ({html.escape(result.model_type)})"]
    if result.run_id:
        bits.append(f"run <code>{html.escape(result.run_id)}</code>")
    return '<div style="margin:4px 0">' + " · ".join(bits) + "</div>"


def notes_html(result) -> str:
    """The SHAP summary and the evaluation's notes as an HTML list (muted, readable in any theme)."""
    items = list(result.notes)
    exp = result.explanation
    if exp is not None:
        items.insert(0, exp.summary())
    if not items:
        return ""
    lis = "".join(f"<li>{html.escape(n)}</li>" for n in items)
    return f'<ul class="mlnb-notes" style="margin:4px 0;padding-left:18px;font-size:12px;{_MUTED}">{lis}</ul>'


#: A plot is as wide as its panel unless that would make it taller than this share of the window.
MAX_HEIGHT_VH = 85


def _png_size(png: bytes) -> tuple[int, int] | None:
    """The pixel width and height in a PNG's header (None if the bytes are not a PNG)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or len(png) < 24:
        return None
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _png_dpi(png: bytes) -> float | None:
    """The resolution a PNG's ``pHYs`` chunk records (matplotlib writes it), in dots per inch."""
    at = png.find(b"pHYs", 8, 4096)
    if at < 0 or len(png) <= at + 12 or png[at + 12] != 1:   # unit 1: per metre
        return None
    return int.from_bytes(png[at + 4:at + 8], "big") * 0.0254


def image_html(png: bytes, alt: str) -> str:
    """PNG bytes as an inline ``<img>`` (a data URI) that fills the panel's width, short of being
    taller than most of the window (``MAX_HEIGHT_VH``); plots are rendered at 1.5x
    (``plots.RENDER_DPI``) so the stretch stays sharp. Where styles are stripped, the ``width``
    attribute shows it at its layout size (100 pixels an inch)."""
    data = base64.b64encode(png).decode("ascii")
    size, style = "", "width:100%;height:auto"
    dims = _png_size(png)
    if dims and dims[1]:
        scale = 100 / (_png_dpi(png) or 100)
        size = f'width="{round(dims[0] * scale)}" '
        style += f";max-width:{MAX_HEIGHT_VH * dims[0] / dims[1]:.1f}vh"
    return (f'<img class="mlnb-plot" alt="{html.escape(alt)}" {size}style="{style}" '
            f'src="data:image/png;base64,{data}"/>')


def _panels(result) -> list[tuple[str, str]]:
    """(title, body) of every tab: the metric table, each plot, and SHAP's reason when skipped."""
    panels = [("Metrics", metrics_table_html(result) + notes_html(result))]
    panels += [(title_of(name), image_html(png, title_of(name))) for name, png in result.images.items()]
    exp = result.explanation
    if exp is not None and not exp.ok:
        panels.append(("SHAP", f"<p>{html.escape(exp.summary())}</p>"))
    return panels


def _style(scope: str, count: int) -> str:
    """The scoped stylesheet that turns the stacked panels into tabs."""
    s = f".{scope}"
    checked = ",".join(f"{s} #{scope}-{i}:checked~.mlnb-tab-panels>.mlnb-tab-{i}" for i in range(count))
    active = ",".join(f"{s} #{scope}-{i}:checked~.mlnb-tab-bar>label[for={scope}-{i}]" for i in range(count))
    return (
        "<style>"
        f"{s}>.mlnb-tab-bar{{display:flex!important;flex-wrap:wrap;gap:2px;"
        f"border-bottom:1px solid var(--jp-border-color1,#bdbdbd);margin-top:6px}}"
        f"{s}>.mlnb-tab-bar>label{{padding:4px 12px;cursor:pointer;font-size:12px;"
        f"color:var(--jp-ui-font-color2,#555);border:1px solid transparent;border-bottom:none;"
        f"border-radius:4px 4px 0 0;margin-bottom:-1px}}"
        f"{s}>.mlnb-tab-bar>label:hover{{color:var(--jp-ui-font-color0,#111)}}"
        f"{active}{{color:var(--jp-ui-font-color0,#111);background:var(--jp-layout-color1,#fff);"
        f"border-color:var(--jp-border-color1,#bdbdbd)}}"
        f"{s}>.mlnb-tab-panels>.mlnb-tab-panel{{display:none!important;margin:0!important;padding-top:8px;"
        f"max-width:100%!important}}"
        f"{checked}{{display:block!important}}"
        f"{s} .mlnb-tab-caption{{display:none!important}}"
        f"{s} .mlnb-notes{{color:var(--jp-ui-font-color2,#555);opacity:1!important}}"
        "</style>"
    )


def result_html(result) -> str:
    """The whole panel: header, headline tiles, then a tab per part (a stack where styles are
    stripped). The scope is a hash of the content: panels of different results on one page switch
    independently, and re-running a notebook writes the same output (no diff churn)."""
    panels = _panels(result)
    head = header_html(result) + tiles_html(result)
    digest = hashlib.sha1((head + "".join(t + b for t, b in panels)).encode("utf-8")).hexdigest()[:12]
    scope = f"mlnb-ev-{digest}"
    radios = "".join(
        f'<input type="radio" name="{scope}" id="{scope}-{i}" style="display:none"{" checked" if i == 0 else ""}/>'
        for i in range(len(panels)))
    labels = "".join(f'<label for="{scope}-{i}">{html.escape(t)}</label>' for i, (t, _) in enumerate(panels))
    bodies = "".join(
        f'<div class="mlnb-tab-panel mlnb-tab-{i}" style="display:inline-block;vertical-align:top;'
        f'margin:6px 12px 6px 0;max-width:{"none" if i == 0 else "480px"}">'
        f'<div class="mlnb-tab-caption" style="font-weight:bold;font-size:12px">{html.escape(t)}</div>{body}</div>'
        for i, (t, body) in enumerate(panels))
    return (f'<div class="mlnb-evaluation {scope}">{_style(scope, len(panels))}'
            f"{head}{radios}"
            f'<div class="mlnb-tab-bar" style="display:none">{labels}</div>'
            f'<div class="mlnb-tab-panels">{bodies}</div></div>')

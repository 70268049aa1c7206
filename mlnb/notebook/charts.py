"""Small SVG charts for comparing runs: metric curves, parallel coordinates, metric against a param.

SVG is plain text, renders in every front end, in saved notebooks and in nbconvert's HTML, and
needs no plotting library (matplotlib costs half a second to import; the run browser must open
faster than that). Legends sit under the plot and hold whole names, however long.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from mlnb.cards import esc
from mlnb.formatting import format_number

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
WIDTH, HEIGHT = 720, 300
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 24, 28, 40
LEGEND_ROW = 16
TEXT = "fill:var(--jp-ui-font-color1,#222)"
GRID = "var(--jp-border-color2,#e5e5e5)"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi == lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 5, 10) if m * mag >= raw), default=raw)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def _finite(y: Any) -> bool:
    return isinstance(y, (int, float)) and math.isfinite(y)


def _open(height: float, title: str) -> list[str]:
    return [f'<svg class="mlnb-chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
            f'viewBox="0 0 {WIDTH} {height:.0f}" style="font:12px var(--jp-ui-font-family,sans-serif);{TEXT};'
            f'max-width:100%">',
            f'<text x="{WIDTH / 2}" y="17" text-anchor="middle" font-weight="bold" style="{TEXT}">{esc(title)}</text>']


def _legend(names: Sequence[str], top: float) -> list[str]:
    parts = []
    for i, name in enumerate(names):
        y = top + LEGEND_ROW * i
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<rect x="{MARGIN_LEFT}" y="{y - 10}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text class="mlnb-legend" x="{MARGIN_LEFT + 16}" y="{y}" style="{TEXT}">{esc(name)}</text>')
    return parts


def _range(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if lo == hi:
        pad = abs(lo) * 0.05 or 1.0
        return lo - pad, hi + pad
    return lo, hi


def line_chart_svg(series: Mapping[str, Sequence[tuple[float, float]]], title: str = "",
                   x_label: str = "step") -> str:
    """An SVG chart of ``{label: [(x, y), ...]}``; a one-point series is drawn as a dot."""
    points = [(x, y) for pts in series.values() for x, y in pts if _finite(y)]
    if not points:
        return f'<div class="mlnb-chart" style="opacity:.7">No values to plot for {esc(title)}.</div>'
    x0, x1 = _range([p[0] for p in points])
    y0, y1 = _range([p[1] for p in points])
    pw, ph = WIDTH - MARGIN_LEFT - MARGIN_RIGHT, HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def sx(x: float) -> float:
        return MARGIN_LEFT + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return MARGIN_TOP + (1 - (y - y0) / (y1 - y0)) * ph

    parts = _open(HEIGHT + LEGEND_ROW * len(series) + 6, title)
    for t in _ticks(y0, y1):
        y = sy(t)
        parts.append(f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" style="{TEXT}">{format_number(t)}</text>')
    for t in _ticks(x0, x1):
        parts.append(f'<text x="{sx(t):.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" text-anchor="middle" '
                     f'style="{TEXT}">{format_number(t)}</text>')
    parts.append(f'<text x="{MARGIN_LEFT + pw / 2}" y="{HEIGHT - 8}" text-anchor="middle" style="{TEXT}">{esc(x_label)}</text>')
    parts.append(f'<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    for i, pts in enumerate(series.values()):
        color = PALETTE[i % len(PALETTE)]
        good = sorted((x, y) for x, y in pts if _finite(y))
        if len(good) > 1:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in good)
            parts.append(f'<polyline class="mlnb-series" fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        for x, y in good if len(good) <= 50 else good[-1:]:
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>')
    parts += _legend(list(series), HEIGHT + 6)
    parts.append("</svg>")
    return "".join(parts)


def _axis(values: Sequence[Any]) -> tuple[Any, list[str]]:
    """A scale for one axis: numbers map linearly, anything else to evenly spaced categories."""
    present = [v for v in values if v is not None and v != ""]
    numbers = []
    for v in present:
        try:
            numbers.append(float(v))
        except (TypeError, ValueError):
            numbers = None
            break
    if numbers and all(math.isfinite(n) for n in numbers):
        lo, hi = _range(numbers)
        return (lambda v: None if v in (None, "") else (float(v) - lo) / (hi - lo)), [format_number(lo), format_number(hi)]
    cats = sorted({str(v) for v in present})
    if len(cats) == 1:
        return (lambda v: None if v in (None, "") else 0.5), cats
    return (lambda v: None if v in (None, "") else cats.index(str(v)) / (len(cats) - 1)), cats


def parallel_coordinates_svg(rows: Mapping[str, Mapping[str, Any]], axes: Sequence[str], title: str = "") -> str:
    """One line per run across vertical axes (params then a metric): ``{run label: {axis: value}}``."""
    if not rows or len(axes) < 2:
        return '<div class="mlnb-chart" style="opacity:.7">Parallel coordinates need two or more differing values.</div>'
    ph = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    gap = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT - 40) / (len(axes) - 1)
    xs = [MARGIN_LEFT + 20 + i * gap for i in range(len(axes))]
    parts = _open(HEIGHT + LEGEND_ROW * len(rows) + 6, title)
    scales = []
    for x, axis in zip(xs, axes):
        scale, labels = _axis([r.get(axis) for r in rows.values()])
        scales.append(scale)
        parts.append(f'<line class="mlnb-axis" x1="{x:.1f}" x2="{x:.1f}" y1="{MARGIN_TOP}" y2="{MARGIN_TOP + ph}" stroke="#999"/>')
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle" font-weight="bold" style="{TEXT}">{esc(axis)}</text>')
        if len(labels) == 1:
            parts.append(f'<text x="{x + 4:.1f}" y="{MARGIN_TOP + ph / 2 + 4:.1f}" style="{TEXT}">{esc(labels[0])}</text>')
        else:
            for j, label in enumerate(labels):
                y = MARGIN_TOP + ph - j / (len(labels) - 1) * ph
                parts.append(f'<text x="{x + 4:.1f}" y="{y + 4:.1f}" style="{TEXT}">{esc(label)}</text>')
    for i, values in enumerate(rows.values()):
        color = PALETTE[i % len(PALETTE)]
        pts = []
        for x, axis, scale in zip(xs, axes, scales):
            pos = scale(values.get(axis))
            if pos is not None:
                pts.append(f"{x:.1f},{MARGIN_TOP + (1 - pos) * ph:.1f}")
        parts.append(f'<polyline class="mlnb-series" fill="none" stroke="{color}" stroke-width="2" points="{" ".join(pts)}"/>')
    parts += _legend(list(rows), HEIGHT + 6)
    parts.append("</svg>")
    return "".join(parts)


def scatter_svg(points: Mapping[str, tuple[Any, Any]], x_label: str, y_label: str, title: str = "") -> str:
    """A metric against a param, one dot per run: ``{run label: (x, y)}`` (x numbers or categories)."""
    good = {k: (x, y) for k, (x, y) in points.items() if x not in (None, "") and _finite(y)}
    if not good:
        return f'<div class="mlnb-chart" style="opacity:.7">No runs have both {esc(x_label)} and {esc(y_label)}.</div>'
    scale, x_labels = _axis([x for x, _ in good.values()])
    y0, y1 = _range([y for _, y in good.values()])
    pw, ph = WIDTH - MARGIN_LEFT - MARGIN_RIGHT - 40, HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    parts = _open(HEIGHT + LEGEND_ROW * len(good) + 6, title)

    def sy(y: float) -> float:
        return MARGIN_TOP + (1 - (y - y0) / (y1 - y0)) * ph

    for t in _ticks(y0, y1):
        parts.append(f'<line x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT + pw + 40}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="{GRID}"/>')
        parts.append(f'<text x="{MARGIN_LEFT - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" style="{TEXT}">{format_number(t)}</text>')
    for j, label in enumerate(x_labels):
        x = MARGIN_LEFT + 20 + (j / (len(x_labels) - 1) if len(x_labels) > 1 else 0.5) * pw
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" text-anchor="middle" style="{TEXT}">{esc(label)}</text>')
    parts.append(f'<text x="{MARGIN_LEFT + pw / 2}" y="{HEIGHT - 8}" text-anchor="middle" style="{TEXT}">{esc(x_label)}</text>')
    parts.append(f'<text x="14" y="{MARGIN_TOP + ph / 2}" text-anchor="middle" transform="rotate(-90 14 {MARGIN_TOP + ph / 2})" '
                 f'style="{TEXT}">{esc(y_label)}</text>')
    for i, (x, y) in enumerate(good.values()):
        cx = MARGIN_LEFT + 20 + scale(x) * pw
        parts.append(f'<circle class="mlnb-point" cx="{cx:.1f}" cy="{sy(y):.1f}" r="5" fill="{PALETTE[i % len(PALETTE)]}"/>')
    parts += _legend(list(good), HEIGHT + 6)
    parts.append("</svg>")
    return "".join(parts)

"""A small SVG line chart: metric curves over steps, one line per run, on one chart.

SVG is plain text, renders in every front end and in saved notebooks, and needs no plotting
library (matplotlib costs half a second to import; the run browser must open faster than that).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from mlnb.cards import esc

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
WIDTH, HEIGHT = 720, 300
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 170, 28, 40
LEGEND_X = WIDTH - MARGIN_RIGHT + 12


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi == lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 5, 10) if m * mag >= raw), default=raw)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def _label(v: float) -> str:
    return f"{v:.4g}"


def line_chart_svg(series: Mapping[str, Sequence[tuple[float, float]]], title: str = "",
                   x_label: str = "step") -> str:
    """An SVG chart of ``{label: [(x, y), ...]}``; a one-point series is drawn as a dot."""
    points = [(x, y) for pts in series.values() for x, y in pts if y is not None and math.isfinite(y)]
    if not points:
        return f'<div class="mlnb-chart" style="opacity:.7">No values to plot for {esc(title)}.</div>'
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x0 == x1:
        x0, x1 = x0 - 1, x1 + 1
    if y0 == y1:
        pad = abs(y0) * 0.05 or 1.0
        y0, y1 = y0 - pad, y1 + pad
    pw, ph = WIDTH - MARGIN_LEFT - MARGIN_RIGHT, HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def sx(x: float) -> float:
        return MARGIN_LEFT + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return MARGIN_TOP + (1 - (y - y0) / (y1 - y0)) * ph

    parts = [f'<svg class="mlnb-chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" style="font:11px sans-serif;background:#fff">']
    parts.append(f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" font-weight="bold">{esc(title)}</text>')
    for t in _ticks(y0, y1):
        y = sy(t)
        parts.append(f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_label(t)}</text>')
    for t in _ticks(x0, x1):
        x = sx(t)
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" text-anchor="middle">{_label(t)}</text>')
    parts.append(f'<text x="{MARGIN_LEFT + pw / 2}" y="{HEIGHT - 6}" text-anchor="middle">{esc(x_label)}</text>')
    parts.append(f'<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    for i, (name, pts) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        good = sorted((x, y) for x, y in pts if y is not None and math.isfinite(y))
        if len(good) > 1:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in good)
            parts.append(f'<polyline class="mlnb-series" fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        for x, y in good if len(good) <= 50 else good[-1:]:
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>')
        ly = MARGIN_TOP + 14 + 14 * i
        parts.append(f'<rect x="{LEGEND_X}" y="{ly - 9}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{LEGEND_X + 14}" y="{ly}">{esc(name[:22])}</text>')
    parts.append("</svg>")
    return "".join(parts)

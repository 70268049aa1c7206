"""HTML for the run browser: the page of runs, the comparison of runs, a run's artifacts.

Pure functions from the store's results to strings, so they are tested without a front end and
only the visible page is ever rendered.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from mlnb.cards import MUTED, esc, status_badge
from mlnb.formatting import format_duration, format_number, format_size, format_time

MAX_KEY_COLUMNS = 8      # params and metrics columns shown in the table, each
DIFF_STYLE = "background:rgba(255,193,7,.28)"
TH = "padding:3px 8px;text-align:left;border-bottom:1px solid rgba(128,128,128,.5);white-space:nowrap"
TD = "padding:2px 8px;border-bottom:1px solid rgba(128,128,128,.15);white-space:nowrap"
TABLE = "border-collapse:collapse;font-size:12px;font-family:var(--jp-ui-font-family,system-ui,sans-serif)"


def pick_keys(columns: dict[str, list], preferred: Sequence[str] = (), limit: int = MAX_KEY_COLUMNS) -> list[str]:
    """The keys to show as columns: those named in the filter or sort first, then the most filled."""
    keys = [k for k in preferred if k in columns]
    rest = sorted((k for k in columns if k not in keys), key=lambda k: (-sum(v is not None for v in columns[k]), k))
    return (keys + rest)[:limit]


def run_rows_html(table: Any, offset: int = 0, preferred_params: Sequence[str] = (),
                  preferred_metrics: Sequence[str] = (), now_ms: int | None = None) -> str:
    """The visible page of runs as one HTML table: status, start, duration, metrics (in italics), params."""
    info = table.info
    n = len(table)
    now_ms = now_ms or int(time.time() * 1000)
    params = pick_keys(table.params, preferred_params)
    metrics = pick_keys(table.metrics, preferred_metrics)
    head = ["#", "run", "status", "start", "duration"]
    cells = [f'<th style="{TH}">{h}</th>' for h in head]
    cells += [f'<th style="{TH};font-style:italic" title="metrics.{esc(k)}">{esc(k)}</th>' for k in metrics]
    cells += [f'<th style="{TH}" title="params.{esc(k)}">{esc(k)}</th>' for k in params]
    rows = []
    for i in range(n):
        status = info["status"][i]
        end = info["end_time"][i] or (now_ms if status == "RUNNING" else None)
        row = [str(offset + i + 1), esc(info["run_name"][i] or info["run_id"][i][:8]), status_badge(status),
               esc(format_time(info["start_time"][i])), esc(format_duration(info["start_time"][i], end))]
        row = [f'<td style="{TD}">{c}</td>' for c in row]
        row += [f'<td style="{TD};text-align:right">{esc(_cell(table.metrics[k][i]))}</td>' for k in metrics]
        row += [f'<td style="{TD}">{esc(_cell(table.params[k][i]))}</td>' for k in params]
        rows.append(f'<tr class="mlnb-run-row" data-run-id="{esc(info["run_id"][i])}">{"".join(row)}</tr>')
    return (f'<div style="overflow-x:auto;max-width:100%"><table class="mlnb-runs" style="{TABLE}">'
            f'<thead><tr>{"".join(cells)}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def _cell(value: Any) -> str:
    return "" if value is None else format_number(value)


def compare_html(runs: Sequence[Any]) -> str:
    """Params and latest metrics of several runs side by side; rows that differ are highlighted."""
    if not runs:
        return ""
    head = "".join(f'<th style="{TH}">{esc(r.info.run_name or r.info.run_id[:8])}</th>' for r in runs)
    parts = []
    for title, attr in (("Params", "params"), ("Metrics", "metrics")):
        keys = sorted({k for r in runs for k in getattr(r.data, attr)})
        if not keys:
            continue
        body = []
        for k in keys:
            values = [getattr(r.data, attr).get(k) for r in runs]
            differs = len({_cell(v) for v in values}) > 1
            style = f' class="mlnb-diff" style="{DIFF_STYLE}"' if differs else ""
            tds = "".join(f'<td style="{TD}">{esc(_cell(v))}</td>' for v in values)
            body.append(f'<tr{style}><td style="{TD};{MUTED}">{esc(k)}</td>{tds}</tr>')
        parts.append(f'<div style="margin:6px 0"><b>{title}</b> <span style="{MUTED}">(highlighted: differs)</span>'
                     f'<table class="mlnb-compare" style="{TABLE}"><thead><tr><th style="{TH}"></th>{head}</tr>'
                     f'</thead><tbody>{"".join(body)}</tbody></table></div>')
    return "".join(parts) or f'<div style="{MUTED}">These runs logged no params or metrics.</div>'


def artifacts_html(files: Sequence[Any]) -> str:
    """A run's artifact listing (``FileInfo`` rows: path, is_dir, file_size)."""
    if not files:
        return f'<div style="{MUTED}">No artifacts.</div>'

    rows = "".join(
        f'<tr><td style="{TD}"><code>{esc(f.path)}{"/" if f.is_dir else ""}</code></td>'
        f'<td style="{TD};text-align:right">{"" if f.is_dir or f.file_size is None else esc(format_size(f.file_size))}</td></tr>'
        for f in files)
    return f'<table class="mlnb-artifacts" style="{TABLE}">{rows}</table>'

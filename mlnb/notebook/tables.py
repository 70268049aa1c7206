"""HTML for the run browser: the page of runs, the comparison of runs, artifacts and models.

Pure functions from the store's results to strings, so they are tested without a front end and
only the visible page is ever rendered. The same strings are the live view and the snapshot a
saved notebook keeps, so both read alike.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from mlnb.cards import MUTED, esc, status_badge
from mlnb.formatting import format_duration, format_number, format_size, format_time

MAX_KEY_COLUMNS = 8      # params and metrics columns shown by default, each
SHORT_ID = 8
DIFF_STYLE = "background:rgba(255,193,7,.28)"
BG = "background:var(--jp-layout-color0,#fff)"
TH = "padding:3px 8px;text-align:left;border-bottom:1px solid rgba(128,128,128,.5);white-space:nowrap"
TD = "padding:2px 8px;text-align:left;border-bottom:1px solid rgba(128,128,128,.15);white-space:nowrap"
TABLE = "border-collapse:separate;border-spacing:0;font-size:12px;font-family:var(--jp-ui-font-family,system-ui,sans-serif)"
BOX = "overflow-x:auto;max-width:100%"
# the first three columns (tick, #, run) stay in view while the rest scroll sideways
PINNED = (("pick", 30), ("#", 44), ("run", 200))
ENTITIES = ("metrics", "params", "tags")


def plural(n: int, word: str) -> str:
    """``1 run``, ``2 runs``, ``1,200 runs``."""
    return f"{format_number(n)} {word}{'' if n == 1 else 's'}"


def run_label(name: str | None, run_id: str) -> str:
    """How a run is named in the browser: its name and a short id (the id alone if unnamed)."""
    return f"{name} · {run_id[:SHORT_ID]}" if name else run_id[:SHORT_ID]


def pick_keys(columns: dict[str, list], preferred: Sequence[str] = (), limit: int = MAX_KEY_COLUMNS) -> list[str]:
    """The keys to show as columns: those named in the filter or sort first (once), then the most filled."""
    keys = [k for k in dict.fromkeys(preferred) if k in columns]
    rest = sorted((k for k in columns if k not in keys), key=lambda k: (-sum(v is not None for v in columns[k]), k))
    return (keys + rest)[:limit]


def default_columns(table: Any, preferred: dict[str, Sequence[str]] | None = None) -> list[str]:
    """``metrics.<k>`` then ``params.<k>`` columns for a page: filter and sort keys first, then the fullest."""
    preferred = preferred or {}
    return ([f"metrics.{k}" for k in pick_keys(table.metrics, preferred.get("metrics", ()))]
            + [f"params.{k}" for k in pick_keys(table.params, preferred.get("params", ()))])


def available_columns(table: Any, keys: dict[str, Sequence[str]] | None = None) -> list[str]:
    """Every ``metrics.``/``params.``/``tags.`` column to offer: the page's keys and ``keys`` (the
    store's keys by entity, e.g. from ``run_keys``), sorted, ``mlflow.*`` tags left out."""
    keys = keys or {}
    found = {entity: sorted({*getattr(table, entity), *keys.get(entity, ())}) for entity in ENTITIES}
    return [f"{entity}.{k}" for entity in ENTITIES for k in found[entity]
            if not (entity == "tags" and k.startswith("mlflow."))]


def split_column(column: str) -> tuple[str, str]:
    """``"metrics.loss"`` -> ``("metrics", "loss")``."""
    entity, _, key = column.partition(".")
    return entity, key


def sort_key_of(column: str) -> str:
    """The ``order_by`` key of a column: ``metrics.`loss```, ``attributes.start_time``."""
    entity, key = split_column(column)
    return f"{entity}.`{key}`" if entity in ENTITIES else column


def column_label(sort_key: str) -> str:
    """A sort key as people read it: ``metrics.`loss``` -> ``loss``, ``attributes.start_time`` -> ``start``."""
    entity, key = split_column(sort_key)
    key = key.strip("`")
    return {"start_time": "start", "end_time": "end", "run_name": "run"}.get(key, key) if entity == "attributes" else key


def _pinned_style(index: int) -> str:
    left = sum(width for _, width in PINNED[:index])
    width = PINNED[index][1]
    return (f"position:sticky;left:{left}px;z-index:1;{BG};box-sizing:border-box;width:{width}px;"
            f"min-width:{width}px;max-width:{width}px;"
            "overflow:hidden;text-overflow:ellipsis")


def _header(label: str, sort: str | None, order: tuple[str, bool] | None, extra: str = "", title: str = "") -> str:
    arrow = ""
    if sort and order and order[0] == sort:
        arrow = " ▼" if order[1] else " ▲"
    attrs = f' data-sort="{esc(sort)}" class="mlnb-sortable"' if sort else ""
    cursor = "cursor:pointer;" if sort else ""
    tip = f' title="{esc(title)}"' if title else (' title="sort by this column"' if sort else "")
    return f'<th style="{TH};{cursor}{extra}"{attrs}{tip}>{esc(label)}{arrow}</th>'


def run_rows_html(table: Any, columns: Sequence[str], offset: int = 0, order: tuple[str, bool] | None = None,
                  selected: Sequence[str] = (), now_ms: int | None = None) -> str:
    """The visible page as one HTML table in its own sideways-scrolling box.

    ``columns`` are ``metrics.<k>``/``params.<k>``/``tags.<k>``; ``order`` is the sort key and
    whether it is descending (that header shows ▼ or ▲); ``selected`` run ids are ticked.
    Missing values are blank.
    """
    info = table.info
    now_ms = now_ms or int(time.time() * 1000)
    picked = set(selected)
    cells = [f'<th style="{TH};{_pinned_style(0)}"><input type="checkbox" class="mlnb-pick-page" '
             f'title="tick every run on this page"></th>',
             f'<th style="{TH};{_pinned_style(1)}">#</th>',
             _header("run", "attributes.run_name", order, _pinned_style(2)),
             _header("status", "attributes.status", order),
             _header("start", "attributes.start_time", order),
             _header("duration", None, None)]
    for column in columns:
        entity, key = split_column(column)
        italic = "font-style:italic;" if entity == "metrics" else ""
        cells.append(_header(key, sort_key_of(column), order, italic, column))
    rows = []
    for i in range(len(table)):
        run_id, status = info["run_id"][i], info["status"][i]
        end = info["end_time"][i] or (now_ms if status == "RUNNING" else None)
        name = info["run_name"][i]
        check = " checked" if run_id in picked else ""
        label = (f'{esc(name)} <span style="{MUTED}">{esc(run_id[:SHORT_ID])}</span>' if name
                 else f'<span style="{MUTED}">{esc(run_id[:SHORT_ID])}</span>')
        row = [f'<td style="{TD};{_pinned_style(0)}"><input type="checkbox" class="mlnb-pick" '
               f'data-run-id="{esc(run_id)}"{check}></td>',
               f'<td style="{TD};{_pinned_style(1)};{MUTED}">{offset + i + 1}</td>',
               f'<td style="{TD};{_pinned_style(2)}" title="{esc(run_label(name, run_id))}">{label}</td>',
               f'<td style="{TD}">{status_badge(status)}</td>',
               f'<td style="{TD}">{esc(format_time(info["start_time"][i]))}</td>',
               f'<td style="{TD}">{esc(format_duration(info["start_time"][i], end))}</td>']
        for column in columns:
            entity, key = split_column(column)
            values = getattr(table, entity, {}).get(key)
            value = values[i] if values is not None else None
            align = ";text-align:right" if entity == "metrics" else ""
            row.append(f'<td style="{TD}{align}">{esc(cell(value))}</td>')
        rows.append(f'<tr class="mlnb-run-row" data-run-id="{esc(run_id)}">{"".join(row)}</tr>')
    return (f'<div class="mlnb-table-scroll" style="{BOX}"><table class="mlnb-runs" style="{TABLE}">'
            f'<thead><tr>{"".join(cells)}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def run_rows_text(table: Any, columns: Sequence[str], offset: int = 0) -> str:
    """The visible page as plain text (what a text-only reader of a saved notebook sees)."""
    head = ["#", "run", "status"] + [split_column(c)[1] for c in columns]
    lines = ["\t".join(head)]
    info = table.info
    for i in range(len(table)):
        row = [str(offset + i + 1), run_label(info["run_name"][i], info["run_id"][i]), info["status"][i]]
        for column in columns:
            entity, key = split_column(column)
            values = getattr(table, entity, {}).get(key)
            row.append(cell(values[i] if values is not None else None))
        lines.append("\t".join(row))
    return "\n".join(lines)


def cell(value: Any) -> str:
    """A table cell's text: mlnb's number format, blank when missing."""
    return "" if value is None else format_number(value)


def differing_keys(runs: Sequence[Any], attr: str) -> list[str]:
    """Keys whose values are not the same in every run (a key some runs lack counts as differing)."""
    keys = sorted({k for r in runs for k in getattr(r.data, attr)})
    return [k for k in keys if len({cell(getattr(r.data, attr).get(k)) for r in runs}) > 1]


def compare_html(runs: Sequence[Any]) -> str:
    """Params and latest metrics of several runs side by side, one column per run id.

    Rows whose values differ come first and are marked; the rest follow unmarked. Run names are
    shown whole, each with its short id, so two runs sharing a name stay two columns.
    """
    if not runs:
        return ""
    head = "".join(f'<th style="{TH};white-space:normal;min-width:90px" title="{esc(r.info.run_id)}">'
                   f'{esc(r.info.run_name or "")} <span style="{MUTED}">{esc(r.info.run_id[:SHORT_ID])}</span></th>'
                   for r in runs)
    parts = []
    for title, attr in (("Params", "params"), ("Metrics", "metrics")):
        keys = sorted({k for r in runs for k in getattr(r.data, attr)})
        if not keys:
            continue
        differ = differing_keys(runs, attr) if len(runs) > 1 else []
        body = []
        for k in differ + [k for k in keys if k not in differ]:
            values = [getattr(r.data, attr).get(k) for r in runs]
            style = f' class="mlnb-diff" style="{DIFF_STYLE}"' if k in differ else ' class="mlnb-same"'
            tds = "".join(f'<td style="{TD}">{esc(cell(v))}</td>' for v in values)
            body.append(f'<tr{style}><td style="{TD};{MUTED}">{esc(k)}</td>{tds}</tr>')
        note = f"{len(differ)} of {len(keys)} differ, shown first" if len(runs) > 1 else ""
        parts.append(f'<div style="margin:6px 0"><b>{title}</b> <span style="{MUTED}">{note}</span>'
                     f'<div style="{BOX}"><table class="mlnb-compare" style="{TABLE}"><thead><tr><th style="{TH}"></th>'
                     f'{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div></div>')
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


def registered_models_html(models: Sequence[Any], versions: dict[str, Sequence[Any]]) -> str:
    """Registered models, each with its versions (newest first), their runs, status and aliases."""
    if not models:
        return (f'<div class="mlnb-notice" style="padding:8px;{MUTED}">No registered models yet. Register one with '
                '<code>mlnb.register_model("runs:/&lt;run_id&gt;/model", "name")</code>.</div>')
    parts = []
    for m in models:
        by_version: dict[int, list[str]] = {}
        for alias, version in (m.aliases or {}).items():
            by_version.setdefault(int(version), []).append(alias)
        rows = []
        for v in sorted(versions.get(m.name, ()), key=lambda v: -int(v.version)):
            aliases = " ".join(f'<span class="mlnb-alias" style="border:1px solid rgba(128,128,128,.6);'
                               f'border-radius:3px;padding:0 4px">@{esc(a)}</span>'
                               for a in sorted(by_version.get(int(v.version), [])))
            run = f'<code>{esc(v.run_id[:SHORT_ID])}</code>' if v.run_id else ""
            rows.append(f'<tr class="mlnb-version"><td style="{TD}">v{v.version}</td><td style="{TD}">{aliases}</td>'
                        f'<td style="{TD}">{run}</td><td style="{TD}">{esc(v.status or "")}</td>'
                        f'<td style="{TD}">{esc(format_time(v.creation_timestamp))}</td>'
                        f'<td style="{TD}"><code>models:/{esc(m.name)}/{v.version}</code></td></tr>')
        head = "".join(f'<th style="{TH}">{h}</th>' for h in ("version", "aliases", "run", "status", "created", "uri"))
        desc = f' <span style="{MUTED}">{esc(m.description)}</span>' if m.description else ""
        parts.append(f'<div class="mlnb-registered-model" style="margin:6px 0"><b>{esc(m.name)}</b> '
                     f'<span style="{MUTED}">{plural(len(rows), "version")}</span>{desc}'
                     f'<div style="{BOX}"><table style="{TABLE}"><thead><tr>{head}</tr></thead>'
                     f'<tbody>{"".join(rows)}</tbody></table></div></div>')
    return "".join(parts)

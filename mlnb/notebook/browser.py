"""The run browser: ``mlnb.runs()`` (or ``%mlnb runs``), a widget panel over the run store.

Pick an experiment; the runs table sorts (click a header), filters (``search_runs`` filter
strings) and pages, with the paging done by the store's query so only the visible page is read
and rendered. Tick runs on any page, then compare them (differing params first, a metric's curves,
parallel coordinates and a metric against a param), open one (its card, artifact previews and
model cards) or delete them (after a confirm). A second view lists registered models.

What a saved notebook keeps: displaying the browser writes two outputs, the live widget and a
``text/html`` snapshot of what it shows (kept current while the kernel runs). A small style rule in
the snapshot hides the snapshot beside a live widget and hides a widget whose model is gone, so a
notebook reopened without its kernel, or exported with nbconvert, shows the table as it was.
"""

from __future__ import annotations

import os
import types
import uuid
from pathlib import Path
from typing import Any, Sequence

from mlnb.cards import MUTED, artifact_previews_html, esc, model_card_html, run_card_html
from mlnb.errors import MlnbError
from mlnb.notebook import tables

PAGE_SIZE = 20
DEFAULT_ORDER = "attributes.start_time DESC"
HOW_TO_CREATE_RUNS = (
    "Create runs with <code>%load_ext mlnb</code> then a <code>%%autolog</code> cell, with "
    "<code>mlnb.autolog()</code> before fitting a model, or with "
    "<code>with mlnb.start_run(): mlnb.log_metric(\"loss\", 0.1)</code>. Then press Refresh."
)
SELECT_FIRST = "Tick runs in the table (on any page), then press {}."
VIEWS = ("Runs", "Registered models")
# Live, the widget's output shows the browser and its snapshot (the next output) is hidden; reopened
# without a kernel, the widget's output holds only "model not found" and is hidden instead.
SNAPSHOT_STYLE = (
    "<style>"
    ".jp-OutputArea-child:has(.mlnb-run-browser) + .jp-OutputArea-child:has(.mlnb-snapshot){display:none}"
    ".jp-OutputArea-child:not(:has(.mlnb-run-browser)):has(+ .jp-OutputArea-child .mlnb-snapshot){display:none}"
    "</style>"
)


def _widgets():
    from mlnb.errors import require

    return require("ipywidgets", "notebook", "The run browser")


def _store_missing(tracking_uri: str) -> str | None:
    """The path of an embedded store that does not exist yet (browsing must not create it)."""
    from mlnb.tracking.store import resolve_uri

    resolved = resolve_uri(tracking_uri)
    if resolved.startswith("sqlite:///"):
        path = resolved[len("sqlite:///"):]
        if not os.path.exists(path):
            return path
    return None


def _notice(text_html: str) -> str:
    return f'<div class="mlnb-notice" style="padding:8px;{MUTED}">{text_html}</div>'


def _error(text: str) -> str:
    return f'<div class="mlnb-error" style="padding:4px;color:#c62828">{esc(text)}</div>'


def _order_parts(order_by: str) -> tuple[str, bool]:
    """``"metrics.`loss` ASC"`` -> ``("metrics.`loss`", False)`` (the key and whether descending)."""
    key, _, direction = order_by.strip().rpartition(" ")
    if direction.upper() in ("ASC", "DESC") and key:
        return key.strip(), direction.upper() == "DESC"
    return order_by.strip(), False


class RunBrowser:
    """An interactive table of runs; display it in a notebook (``mlnb.runs()`` returns one)."""

    def __init__(self, experiment: str | None = None, filter_string: str = "", order_by: str | None = None,
                 page_size: int = PAGE_SIZE, tracking_uri: str | None = None) -> None:
        from mlnb.tracking.store import get_tracking_uri

        self.tracking_uri = os.fspath(tracking_uri) if tracking_uri else get_tracking_uri()
        self.page_size = max(1, int(page_size))
        self.page = 0
        self.total: int | None = 0
        self.filter_string = ""
        self.order_by = order_by or DEFAULT_ORDER
        self.experiment_id: str | None = None
        self.page_runs: list[tuple[str, str]] = []   # (run_id, label) of the visible page
        self.selected: list[str] = []                  # ticked run ids, kept across pages
        self.columns: list[str] | None = None         # None: the page's fullest metrics and params
        self.compared: list[Any] = []
        self._table = None
        self._display_ids: list[str] = []
        self._wanted_experiment = experiment
        self._quiet = False
        self._build()
        self.refresh()
        if filter_string:
            self.set_filter(filter_string)

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        from mlnb.notebook.html_view import HtmlView

        w = _widgets()
        self.view_box = w.ToggleButtons(options=VIEWS, value=VIEWS[0], style={"button_width": "160px"})
        self.experiment_box = w.Dropdown(description="Experiment", options=[], layout=w.Layout(width="300px"))
        self.filter_box = w.Text(value=self.filter_string, placeholder="metrics.accuracy > 0.9 and params.C = '1.0'",
                                 description="Filter", continuous_update=False, layout=w.Layout(width="420px"))
        self.refresh_button = w.Button(description="Refresh", icon="refresh", layout=w.Layout(width="100px"))
        self.columns_button = w.ToggleButton(description="Columns", icon="columns", layout=w.Layout(width="100px"),
                                             tooltip="Choose the metrics, params and tags shown")
        self.column_picker = w.SelectMultiple(options=[], rows=8, description="Show",
                                              layout=w.Layout(width="420px", display="none"))
        self.table = HtmlView(layout=w.Layout(width="100%", max_width="100%", overflow="auto"))
        self.message = w.HTML()
        self.prev_button = w.Button(description="◀ Prev", layout=w.Layout(width="80px"))
        self.next_button = w.Button(description="Next ▶", layout=w.Layout(width="80px"))
        self.page_label = w.HTML()
        self.selection_label = w.HTML()
        self.compare_button = w.Button(description="Compare", button_style="info")
        self.details_button = w.Button(description="Details")
        self.clear_button = w.Button(description="Clear selection")
        self.delete_button = w.Button(description="Delete…", button_style="danger")
        self.confirm_label = w.HTML()
        self.confirm_yes = w.Button(description="Yes, delete", button_style="danger")
        self.confirm_no = w.Button(description="Cancel")
        self.confirm_box = w.HBox([self.confirm_label, self.confirm_yes, self.confirm_no],
                                  layout=w.Layout(display="none"))
        self.metric_box = w.Dropdown(description="Metric", options=[], layout=w.Layout(width="300px"))
        self.param_box = w.Dropdown(description="vs param", options=[], layout=w.Layout(width="300px"))
        self.chart_controls = w.HBox([self.metric_box, self.param_box], layout=w.Layout(display="none"))
        self.detail = w.HTML()
        self.chart = w.HTML()
        self.sweep_chart = w.HTML()
        self.models = w.HTML()

        self.view_box.observe(lambda change: self.show_view(change["new"]), names="value")
        self.experiment_box.observe(self._on_experiment, names="value")
        self.filter_box.observe(lambda change: self._quiet or self.set_filter(change["new"]), names="value")
        self.columns_button.observe(self._on_columns_button, names="value")
        self.column_picker.observe(lambda change: self._quiet or self.set_columns(change["new"]), names="value")
        self.table.observe(lambda change: self._quiet or self._on_ticked(change["new"]), names="selected")
        self.table.on_sort(self.sort_by_column)
        self.metric_box.observe(lambda change: self._quiet or self._draw_charts(), names="value")
        self.param_box.observe(lambda change: self._quiet or self._draw_charts(), names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.prev_button.on_click(lambda _: self.go_to_page(self.page - 1))
        self.next_button.on_click(lambda _: self.go_to_page(self.page + 1))
        self.compare_button.on_click(lambda _: self.compare())
        self.details_button.on_click(lambda _: self.show_details())
        self.clear_button.on_click(lambda _: self.select([]))
        self.delete_button.on_click(lambda _: self.ask_delete())
        self.confirm_yes.on_click(lambda _: self.delete_selected())
        self.confirm_no.on_click(lambda _: self._hide_confirm())

        self.controls = w.VBox([
            w.HBox([self.experiment_box, self.filter_box, self.columns_button],
                   layout=w.Layout(flex_flow="row wrap")),
            self.column_picker,
        ])
        self.runs_panel = w.VBox([
            self.table,
            w.HBox([self.prev_button, self.page_label, self.next_button, self.selection_label],
                   layout=w.Layout(flex_flow="row wrap", align_items="center")),
            w.HBox([self.compare_button, self.details_button, self.clear_button, self.delete_button],
                   layout=w.Layout(flex_flow="row wrap")),
            self.confirm_box,
            self.detail,
            self.chart_controls,
            self.chart,
            self.sweep_chart,
        ], layout=w.Layout(width="100%", min_width="0"))
        self.models.layout.display = "none"
        self.widget = w.VBox([w.HBox([self.view_box, self.refresh_button]), self.controls, self.message,
                              self.runs_panel, self.models],
                             layout=w.Layout(width="100%", min_width="0", overflow="hidden"))
        self.widget.add_class("mlnb-run-browser")

    # -- display ---------------------------------------------------------------------------
    def _ipython_display_(self) -> None:
        """Show the live widget, then the snapshot a saved notebook keeps (see the module docstring)."""
        from IPython.display import display

        bundle = self.widget._repr_mimebundle_()
        bundle = bundle[0] if isinstance(bundle, tuple) else bundle
        bundle["text/plain"] = self._text()
        display(bundle, raw=True)
        display_id = uuid.uuid4().hex
        self._display_ids.append(display_id)
        display(self._snapshot_bundle(), raw=True, display_id=display_id)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        return self._snapshot_bundle()

    def _snapshot_bundle(self) -> dict[str, str]:
        return {"text/plain": self._snapshot_text(), "text/html": self.snapshot_html()}

    def snapshot_html(self) -> str:
        """What the browser shows now, as HTML that needs no kernel and no script."""
        if self.view_box.value == VIEWS[1]:
            body = self.models.value
        else:
            table = self.table.html.replace('type="checkbox"', 'type="checkbox" disabled')
            parts = [self.message.value, table, f'<div style="padding:2px 0">{self.page_label.value} '
                     f'{self.selection_label.value}</div>' if self.page_runs else "",
                     self.detail.value, self.chart.value, self.sweep_chart.value]
            body = "".join(parts)
        title = "mlnb run browser" + (f" · {esc(self.experiment_box.label)}" if self.experiment_box.label else "")
        return (f'{SNAPSHOT_STYLE}<div class="mlnb-snapshot"><div style="{MUTED};font-size:11px">{title} '
                f'(saved view; run the cell to browse)</div>{body}</div>')

    def _snapshot_text(self) -> str:
        if self._table is None or not self.page_runs:
            return self._text()
        return self._text() + "\n" + tables.run_rows_text(self._table, self._columns(), self.page * self.page_size)

    def _changed(self) -> None:
        """Keep the snapshot outputs of this browser in step with what it shows."""
        if self._display_ids:
            from IPython.display import update_display

            bundle = self._snapshot_bundle()
            for display_id in self._display_ids:
                update_display(bundle, raw=True, display_id=display_id)

    def __repr__(self) -> str:
        return self._text()

    def _text(self) -> str:
        total = "?" if self.total is None else tables.plural(self.total, "run")
        return f"mlnb run browser: {total}, page {self.page + 1} ({self.tracking_uri})"

    # -- the store -------------------------------------------------------------------------
    @property
    def client(self):
        """A client of the store this browser shows."""
        from mlnb.tracking.client import MlnbClient

        return MlnbClient(self.tracking_uri)

    def refresh(self) -> None:
        """Re-read experiments and the visible page (runs still logging show their latest values)."""
        missing = _store_missing(self.tracking_uri)
        if missing:
            self._show_empty(f"No tracking store yet at <code>{esc(missing)}</code>. {HOW_TO_CREATE_RUNS}")
            return
        try:
            experiments = self.client.search_experiments()
        except MlnbError as exc:
            self._show_empty(esc(str(exc)))
            return
        options = [(e.name, e.experiment_id) for e in experiments]
        if not options:
            self._show_empty(f"The store has no experiments yet. {HOW_TO_CREATE_RUNS}")
            return
        self.controls.layout.display = self.runs_panel.layout.display = None
        ids = [i for _, i in options]
        chosen = self.experiment_id if self.experiment_id in ids else self._first_experiment(experiments)
        self.experiment_id = chosen
        self._set_options(self.experiment_box, options, chosen)
        self._load_page()
        if self.view_box.value == VIEWS[1]:
            self.show_registered_models()

    def _first_experiment(self, experiments: Sequence[Any]) -> str:
        if self._wanted_experiment:
            for e in experiments:
                if self._wanted_experiment in (e.name, e.experiment_id):
                    return e.experiment_id
            self.message.value = _error(f"No experiment named '{self._wanted_experiment}'; showing another.")
        store = self.client.store
        counted = hasattr(store, "count_runs")
        latest = sorted(experiments, key=lambda e: -(e.last_update_time or e.creation_time or 0))
        for e in latest:
            if counted and store.count_runs([e.experiment_id]) > 0:
                return e.experiment_id
        return latest[0].experiment_id

    def _fetch(self):
        """Read the visible page (and the match count) from the store."""
        from mlnb.tracking.store import RunTable

        store = self.client.store
        eids = [self.experiment_id]
        offset = self.page * self.page_size
        if hasattr(store, "count_runs"):  # the embedded store pages in SQL
            total = store.count_runs(eids, self.filter_string)
            table = store.search_runs(eids, self.filter_string, [self.order_by], self.page_size, offset=offset)
            return table, total
        table = store.search_runs(eids, self.filter_string, [self.order_by], offset + self.page_size + 1)
        runs = table.to_runs()
        more = len(runs) > offset + self.page_size
        return RunTable.from_runs(runs[offset:offset + self.page_size]), (None if more else len(runs))

    def _preferred_keys(self) -> dict[str, list[str]]:
        """Metric and param keys named in the filter and the sort (shown first, once each)."""
        from mlnb.tracking import search as q

        keys: dict[str, list[str]] = {"params": [], "metrics": []}
        for clause in q.parse_filter(self.filter_string):
            keys.get(f"{clause.entity}s", []).append(clause.key)
        for order in q.parse_order_by([self.order_by]):
            keys.get(f"{order.entity}s", []).append(order.key)
        return keys

    def _columns(self) -> list[str]:
        if self.columns is not None:
            return list(self.columns)
        return tables.default_columns(self._table, self._preferred_keys()) if self._table is not None else []

    def _load_page(self) -> None:
        try:
            table, total = self._fetch()
        except MlnbError as exc:
            self.message.value = _error(f"{exc}")
            self._changed()
            return
        self.total = total
        if total is not None and total and self.page * self.page_size >= total:
            self.page = max(0, (total - 1) // self.page_size)
            table, total = self._fetch()
        self._table = table
        info = table.info
        self.page_runs = [(info["run_id"][i], tables.run_label(info["run_name"][i], info["run_id"][i]))
                          for i in range(len(table))]
        self._render_table()
        self._update_column_picker(table)
        pages = "?" if total is None else max(1, -(-total // self.page_size))
        count = f"more than {(self.page + 1) * self.page_size} runs" if total is None else tables.plural(total, "run")
        key, desc = _order_parts(self.order_by)
        self.page_label.value = (f'<span class="mlnb-page" style="padding:0 8px">page {self.page + 1} of {pages} · '
                                 f'{count} · sorted by {esc(tables.column_label(key))} {"▼" if desc else "▲"}</span>')
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = total is not None and (self.page + 1) * self.page_size >= total
        self._changed()

    def _render_table(self) -> None:
        table = self._table
        empty = table is not None and not len(table) and not self.filter_string
        # an experiment without runs shows its message and the experiment picker, nothing else
        self.runs_panel.layout.display = "none" if empty else None
        self.filter_box.layout.display = self.columns_button.layout.display = "none" if empty else None
        if empty:
            self.message.value = _notice(f"No runs in this experiment yet. {HOW_TO_CREATE_RUNS}")
        elif self.message.value.startswith('<div class="mlnb-notice"'):
            self.message.value = ""
        if table is None or not len(table):
            html = _notice("No runs match this filter.") if self.filter_string else ""
        else:
            html = tables.run_rows_html(table, self._columns(), self.page * self.page_size,
                                        _order_parts(self.order_by), self.selected)
        self._quiet = True
        try:
            self.table.html = html
            self.table.selected = list(self.selected)
        finally:
            self._quiet = False
        n = len(self.selected)
        self.selection_label.value = (f'<span class="mlnb-selected" style="padding:0 8px">{n} selected</span>'
                                      if n else f'<span style="padding:0 8px;{MUTED}">tick runs to compare</span>')

    def _store_keys(self) -> dict[str, list[str]]:
        """Every metric, param and tag key of the experiment, from the store when it can list them
        (the embedded store, in well under a millisecond); a tracking server offers the page's keys."""
        store = self.client.store
        if hasattr(store, "run_keys") and self.experiment_id is not None:
            try:
                return store.run_keys([self.experiment_id])
            except MlnbError:
                pass
        return {}

    def _update_column_picker(self, table: Any) -> None:
        shown = self._columns()
        options = list(dict.fromkeys(shown + tables.available_columns(table, self._store_keys())))
        self._set_options(self.column_picker, options, tuple(shown))

    def _set_quietly(self, box, value) -> None:
        """Change a control's value without its change handler reloading anything."""
        self._quiet = True
        try:
            box.value = value
        finally:
            self._quiet = False

    def _set_options(self, dropdown, options, value) -> None:
        """Change a dropdown's choices without its change handler reloading anything."""
        self._quiet = True
        try:
            dropdown.options = options
            dropdown.value = value
        finally:
            self._quiet = False

    def _show_empty(self, message_html: str) -> None:
        """Only the message: no table, pager or buttons around it."""
        self.total = 0
        self._table = None
        self.page_runs = []
        self.message.value = _notice(message_html)
        self.table.html = ""
        self.page_label.value = ""
        self.controls.layout.display = self.runs_panel.layout.display = "none"
        self._changed()

    # -- events ----------------------------------------------------------------------------
    def _on_experiment(self, change) -> None:
        if not self._quiet and change["new"] is not None and change["new"] != self.experiment_id:
            self.experiment_id = change["new"]
            self.page = 0
            self.columns = None
            self._load_page()

    def _on_columns_button(self, change) -> None:
        self.column_picker.layout.display = None if change["new"] else "none"

    def _on_ticked(self, ids: Sequence[str]) -> None:
        self.select(ids)

    def set_filter(self, filter_string: str) -> None:
        """Show only runs matching a ``search_runs`` filter string (a bad one is reported, not raised)."""
        from mlnb.tracking import search as q

        filter_string = filter_string.strip()
        try:
            q.parse_filter(filter_string)
        except MlnbError as exc:
            self.message.value = _error(f"Filter not applied: {exc}")
            self._changed()
            return
        self.message.value = ""
        self.filter_string = filter_string
        if self.filter_box.value != filter_string:
            self._set_quietly(self.filter_box, filter_string)   # not a second load through its observer
        self.page = 0
        self._load_page()

    def sort(self, order_by: str) -> None:
        """Order runs by ``attributes.start_time DESC``, ``metrics.`rmse` ASC``, ``params.`C` ASC``..."""
        from mlnb.tracking import search as q

        try:
            q.parse_order_by([order_by])
        except MlnbError as exc:
            self.message.value = _error(f"Sort not applied: {exc}")
            self._changed()
            return
        self.order_by = order_by
        self.page = 0
        self._load_page()

    def sort_by_column(self, key: str) -> None:
        """What clicking a header does: sort by it, or flip the direction if it already sorts.

        Metrics and times start highest first; names, params and tags start A to Z.
        """
        current, desc = _order_parts(self.order_by)
        if key == current:
            self.sort(f"{key} {'ASC' if desc else 'DESC'}")
        else:
            first_desc = key.startswith("metrics.") or key in ("attributes.start_time", "attributes.end_time")
            self.sort(f"{key} {'DESC' if first_desc else 'ASC'}")

    def set_columns(self, columns: Sequence[str] | None) -> None:
        """Show these ``metrics.<k>``/``params.<k>``/``tags.<k>`` columns (None: the default choice)."""
        if columns is not None:
            bad = [c for c in columns if tables.split_column(c)[0] not in tables.ENTITIES]
            if bad:
                self.message.value = _error(f"Unknown column {bad[0]!r}: name metrics.<key>, params.<key> or tags.<key>.")
                self._changed()
                return
        self.columns = list(columns) if columns is not None else None
        self._render_table()
        if self._table is not None:
            self._update_column_picker(self._table)
        self._changed()

    def go_to_page(self, page: int) -> None:
        """Show page ``page`` (counted from 0) of the current filter and sort; ticks are kept."""
        self.page = max(0, page)
        self._load_page()

    def select(self, run_ids: Sequence[str]) -> None:
        """Tick these runs (as ticking their boxes does); they stay ticked across pages and sorts."""
        self.selected = list(dict.fromkeys(run_ids))
        if self.detail.value.startswith('<div class="mlnb-notice"') and self.selected:
            self.detail.value = ""   # the "tick runs first" notice has done its job
        self._render_table()
        self._changed()

    def _selected_runs(self) -> list[Any]:
        client = self.client
        runs = []
        for run_id in self.selected:
            try:
                runs.append(client.get_run(run_id))
            except MlnbError:
                continue   # deleted meanwhile
        return runs

    def _ticked_runs(self, action: str, clear_charts: bool = False) -> list[Any]:
        """The ticked runs, for ``action`` (a button's label); with none ticked, the notice that asks
        for one is shown (and with ``clear_charts`` the comparison charts are emptied)."""
        runs = self._selected_runs()
        if not runs:
            self.detail.value = _notice(SELECT_FIRST.format(action))
            if clear_charts:
                self.chart.value = self.sweep_chart.value = ""
                self.chart_controls.layout.display = "none"
            self._changed()
        return runs

    # -- compare ---------------------------------------------------------------------------
    def compare(self) -> None:
        """Compare the ticked runs: params and metrics side by side (differing first) and charts."""
        runs = self._ticked_runs("Compare", clear_charts=True)
        if not runs:
            return
        self.compared = runs
        self.detail.value = tables.compare_html(runs)
        metrics = sorted({k for r in runs for k in r.data.metrics})
        shared = [k for k in metrics if all(k in r.data.metrics for r in runs)]
        preferred = [k for k in self._preferred_keys()["metrics"] if k in shared]
        default = (preferred or shared or metrics or [None])[0]
        params = tables.differing_keys(runs, "params") or sorted({k for r in runs for k in r.data.params})
        self._set_options(self.metric_box, metrics, default)
        self._set_options(self.param_box, params, params[0] if params else None)
        self.param_box.layout.display = None if params else "none"
        self.chart_controls.layout.display = "flex" if metrics else "none"
        self._draw_charts()

    def _draw_charts(self) -> None:
        from mlnb.notebook import charts

        key = self.metric_box.value
        if not self.compared or not key:
            self.chart.value = self.sweep_chart.value = ""
            self._changed()
            return
        client = self.client
        series = {}
        for run in self.compared:
            if key in run.data.metrics:
                history = client.get_metric_history(run.info.run_id, key)
                series[tables.run_label(run.info.run_name, run.info.run_id)] = [(m.step, m.value) for m in history]
        self.chart.value = charts.line_chart_svg(series, title=f"{key} over steps")
        sweep = ""
        differing = tables.differing_keys(self.compared, "params")
        if len(self.compared) > 1 and differing:
            rows = {tables.run_label(r.info.run_name, r.info.run_id): {**r.data.params, key: r.data.metrics.get(key)}
                    for r in self.compared}
            sweep += charts.parallel_coordinates_svg(rows, differing + [key], title=f"params and {key}")
            param = self.param_box.value
            if param:
                points = {label: (values.get(param), values.get(key)) for label, values in rows.items()}
                sweep += charts.scatter_svg(points, param, key, title=f"{key} against {param}")
        self.sweep_chart.value = sweep
        self._changed()

    # -- details ---------------------------------------------------------------------------
    def show_details(self) -> None:
        """Open the first ticked run: its card, artifact previews and the cards of its models."""
        runs = self._ticked_runs("Details")
        if not runs:
            return
        run = runs[0]
        client = self.client
        self.chart.value = self.sweep_chart.value = ""
        self.chart_controls.layout.display = "none"
        files = client.list_artifacts(run.info.run_id)
        models = []
        for f in files:
            if f.is_dir and any(c.path.endswith("/MLmodel") for c in client.list_artifacts(run.info.run_id, f.path)):
                models.append(f.path)
        parts = [run_card_html(run, [f"runs:/{run.info.run_id}/{m}" for m in models] or None),
                 f"<div><b>Artifacts</b></div>{tables.artifacts_html(files)}",
                 artifact_previews_html(run.info.run_id, client)]
        for m in models:
            parts.append(self._model_card(run.info.run_id, m))
        self.detail.value = "".join(parts)
        self._changed()

    def _model_card(self, run_id: str, path: str) -> str:
        """A model's card from its MLmodel alone: the model itself is not deserialized."""
        from mlnb.models.mlmodel import Model

        try:
            local = Path(self.client.download_artifacts(run_id, path))
            return model_card_html(types.SimpleNamespace(metadata=Model.load(local), model_dir=local))
        except MlnbError as exc:
            return _error(f"Model '{path}': {exc}")

    # -- registered models -------------------------------------------------------------------
    def show_view(self, view: str) -> None:
        """Switch between ``"Runs"`` and ``"Registered models"``."""
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}")
        if self.view_box.value != view:
            self.view_box.value = view   # comes back here through the observer
            return
        models = view == VIEWS[1]
        self.models.layout.display = None if models else "none"
        self.runs_panel.layout.display = "none" if models or self._table is None else None
        self.controls.layout.display = "none" if models or self._table is None else None
        if models:
            self.show_registered_models()
        else:
            if self._table is not None:
                self._render_table()
            self._changed()

    def show_registered_models(self) -> None:
        """Read registered models, their versions and aliases (embedded store or tracking server)."""
        client = self.client
        try:
            models = list(client.search_registered_models(max_results=100))
            versions = {m.name: list(client.search_model_versions(f"name = '{m.name}'")) for m in models}
        except MlnbError as exc:
            self.models.value = _error(f"Registered models could not be read: {exc}")
        else:
            self.models.value = tables.registered_models_html(models, versions)
        self._changed()

    # -- delete ----------------------------------------------------------------------------
    def ask_delete(self) -> None:
        """Ask to confirm deleting the ticked runs."""
        runs = self._ticked_runs("Delete…")
        if not runs:
            return
        names = ", ".join(tables.run_label(r.info.run_name, r.info.run_id) for r in runs)
        self.confirm_label.value = f"<b>Delete {tables.plural(len(runs), 'run')}?</b> {esc(names[:200])}&nbsp;"
        self.confirm_box.layout.display = "flex"

    def delete_selected(self) -> None:
        """Delete the ticked runs (after :meth:`ask_delete`); they leave the table."""
        client = self.client
        for run_id in self.selected:
            client.delete_run(run_id)
        self._hide_confirm()
        self.selected = []
        self.detail.value = self.chart.value = self.sweep_chart.value = ""
        self.chart_controls.layout.display = "none"
        self._load_page()

    def _hide_confirm(self) -> None:
        self.confirm_box.layout.display = "none"


def runs(experiment: str | None = None, filter_string: str = "", order_by: str | None = None,
         page_size: int = PAGE_SIZE, tracking_uri: str | None = None) -> RunBrowser:
    """Open the run browser over the tracking store (``%mlnb runs`` does the same)."""
    return RunBrowser(experiment=experiment, filter_string=filter_string, order_by=order_by,
                      page_size=page_size, tracking_uri=tracking_uri)


__all__ = ["RunBrowser", "runs"]

"""The run browser: ``mlnb.runs()`` (or ``%mlnb runs``), an ipywidgets panel over the run store.

Pick an experiment; the runs table sorts, filters (``search_runs`` filter strings) and pages, with
the paging done by the store's query so only the visible page is read and rendered (one HTML
table in one widget; the panel has a fixed, small number of widgets whatever the store holds).
Select runs to compare them (differing params highlighted, a metric's curves over steps on one
chart), to open one (its card, artifacts and model cards) or to delete them (after a confirm).
"""

from __future__ import annotations

import os
import types
from pathlib import Path
from typing import Any, Sequence

from mlnb.cards import MUTED, esc, model_card_html, run_card_html
from mlnb.errors import MlnbError
from mlnb.notebook import tables

PAGE_SIZE = 20
DEFAULT_ORDER = "attributes.start_time DESC"
HOW_TO_CREATE_RUNS = (
    "Create runs with <code>%load_ext mlnb</code> then a <code>%%autolog</code> cell, with "
    "<code>mlnb.autolog()</code> before fitting a model, or with "
    "<code>with mlnb.start_run(): mlnb.log_metric(\"loss\", 0.1)</code>. Then press Refresh."
)
ORDER_ATTRIBUTES = ("start_time", "end_time", "run_name", "status")


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
        self.compared: list[Any] = []
        self._wanted_experiment = experiment
        self._quiet = False
        self._build()
        self.refresh()
        if filter_string:
            self.set_filter(filter_string)

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        w = _widgets()
        self.experiment_box = w.Dropdown(description="Experiment", options=[], layout=w.Layout(width="300px"))
        self.filter_box = w.Text(value=self.filter_string, placeholder="metrics.accuracy > 0.9 and params.C = '1.0'",
                                 description="Filter", continuous_update=False, layout=w.Layout(width="420px"))
        self.order_box = w.Dropdown(description="Sort", options=[self.order_by], value=self.order_by,
                                    layout=w.Layout(width="300px"))
        self.refresh_button = w.Button(description="Refresh", icon="refresh", layout=w.Layout(width="100px"))
        self.table = w.HTML()
        self.message = w.HTML()
        self.prev_button = w.Button(description="◀ Prev", layout=w.Layout(width="80px"))
        self.next_button = w.Button(description="Next ▶", layout=w.Layout(width="80px"))
        self.page_label = w.HTML()
        self.selection = w.SelectMultiple(options=[], rows=6, description="Select", layout=w.Layout(width="420px"))
        self.compare_button = w.Button(description="Compare", button_style="info")
        self.details_button = w.Button(description="Details")
        self.delete_button = w.Button(description="Delete…", button_style="danger")
        self.confirm_label = w.HTML()
        self.confirm_yes = w.Button(description="Yes, delete", button_style="danger")
        self.confirm_no = w.Button(description="Cancel")
        self.confirm_box = w.HBox([self.confirm_label, self.confirm_yes, self.confirm_no],
                                  layout=w.Layout(display="none"))
        self.metric_box = w.Dropdown(description="Metric", options=[], layout=w.Layout(display="none", width="300px"))
        self.detail = w.HTML()
        self.chart = w.HTML()

        self.experiment_box.observe(self._on_experiment, names="value")
        self.filter_box.observe(self._on_filter, names="value")
        self.order_box.observe(self._on_order, names="value")
        self.metric_box.observe(lambda change: self._quiet or self._draw_chart(), names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.prev_button.on_click(lambda _: self.go_to_page(self.page - 1))
        self.next_button.on_click(lambda _: self.go_to_page(self.page + 1))
        self.compare_button.on_click(lambda _: self.compare())
        self.details_button.on_click(lambda _: self.show_details())
        self.delete_button.on_click(lambda _: self.ask_delete())
        self.confirm_yes.on_click(lambda _: self.delete_selected())
        self.confirm_no.on_click(lambda _: self._hide_confirm())

        self.widget = w.VBox([
            w.HBox([self.experiment_box, self.order_box, self.refresh_button]),
            self.filter_box,
            self.message,
            self.table,
            w.HBox([self.prev_button, self.page_label, self.next_button]),
            w.HBox([self.selection, w.VBox([self.compare_button, self.details_button, self.delete_button])]),
            self.confirm_box,
            self.metric_box,
            self.chart,
            self.detail,
        ], layout=w.Layout(width="100%"))
        self.widget.add_class("mlnb-run-browser")

    # -- display ---------------------------------------------------------------------------
    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude) or {}
        bundle["text/plain"] = self._text()
        bundle["text/html"] = self.message.value + self.table.value  # what a saved notebook shows
        return bundle

    def __repr__(self) -> str:
        return self._text()

    def _text(self) -> str:
        total = "?" if self.total is None else self.total
        return f"mlnb run browser: {total} runs, page {self.page + 1} ({self.tracking_uri})"

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
        ids = [i for _, i in options]
        chosen = self.experiment_id if self.experiment_id in ids else self._first_experiment(experiments)
        self.experiment_id = chosen
        self._set_options(self.experiment_box, options, chosen)
        self._load_page()

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

    def _load_page(self) -> None:
        try:
            table, total = self._fetch()
        except MlnbError as exc:
            self.message.value = _error(f"{exc}")
            return
        self.total = total
        if total is not None and total and self.page * self.page_size >= total:
            self.page = max(0, (total - 1) // self.page_size)
            table, total = self._fetch()
        if not len(table):
            what = "match this filter" if self.filter_string else "in this experiment yet"
            self.table.value = _notice(f"No runs {what}. " + ("" if self.filter_string else HOW_TO_CREATE_RUNS))
        else:
            from mlnb.tracking import search as q

            keys = {"params": [], "metrics": []}
            for clause in q.parse_filter(self.filter_string):
                keys.get(f"{clause.entity}s", []).append(clause.key)
            for order in q.parse_order_by([self.order_by]):
                keys.get(f"{order.entity}s", []).append(order.key)
            self.table.value = tables.run_rows_html(table, self.page * self.page_size, keys["params"], keys["metrics"])
        self._update_sort_options(table)
        info = table.info
        self.page_runs = [(info["run_id"][i], f"{self.page * self.page_size + i + 1}. "
                           f"{info['run_name'][i] or info['run_id'][i][:8]} ({info['status'][i]})")
                          for i in range(len(table))]
        kept = [v for v in self.selection.value if v in {r for r, _ in self.page_runs}]
        self.selection.options = [(label, run_id) for run_id, label in self.page_runs]
        self.selection.value = tuple(kept)
        pages = "?" if total is None else max(1, -(-total // self.page_size))
        count = "more than " + str((self.page + 1) * self.page_size) if total is None else f"{total:,}"
        self.page_label.value = f'<span style="padding:0 8px">page {self.page + 1} of {pages} · {count} runs</span>'
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = total is not None and (self.page + 1) * self.page_size >= total

    def _update_sort_options(self, table: Any) -> None:
        options = [f"attributes.{a} {d}" for a in ORDER_ATTRIBUTES for d in ("DESC", "ASC")]
        for k in sorted(table.metrics):
            options += [f"metrics.`{k}` DESC", f"metrics.`{k}` ASC"]
        for k in sorted(table.params):
            options += [f"params.`{k}` ASC", f"params.`{k}` DESC"]
        if self.order_by not in options:
            options.insert(0, self.order_by)
        self._set_options(self.order_box, options, self.order_by)

    def _set_options(self, dropdown, options, value) -> None:
        """Change a dropdown's choices without its change handler reloading anything."""
        self._quiet = True
        try:
            dropdown.options = options
            dropdown.value = value
        finally:
            self._quiet = False

    def _show_empty(self, message_html: str) -> None:
        self.total = 0
        self.table.value = _notice(message_html)
        self.page_label.value = ""
        self.page_runs = []
        self.selection.options = []
        self.prev_button.disabled = self.next_button.disabled = True

    # -- events ----------------------------------------------------------------------------
    def _on_experiment(self, change) -> None:
        if not self._quiet and change["new"] is not None and change["new"] != self.experiment_id:
            self.experiment_id = change["new"]
            self.page = 0
            self._load_page()

    def _on_filter(self, change) -> None:
        self.set_filter(change["new"])

    def _on_order(self, change) -> None:
        if not self._quiet and change["new"] and change["new"] != self.order_by:
            self.sort(change["new"])

    def set_filter(self, filter_string: str) -> None:
        """Show only runs matching a ``search_runs`` filter string (a bad one is reported, not raised)."""
        from mlnb.tracking import search as q

        filter_string = filter_string.strip()
        try:
            q.parse_filter(filter_string)
        except MlnbError as exc:
            self.message.value = _error(f"Filter not applied: {exc}")
            return
        self.message.value = ""
        self.filter_string = filter_string
        if self.filter_box.value != filter_string:
            self.filter_box.value = filter_string
        self.page = 0
        self._load_page()

    def sort(self, order_by: str) -> None:
        """Order runs by ``attributes.start_time DESC``, ``metrics.`rmse` ASC``, ``params.`C` ASC``..."""
        from mlnb.tracking import search as q

        try:
            q.parse_order_by([order_by])
        except MlnbError as exc:
            self.message.value = _error(f"Sort not applied: {exc}")
            return
        self.order_by = order_by
        self.page = 0
        self._load_page()

    def go_to_page(self, page: int) -> None:
        """Show page ``page`` (counted from 0) of the current filter and sort."""
        self.page = max(0, page)
        self._load_page()

    def select(self, run_ids: Sequence[str]) -> None:
        """Select runs of the visible page (as ticking them in the list does)."""
        on_page = {r for r, _ in self.page_runs}
        self.selection.value = tuple(r for r in run_ids if r in on_page)

    def _selected_runs(self) -> list[Any]:
        client = self.client
        return [client.get_run(run_id) for run_id in self.selection.value]

    # -- compare ---------------------------------------------------------------------------
    def compare(self) -> None:
        """Compare the selected runs: params and metrics side by side, and a metric's curves."""
        runs = self._selected_runs()
        if not runs:
            self.detail.value = _notice("Select one or more runs in the list, then press Compare.")
            return
        self.compared = runs
        self.detail.value = tables.compare_html(runs)
        keys = sorted({k for r in runs for k in r.data.metrics})
        self._set_options(self.metric_box, keys, keys[0] if keys else None)
        self.metric_box.layout.display = "flex" if keys else "none"
        self._draw_chart()

    def _draw_chart(self) -> None:
        from mlnb.notebook.charts import line_chart_svg

        key = self.metric_box.value
        if not self.compared or not key:
            self.chart.value = ""
            return
        client = self.client
        series = {}
        for run in self.compared:
            if key in run.data.metrics:
                history = client.get_metric_history(run.info.run_id, key)
                name = run.info.run_name or run.info.run_id[:8]
                series[name] = [(m.step, m.value) for m in history]
        self.chart.value = line_chart_svg(series, title=key)

    # -- details ---------------------------------------------------------------------------
    def show_details(self) -> None:
        """Open the first selected run: its card, its artifacts and the cards of its models."""
        runs = self._selected_runs()
        if not runs:
            self.detail.value = _notice("Select a run in the list, then press Details.")
            return
        run = runs[0]
        client = self.client
        self.chart.value = ""
        self.metric_box.layout.display = "none"
        files = client.list_artifacts(run.info.run_id)
        models = []
        for f in files:
            if f.is_dir and any(c.path.endswith("/MLmodel") for c in client.list_artifacts(run.info.run_id, f.path)):
                models.append(f.path)
        parts = [run_card_html(run, [f"runs:/{run.info.run_id}/{m}" for m in models] or None),
                 f"<div><b>Artifacts</b></div>{tables.artifacts_html(files)}"]
        for m in models:
            parts.append(self._model_card(run.info.run_id, m))
        self.detail.value = "".join(parts)

    def _model_card(self, run_id: str, path: str) -> str:
        """A model's card from its MLmodel alone: the model itself is not deserialized."""
        from mlnb.models.mlmodel import Model

        try:
            local = Path(self.client.download_artifacts(run_id, path))
            return model_card_html(types.SimpleNamespace(metadata=Model.load(local), model_dir=local))
        except MlnbError as exc:
            return _error(f"Model '{path}': {exc}")

    # -- delete ----------------------------------------------------------------------------
    def ask_delete(self) -> None:
        """Ask to confirm deleting the selected runs."""
        names = [label for run_id, label in self.page_runs if run_id in self.selection.value]
        if not names:
            self.detail.value = _notice("Select runs in the list, then press Delete….")
            return
        self.confirm_label.value = f"<b>Delete {len(names)} run(s)?</b> {esc(', '.join(names)[:200])}&nbsp;"
        self.confirm_box.layout.display = "flex"

    def delete_selected(self) -> None:
        """Delete the selected runs (after :meth:`ask_delete`); they leave the table."""
        client = self.client
        for run_id in self.selection.value:
            client.delete_run(run_id)
        self._hide_confirm()
        self.detail.value = ""
        self.chart.value = ""
        self._load_page()

    def _hide_confirm(self) -> None:
        self.confirm_box.layout.display = "none"


def runs(experiment: str | None = None, filter_string: str = "", order_by: str | None = None,
         page_size: int = PAGE_SIZE, tracking_uri: str | None = None) -> RunBrowser:
    """Open the run browser over the tracking store (``%mlnb runs`` does the same)."""
    return RunBrowser(experiment=experiment, filter_string=filter_string, order_by=order_by,
                      page_size=page_size, tracking_uri=tracking_uri)


__all__ = ["RunBrowser", "runs"]

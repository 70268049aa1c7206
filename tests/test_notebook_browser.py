"""The run browser over a real SQLite store: paging, sorting by header, ticking across pages,
columns, comparing, details with previews, registered models, delete, and the saved snapshot.

The buttons, header clicks and ticks of the front end call the methods tested here (ticks arrive
as the table widget's ``selected`` trait, header clicks as :meth:`RunBrowser.sort_by_column`);
tests/test_notebook_browser_ui.py clicks them in JupyterLab and Notebook 7.
"""

from __future__ import annotations

import math
import re

import pytest

import mlnb
from mlnb.cards import RunCard, run_card_html, run_card_text
from mlnb.notebook import tables
from mlnb.notebook.browser import RunBrowser
from mlnb.notebook.charts import line_chart_svg, parallel_coordinates_svg, scatter_svg


def make_runs(n: int, experiment: str = "sweep") -> list[str]:
    mlnb.set_experiment(experiment)
    ids = []
    for i in range(n):
        with mlnb.start_run(run_name=f"run-{i:02d}") as run:
            mlnb.log_params({"alpha": str(i % 3), "solver": "lbfgs"})
            for step in range(4):
                mlnb.log_metric("loss", 1.0 / (i + step + 1), step=step)
            mlnb.log_metric("accuracy", i / n)
            ids.append(run.info.run_id)
    return ids


def newest_first(ids: list[str]) -> list[str]:
    """The store's default order: newest start first, ties (same millisecond) by run id, as in MLflow."""
    return sorted(ids, key=lambda r: (-mlnb.get_run(r).info.start_time, r))


def rows(browser: RunBrowser) -> list[str]:
    return re.findall(r'<tr class="mlnb-run-row" data-run-id="([0-9a-f]+)"', browser.table.html)


def headers(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", html)]


def test_missing_store_shows_only_its_message_and_does_not_create_it(tmp_path):
    browser = mlnb.runs()
    assert "No tracking store yet" in browser.message.value
    assert "%%autolog" in browser.message.value and "start_run" in browser.message.value
    assert browser.controls.layout.display == "none" and browser.runs_panel.layout.display == "none"
    assert not (tmp_path / "mlflow.db").exists()
    assert browser.total == 0 and rows(browser) == []


def test_experiment_without_runs_says_how_to_create_runs():
    mlnb.set_experiment("empty")
    browser = mlnb.runs(experiment="empty")
    assert "No runs in this experiment yet" in browser.message.value and "%%autolog" in browser.message.value
    assert browser.runs_panel.layout.display == "none" and browser.filter_box.layout.display == "none"
    assert browser.experiment_box.layout.display != "none"   # to go to an experiment that has runs


def test_no_match_keeps_the_controls_to_change_the_filter():
    make_runs(3)
    browser = mlnb.runs(filter_string="metrics.accuracy > 5")
    assert "No runs match this filter" in browser.table.html
    assert browser.filter_box.layout.display is None and browser.runs_panel.layout.display is None


def test_table_pages_in_the_store_query_and_counts_runs_in_words():
    ids = make_runs(45)
    browser = mlnb.runs(page_size=20)
    assert browser.total == 45
    order = newest_first(ids)
    assert rows(browser) == order[:20]
    assert "page 1 of 3 · 45 runs" in browser.page_label.value
    assert browser.prev_button.disabled and not browser.next_button.disabled
    browser.go_to_page(2)
    assert rows(browser) == order[40:]
    assert browser.next_button.disabled
    for header in ("run", "status", "start", "duration", "alpha", "solver", "loss", "accuracy"):
        assert header in [h.rstrip(" ▲▼") for h in headers(browser.table.html)]
    browser.set_filter("metrics.accuracy < 0.01")
    assert browser.total == 1 and "1 run ·" in browser.page_label.value and "1 runs" not in browser.page_label.value


def test_runs_show_name_and_short_id_and_missing_values_are_blank():
    ids = make_runs(2)
    with mlnb.start_run(run_name="run-00") as twin:       # a re-run: the same name again
        mlnb.log_metric("loss", float("nan"))
    browser = mlnb.runs()
    html = browser.table.html
    assert "nan" not in html.lower().replace("nano", "")
    for run_id in ids + [twin.info.run_id]:
        assert f"{run_id[:8]}</span>" in html
    twin_row = re.search(rf'data-run-id="{twin.info.run_id}">(.*?)</tr>', html).group(1)
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", twin_row)]
    assert cells[2] == f"run-00 {twin.info.run_id[:8]}"
    assert cells[6:] == ["", "", "", ""]                     # accuracy, loss (NaN), alpha, solver: blank
    assert dict(browser.page_runs)[twin.info.run_id] == f"run-00 · {twin.info.run_id[:8]}"


def test_header_click_sorts_and_shows_the_direction():
    ids = make_runs(6)
    browser = mlnb.runs()
    browser.sort_by_column("metrics.`accuracy`")             # a metric starts highest first
    assert rows(browser) == ids[::-1]
    assert "accuracy ▼" in headers(browser.table.html) and "sorted by accuracy ▼" in browser.page_label.value
    browser.sort_by_column("metrics.`accuracy`")             # clicked again: flipped
    assert rows(browser) == ids and "accuracy ▲" in headers(browser.table.html)
    browser.sort_by_column("attributes.run_name")
    assert rows(browser) == ids and "run ▲" in headers(browser.table.html)
    assert 'data-sort="params.`alpha`"' in browser.table.html and 'data-sort="attributes.start_time"' in browser.table.html
    browser.sort("metrics.`nope` DESC, bad")
    assert "Sort not applied" in browser.message.value


def test_filter_and_sort_on_one_metric_show_it_once():
    make_runs(5)
    browser = mlnb.runs(filter_string="metrics.accuracy > 0.1", order_by="metrics.`accuracy` DESC")
    names = headers(browser.table.html)
    assert names.count("accuracy ▼") == 1 and "accuracy" not in names
    assert names.index("accuracy ▼") == 6                    # right after the fixed columns


def test_filter_uses_search_runs_strings_and_reports_bad_ones():
    ids = make_runs(12)
    browser = mlnb.runs()
    browser.sort("metrics.`accuracy` ASC")
    assert rows(browser) == ids
    browser.set_filter("params.alpha = '1' and metrics.accuracy > 0.2")
    expected = [r for i, r in enumerate(ids) if i % 3 == 1 and i / 12 > 0.2]
    assert rows(browser) == expected and browser.total == len(expected)
    browser.filter_box.value = "params.alpha = '2'"           # the filter box drives the same thing
    assert browser.total == 4
    browser.set_filter("metrics.accuracy >>> 3")
    assert "Filter not applied" in browser.message.value
    assert browser.total == 4


def test_ticks_are_kept_across_pages_and_sorts():
    ids = make_runs(8)
    browser = mlnb.runs(page_size=3)
    first_page = rows(browser)
    browser.table.selected = [first_page[0]]                 # what ticking a box does
    browser.go_to_page(2)
    browser.table.selected = [first_page[0], rows(browser)[0]]
    assert browser.selected == [first_page[0], rows(browser)[0]]
    assert "2 selected" in browser.selection_label.value
    browser.sort_by_column("metrics.`accuracy`")
    ticked = re.findall(r'data-run-id="([0-9a-f]+)" checked', browser.table.html)
    assert set(ticked) <= set(browser.selected) and browser.selected[0] in set(ids)
    browser.compare()
    assert len(browser.compared) == 2
    browser.clear_button.click()
    assert browser.selected == [] and "checked" not in browser.table.html


def test_the_tick_runs_notice_goes_once_runs_are_ticked():
    ids = make_runs(3)
    browser = mlnb.runs()
    browser.compare()
    assert "Tick runs" in browser.detail.value
    browser.table.selected = ids[:1]
    assert "Tick runs" not in browser.detail.value


def test_column_picker_shows_chosen_metrics_params_and_tags():
    ids = make_runs(3)
    mlnb.MlnbClient().set_tag(ids[0], "team", "vision")
    browser = mlnb.runs()
    assert "tags.team" in browser.column_picker.options and "metrics.loss" in browser.column_picker.options
    browser.column_picker.value = ("tags.team", "params.alpha")
    assert headers(browser.table.html)[6:] == ["team", "alpha"]
    assert ">vision<" in browser.table.html
    browser.set_columns(["bogus"])
    assert "Unknown column" in browser.message.value
    browser.set_columns(None)
    assert "loss" in headers(browser.table.html)


def test_column_picker_offers_every_key_of_the_experiment_not_only_the_page():
    ids = make_runs(5)
    client = mlnb.MlnbClient()
    oldest = ids[0]                                          # on the last page of a 2-run page
    client.log_metric(oldest, "val_auc", 0.9)
    client.log_param(oldest, "max_depth", "4")
    client.set_tag(oldest, "team", "vision")
    gone = ids[1]
    client.log_param(gone, "deleted_only", "x")
    client.delete_run(gone)
    mlnb.set_experiment("elsewhere")
    with mlnb.start_run():
        mlnb.log_metric("other_experiment", 1.0)
    browser = mlnb.runs(experiment="sweep", page_size=2)
    assert oldest not in rows(browser)
    offered = browser.column_picker.options
    assert {"metrics.val_auc", "params.max_depth", "tags.team", "metrics.loss", "params.alpha"} <= set(offered)
    assert "metrics.other_experiment" not in offered and "params.deleted_only" not in offered
    assert not any(o.startswith("tags.mlflow.") for o in offered)
    keys = browser.client.store.run_keys([browser.experiment_id])   # the store's distinct-keys query
    assert keys["metrics"] == ["accuracy", "loss", "val_auc"] and keys["params"] == ["alpha", "max_depth", "solver"]
    assert "team" in keys["tags"] and keys["tags"] == sorted(keys["tags"])
    browser.column_picker.value = ("params.max_depth",)      # a key from another page shows as a column
    assert headers(browser.table.html)[6:] == ["max_depth"]


def test_tag_columns_sort_in_the_store_like_metrics_and_params():
    ids = make_runs(6)
    client = mlnb.MlnbClient()
    teams = {ids[0]: "vision", ids[1]: "audio", ids[3]: "text", ids[4]: "audio"}
    for run_id, team in teams.items():
        client.set_tag(run_id, "team", team)
    browser = mlnb.runs(page_size=3)
    browser.set_columns(["tags.team", "metrics.accuracy"])
    assert 'data-sort="tags.`team`"' in browser.table.html
    browser.sort_by_column("tags.`team`")                    # a tag starts A to Z, across pages
    first = rows(browser)
    browser.go_to_page(1)
    ordered = first + rows(browser)
    tagged = sorted(teams, key=lambda r: (teams[r], newest_first(ids).index(r)))
    assert ordered[:4] == tagged and set(ordered[4:]) == set(ids) - set(teams)   # untagged last
    assert "team ▲" in headers(browser.table.html) and "sorted by team ▲" in browser.page_label.value
    browser.sort_by_column("tags.`team`")                    # flipped: Z to A, untagged still last
    assert [teams.get(r) for r in rows(browser)] == ["vision", "text", "audio"]


def test_compare_keys_runs_by_id_and_puts_differing_params_first():
    mlnb.set_experiment("twins")
    ids = []
    for i, lr in enumerate(["0.1", "0.01"]):
        with mlnb.start_run(run_name="a-long-descriptive-run-name-that-must-not-be-cut") as run:
            mlnb.log_params({"solver": "adam", "lr": lr, "batch": "32"})
            for step in range(3):
                mlnb.log_metric("loss", 1.0 / (i + step + 1), step=step)
            mlnb.log_metric("zz_only_in_one" if i == 0 else "accuracy", 0.5)
            ids.append(run.info.run_id)
    browser = mlnb.runs(experiment="twins")
    browser.select(ids)
    browser.compare()
    html = browser.detail.value
    params = html[:html.index("<b>Metrics</b>")]
    head = headers(params)
    assert head[1:] == [f"a-long-descriptive-run-name-that-must-not-be-cut {i[:8]}" for i in ids]
    body = re.findall(r'<tr class="(mlnb-diff|mlnb-same)"[^>]*><td[^>]*>([^<]+)</td>', params)
    assert body == [("mlnb-diff", "lr"), ("mlnb-same", "batch"), ("mlnb-same", "solver")]
    assert browser.metric_box.value == "loss"                # the metric both runs have
    chart = browser.chart.value
    assert chart.count('class="mlnb-series"') == 2           # one line per run, though the names match
    assert all(f"a-long-descriptive-run-name-that-must-not-be-cut · {i[:8]}" in chart for i in ids)


def test_sweep_charts_parallel_coordinates_and_metric_against_param():
    ids = make_runs(4)
    browser = mlnb.runs()
    browser.select(ids)
    browser.compare()
    sweep = browser.sweep_chart.value
    assert sweep.count("<svg") == 2
    assert browser.param_box.value == "alpha"
    parallel, scatter = sweep.split("</svg>")[:2]
    assert parallel.count('class="mlnb-series"') == 4 and parallel.count('class="mlnb-axis"') == 2
    assert scatter.count('class="mlnb-point"') == 4 and "accuracy against alpha" in scatter
    browser.metric_box.value = "loss"
    assert "loss against alpha" in browser.sweep_chart.value


def test_details_show_card_artifact_previews_and_model_card(classification_data, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.linear_model import LogisticRegression

    X, y = classification_data
    mlnb.set_experiment("models")
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    with mlnb.start_run(run_name="with-model") as run:
        mlnb.log_param("C", 1.0)
        mlnb.log_text("hello from the notes", "notes/readme.txt")
        mlnb.log_text("a,b\n1,2\n3,4\n", "data/head.csv")
        mlnb.log_figure(fig, "plots/curve.png")
        mlnb.sklearn.log_model(LogisticRegression().fit(X, y), name="model", input_example=X.iloc[:2])
    plt.close(fig)
    browser = mlnb.runs(experiment="models")
    browser.select([run.info.run_id])
    browser.show_details()
    html = browser.detail.value
    assert "with-model" in html and f"runs:/{run.info.run_id}/model" in html
    assert "notes/" in html and "model/" in html
    assert "<b>Model</b> · sklearn" in html and "scikit-learn" in html
    previews = html[html.index('class="mlnb-previews"'):]
    assert 'src="data:image/png;base64,' in previews
    assert "hello from the notes" in previews
    assert re.search(r"<th[^>]*>a</th><th[^>]*>b</th>.*<td[^>]*>3</td>", previews)
    assert "MLmodel" not in previews                          # the model's own files are not previewed


def test_registered_models_view_lists_versions_and_aliases(classification_data):
    from sklearn.linear_model import LogisticRegression

    X, y = classification_data
    mlnb.set_experiment("reg")
    versions = []
    for C in (0.5, 1.0):
        with mlnb.start_run() as run:
            mlnb.sklearn.log_model(LogisticRegression(C=C).fit(X, y), name="model")
        versions.append(mlnb.register_model(f"runs:/{run.info.run_id}/model", "churn"))
    mlnb.MlnbClient().set_registered_model_alias("churn", "champion", versions[1].version)
    browser = mlnb.runs()
    browser.view_box.value = "Registered models"
    html = browser.models.value
    assert "<b>churn</b>" in html and "2 versions" in html
    assert re.findall(r'<tr class="mlnb-version"><td[^>]*>(v\d)</td>', html) == ["v2", "v1"]
    assert html.index("@champion") < html.index(">v1<") and "models:/churn/1" in html
    assert browser.runs_panel.layout.display == "none" and "churn" in browser.snapshot_html()
    browser.show_view("Runs")
    assert browser.models.layout.display == "none" and browser.runs_panel.layout.display is None


def test_delete_asks_first_then_removes_runs():
    ids = make_runs(3)
    browser = mlnb.runs()
    browser.select(ids[:1])
    browser.ask_delete()
    assert browser.confirm_box.layout.display == "flex" and "Delete 1 run?" in browser.confirm_label.value
    assert browser.total == 3
    browser.confirm_no.click()
    assert browser.confirm_box.layout.display == "none" and browser.total == 3
    browser.ask_delete()
    browser.confirm_yes.click()
    assert browser.total == 2 and ids[0] not in rows(browser) and browser.selected == []
    assert mlnb.get_run(ids[0]).info.lifecycle_stage == "deleted"


def test_refresh_while_a_run_is_logging():
    mlnb.set_experiment("live")
    with mlnb.start_run(run_name="live-run"):
        mlnb.log_metric("loss", 0.9, step=0)
        browser = mlnb.runs(experiment="live")
        assert "RUNNING" in browser.table.html and "0.9" in browser.table.html
        mlnb.log_metric("loss", 0.25, step=1)
        browser.refresh_button.click()
        assert "0.25" in browser.table.html
    browser.refresh()
    assert "FINISHED" in browser.table.html


def test_a_run_logged_by_mlflow_shows_beside_mlnb_runs():
    import mlflow

    make_runs(1, "both")
    mlflow.set_experiment("both")
    with mlflow.start_run(run_name="from-mlflow") as run:
        mlflow.log_metric("accuracy", 0.75)
    browser = mlnb.runs(experiment="both")
    assert browser.total == 2 and run.info.run_id in rows(browser)
    assert "from-mlflow" in browser.table.html and ">0.75<" in browser.table.html


def test_display_writes_the_live_widget_then_a_snapshot_it_keeps_current():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    ids = make_runs(2)
    shell = InteractiveShell.instance()
    shell.user_ns["browser"] = browser = mlnb.runs()
    with capture_output() as shown:
        shell.run_cell("browser")
    widget, snapshot = shown.outputs
    assert "application/vnd.jupyter.widget-view+json" in widget.data
    assert set(snapshot.data) == {"text/plain", "text/html"}
    html = snapshot.data["text/html"]
    assert 'class="mlnb-snapshot"' in html and ids[0] in html and "<script" not in html
    assert ":has(.mlnb-run-browser)" in html                 # the live widget hides it; see docs/notebook.md
    assert "run-01" in snapshot.data["text/plain"] and "2 runs" in widget.data["text/plain"]
    with capture_output() as updated:
        browser.select(ids[:1])
        browser.compare()
    last = updated.outputs[-1]
    assert "mlnb-compare" in last.data["text/html"]          # the snapshot follows what the browser shows
    assert browser._repr_mimebundle_().keys() == {"text/plain", "text/html"}


def test_run_card_has_params_metrics_and_model_uri():
    ids = make_runs(1)
    run_ = mlnb.get_run(ids[0])
    html = run_card_html(run_, [f"runs:/{ids[0]}/model"])
    assert "run-00" in html and "alpha" in html and "loss" in html and f"runs:/{ids[0]}/model" in html
    assert "<script" not in html
    text = run_card_text(run_)
    assert text.startswith("Run run-00 [FINISHED]") and "alpha=0" in text
    bundle = RunCard(run_)._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert run_._repr_html_() == run_card_html(run_)


def test_cards_and_table_escape_html():
    mlnb.set_experiment("esc")
    with mlnb.start_run(run_name="<b>bold</b>") as run:
        mlnb.log_param("note", "<script>alert(1)</script>")
    html = run_card_html(mlnb.get_run(run.info.run_id))
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;bold" in html
    browser = mlnb.runs(experiment="esc")
    assert "<script>" not in browser.table.html and "<b>bold" not in browser.table.html


def test_charts_handle_single_points_missing_values_and_categories():
    svg = line_chart_svg({"a": [(0, 1.0)], "b": [(0, 2.0), (1, 3.0)]}, title="m")
    assert svg.count("<circle") == 3 and svg.count('class="mlnb-series"') == 1
    assert "No values" in line_chart_svg({"a": []}, title="m")
    long = "x" * 80
    assert long in line_chart_svg({long: [(0, 1.0)]})         # legends keep whole names
    svg = parallel_coordinates_svg({"r1": {"opt": "adam", "m": 1.0}, "r2": {"opt": "sgd", "m": math.nan}},
                                   ["opt", "m"])
    assert svg.count('class="mlnb-series"') == 2 and ">adam<" in svg and ">sgd<" in svg
    svg = scatter_svg({"r1": ("0.1", 1.0), "r2": (None, 2.0), "r3": ("0.3", 3.0)}, "lr", "loss")
    assert svg.count('class="mlnb-point"') == 2
    assert "No runs have both" in scatter_svg({"r1": (None, 1.0)}, "lr", "loss")


@pytest.mark.parametrize("bad", ["metrics.x >>> 1", "nonsense"])
def test_opening_with_a_bad_filter_reports_it(bad):
    make_runs(2)
    browser = mlnb.runs(filter_string=bad)
    assert "Filter not applied" in browser.message.value


def test_plural_and_labels():
    assert tables.plural(1, "run") == "1 run" and tables.plural(1200, "run") == "1,200 runs"
    assert tables.run_label(None, "0123456789ab") == "01234567"


def test_browser_reads_runs_and_registered_models_from_a_tracking_server(tmp_path, monkeypatch, classification_data):
    """A real ``mlflow server``: MLflow logs and registers, the browser lists the run and the model."""
    import mlflow
    from sklearn.linear_model import LogisticRegression

    from tests._tracking import mlflow_server

    X, y = classification_data
    with mlflow_server(tmp_path / "server") as url:
        monkeypatch.setenv("MLNB_TRACKING_URI", url)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        mlflow.set_tracking_uri(url)
        mlflow.set_experiment("served")
        with mlflow.start_run(run_name="on-the-server") as run:
            mlflow.log_metric("accuracy", 0.9)
            mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model", registered_model_name="remote")
        mlflow.MlflowClient(url).set_registered_model_alias("remote", "prod", 1)
        browser = mlnb.runs(experiment="served")
        assert rows(browser) == [run.info.run_id] and "1 run ·" in browser.page_label.value
        browser.show_view("Registered models")
        html = browser.models.value
        assert "<b>remote</b>" in html and "@prod" in html and run.info.run_id[:8] in html

"""The run browser over a real SQLite store: paging, sorting, filtering, comparing, details, delete."""

from __future__ import annotations

import re

import pytest

import mlnb
from mlnb.cards import RunCard, run_card_html, run_card_text
from mlnb.notebook.browser import RunBrowser
from mlnb.notebook.charts import line_chart_svg


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
    return re.findall(r'data-run-id="([0-9a-f]+)"', browser.table.value)


def test_missing_store_says_how_to_create_runs_and_does_not_create_it(tmp_path):
    browser = mlnb.runs()
    assert "No tracking store yet" in browser.table.value
    assert "%%autolog" in browser.table.value and "start_run" in browser.table.value
    assert not (tmp_path / "mlflow.db").exists()
    assert browser.total == 0 and rows(browser) == []


def test_experiment_without_runs_says_how_to_create_runs():
    mlnb.set_experiment("empty")
    browser = mlnb.runs(experiment="empty")
    assert "No runs in this experiment yet" in browser.table.value and "%%autolog" in browser.table.value


def test_table_pages_in_the_store_query():
    ids = make_runs(45)
    browser = mlnb.runs(page_size=20)
    assert browser.total == 45
    first = rows(browser)
    order = newest_first(ids)
    assert first == order[:20]
    assert "page 1 of 3" in browser.page_label.value and "45 runs" in browser.page_label.value
    assert browser.prev_button.disabled and not browser.next_button.disabled
    browser.go_to_page(2)
    assert rows(browser) == order[40:]
    assert browser.next_button.disabled
    # the table shows status, start, duration, params and metrics columns
    for header in ("status", "start", "duration", "alpha", "solver", "loss", "accuracy"):
        assert f">{header}</th>" in browser.table.value
    assert "FINISHED" in browser.table.value


def test_sort_and_filter_use_search_runs_strings():
    ids = make_runs(12)
    browser = mlnb.runs()
    browser.sort("metrics.`accuracy` ASC")
    assert rows(browser) == ids
    browser.set_filter("params.alpha = '1' and metrics.accuracy > 0.2")
    expected = [r for i, r in enumerate(ids) if i % 3 == 1 and i / 12 > 0.2]
    assert rows(browser) == expected and browser.total == len(expected)
    # the filter box drives the same thing
    browser.filter_box.value = "params.alpha = '2'"
    assert browser.total == 4
    browser.set_filter("metrics.accuracy >>> 3")
    assert "Filter not applied" in browser.message.value
    assert browser.total == 4  # the table keeps the last good filter


def test_no_match_message():
    make_runs(3)
    browser = mlnb.runs(filter_string="metrics.accuracy > 5")
    assert "No runs match this filter" in browser.table.value


def test_experiment_selector_switches_tables():
    make_runs(3, "first")
    make_runs(5, "second")
    browser = mlnb.runs(experiment="first")
    assert browser.total == 3
    names = [name for name, _ in browser.experiment_box.options]
    assert {"first", "second"} <= set(names)
    browser.experiment_box.value = mlnb.get_experiment_by_name("second").experiment_id
    assert browser.total == 5


def test_compare_highlights_differences_and_charts_metric_curves():
    ids = make_runs(4)
    browser = mlnb.runs()
    browser.select(ids[:2])
    browser.compare()
    html = browser.detail.value
    diff_rows = re.findall(r'<tr class="mlnb-diff".*?</tr>', html)
    assert any(">alpha<" in r for r in diff_rows)
    assert not any(">solver<" in r for r in diff_rows)  # same value in both runs: not highlighted
    assert browser.metric_box.options == ("accuracy", "loss")
    browser.metric_box.value = "loss"
    chart = browser.chart.value
    assert chart.startswith("<svg") and chart.count('class="mlnb-series"') == 2
    assert "run-00" in chart and "run-01" in chart


def test_details_show_card_artifacts_and_model_card(classification_data):
    from sklearn.linear_model import LogisticRegression

    X, y = classification_data
    mlnb.set_experiment("models")
    with mlnb.start_run(run_name="with-model") as run:
        mlnb.log_param("C", 1.0)
        mlnb.log_text("hello", "notes/readme.txt")
        mlnb.sklearn.log_model(LogisticRegression().fit(X, y), name="model", input_example=X.iloc[:2])
    browser = mlnb.runs(experiment="models")
    browser.select([run.info.run_id])
    browser.show_details()
    html = browser.detail.value
    assert "with-model" in html and f"runs:/{run.info.run_id}/model" in html
    assert "notes/" in html and "model/" in html
    assert "<b>Model</b> · sklearn" in html and "scikit-learn" in html


def test_delete_asks_first_then_removes_runs():
    ids = make_runs(3)
    browser = mlnb.runs()
    browser.select(ids[:1])
    browser.ask_delete()
    assert browser.confirm_box.layout.display == "flex" and "Delete 1 run(s)?" in browser.confirm_label.value
    assert browser.total == 3  # nothing deleted before confirming
    browser.confirm_no.click()
    assert browser.confirm_box.layout.display == "none" and browser.total == 3
    browser.ask_delete()
    browser.confirm_yes.click()
    assert browser.total == 2 and ids[0] not in rows(browser)
    assert mlnb.get_run(ids[0]).info.lifecycle_stage == "deleted"


def test_refresh_while_a_run_is_logging():
    mlnb.set_experiment("live")
    browser = None
    with mlnb.start_run(run_name="live-run"):
        mlnb.log_metric("loss", 0.9, step=0)
        browser = mlnb.runs(experiment="live")
        assert "RUNNING" in browser.table.value and "0.9" in browser.table.value
        mlnb.log_metric("loss", 0.25, step=1)
        browser.refresh_button.click()
        assert "0.25" in browser.table.value
    browser.refresh()
    assert "FINISHED" in browser.table.value


def test_display_carries_widget_text_and_html():
    make_runs(2)
    bundle = mlnb.runs()._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "2 runs" in bundle["text/plain"]
    assert "run-01" in bundle["text/html"]


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


def test_cards_escape_html():
    mlnb.set_experiment("esc")
    with mlnb.start_run(run_name="<b>bold</b>") as run:
        mlnb.log_param("note", "<script>alert(1)</script>")
    html = run_card_html(mlnb.get_run(run.info.run_id))
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;bold" in html


def test_chart_handles_single_points_and_no_values():
    svg = line_chart_svg({"a": [(0, 1.0)], "b": [(0, 2.0), (1, 3.0)]}, title="m")
    assert svg.count("<circle") == 3 and svg.count('class="mlnb-series"') == 1
    assert "No values" in line_chart_svg({"a": []}, title="m")


@pytest.mark.parametrize("bad", ["metrics.x >>> 1", "nonsense"])
def test_opening_with_a_bad_filter_reports_it(bad):
    make_runs(2)
    browser = mlnb.runs(filter_string=bad)
    assert "error" in browser.message.value or "Invalid" in browser.message.value

"""The evaluation panel: kernel-free HTML (CSS-only tabs, a stack where styles are stripped) and plain text."""

from __future__ import annotations

import base64
import re

import pytest
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import GradientBoostingClassifier

import mlnb
from mlnb.evaluation.html import TITLES, ordered_metrics, result_html
from mlnb.formatting import format_number
from tests._evaluation import binary_frame, evaluate_in_own_store, fitted, is_png


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """One evaluation with SHAP and a baseline, made in a store of its own."""
    df = binary_frame()
    model = fitted(GradientBoostingClassifier(n_estimators=20, random_state=0), df)
    baseline = fitted(DummyClassifier(strategy="most_frequent"), df)
    return evaluate_in_own_store(tmp_path_factory.mktemp("store"), model, df, targets="y", model_type="classifier",
                                 baseline=baseline)


def panels(html: str) -> list[str]:
    """The tab titles of a panel, in order."""
    return re.findall(r'<label for="mlnb-ev-[^"]+">([^<]+)</label>', html)


def test_panel_has_a_metrics_tab_then_a_tab_per_plot(evaluated):
    html = result_html(evaluated)
    names = list(evaluated.images)
    assert panels(html) == ["Metrics"] + [TITLES[n] for n in names]
    assert "SHAP beeswarm" in panels(html) and "Confusion matrix" in panels(html)
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert [base64.b64decode(i) for i in images] == [evaluated.artifacts[n].content for n in names]
    for metric in evaluated.metrics:
        assert f">{metric}<" in html
    assert ">Δ<" in html and ">baseline<" in html
    assert "SHAP by TreeSHAP" in html   # a random forest: mlnb's exact tree SHAP
    assert "widget" not in html


def test_headline_metrics_come_first_and_counts_last(evaluated):
    html = result_html(evaluated)
    order = re.findall(r'font-family:monospace">([^<]+)<', html)
    assert order[:3] == ["accuracy_score", "f1_score", "roc_auc"]
    assert set(order[-5:]) == {"example_count", "true_positives", "true_negatives", "false_positives",
                               "false_negatives"}
    tiles = re.findall(r'class="mlnb-tile".*?font-size:11px;opacity:.75">([^<]+)<', html)
    assert tiles == ["accuracy score", "f1 score", "roc auc", "precision recall auc"]
    assert repr(evaluated).splitlines()[1].startswith("  accuracy_score: ")
    assert ordered_metrics({"example_count": 1, "r2_score": 0.5, "my_metric": 2, "max_error": 3.0}) == [
        "r2_score", "max_error", "my_metric", "example_count"]


def test_numbers_use_the_one_formatter(evaluated):
    html = result_html(evaluated)
    for name in ("accuracy_score", "log_loss", "example_count"):
        row = re.search(rf">{name}<.*?</tr>", html).group(0)
        assert f">{format_number(evaluated.metrics[name])}<" in row
    assert not re.search(r">[-0-9.]+e[+-]\d+<", html)        # no exponent for these values


def test_tabs_are_css_only_and_fall_back_to_a_stack_without_styles(evaluated):
    html = result_html(evaluated)
    assert "<script" not in html and "onclick" not in html
    scope = re.search(r'class="mlnb-evaluation (mlnb-ev-[^"]+)"', html).group(1)
    assert html.count(f'type="radio" name="{scope}"') == len(panels(html))
    assert '<div class="mlnb-tab-bar" style="display:none">' in html   # without <style>: a stack
    assert "display:block!important" in html and "var(--jp-ui-font-color2,#555)" in html
    assert "#555" not in html.split("</style>")[1]                    # no fixed grey outside the theme rules
    # as wide as the panel, short of taller than 85% of the window; the width attribute is the layout
    # size for viewers that strip styles (GitHub), the pixels 1.5x that so the stretch stays sharp
    plots = re.findall(r'<img class="mlnb-plot" alt="[^"]*" width="(\d+)" style="width:100%;height:auto;'
                       r'max-width:([\d.]+)vh" src="data:image/png;base64,([^"]+)"', html)
    assert len(plots) == len(evaluated.images) and plots
    for (width, max_vh, data), png in zip(plots, evaluated.images.values()):
        assert base64.b64decode(data) == png
        pixels_w, pixels_h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert int(width) == round(pixels_w / 1.5)
        assert float(max_vh) == pytest.approx(85 * pixels_w / pixels_h, abs=0.1)
    assert result_html(evaluated) == html                             # re-running writes the same output
    other = mlnb.evaluate(fitted(DummyClassifier(), binary_frame()), binary_frame(), targets="y",
                          model_type="classifier", evaluator_config={"log_model_explainability": False})
    assert f'class="mlnb-evaluation {scope}"' not in result_html(other)   # two panels on a page switch apart


def test_panel_shows_a_shap_tab_with_the_reason_when_skipped():
    df = binary_frame()
    res = mlnb.evaluate(fitted(DummyClassifier(), df), df, targets="y", model_type="classifier",
                        evaluator_config={"explainability_algorithm": "linear"})
    html = result_html(res)
    assert panels(html)[-1] == "SHAP"
    assert re.search(r"mlnb-tab-panel mlnb-tab-\d+.*?SHAP skipped", html.split("mlnb-tab-panels")[-1])


def test_bundle_is_html_and_plain_text(evaluated):
    bundle = evaluated._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/plain"].startswith("EvaluationResult(classifier")
    assert "vs baseline" in bundle["text/plain"]
    html = bundle["text/html"]
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == len(evaluated.images)
    assert all(is_png(base64.b64decode(i)) for i in images)
    assert "<script" not in html
    assert "accuracy_score" in html and "SHAP summary" in html


def test_static_html_needs_no_ipython():
    import subprocess
    import sys

    code = ("import sys; from mlnb.evaluation.result import EvaluationResult; "
            "from mlnb.evaluation.html import result_html; "
            "r = EvaluationResult(metrics={'r2_score': 0.5}, model_type='regressor'); "
            "html = result_html(r); assert 'r2_score' in html; "
            "assert 'IPython' not in sys.modules and 'ipywidgets' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_deltas_are_coloured_by_the_direction_of_the_metric(evaluated):
    html = result_html(evaluated)
    row = re.search(r">log_loss<.*?</tr>", html).group(0)
    assert "#1a7f37" in row                    # lower log loss than the baseline is good: green
    assert evaluated.baseline_deltas["log_loss"] < 0


def test_a_kernel_displays_the_panel_without_a_widget(tmp_path):
    """A real kernel: the output is the HTML panel with images and plain text, and no widget view
    (a saved widget view reads "model not found" once the kernel is gone)."""
    import nbformat
    from nbclient import NotebookClient

    code = "\n".join([
        "import mlnb, pandas as pd",
        "from sklearn.datasets import make_classification",
        "from sklearn.linear_model import LogisticRegression",
        "X, y = make_classification(n_samples=200, n_features=4, random_state=0)",
        "df = pd.DataFrame(X, columns=list('abcd')); df['y'] = y",
        "m = LogisticRegression().fit(df[list('abcd')], y)",
        "mlnb.evaluate(m, df, targets='y', model_type='classifier',",
        "              evaluator_config={'log_model_explainability': False})",
    ])
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for o in nb.cells[0].outputs if o.output_type == "execute_result"]
    assert len(outputs) == 1
    data = outputs[0].data
    assert set(data) == {"text/plain", "text/html"}
    assert "data:image/png;base64," in data["text/html"] and ">Metrics</label>" in data["text/html"]
    assert data["text/plain"].startswith("EvaluationResult(classifier")
    assert "widgets" not in nb.metadata


def test_shap_titles_wrap_inside_the_figure_and_bar_labels_stay_in_the_frame():
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from mlnb.evaluation import plots as P

    values = np.random.default_rng(0).normal(size=(60, 4))
    title = "SHAP values (per class; beeswarm and summary show each row's predicted class)"
    for fig in (P.shap_beeswarm(values, values, list("abcd"), title=title), P.shap_summary(values, list("abcd"), title=title)):
        renderer = FigureCanvasAgg(fig).get_renderer()
        ax = fig.axes[0]
        assert "\n" in ax.get_title()
        box = ax.title.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1   # not cut at any side
    fig = P.shap_feature_importance(values, ["a", "b", "c", "d"])
    renderer = FigureCanvasAgg(fig).get_renderer()
    ax = fig.axes[0]
    frame = ax.get_window_extent(renderer)
    assert len(ax.texts) == 4 and all(t.get_window_extent(renderer).x1 <= frame.x1 for t in ax.texts)
    fig = P.shap_feature_importance(np.abs(values)[:, :, None].repeat(3, axis=2), list("abcd"), class_names=["x", "y", "z"])
    assert fig.axes[0].get_legend().get_texts()[0].get_fontsize() >= 9             # a legend people can read

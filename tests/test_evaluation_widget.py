"""The evaluation widget's state, and the static HTML/PNG/plain bundle saved notebooks show."""

from __future__ import annotations

import base64
import re

import pytest
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import GradientBoostingClassifier

import mlnb
from mlnb.evaluation.html import TITLES, result_html
from tests._evaluation import binary_frame, evaluate_in_own_store, fitted, is_png


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """One evaluation with SHAP and a baseline, made in a store of its own."""
    df = binary_frame()
    model = fitted(GradientBoostingClassifier(n_estimators=20, random_state=0), df)
    baseline = fitted(DummyClassifier(strategy="most_frequent"), df)
    return evaluate_in_own_store(tmp_path_factory.mktemp("store"), model, df, targets="y", model_type="classifier",
                                 baseline=baseline)


def test_widget_has_the_metric_table_and_a_tab_per_plot(evaluated):
    import ipywidgets

    box = evaluated.widget()
    assert isinstance(box, ipywidgets.VBox)
    table, tabs = box.children
    assert isinstance(table, ipywidgets.HTML) and isinstance(tabs, ipywidgets.Tab)
    names = list(evaluated.images)
    assert list(tabs.titles) == [TITLES[n] for n in names]
    assert "SHAP beeswarm" in tabs.titles and "Confusion matrix" in tabs.titles
    for child, name in zip(tabs.children, names):
        assert isinstance(child, ipywidgets.Image) and child.format == "png"
        assert bytes(child.value) == evaluated.artifacts[name].content
    for metric in evaluated.metrics:
        assert f">{metric}<" in table.value
    assert ">Δ<" in table.value and ">baseline<" in table.value
    assert "SHAP by TreeSHAP" in table.value


def test_widget_shows_a_shap_tab_with_the_reason_when_skipped():
    df = binary_frame()
    res = mlnb.evaluate(fitted(DummyClassifier(), df), df, targets="y", model_type="classifier",
                        evaluator_config={"explainability_algorithm": "linear"})
    tabs = res.widget().children[1]
    assert tabs.titles[-1] == "SHAP"
    assert "SHAP skipped" in tabs.children[-1].value


def test_static_bundle_outside_a_kernel_is_html_and_plain_text(evaluated):
    bundle = evaluated._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/plain"].startswith("EvaluationResult(classifier")
    assert "vs baseline" in bundle["text/plain"]
    html = bundle["text/html"]
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == len(evaluated.images)
    assert all(is_png(base64.b64decode(i)) for i in images)
    assert "<script" not in html and "<style" not in html
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


def test_a_kernel_displays_the_widget_with_the_static_fallbacks(tmp_path):
    """A real kernel: the output carries the widget view, the HTML with images, and plain text."""
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
    env_cwd = str(tmp_path)
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": env_cwd}}).execute()
    outputs = [o for o in nb.cells[0].outputs if o.output_type == "execute_result"]
    assert len(outputs) == 1
    data = outputs[0].data
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"]
    assert "data:image/png;base64," in data["text/html"]
    assert data["text/plain"].startswith("EvaluationResult(classifier")

"""The tutorials in a real JupyterLab (and Notebook 7), driven by headless Chromium.

A JupyterLab server starts on 127.0.0.1 (free port, token, temp root holding a copy of each
tutorial in its own folder); Chromium opens each tutorial, runs all cells, and the test checks what
a person sees: the run table's rows, the comparison chart, the evaluation tabs, the SHAP image, the
served model's answer. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests._notebook import headless_chromium, running_server
from tests.conftest import free_port

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
ARTIFACTS = REPO / "test-artifacts"
TOKEN = "mlnb-ui-test"
RUN_TIMEOUT_MS = 240_000

SETTINGS = {
    # no news or update pop-ups over the notebook; every cell kept in the page
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server over a temp root with each tutorial in its own folder; yields its base URL."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    for nb in NOTEBOOKS.glob("*.ipynb"):
        (root / nb.stem).mkdir(parents=True)
        shutil.copy(nb, root / nb.stem / nb.name)
    settings = base / "settings"
    for rel, value in SETTINGS.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(value))
    env = {k: v for k, v in os.environ.items() if k not in ("MLNB_TRACKING_URI", "MLFLOW_TRACKING_URI")}
    env.update(JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(base / "runtime"), IPYTHONDIR=str(base / "ipython"))
    port = free_port()
    log = base / "lab.log"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
           f"--port={port}", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True", "--JupyterNotebookApp.expose_app_in_browser=True",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--ServerApp.port_retries=0"]
    url = f"http://127.0.0.1:{port}"
    with running_server(cmd, root, env, log, f"{url}/api/status?token={TOKEN}"):
        yield url


@pytest.fixture(scope="module")
def browser():
    with headless_chromium() as chromium:
        yield chromium


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    yield pg
    context.close()


def shot(target, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    target.screenshot(path=str(path))
    return path


NOTEBOOK_JS = "window.jupyterapp.shell.currentWidget"
ALL_RAN_JS = f"""() => {{
  const w = {NOTEBOOK_JS};
  if (!w || !w.content || !w.sessionContext.session || !w.sessionContext.session.kernel) return false;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  const done = cells.every(c => c.model.executionCount !== null && c.model.executionCount !== undefined);
  const failed = cells.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
  return (done || failed) && w.sessionContext.session.kernel.status === 'idle';
}}"""
ERRORS_JS = f"""() => {{
  const w = {NOTEBOOK_JS};
  const errors = [];
  for (const c of w.content.widgets) {{
    if (c.model.type !== 'code') continue;
    for (const o of c.model.outputs.toJSON()) if (o.output_type === 'error') errors.push(o.ename + ': ' + o.evalue);
  }}
  return errors;
}}"""


def open_and_run(page, url: str, path: str, app: str = "lab/tree") -> None:
    """Open a notebook, wait for its kernel, run all cells and wait until every cell has run
    (or one failed: the errors are then the assertion's message)."""
    if app == "lab/tree":  # a workspace of its own, so no other notebook is restored beside it
        page.goto(f"{url}/lab/workspaces/{Path(path).stem}/tree/{path}?reset&token={TOKEN}")
    else:
        page.goto(f"{url}/{app}/{path}?token={TOKEN}")
    page.wait_for_function(f"() => window.jupyterapp && {NOTEBOOK_JS} && {NOTEBOOK_JS}.sessionContext",
                           timeout=120_000)
    page.wait_for_function(f"() => {NOTEBOOK_JS}.sessionContext.isReady", timeout=120_000)
    if page.locator(".jp-Dialog .jp-mod-accept").count():  # a kernel chooser, if one shows up
        page.click(".jp-Dialog .jp-mod-accept")
    page.evaluate(f"""() => {{
      window.jupyterapp.shell.activateById({NOTEBOOK_JS}.id);
      window.jupyterapp.commands.execute('notebook:run-all-cells');
    }}""")
    name = Path(path).stem
    try:
        page.wait_for_function(ALL_RAN_JS, timeout=RUN_TIMEOUT_MS, polling=500)
    finally:
        shot(page, f"{name}-{app.split('/')[0]}-after-run")
    assert page.evaluate(ERRORS_JS) == []


def test_quickstart_runs_in_jupyterlab(lab, page):
    open_and_run(page, lab, "quickstart/quickstart.ipynb")
    run_card = page.locator(".mlnb-run-card", has_text="Run forest").first
    run_card.scroll_into_view_if_needed()
    assert "FINISHED" in run_card.inner_text()
    shot(run_card, "quickstart-run-card")
    model_card = page.locator(".mlnb-model-card").first
    assert "sklearn" in model_card.inner_text() and "Inputs" in model_card.inner_text()
    tabs = page.locator(".mlnb-evaluation .mlnb-tab-bar label")
    assert tabs.count() >= 3                                        # the evaluation's plot tabs
    answer = page.locator(".jp-OutputArea-output pre", has_text='"predictions"').first
    assert json.loads(answer.inner_text()) == {"predictions": [0, 1]}
    table = page.locator(".mlnb-run-browser .mlnb-runs").first
    table.scroll_into_view_if_needed()
    assert table.locator("tr.mlnb-run-row").count() == 2
    shot(page.locator(".mlnb-run-browser").first, "quickstart-run-browser")


def test_evaluation_tabs_and_shap_image(lab, page):
    open_and_run(page, lab, "evaluation_shap/evaluation_shap.ipynb")
    panel = page.locator(".mlnb-evaluation").first
    tab_bar = panel.locator(".mlnb-tab-bar")
    tab_bar.scroll_into_view_if_needed()
    titles = [t.strip() for t in tab_bar.locator("label").all_inner_texts()]
    assert len(titles) >= 4 and any("SHAP" in t for t in titles), titles
    tab_bar.locator("label", has_text="SHAP").first.click()
    image = panel.locator(".mlnb-tab-panel img:visible").first
    image.wait_for(state="visible")
    assert image.evaluate("img => img.complete && img.naturalWidth > 100")
    shot(panel, "evaluation-shap-tab")


def test_served_model_answers_curl(lab, page):
    open_and_run(page, lab, "serving_rest_api/serving_rest_api.ipynb")
    answer = page.locator(".jp-OutputArea-output pre", has_text='{"predictions":[0,0,0]}').first
    answer.scroll_into_view_if_needed()
    assert answer.is_visible()
    assert page.locator(".jp-OutputArea-output pre", has_text="BAD_REQUEST").count() == 1
    shot(page, "serving-curl-answer")


def test_run_browser_table_paging_filter_and_comparison(lab, page):
    open_and_run(page, lab, "browsing_runs/browsing_runs.ipynb")
    panel = page.locator(".mlnb-run-browser").first
    panel.scroll_into_view_if_needed()
    rows = panel.locator("tr.mlnb-run-row")
    assert rows.count() == 5
    assert "page 1 of 2 · 8 runs" in panel.inner_text()
    chart = panel.locator("svg.mlnb-chart").first                            # the metric's curves
    assert chart.locator(".mlnb-series").count() == 2                         # the scripted comparison
    assert panel.locator("tr.mlnb-diff").count() >= 1                        # differing params highlighted
    shot(panel, "browsing-comparison")
    # a person pages, filters and compares with the controls
    panel.locator("button", has_text="Next").click()
    page.wait_for_function("() => document.querySelector('.mlnb-run-browser').innerText.includes('page 2 of 2')")
    assert rows.count() == 3
    filter_box = panel.locator(".widget-text input").first
    filter_box.fill("params.penalty = 'l1'")
    filter_box.press("Enter")
    page.wait_for_function("() => document.querySelector('.mlnb-run-browser').innerText.includes('4 runs')")
    assert rows.count() == 4 and all("sgd-l1" in t for t in rows.all_inner_texts())
    panel.locator("button", has_text="Clear selection").click()
    for box in panel.locator("tr.mlnb-run-row input.mlnb-pick").all()[:3]:   # tick three runs
        box.check()
    page.wait_for_function("() => document.querySelector('.mlnb-run-browser').innerText.includes('3 selected')")
    panel.locator("button", has_text="Compare").click()
    page.wait_for_function(
        "() => document.querySelector('.mlnb-run-browser svg.mlnb-chart').querySelectorAll('.mlnb-series').length === 3")
    shot(panel, "browsing-filtered-comparison")


def test_notebook7_renders_the_run_browser_widget(lab, page):
    open_and_run(page, lab, "custom_pyfunc/custom_pyfunc.ipynb", app="notebooks")
    card = page.locator(".mlnb-model-card").first
    card.scroll_into_view_if_needed()
    assert "mean radius" in card.inner_text()
    # a widget in Notebook 7: the run browser over this notebook's runs
    page.evaluate(f"""() => {{
      const nb = {NOTEBOOK_JS}.content;
      nb.model.sharedModel.insertCell(nb.widgets.length, {{cell_type: 'code', source: '%mlnb runs'}});
      nb.activeCellIndex = nb.widgets.length - 1;
      window.jupyterapp.commands.execute('notebook:run-cell');
    }}""")
    panel = page.locator(".mlnb-run-browser").first
    panel.wait_for(state="visible", timeout=60_000)
    assert panel.locator("tr.mlnb-run-row").count() == 1 and "screening-rule" in panel.inner_text()
    panel.scroll_into_view_if_needed()
    shot(panel, "notebook7-run-browser")

"""mlnb's outputs after the kernel is gone: a notebook executed once, saved, then read back.

One notebook makes every mlnb output (run card, model card, evaluation panel, registered model and
version cards, serve handle) in a real kernel (nbclient). The saved file is then read three ways,
each checked for what a person sees:

- reopened in JupyterLab 4 and Notebook 7 (dark theme) on a server that has no kernel at all, both as saved by
  nbclient (untrusted: JupyterLab drops ``<style>``) and after ``jupyter trust`` (styles kept);
- exported with ``jupyter nbconvert --to html`` and opened offline (every request that is not to
  the exported file is blocked);
- as the ``text/plain`` of each output.

Screenshots are kept in ``test-artifacts/saved-outputs/`` (not committed).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests._notebook import headless_chromium, running_server
from tests.conftest import WAIT, free_port

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts" / "saved-outputs"
TOKEN = "mlnb-saved-outputs"
WAIT_MS = int(WAIT * 1000)   # Playwright counts in milliseconds

CELLS = [
    """%load_ext mlnb
import mlnb, pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
data = load_breast_cancer(as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(data.data, data.target, test_size=0.25, random_state=0)""",
    """%%autolog --experiment saved-outputs --run-name forest
from sklearn.ensemble import RandomForestClassifier
forest = RandomForestClassifier(n_estimators=10, max_depth=3, random_state=0).fit(X_train, y_train)""",
    """model_uri = f"runs:/{mlnb.last_active_run().info.run_id}/model"
model = %load_model $model_uri
model""",
    """with mlnb.start_run(run_name="evaluation"):
    result = mlnb.evaluate(model_uri, X_test.assign(target=y_test), targets="target", model_type="classifier")
result""",
    """version = mlnb.register_model(model_uri, "cancer-forest")
client = mlnb.MlflowClient()
client.set_registered_model_alias("cancer-forest", "champion", version.version)
client.get_model_version("cancer-forest", version.version)""",
    """mlnb.MlflowClient().get_registered_model("cancer-forest")""",
    """server = mlnb.serve(model_uri)
server""",
    """server.stop()""",
]
SETTINGS = {
    # the dark theme, where fixed greys would vanish; no news pop-ups over the notebook; every cell
    # kept in the page, so every output can be read
    "@jupyterlab/apputils-extension/themes.jupyterlab-settings": {"theme": "JupyterLab Dark"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
#: The class of the output each cell shows, by cell index.
OUTPUTS = {1: "mlnb-run-card", 2: "mlnb-model-card", 3: "mlnb-evaluation", 4: "mlnb-version-card",
           5: "mlnb-registered-model-card", 6: "mlnb-serve-handle"}


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """The notebook, executed in a real kernel in its own folder and saved (untrusted, as nbclient
    leaves it); beside it a trusted copy and the nbconvert HTML export."""
    root = tmp_path_factory.mktemp("saved")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    env_keep = {k: os.environ.pop(k) for k in ("MLNB_TRACKING_URI", "MLFLOW_TRACKING_URI") if k in os.environ}
    try:
        NotebookClient(nb, kernel_name="python3", timeout=WAIT, startup_timeout=WAIT, resources={"metadata": {"path": str(root)}}).execute()
    finally:
        os.environ.update(env_keep)
    nbformat.write(nb, root / "saved.ipynb")
    nb.metadata["title"] = "trusted copy"   # a different signature: only this copy gets trusted
    nbformat.write(nb, root / "trusted.ipynb")
    subprocess.run([sys.executable, "-m", "jupyter", "trust", str(root / "trusted.ipynb")], check=True,
                   capture_output=True, env={**os.environ, "JUPYTER_DATA_DIR": str(root / "data")})
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(root / "saved.ipynb")],
                   check=True, capture_output=True)
    return root


@pytest.fixture(scope="module")
def lab(saved, tmp_path_factory):
    """A JupyterLab server over the saved notebooks with no kernel installed: what shows is what
    the file holds, nothing a kernel could redraw."""
    base = tmp_path_factory.mktemp("lab")
    for rel, value in SETTINGS.items():
        (base / "settings" / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / "settings" / rel).write_text(json.dumps(value))
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(base / "settings"), JUPYTER_PATH=str(base / "empty"),
               JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"), JUPYTER_RUNTIME_DIR=str(base / "runtime"),
               JUPYTER_DATA_DIR=str(saved / "data"))   # the trust database `jupyter trust` wrote
    port = free_port()
    log = base / "lab.log"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
           f"--port={port}", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={saved}",
           "--KernelSpecManager.ensure_native_kernel=False", "--KernelSpecManager.allowed_kernelspecs=no-kernel",
           "--ServerApp.port_retries=0",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    url = f"http://127.0.0.1:{port}"
    with running_server(cmd, saved, env, log, f"{url}/api/status?token={TOKEN}"):
        specs = json.loads(subprocess.run(["curl", "-s", f"{url}/api/kernelspecs?token={TOKEN}"],
                                          capture_output=True, text=True, check=True).stdout)
        assert specs["kernelspecs"] == {}
        yield url


@pytest.fixture(scope="module")
def browser():
    with headless_chromium() as chromium:
        yield chromium


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    context.set_default_timeout(WAIT_MS)   # clicks and reads wait for the page as long as anything else
    blocked: list[str] = []

    def local_only(route):
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "file://", "data:")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    context.route("**/*", local_only)
    pg = context.new_page()
    pg.blocked = blocked
    yield pg
    context.close()


def shot(target, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def open_saved(page, url: str, name: str, app: str) -> None:
    """Open a saved notebook and wait until its outputs are on the page (no kernel will start)."""
    if app == "lab":
        page.goto(f"{url}/lab/workspaces/{Path(name).stem}-{app}/tree/{name}?reset&token={TOKEN}")
    else:
        page.goto(f"{url}/notebooks/{name}?token={TOKEN}")
    page.locator(".jp-OutputArea-output").first.wait_for(state="attached", timeout=WAIT_MS)
    page.wait_for_function(
        f"() => document.querySelectorAll('.jp-OutputArea-output').length >= {len(OUTPUTS)}", timeout=WAIT_MS)
    dialog = page.locator(".jp-Dialog")
    try:   # with no kernel installed, the app asks which kernel to start: answer "No Kernel"
        dialog.first.wait_for(state="visible", timeout=20_000)
    except PlaywrightTimeout:
        return
    dialog.locator("button.jp-mod-reject").first.click()
    dialog.first.wait_for(state="detached", timeout=WAIT_MS)


def visible_images_loaded(scope) -> int:
    """How many visible <img> in ``scope`` decoded (a broken or blocked image has naturalWidth 0)."""
    return scope.evaluate(
        "el => [...el.querySelectorAll('img')].filter(i => i.offsetParent && i.complete && i.naturalWidth > 0).length")


LUMINANCE_JS = """el => {
  const [r, g, b] = getComputedStyle(el).color.match(/[0-9.]+/g).map(Number);
  return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
}"""


PLOT_FIT_JS = """p => {
  const img = [...p.querySelectorAll('img.mlnb-plot')].find(i => i.offsetParent);
  const tab = img.closest('.mlnb-tab-panel');
  const box = img.getBoundingClientRect(), style = getComputedStyle(tab);
  return {img: box.width, height: box.height, natural: img.naturalWidth, window: innerHeight,
          tab: tab.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)};
}"""


def check_outputs(page, styled: bool, label: str, dark: bool = False) -> None:
    """Every mlnb output shows; the evaluation panel is tabs when styles survive, a stack when not;
    in the dark theme its notes and tab labels are light text."""
    text = page.locator("body").inner_text()
    assert "Error displaying widget" not in text and "model not found" not in text
    for cls in OUTPUTS.values():
        node = page.locator(f".{cls}").first
        node.scroll_into_view_if_needed()
        assert node.is_visible(), cls
        shot(node, f"{label}-{cls}")
    panel = page.locator(".mlnb-evaluation").first
    tiles = panel.locator(".mlnb-tile").all_inner_texts()
    assert tiles and tiles[0].startswith("accuracy score"), tiles
    assert page.locator(".mlnb-run-card").first.inner_text().count("saved-outputs") >= 1   # experiment name
    if dark:
        assert panel.locator(".mlnb-notes").evaluate(LUMINANCE_JS) > 0.5
        if styled:
            assert panel.locator(".mlnb-tab-bar label").first.evaluate(LUMINANCE_JS) > 0.5
    if styled:
        bar = panel.locator(".mlnb-tab-bar")
        assert bar.is_visible()
        titles = bar.locator("label").all_inner_texts()
        assert titles[0] == "Metrics" and "ROC" in titles and "SHAP beeswarm" in titles, titles
        assert panel.locator(".mlnb-metrics").is_visible()
        assert visible_images_loaded(panel) == 0                       # plots wait behind their tabs
        bar.locator("label", has_text="SHAP beeswarm").click()
        assert not panel.locator(".mlnb-metrics").is_visible()
        assert visible_images_loaded(panel) == 1
        tall = panel.evaluate(PLOT_FIT_JS)                             # 20 features: taller than wide
        assert 0.8 * tall["window"] <= tall["height"] <= 0.86 * tall["window"], tall   # most of the window, no more
        assert tall["img"] >= 500, tall                                # not a thumbnail
        shot(panel, f"{label}-evaluation-shap-tab")
        bar.locator("label", has_text="ROC").first.click()
        page.wait_for_function("p => [...p.querySelectorAll('img.mlnb-plot')].filter(i => i.offsetParent).length == 1",
                               arg=panel.element_handle(), timeout=WAIT_MS)
        fit = panel.evaluate(PLOT_FIT_JS)
        assert fit["img"] >= 0.98 * fit["tab"] and fit["tab"] >= 800, fit  # the plot fills the tab's width...
        assert fit["height"] <= 0.86 * fit["window"], fit                  # ...and stays in the window
        assert fit["natural"] >= 0.8 * fit["img"], fit                     # rendered for that size, not blown up
        shot(panel, f"{label}-evaluation-roc-fills-tab")
    else:
        assert not panel.locator(".mlnb-tab-bar").is_visible()
        assert panel.locator(".mlnb-metrics").is_visible()
        captions = panel.locator(".mlnb-tab-caption").all_inner_texts()
        assert captions[0] == "Metrics" and "SHAP beeswarm" in captions
        assert visible_images_loaded(panel) == len(captions) - 1       # every plot, stacked
        shot(panel, f"{label}-evaluation-stack")


@pytest.mark.browser
@pytest.mark.parametrize("app", ["lab", "notebooks"])
@pytest.mark.parametrize("name", ["saved.ipynb", "trusted.ipynb"])
def test_reopened_without_a_kernel(lab, page, app, name):
    open_saved(page, lab, name, app)
    shot(page, f"{app}-{Path(name).stem}-page")
    check_outputs(page, styled=name == "trusted.ipynb", label=f"{app}-{Path(name).stem}", dark=True)
    assert page.blocked == []


@pytest.mark.browser
def test_nbconvert_html_offline(saved, page):
    page.goto((saved / "saved.html").as_uri())
    page.locator(".mlnb-evaluation").first.wait_for(state="visible", timeout=WAIT_MS)
    shot(page, "nbconvert-page")
    check_outputs(page, styled=True, label="nbconvert")
    # nbconvert's template asks for MathJax and RequireJS from a CDN; none of mlnb's output does
    assert all("mlnb" not in u for u in page.blocked)


def test_plain_text_of_every_output(saved):
    nb = nbformat.read(saved / "saved.ipynb", as_version=4)
    texts = {}
    for i in OUTPUTS:
        data = [o.data for o in nb.cells[i].outputs if "data" in o]
        assert data, (i, nb.cells[i].outputs)
        assert "application/vnd.jupyter.widget-view+json" not in data[-1]
        texts[i] = data[-1]["text/plain"]
    assert texts[1].startswith("Run forest [FINISHED]") and "experiment saved-outputs" in texts[1]
    assert "30 × double" in texts[2]
    assert texts[3].startswith("EvaluationResult(classifier") and "accuracy_score" in texts[3].splitlines()[1]
    assert texts[4].startswith("Model version cancer-forest v1") and "@champion" in texts[4]
    assert texts[5].startswith("Registered model cancer-forest") and "@champion → v1" in texts[5]
    assert texts[6].startswith("mlnb scoring server at http://127.0.0.1:")
    curl = texts[6].splitlines()[1]
    assert curl.strip().startswith("curl") and len(curl) < 400 and "0.0,0.0,0.0" not in curl
    views = [o for c in nb.cells for o in c.outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert views == []                          # nothing that needs a widget manager to read
    assert not re.search(r"Traceback|Error", json.dumps([c.outputs for c in nb.cells]))

"""The run browser in real JupyterLab 4 and Notebook 7 (headless Chromium), and in nbconvert's HTML.

A Jupyter server starts on 127.0.0.1 over a temp root holding a notebook and a real SQLite store:
a sweep logged by mlnb (a re-run name, a metric some runs lack, keys long enough to make the table
wider than the page), one run logged by MLflow, and a registered model with an alias. Chromium runs
the notebook and a person's clicks: header sorting, ticks across pages, columns, Compare, the
registered-models view. Then the notebook is saved and reopened with a new kernel, and exported
with nbconvert and opened with the network cut, and reopened with no kernel at all in JupyterLab and
in Notebook 7 (there on a server with no kernels): the saved snapshot must read, never "Error
displaying widget". Screenshots go to ``test-artifacts/notebook-browser/`` (not committed).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests._notebook import headless_chromium, running_server
from tests.conftest import free_port

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts" / "notebook-browser"
TOKEN = "mlnb-browser-test"
NOTEBOOK_JS = "window.jupyterapp.shell.currentWidget"
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
LONG = "validation_accuracy_at_the_end_of_each_epoch"


def fill_store(db: Path) -> dict:
    """The sweep the notebook browses; returns the ids the tests look for."""
    import mlflow

    from mlnb.tracking.client import MlnbClient
    from mlnb.tracking.entities import Metric, Param

    uri = f"sqlite:///{db}"
    client = MlnbClient(uri, registry_uri=uri)
    eid = client.create_experiment("sweep")
    ids = []
    for i in range(8):
        name = "baseline" if i in (0, 1) else f"lr-{i}"
        run = client.create_run(eid, run_name=name, start_time=1_700_000_000_000 + i * 1000)
        metrics = [Metric("loss", 1.0 / (i + s + 1), 1_700_000_000_000 + s, s) for s in range(3)]
        if i != 3:
            metrics.append(Metric("accuracy", 0.5 + i / 20, 1_700_000_000_000, 0))
        metrics += [Metric(f"{LONG}_{k}", i / 10 + k, 1_700_000_000_000, 0) for k in range(6)]
        params = [Param("lr", str(0.1 / (i % 4 + 1))), Param("depth", str(i % 3)), Param("optimizer", "adam")]
        client.log_batch(run.info.run_id, metrics=metrics, params=params)
        client.set_terminated(run.info.run_id)
        ids.append(run.info.run_id)
    mlflow_client = mlflow.MlflowClient(tracking_uri=uri)
    theirs = mlflow_client.create_run(eid, run_name="from-mlflow", start_time=1_600_000_000_000)
    mlflow_client.log_metric(theirs.info.run_id, "accuracy", 0.42)
    mlflow_client.set_terminated(theirs.info.run_id)
    client.create_experiment("empty")
    model_dir = db.parent / "model"
    model_dir.mkdir()
    (model_dir / "MLmodel").write_text("flavors: {}\n")
    client.create_registered_model("churn")
    for _ in range(2):
        version = client.create_model_version("churn", source=str(model_dir), run_id=ids[0])
    client.set_registered_model_alias("churn", "champion", version.version)
    return {"ids": ids, "mlflow": theirs.info.run_id}


def write_notebook(path: Path, db: Path, extra: str = "") -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(f"import mlnb\nSTORE = {f'sqlite:///{db}'!r}"),
        nbformat.v4.new_code_cell('browser = mlnb.runs(experiment="sweep", page_size=5, tracking_uri=STORE)\nbrowser'),
        nbformat.v4.new_code_cell('mlnb.runs(experiment="empty", tracking_uri=STORE)'),
    ] + ([nbformat.v4.new_code_cell(extra)] if extra else [])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-root")
    data = fill_store(root / "mlflow.db")
    for name in ("lab", "nb7", "export"):
        write_notebook(root / f"{name}.ipynb", root / "mlflow.db")
    for name in ("nokernel", "nokernel7"):
        write_notebook(root / f"{name}.ipynb", root / "mlflow.db",
                       "browser.select([run_id for run_id, _ in browser.page_runs[:2]])\nbrowser.compare()")
    return root, data


@pytest.fixture(scope="module")
def jupyter_base(tmp_path_factory) -> Path:
    """Settings, workspaces and the trust database, shared by every server of this module."""
    base = tmp_path_factory.mktemp("browser-server")
    for rel, value in SETTINGS.items():
        (base / "settings" / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / "settings" / rel).write_text(json.dumps(value))
    return base


@contextlib.contextmanager
def jupyter_server(root: Path, base: Path, name: str, *extra: str):
    """A Jupyter server (JupyterLab 4 and Notebook 7 both) over ``root``; yields its URL."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLNB_TRACKING_URI", "MLFLOW_TRACKING_URI")}
    env.update(JUPYTERLAB_SETTINGS_DIR=str(base / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(base / f"runtime-{name}"), IPYTHONDIR=str(base / "ipython"),
               JUPYTER_DATA_DIR=str(base / "data"))
    port = free_port()
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
           f"--port={port}", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True", "--JupyterNotebookApp.expose_app_in_browser=True",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--ServerApp.port_retries=0", *extra]
    url = f"http://127.0.0.1:{port}"
    with running_server(cmd, root, env, base / f"{name}.log", f"{url}/api/status?token={TOKEN}"):
        yield url


@pytest.fixture(scope="module")
def server(root, jupyter_base):
    with jupyter_server(root[0], jupyter_base, "server") as url:
        yield url


@pytest.fixture(scope="module")
def chromium():
    with headless_chromium() as chromium:
        yield chromium


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1200, "height": 1000})
    pg = context.new_page()
    yield pg
    context.close()


def shot(target, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def open_notebook(page, url: str, path: str, app: str) -> None:
    if app == "lab":
        page.goto(f"{url}/lab/workspaces/{Path(path).stem}-{os.getpid()}/tree/{path}?reset&token={TOKEN}")
    else:
        page.goto(f"{url}/notebooks/{path}?token={TOKEN}")
    page.wait_for_function(f"() => window.jupyterapp && {NOTEBOOK_JS} && {NOTEBOOK_JS}.sessionContext",
                           timeout=120_000)
    page.wait_for_function(f"() => {NOTEBOOK_JS}.context.isReady && {NOTEBOOK_JS}.sessionContext.isReady",
                           timeout=120_000)
    if page.locator(".jp-Dialog .jp-mod-accept").count():
        page.click(".jp-Dialog .jp-mod-accept")


def run_all(page) -> None:
    page.evaluate(f"""() => {{
      window.jupyterapp.shell.activateById({NOTEBOOK_JS}.id);
      window.jupyterapp.commands.execute('notebook:run-all-cells');
    }}""")
    page.wait_for_function(f"""() => {{
      const w = {NOTEBOOK_JS};
      const cells = w.content.widgets.filter(c => c.model.type === 'code');
      return cells.every(c => c.model.executionCount) && w.sessionContext.session.kernel.status === 'idle';
    }}""", timeout=240_000, polling=500)
    errors = page.evaluate(f"""() => {NOTEBOOK_JS}.content.widgets.flatMap(c => c.model.type !== 'code' ? [] :
        c.model.outputs.toJSON().filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue))""")
    assert errors == []


def save_and_close(page) -> None:
    """Save (JupyterLab signs the notebook, so it reopens trusted) and shut the kernel down."""
    page.evaluate(f"() => {NOTEBOOK_JS}.context.save()")
    page.wait_for_function(f"() => !{NOTEBOOK_JS}.model.dirty")
    page.evaluate(f"() => {NOTEBOOK_JS}.sessionContext.shutdown()")
    page.wait_for_function(f"() => !{NOTEBOOK_JS}.sessionContext.session")


def wait_text(page, selector: str, text: str) -> None:
    page.wait_for_function("([s, t]) => { const e = document.querySelector(s); return e && e.innerText.includes(t); }",
                           arg=[selector, text], timeout=60_000)


def table_run_names(panel) -> list[str]:
    return [t.strip() for t in panel.locator("table.mlnb-runs tbody tr td:nth-child(3)").all_inner_texts()]


def check_saved_snapshot(page, data: dict, name: str) -> None:
    """What a person sees in a reopened notebook: the table as it was, and no widget error."""
    snapshot = page.locator(".mlnb-snapshot").first
    snapshot.wait_for(state="visible", timeout=60_000)
    assert snapshot.locator("tr.mlnb-run-row").count() == 5
    text = page.locator(".jp-Notebook").inner_text()
    assert "Error displaying widget" not in text and "model not found" not in text
    assert snapshot.locator("table.mlnb-compare").count() == 2      # the comparison made before saving
    assert snapshot.locator("svg.mlnb-chart").count() >= 1
    shot(page, name)


def test_jupyterlab_browser_clicks_then_saved_notebook_reads(server, root, page):
    _, data = root
    open_notebook(page, server, "lab.ipynb", "lab")
    run_all(page)
    panel = page.locator(".mlnb-run-browser").first
    panel.wait_for(state="visible")
    assert panel.locator("tr.mlnb-run-row").count() == 5
    assert page.locator(".mlnb-snapshot:visible").count() == 0        # live: the widget replaces the snapshot
    assert "page 1 of 2 · 9 runs" in panel.inner_text()
    cells = panel.locator("table.mlnb-runs tbody td").all_inner_texts()
    assert not any(c.strip().lower() == "nan" for c in cells)
    # the empty experiment shows its message only
    empty = page.locator(".mlnb-run-browser").nth(1)
    assert "No runs in this experiment yet" in empty.inner_text()
    assert empty.locator(".widget-text input:visible, table.mlnb-runs:visible, button:has-text('Compare'):visible").count() == 0
    shot(panel, "lab-opened")

    # the table scrolls sideways in its own box; the tick, # and run columns and the controls stay put
    box = panel.locator(".mlnb-table-scroll")
    assert box.evaluate("b => b.scrollWidth > b.clientWidth + 100")
    run_cell = panel.locator("table.mlnb-runs tbody tr").first.locator("td").nth(2)
    filter_box = panel.locator(".widget-text input").first
    before = (run_cell.bounding_box()["x"], filter_box.bounding_box()["x"])
    box.evaluate("b => { b.scrollLeft = b.scrollWidth; }")
    box.evaluate("b => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    assert box.evaluate("b => b.scrollLeft > 0")
    assert (run_cell.bounding_box()["x"], filter_box.bounding_box()["x"]) == before
    shot(panel, "lab-scrolled")
    box.evaluate("b => { b.scrollLeft = 0; }")

    # a header click sorts (metrics start highest first), a second click flips it
    panel.locator("th[data-sort='metrics.`accuracy`']").click()
    wait_text(page, ".mlnb-run-browser", "sorted by accuracy ▼")
    assert "▼" in panel.locator("th[data-sort='metrics.`accuracy`']").inner_text()
    assert table_run_names(panel)[0].startswith("lr-7")
    panel.locator("th[data-sort='metrics.`accuracy`']").click()
    wait_text(page, ".mlnb-run-browser", "sorted by accuracy ▲")
    assert table_run_names(panel)[0].startswith("from-mlflow")      # MLflow's run, beside mlnb's
    # ticks on two pages are kept; the two runs named "baseline" stay two
    panel.locator("th[data-sort='attributes.start_time']").click()
    wait_text(page, ".mlnb-run-browser", "sorted by start ▼")
    panel.locator("th[data-sort='attributes.start_time']").click()
    wait_text(page, ".mlnb-run-browser", "sorted by start ▲")
    assert table_run_names(panel)[:3] == ["from-mlflow " + data["mlflow"][:8], "baseline " + data["ids"][0][:8],
                                          "baseline " + data["ids"][1][:8]]
    panel.locator("tr.mlnb-run-row input.mlnb-pick").nth(1).check()
    panel.locator("button", has_text="Compare").click()
    page.wait_for_function("() => document.querySelector('.mlnb-run-browser').innerText.includes('1 selected')")
    assert "Tick runs" not in panel.inner_text()
    panel.locator("button", has_text="Next").click()
    wait_text(page, ".mlnb-run-browser", "page 2 of 2")
    panel.locator("button", has_text="Prev").click()
    wait_text(page, ".mlnb-run-browser", "page 1 of 2")
    assert panel.locator("tr.mlnb-run-row input.mlnb-pick").nth(1).is_checked()   # kept across pages
    panel.locator("tr.mlnb-run-row input.mlnb-pick").nth(2).check()
    wait_text(page, ".mlnb-run-browser", "2 selected")
    panel.locator("button", has_text="Compare").click()
    # the first Compare (one run) already drew two tables: wait for the new ones, with both runs' columns
    page.wait_for_function("() => { const t = document.querySelectorAll('.mlnb-run-browser table.mlnb-compare');"
                           " return t.length === 2 && t[0].querySelectorAll('thead th').length === 3; }")
    heads = panel.locator("table.mlnb-compare").first.locator("th").all_inner_texts()[1:]
    assert heads == [f"baseline {data['ids'][0][:8]}", f"baseline {data['ids'][1][:8]}"]
    first_rows = panel.locator("table.mlnb-compare").first.locator("tbody tr")
    assert [r.split("\t")[0] for r in first_rows.all_inner_texts()] == ["depth", "lr", "optimizer"]
    assert panel.locator("table.mlnb-compare").first.locator("tr.mlnb-diff").count() == 2      # lr, depth
    assert panel.locator("table.mlnb-compare").first.locator("tr.mlnb-same").count() == 1      # optimizer
    # the chart is drawn after the tables: wait for the two runs' one on lr, depth and accuracy
    page.wait_for_function("() => { const p = document.querySelector('.mlnb-run-browser');"
                           " return p.querySelectorAll('svg.mlnb-chart .mlnb-axis').length === 3"
                           " && p.querySelectorAll('svg.mlnb-chart .mlnb-point').length === 2; }", timeout=60_000)
    metric = panel.locator(".widget-dropdown select").nth(1)
    assert metric.input_value() == "accuracy"                         # shared by both, not the first A-Z
    curves = panel.locator("svg.mlnb-chart").first
    assert curves.locator(".mlnb-series, circle").count() >= 2
    assert panel.locator("svg.mlnb-chart .mlnb-axis").count() == 3    # lr, depth, accuracy
    assert panel.locator("svg.mlnb-chart .mlnb-point").count() == 2
    shot(panel, "lab-compared")

    # the column picker
    panel.locator("button", has_text="Columns").click()
    picker = panel.locator(".widget-select-multiple select")
    picker.select_option(["params.optimizer", "metrics.loss"])
    page.wait_for_function("() => [...document.querySelectorAll('.mlnb-run-browser table.mlnb-runs thead th')]"
                           ".slice(6).map(t => t.innerText.trim()).join('|') === 'loss|optimizer'")
    shot(panel, "lab-columns")

    # registered models
    panel.locator(".widget-toggle-buttons button", has_text="Registered models").click()
    model = panel.locator(".mlnb-registered-model")
    model.wait_for(state="visible")
    assert "churn" in model.inner_text() and "@champion" in model.inner_text() and "2 versions" in model.inner_text()
    shot(panel, "lab-registered-models")
    panel.locator(".widget-toggle-buttons button", has_text="Runs").click()
    panel.locator("table.mlnb-runs").wait_for(state="visible")

    # saved, kernel gone, reopened: the snapshot reads, no widget error
    save_and_close(page)
    reopened = page.context.new_page()
    open_notebook(reopened, server, "lab.ipynb", "lab")
    check_saved_snapshot(reopened, data, "lab-reopened")
    assert reopened.evaluate(f"() => {NOTEBOOK_JS}.context.model.trusted !== false")
    reopened.evaluate(f"() => {NOTEBOOK_JS}.sessionContext.shutdown()")


def test_notebook7_browser_ticks_compare_and_saved_notebook_reads(server, root, page):
    _, data = root
    open_notebook(page, server, "nb7.ipynb", "nb7")
    run_all(page)
    panel = page.locator(".mlnb-run-browser").first
    panel.wait_for(state="visible")
    assert panel.locator("tr.mlnb-run-row").count() == 5 and "9 runs" in panel.inner_text()
    panel.locator("th[data-sort='metrics.`loss`']").click()
    wait_text(page, ".mlnb-run-browser", "sorted by loss ▼")
    picks = panel.locator("tr.mlnb-run-row input.mlnb-pick")
    picks.nth(0).check()
    picks.nth(1).check()
    wait_text(page, ".mlnb-run-browser", "2 selected")
    panel.locator("button", has_text="Compare").click()
    page.wait_for_function("() => document.querySelectorAll('.mlnb-run-browser table.mlnb-compare').length === 2")
    # the live view redraws after the snapshot: wait for its chart rather than read it at once
    page.wait_for_function("() => { const p = document.querySelector('.mlnb-run-browser');"
                           " return p && p.querySelectorAll('svg.mlnb-chart .mlnb-axis').length >= 2; }", timeout=60_000)
    assert panel.locator("svg.mlnb-chart .mlnb-axis").count() >= 2
    shot(panel, "nb7-compared")
    save_and_close(page)
    reopened = page.context.new_page()
    open_notebook(reopened, server, "nb7.ipynb", "nb7")
    check_saved_snapshot(reopened, data, "nb7-reopened")
    reopened.evaluate(f"() => {NOTEBOOK_JS}.sessionContext.shutdown()")


def test_jupyterlab_reopened_with_no_kernel_shows_the_snapshot(server, root, page):
    """Saved from a live session (signed, no widget state), reopened with no kernel started."""
    folder, data = root
    open_notebook(page, server, "nokernel.ipynb", "lab")
    run_all(page)
    save_and_close(page)
    page.close()
    assert "widgets" not in json.loads((folder / "nokernel.ipynb").read_text())["metadata"]   # no widget state
    reopened = page.context.new_page()
    reopened.goto(f"{server}/lab/workspaces/nokernel-{os.getpid()}?reset&token={TOKEN}")
    reopened.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands.hasCommand('docmanager:open')",
                               timeout=120_000)
    reopened.evaluate("async () => { await window.jupyterapp.restored; }")   # the workspace is laid out
    # keep the opened panel itself: the shell's current widget may still change while the workspace restores
    reopened.evaluate("""async () => { window.mlnbReopened = await window.jupyterapp.commands.execute('docmanager:open', {
        path: 'nokernel.ipynb', factory: 'Notebook', kernelPreference: {shouldStart: false, canStart: false}}); }""")
    reopened.wait_for_function("() => window.mlnbReopened && window.mlnbReopened.context.isReady", timeout=120_000)
    check_saved_snapshot(reopened, data, "lab-reopened-no-kernel")
    assert reopened.evaluate("() => !window.mlnbReopened.sessionContext.session")


def test_notebook7_reopened_with_no_kernel_shows_the_snapshot(server, root, jupyter_base, page):
    """Saved from a live Notebook 7 session, then reopened in Notebook 7 on a server that has no
    kernel at all (what a colleague without the environment sees)."""
    folder, data = root
    open_notebook(page, server, "nokernel7.ipynb", "nb7")
    run_all(page)
    page.locator(".mlnb-run-browser table.mlnb-compare").first.wait_for(state="visible")
    save_and_close(page)
    page.close()
    assert "widgets" not in json.loads((folder / "nokernel7.ipynb").read_text())["metadata"]   # no widget state
    no_kernels = ("--KernelSpecManager.ensure_native_kernel=False", "--KernelSpecManager.allowed_kernelspecs=none")
    with jupyter_server(folder, jupyter_base, "no-kernel", *no_kernels) as url:
        specs = json.loads(subprocess.run(["curl", "-s", f"{url}/api/kernelspecs?token={TOKEN}"],
                                          capture_output=True, text=True, check=True).stdout)
        assert specs["kernelspecs"] == {}
        reopened = page.context.new_page()
        reopened.goto(f"{url}/notebooks/nokernel7.ipynb?token={TOKEN}")
        reopened.wait_for_function(f"() => window.jupyterapp && {NOTEBOOK_JS} && {NOTEBOOK_JS}.context.isReady",
                                   timeout=120_000)
        # the kernel named in the file is not there: Notebook 7 asks which to start; answer "No Kernel"
        reopened.wait_for_function(f"() => document.querySelector('.jp-Dialog') || {NOTEBOOK_JS}.sessionContext.isReady",
                                   timeout=60_000)
        if reopened.locator(".jp-Dialog").count():
            reopened.locator(".jp-Dialog button.jp-mod-reject").first.click()
            reopened.locator(".jp-Dialog").first.wait_for(state="detached", timeout=20_000)
        check_saved_snapshot(reopened, data, "nb7-reopened-no-kernel")
        assert reopened.evaluate(f"() => !{NOTEBOOK_JS}.sessionContext.session")
        assert reopened.evaluate(f"() => {NOTEBOOK_JS}.context.model.trusted !== false")
        reopened.close()


def test_nbconvert_html_opened_offline_shows_the_snapshot(root, chromium, tmp_path):
    from nbclient import NotebookClient

    folder, data = root
    nb = nbformat.read(folder / "export.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(f"browser.select({data['ids'][:2]!r})\nbrowser.compare()"))
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    assert "application/vnd.jupyter.widget-state+json" in nb.metadata["widgets"]   # nbclient saves widget state
    executed = tmp_path / "executed.ipynb"
    nbformat.write(nb, executed)
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(executed)], check=True,
                   capture_output=True)
    context = chromium.new_context(viewport={"width": 1200, "height": 1000})
    try:
        page = context.new_page()
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                   else route.abort())                                # offline: the widget CDN is unreachable
        page.goto(executed.with_suffix(".html").as_uri())
        snapshot = page.locator(".mlnb-snapshot").first
        snapshot.wait_for(state="visible")
        assert snapshot.locator("tr.mlnb-run-row").count() == 5
        assert snapshot.locator("table.mlnb-compare").count() == 2
        assert "No runs in this experiment yet" in page.locator("body").inner_text()
        shot(page, "nbconvert-offline")
    finally:
        context.close()

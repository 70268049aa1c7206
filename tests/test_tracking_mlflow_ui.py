"""MLflow's own UI, served from a store mlnb wrote, shows mlnb's run (headless Chromium)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import pytest

import mlnb
from tests._tracking import wait_until_ready
from tests.conftest import free_port

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"


def test_mlflow_ui_shows_a_run_mlnb_logged(tmp_path):
    from playwright.sync_api import sync_playwright

    db = tmp_path / "mlflow.db"
    mlnb.set_tracking_uri(db)
    mlnb.set_experiment("shown-in-mlflow")
    with mlnb.start_run(run_name="mlnb-run-for-the-ui") as run:
        mlnb.log_params({"alpha": 0.25})
        mlnb.log_metric("rmse", 0.125)
    mlnb.tracking.fluent._reset_for_tests()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLNB_"))}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    log = tmp_path / "ui.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", f"sqlite:///{db}",
                                 "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                                stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{url}/health", proc, timeout=180, log=log)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM,
                                        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            try:
                page = browser.new_page()
                page.goto(f"{url}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}")
                page.get_by_text("mlnb-run-for-the-ui").first.wait_for(timeout=120_000)
                page.get_by_text("rmse").first.wait_for(timeout=60_000)
                assert "0.125" in page.content()
            finally:
                browser.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

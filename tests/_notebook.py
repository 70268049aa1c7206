"""Helpers for the notebook layer's tests: Jupyter servers started and stopped as subprocesses, and
the headless Chromium that drives them."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Iterator, Sequence

CHROMIUM = "/usr/bin/chromium"


def stop(proc: subprocess.Popen) -> None:
    """Terminate a server (its kernels go with it), killing it if it does not exit in time."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@contextlib.contextmanager
def running_server(cmd: Sequence[str], cwd: Path, env: dict, log: Path, ready_url: str) -> Iterator[subprocess.Popen]:
    """Start a Jupyter server (output to ``log``), wait until ``ready_url`` answers, stop it on exit."""
    from tests._tracking import wait_until_ready
    from tests.conftest import WAIT

    with open(log, "w") as out:
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_until_ready(ready_url, proc, WAIT, log)
        yield proc
    finally:
        stop(proc)


@contextlib.contextmanager
def headless_chromium() -> Iterator[object]:
    """Debian's Chromium, launched headless through Playwright; closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            yield browser
        finally:
            browser.close()

"""Helpers for the notebook layer's tests: Jupyter servers started and stopped as subprocesses."""

from __future__ import annotations

import subprocess


def stop(proc: subprocess.Popen) -> None:
    """Terminate a server (its kernels go with it), killing it if it does not exit in time."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)

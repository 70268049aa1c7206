"""Binder rehearsal: a fresh virtual environment from binder/requirements.txt runs every tutorial.

The environment is made as Binder makes it: ``python -m venv`` (no system site-packages), then
``pip install -r binder/requirements.txt`` from the repository root, here from the local wheelhouse
tests/run.sh builds (the ``install`` tier: no downloads while the tests run). The tutorials then execute
with that environment's own Jupyter and kernel, and its JupyterLab serves the quickstart (the
README's first command).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from tests._notebook import stop
from tests._tiers import WHEELHOUSE
from tests._tracking import wait_until_ready
from tests.conftest import WAIT, free_port

pytestmark = [pytest.mark.install, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
TUTORIALS = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
INSTALL_TIMEOUT = 1500


@pytest.fixture(scope="module")
def binder_env(tmp_path_factory):
    """The environment's bin directory, built from binder/requirements.txt as Binder would.

    Nothing is downloaded here: tests/run.sh filled the local wheelhouse (the ``install`` tier's
    prerequisite), and pip installs from it alone. ``--no-compile`` skips writing .pyc files, which
    changes nothing that is installed.
    """
    venv = tmp_path_factory.mktemp("binder") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    cmd = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "install", "-q",
           "--no-compile", "--no-index", "--find-links", str(WHEELHOUSE), "-r", "binder/requirements.txt"]
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}  # no extra index, no other wheels
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, env=env)
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stderr[-4000:]}"
    print(f"binder environment installed in {time.monotonic() - started:.0f}s")
    return venv / "bin"


def clean_env(bin_dir: Path, workdir: Path) -> dict[str, str]:
    """The environment a Binder user has: the venv first on PATH, no test settings leaking in."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLNB_TRACKING_URI", "MLFLOW_TRACKING_URI", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(bin_dir.parent),
               JUPYTER_RUNTIME_DIR=str(workdir / "runtime"), IPYTHONDIR=str(workdir / "ipython"))
    return env


def test_binder_files_are_as_binder_expects():
    assert (REPO / "binder" / "runtime.txt").read_text().strip() == "python-3.11"
    lines = [ln.strip() for ln in (REPO / "binder" / "requirements.txt").read_text().splitlines() if ln.strip()]
    assert lines[0] == "-e .[tutorials]"


def test_environment_is_isolated_and_has_mlnb_from_the_repo(binder_env, tmp_path):
    code = ("import json, sys, mlnb, sklearn, ipywidgets, jupyterlab, shap, uvicorn; "
            "print(json.dumps([sys.prefix, sys.base_prefix, mlnb.__file__, sklearn.__file__]))")
    out = subprocess.run([str(binder_env / "python"), "-c", code], capture_output=True, text=True, check=True,
                         env=clean_env(binder_env, tmp_path), cwd=tmp_path)
    prefix, base, mlnb_file, sklearn_file = json.loads(out.stdout)
    assert prefix != base and Path(prefix) == binder_env.parent
    assert Path(mlnb_file).resolve().is_relative_to(REPO)          # editable install of this repository
    assert Path(sklearn_file).resolve().is_relative_to(binder_env.parent)   # not the system's
    cfg = (binder_env.parent / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg


def test_tutorials_run_in_the_binder_environment(binder_env, tmp_path):
    """Every tutorial, executed by the environment's own nbconvert and kernel (one nbconvert run)."""
    for name in TUTORIALS:
        (tmp_path / Path(name).stem).mkdir()
        shutil.copy(REPO / "notebooks" / name, tmp_path / Path(name).stem / name)
    paths = [f"{Path(name).stem}/{name}" for name in TUTORIALS]
    run = subprocess.run([str(binder_env / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                          "--ExecutePreprocessor.timeout=300", "--ExecutePreprocessor.kernel_name=python3",
                          "--output-dir", str(tmp_path / "executed"), *paths],
                         cwd=tmp_path, capture_output=True, text=True, env=clean_env(binder_env, tmp_path), timeout=1200)
    assert run.returncode == 0, run.stderr[-4000:]
    for name in TUTORIALS:
        (executed,) = (tmp_path / "executed").glob(f"{Path(name).stem}*.ipynb")
        nb = nbformat.read(executed, as_version=4)
        code_cells = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.execution_count for c in code_cells), name
        assert not [o for c in code_cells for o in c.outputs if o.output_type == "error"], name
        assert (tmp_path / Path(name).stem / "mlflow.db").exists(), name   # runs went into the notebook's folder


def test_readme_command_opens_the_quickstart(binder_env, tmp_path):
    """``jupyter lab notebooks/quickstart.ipynb`` from the environment serves the quickstart
    (given a file, Jupyter serves the file's folder and opens the file)."""
    port = free_port()
    token = "binder-rehearsal"
    log = tmp_path / "lab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(binder_env / "jupyter"), "lab", "notebooks/quickstart.ipynb", "--no-browser",
                                 "--allow-root", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
                                 f"--IdentityProvider.token={token}"],
                                cwd=REPO, env=clean_env(binder_env, tmp_path), stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{base}/api/contents/quickstart.ipynb?token={token}", proc, WAIT, log)
        with urllib.request.urlopen(f"{base}/api/contents/quickstart.ipynb?token={token}", timeout=WAIT) as r:
            model = json.load(r)
        assert model["type"] == "notebook" and model["content"]["metadata"]["kernelspec"]["name"] == "python3"
        with urllib.request.urlopen(f"{base}/lab/tree/quickstart.ipynb?token={token}",
                                    timeout=WAIT) as r:
            assert r.status == 200 and b"JupyterLab" in r.read()
        with urllib.request.urlopen(f"{base}/api/kernelspecs?token={token}", timeout=WAIT) as r:
            specs = json.load(r)
        assert "python3" in specs["kernelspecs"]
        argv0 = specs["kernelspecs"]["python3"]["spec"]["argv"][0]
        assert argv0 == "python" or Path(argv0).parent == binder_env     # the environment's own kernel
    finally:
        stop(proc)

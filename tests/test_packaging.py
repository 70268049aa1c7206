"""The package users install: ``python -m build`` makes the sdist and the wheel, and the wheel,
installed into a fresh virtual environment (not editable, no network), runs a smoke test and the
quickstart notebook. This catches files missing from the package.

The environment sees the system's site-packages for mlnb's dependencies, so nothing is downloaded;
mlnb itself comes only from the wheel just built.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.install, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
IGNORED = shutil.ignore_patterns(".git", "*.egg-info", "build", "dist", "__pycache__", "test-artifacts",
                                 ".venv", "mlnb.db*", "mlnb-artifacts", "mlruns", ".pytest_cache")


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """sdist and wheel of a copy of the repository (building writes egg-info beside the sources)."""
    base = tmp_path_factory.mktemp("build")
    src = base / "src"
    shutil.copytree(REPO, src, ignore=IGNORED)
    out = base / "dist"
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory) -> Path:
    """A fresh environment with the wheel installed (mlnb's dependencies from the system's site-packages)."""
    root = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(root)], check=True, timeout=300)
    (wheel,) = dist.glob("mlnb-*.whl")
    done = subprocess.run([str(root / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           "--no-index", "--find-links", str(dist), "--ignore-installed", "--no-deps", str(wheel)],
                          capture_output=True, text=True, timeout=600, env=clean_env(root))
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def clean_env(root: Path) -> dict[str, str]:
    """The environment's bin first on PATH; nothing pointing back at this checkout."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "MLNB_TRACKING_URI", "MLFLOW_TRACKING_URI", "VIRTUAL_ENV")}
    env.update(PATH=f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(root))
    return env


def test_build_makes_an_sdist_and_a_wheel_with_every_module(dist):
    (sdist,) = dist.glob("mlnb-*.tar.gz")
    (wheel,) = dist.glob("mlnb-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    sources = {p.relative_to(REPO).as_posix() for p in (REPO / "mlnb").rglob("*.py")}
    assert sources - names == set()
    assert "mlnb/py.typed" in names
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    with zipfile.ZipFile(wheel) as zf:
        metadata = zf.read(meta).decode()
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {line.split(": ", 1)[1] for line in metadata.splitlines() if line.startswith("Provides-Extra:")} == set(extras)


def test_package_data_in_pyproject_exists():
    """Every file pattern pyproject ships as package data matches a file."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    for package, patterns in config["tool"]["setuptools"]["package-data"].items():
        for pattern in patterns:
            assert list((REPO / package.replace(".", "/")).glob(pattern)), f"{package}: {pattern} matches nothing"


def test_the_wheel_works_from_a_fresh_environment(venv, tmp_path):
    code = """
import json, sys
import numpy as np
from sklearn.linear_model import LogisticRegression
import mlnb, mlnb.sklearn, mlnb.pyfunc
X = np.arange(40.0).reshape(20, 2); y = (X[:, 0] > 20).astype(int)
model = LogisticRegression().fit(X, y)
mlnb.sklearn.save_model(model, "model")
loaded = mlnb.pyfunc.load_model("model")
same = (loaded.predict(X) == model.predict(X)).all()
print(json.dumps([mlnb.__file__, sys.prefix, bool(same)]))
"""
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env=clean_env(venv), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    mlnb_file, prefix, same = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(mlnb_file).is_relative_to(venv) and Path(prefix) == venv
    assert (Path(mlnb_file).parent / "py.typed").exists()
    assert same
    cli = subprocess.run([str(venv / "bin" / "mlnb"), "--help"], capture_output=True, text=True,
                         env=clean_env(venv), timeout=120)
    assert cli.returncode == 0 and "Usage" in cli.stdout


def test_the_quickstart_runs_on_the_installed_wheel(venv, tmp_path):
    """notebooks/quickstart.ipynb, executed by the environment's Python and kernel, plus one cell that
    says where mlnb came from."""
    nb = nbformat.read(REPO / "notebooks" / "quickstart.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(mlnb.__file__, sys.executable)"))
    nbformat.write(nb, tmp_path / "quickstart.ipynb")
    env = clean_env(venv) | {"JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "IPYTHONDIR": str(tmp_path / "ipython")}
    run = subprocess.run([str(venv / "bin" / "python"), "-m", "nbconvert", "--to", "notebook", "--execute",
                          "--ExecutePreprocessor.timeout=300", "--ExecutePreprocessor.kernel_name=python3",
                          "--output", "executed.ipynb", "quickstart.ipynb"],
                         cwd=tmp_path, capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    executed = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    code_cells = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code_cells)
    assert not [o for c in code_cells for o in c.outputs if o.output_type == "error"]
    mlnb_file, python = "".join(o.get("text", "") for o in code_cells[-1].outputs).split()
    assert Path(mlnb_file).is_relative_to(venv) and Path(python).parent == venv / "bin"

"""What each test tier needs besides the test extra, and whether this machine has it."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
#: wheels for the ``install`` tier's fresh environments, built by tests/run.sh (the only step that downloads)
WHEELHOUSE = Path(os.environ.get("MLNB_WHEELHOUSE", Path.home() / ".cache" / "mlnb" / "wheelhouse"))
STAMP = "READY"
#: what the restored-environment tests install besides mlnb's own dependencies: a scikit-learn other
#: than the test environment's, so a test can tell the restored environment from this one
RESTORED_ENV_WHEELS = ("scikit-learn==1.6.1",)
#: the environment the gluon tests drive (tests/test_gluon_flavor.py): MXNet 1.9.1, its last release,
#: imports only with NumPy < 1.24, so it cannot join the test environment. Built by tests/run.sh;
#: mlnb itself is not installed there, the tests put the checkout on PYTHONPATH.
GLUON_ENV = Path(os.environ.get("MLNB_GLUON_ENV", Path.home() / ".cache" / "mlnb" / "gluon-env"))
GLUON_ENV_REQUIREMENTS = (
    "mxnet==1.9.1", "numpy==1.23.5", "pandas==2.2.3",
    "pyyaml>=6", "cloudpickle>=2.2", "click>=8.1", "tqdm>=4.60",   # mlnb's core, without scikit-learn
    "uvicorn>=0.30", "httptools>=0.6", "orjson>=3.9", "uvloop>=0.19",   # mlnb's serve extra, without pyarrow
    "pytest>=8",   # the conformance checks
    "mlflow-skinny==2.19.0",   # MLflow's last release with mlflow.gluon: the format checked both ways
)


def wheelhouse_inputs() -> str:
    """A digest of what the wheelhouse is built from: binder/requirements.txt and the dependencies of
    mlnb with the extras it names (other extras, such as ``test``, do not make it stale)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    requirements = (REPO / "binder" / "requirements.txt").read_text()
    todo = re.findall(r"\.\[([\w,-]+)\]", requirements)
    todo = [name for group in todo for name in group.split(",")]
    used: dict[str, list[str]] = {}
    while todo:
        name = todo.pop()
        if name in used or name not in extras:
            continue
        used[name] = extras[name]
        for dep in extras[name]:
            inner = re.match(r"mlnb\[([\w,-]+)\]", dep)
            todo += inner.group(1).split(",") if inner else []
    text = requirements + repr((project["dependencies"], sorted(used.items())))
    return hashlib.sha256(text.encode()).hexdigest()


@functools.cache
def missing_prerequisite(tier: str) -> str | None:
    """Why ``tier`` cannot run here, or None when it can."""
    if tier == "java":
        java = shutil.which("java")
        if java is None:
            return "Java 17 is not installed (no `java` on PATH)."
        out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
        found = re.search(r'version "(\d+)', out)
        if not found or int(found.group(1)) < 17:
            return f"Java 17 or later is needed; `java -version` says: {out.strip()[:120]!r}."
    elif tier == "browser":
        if not CHROMIUM.exists():
            return f"Chromium is not installed ({CHROMIUM} is missing)."
        if importlib.util.find_spec("playwright") is None:
            return "Playwright is not installed (it comes with the test extra)."
    elif tier == "install":
        problem = _wheelhouse_problem()
        if problem is None and not _gluon_env_ready():
            problem = (f"The MXNet environment {GLUON_ENV} (the gluon tests') has not been built, or was built "
                       "for other requirements (GLUON_ENV_REQUIREMENTS in tests/_tiers.py changed since).")
        return problem
    return None


def _wheelhouse_problem() -> str | None:
    stamp = WHEELHOUSE / STAMP
    if not stamp.exists():
        return f"The local wheelhouse {WHEELHOUSE} has not been built."
    if stamp.read_text().strip() != wheelhouse_inputs():
        return (f"The local wheelhouse {WHEELHOUSE} was built for other requirements "
                "(binder/requirements.txt or pyproject.toml changed since).")
    lacking = [w for w in RESTORED_ENV_WHEELS if not list(WHEELHOUSE.glob(_wheel_glob(w)))]
    if lacking:
        return f"The local wheelhouse {WHEELHOUSE} lacks {', '.join(lacking)}; run python -m tests._tiers."
    return None


def _wheel_glob(requirement: str) -> str:
    """``scikit-learn==1.6.1`` -> ``scikit_learn-1.6.1-*.whl``."""
    name, _, version = requirement.partition("==")
    return f"{name.replace('-', '_')}-{version}-*.whl"


def build_wheelhouse() -> None:
    """Download the wheels the ``install`` tier installs from (run by tests/run.sh, online), then stamp
    the wheelhouse with what it was built for. Skipped when the stamp is already current."""
    import sys

    if _wheelhouse_problem() is None:
        return
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                    "--exists-action", "i", "-d", str(WHEELHOUSE), "-r", "binder/requirements.txt",
                    "setuptools>=70.1"], cwd=REPO, check=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--only-binary",
                    ":all:", "--exists-action", "i", "-d", str(WHEELHOUSE), *RESTORED_ENV_WHEELS], cwd=REPO, check=True)
    (WHEELHOUSE / STAMP).write_text(wheelhouse_inputs() + "\n")


def gluon_env_inputs() -> str:
    """A digest of what the MXNet environment is built from: its requirements and this Python."""
    import sys

    return hashlib.sha256(repr((GLUON_ENV_REQUIREMENTS, sys.version_info[:2])).encode()).hexdigest()


def _gluon_env_ready() -> bool:
    stamp = GLUON_ENV / STAMP
    return stamp.is_file() and stamp.read_text().strip() == gluon_env_inputs()


def build_gluon_env() -> None:
    """Make the MXNet environment (run by tests/run.sh, online) with mlnb's own environment builder,
    in a staging folder renamed into place, under a lock so two test runs never build it at once.
    Skipped when it is already built for the current requirements."""
    import fcntl
    import sys
    import tempfile

    from mlnb.environments import installers

    if _gluon_env_ready():
        return
    GLUON_ENV.parent.mkdir(parents=True, exist_ok=True)
    with open(GLUON_ENV.parent / f".{GLUON_ENV.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _gluon_env_ready():   # built by the run that held the lock
            return
        with tempfile.TemporaryDirectory(prefix=f".{GLUON_ENV.name}.", dir=GLUON_ENV.parent) as scratch:
            requirements = Path(scratch) / "requirements.txt"
            requirements.write_text("\n".join(GLUON_ENV_REQUIREMENTS) + "\n")
            staging = Path(scratch) / "env"
            installers.create(installers.default_manager(), sys.executable, staging, requirements, None)
            (staging / STAMP).write_text(gluon_env_inputs() + "\n")
            shutil.rmtree(GLUON_ENV, ignore_errors=True)
            os.replace(staging, GLUON_ENV)


if __name__ == "__main__":
    build_wheelhouse()
    build_gluon_env()

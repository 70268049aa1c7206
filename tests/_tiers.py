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

    stamp = WHEELHOUSE / STAMP
    if stamp.exists() and stamp.read_text().strip() == wheelhouse_inputs() and missing_prerequisite("install") is None:
        return
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                    "--exists-action", "i", "-d", str(WHEELHOUSE), "-r", "binder/requirements.txt",
                    "setuptools>=70.1"], cwd=REPO, check=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--only-binary",
                    ":all:", "--exists-action", "i", "-d", str(WHEELHOUSE), *RESTORED_ENV_WHEELS], cwd=REPO, check=True)
    stamp.write_text(wheelhouse_inputs() + "\n")


if __name__ == "__main__":
    build_wheelhouse()

"""Test tiers: every test is in one; a tier whose prerequisite is missing fails, naming the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SAMPLE = '''
import pytest

def test_in_core():
    pass

@pytest.mark.install
def test_in_install():
    pass
'''


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    environ = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
                           "-q", "-rA", "-W", "ignore::pytest.PytestUnknownMarkWarning", *args, "test_sample.py"],
                          cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=300)


def test_a_missing_prerequisite_fails_and_says_what_to_run(tmp_path):
    done = _run(tmp_path, MLNB_WHEELHOUSE=str(tmp_path / "no-wheelhouse"))
    assert done.returncode == 1, done.stdout
    assert "1 passed" in done.stdout and "1 error" in done.stdout and "skipped" not in done.stdout
    assert "has not been built. The 'install' tests need it: run `bash tests/run.sh`" in done.stdout


def test_unmarked_tests_are_core(tmp_path):
    done = _run(tmp_path, "-m", "core", MLNB_WHEELHOUSE=str(tmp_path / "no-wheelhouse"))
    assert done.returncode == 0 and "1 passed, 1 deselected" in done.stdout, done.stdout


def test_every_tier_is_registered_and_selected_by_the_test_script():
    from tests._tiers import tomllib

    markers = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
    registered = {m.split(":")[0] for m in markers}
    from tests.conftest import TIERS

    assert {"core", *TIERS} <= registered
    script = (REPO / "tests" / "run.sh").read_text()
    assert 'TIERS="${MLNB_TEST_TIERS:-core or java or browser or install}"' in script
    assert set(TIERS) | {"core"} == {"core", "java", "browser", "install"}

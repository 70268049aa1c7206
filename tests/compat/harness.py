"""Run one compatibility script twice, with MLflow and with mlnb, and compare what each observed.

A script is written once against ``import mlflow``. For mlnb only its imports change, mechanically
(:func:`to_mlnb`): ``import mlflow`` -> ``import mlnb as mlflow``, ``import mlflow.X`` ->
``import mlnb.X`` (with ``mlflow`` bound to mlnb), ``from mlflow.X import Y`` ->
``from mlnb.X import Y``. Each run is a fresh interpreter in its own temp dir with its own
``MLFLOW_TRACKING_URI=sqlite:///...``; nothing is shared between scripts or between the two runs.

A script prints one line ``COMPAT_RECORD {json}``: what it observed (predictions, metric values,
signature JSON, MLmodel keys, file lists). :func:`differences` compares two records: exactly for
strings, ints and structure, with a tolerance for floats; keys that name ids or times are ignored.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: pytest depends on tomli there
    import tomli as tomllib

HERE = Path(__file__).parent
SCRIPTS = HERE / "scripts"
EXCLUSIONS = HERE / "known_differences.toml"
MARKER = "COMPAT_RECORD "
TIMEOUT_S = 300

#: record keys whose values differ between any two runs (ids, clocks, versions, absolute paths)
IGNORED_KEYS = frozenset({
    "run_id", "model_id", "experiment_id", "model_uuid", "utc_time_created", "start_time", "end_time",
    "timestamp", "creation_timestamp", "last_updated_timestamp", "mlflow_version", "artifact_uri",
    "artifact_location", "source_run_id",
})
REL_TOL = 1e-6
ABS_TOL = 1e-9

_IMPORT = re.compile(r"^(?P<indent>[ \t]*)import mlflow(?P<sub>(?:\.\w+)*)[ \t]*$", re.M)
_IMPORT_AS = re.compile(r"^(?P<indent>[ \t]*)import mlflow(?P<sub>(?:\.\w+)*) as (?P<alias>\w+)[ \t]*$", re.M)
_FROM = re.compile(r"^(?P<indent>[ \t]*)from mlflow(?P<sub>(?:\.\w+)*) import ", re.M)


def scripts() -> list[str]:
    """The scripts' names (file stems), in order."""
    return sorted(p.stem for p in SCRIPTS.glob("*.py"))


def exclusions() -> dict[str, str]:
    """Script name -> why it does not yet run unchanged on mlnb (tests/compat/known_differences.toml)."""
    with open(EXCLUSIONS, "rb") as f:
        return dict(tomllib.load(f).get("scripts", {}))


def to_mlnb(source: str) -> str:
    """The script with only its imports changed from MLflow to mlnb."""
    def plain(m: re.Match) -> str:
        indent, sub = m["indent"], m["sub"]
        return f"{indent}import mlnb as mlflow" if not sub else f"{indent}import mlnb{sub}; import mlnb as mlflow"

    source = _IMPORT_AS.sub(lambda m: f"{m['indent']}import mlnb{m['sub']} as {m['alias']}", source)
    source = _IMPORT.sub(plain, source)
    return _FROM.sub(lambda m: f"{m['indent']}from mlnb{m['sub']} import ", source)


@dataclass
class Outcome:
    """One run of a script: its record if it printed one, else why not."""

    record: dict | None
    returncode: int
    stderr: str

    @property
    def failure(self) -> str:
        lines = [line for line in self.stderr.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else "(no output)"
        return f"exit code {self.returncode}: {last}" if self.record is None else ""


def run(name: str, library: str, workdir: Path) -> Outcome:
    """Run script ``name`` with ``library`` ("mlflow" or "mlnb") in a fresh interpreter inside ``workdir``."""
    source = (SCRIPTS / f"{name}.py").read_text()
    if library == "mlnb":
        source = to_mlnb(source)
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / f"{name}.py"
    script.write_text(source)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLNB_"))}
    env.update({
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
        "PYTHONHASHSEED": "0",
        "TMPDIR": str(workdir),
        "PYTHONPATH": os.pathsep.join(p for p in [str(Path(__file__).parents[2]), env.get("PYTHONPATH", "")] if p),
        "GIT_PYTHON_REFRESH": "quiet",
    })
    proc = subprocess.run([sys.executable, script.name], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    record = None
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            record = json.loads(line[len(MARKER):])
    if proc.returncode != 0:
        record = None
    return Outcome(record, proc.returncode, proc.stderr)


def differences(expected, actual, path: str = "$") -> list[str]:
    """Where ``actual`` (mlnb's record) differs from ``expected`` (MLflow's), one line each."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key in sorted(set(expected) | set(actual)):
            if key in IGNORED_KEYS:
                continue
            if key not in actual:
                out.append(f"{path}.{key}: missing (MLflow: {_short(expected[key])})")
            elif key not in expected:
                out.append(f"{path}.{key}: unexpected (mlnb: {_short(actual[key])})")
            else:
                out.extend(differences(expected[key], actual[key], f"{path}.{key}"))
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{path}: {len(actual)} items, MLflow has {len(expected)}: {_short(actual)} vs {_short(expected)}"]
        return [d for i, (e, a) in enumerate(zip(expected, actual)) for d in differences(e, a, f"{path}[{i}]")]
    if _number(expected) and _number(actual):
        e, a = float(expected), float(actual)
        if (math.isnan(e) and math.isnan(a)) or math.isclose(e, a, rel_tol=REL_TOL, abs_tol=ABS_TOL):
            return []
        return [f"{path}: {actual!r}, MLflow: {expected!r}"]
    if expected != actual or type(expected) is not type(actual):
        return [f"{path}: {_short(actual)}, MLflow: {_short(expected)}"]
    return []


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _short(x) -> str:
    text = json.dumps(x, default=str)
    return text if len(text) <= 200 else text[:197] + "..."

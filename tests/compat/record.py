"""Run the compatibility scripts with MLflow and store what each observed in mlflow_records.json.

    python -m tests.compat.record                 # every script whose record is missing or stale
    python -m tests.compat.record NAME [NAME...]  # these scripts, always
    python -m tests.compat.record --all           # every script
    python -m tests.compat.record --verify [NAME...]  # re-run MLflow, report records that no longer reproduce

MLflow takes 5 to 20 s of CPU per script (its import, requirement inference in a subprocess,
plots), so its records are kept with the scripts, each stamped with the script's SHA-256 and the
MLflow version that produced it; tests/test_compat_scripts.py fails when a stamp no longer matches
and re-runs one script live to check that a stored record reproduces. mlnb's side always runs live.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from tests.compat import harness

RECORDS = harness.HERE / "mlflow_records.json"


def digest(name: str) -> str:
    """SHA-256 of a script's source: a record belongs to exactly this text."""
    return hashlib.sha256((harness.SCRIPTS / f"{name}.py").read_bytes()).hexdigest()


def load() -> dict:
    """{"mlflow_version": ..., "records": {name: {"sha256", "record", "failure"}}}."""
    if not RECORDS.exists():
        return {"mlflow_version": version("mlflow"), "records": {}}
    return json.loads(RECORDS.read_text())


def stale(stored: dict, name: str) -> bool:
    entry = stored["records"].get(name)
    return entry is None or entry["sha256"] != digest(name) or stored["mlflow_version"] != version("mlflow")


def verify(names: list[str]) -> int:
    """Re-run MLflow on ``names``; print each stored record that the live run does not reproduce."""
    stored, bad = load(), 0
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"compat-mlflow-{name}-") as folder:
            outcome = harness.run(name, "mlflow", Path(folder))
        entry = stored["records"].get(name) or {}
        diffs = harness.differences(entry.get("record"), outcome.record) if outcome.record is not None \
            else [outcome.failure]
        bad += bool(diffs)
        print(f"{name}: {'reproduces' if not diffs else '; '.join(diffs[:5])}", flush=True)
    return 1 if bad else 0


def main(argv: list[str]) -> int:
    if "--verify" in argv:
        return verify([a for a in argv if not a.startswith("-")] or harness.scripts())
    stored = load()
    if stored["mlflow_version"] != version("mlflow"):
        stored = {"mlflow_version": version("mlflow"), "records": {}}
    names = harness.scripts() if "--all" in argv else [a for a in argv if not a.startswith("-")] or \
        [n for n in harness.scripts() if stale(stored, n)]
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"compat-mlflow-{name}-") as folder:
            outcome = harness.run(name, "mlflow", Path(folder))
        stored["records"][name] = {"sha256": digest(name), "record": outcome.record, "failure": outcome.failure}
        print(f"{name}: {'recorded' if outcome.record is not None else outcome.failure}", flush=True)
    stored["records"] = {n: stored["records"][n] for n in sorted(stored["records"]) if n in harness.scripts()}
    tmp = RECORDS.with_suffix(".tmp")
    tmp.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, RECORDS)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

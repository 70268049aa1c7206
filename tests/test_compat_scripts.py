"""Code written for MLflow runs on mlnb with only its imports changed.

Each script in tests/compat/scripts/ uses MLflow's API the way MLflow's examples and docs do and
prints what it observed. mlnb runs it live, in a fresh interpreter and temp dir, with its imports
rewritten (tests/compat/harness.py); the result must equal MLflow 3.17.2's record of the same
script (tests/compat/mlflow_records.json, made by ``python -m tests.compat.record``), floats within
a tolerance and ids and times aside. Scripts that do not yet run unchanged are listed, each with
its reason, in tests/compat/known_differences.toml; an entry that starts to pass fails its test,
so the list only shrinks.
"""

from __future__ import annotations

import tempfile
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.compat import harness, record

SCRIPTS = harness.scripts()
EXCLUDED = harness.exclusions()
STORED = record.load()


def _mlflow_record(name: str) -> dict:
    entry = STORED["records"].get(name)
    assert entry is not None, f"no MLflow record for {name}: run `python -m tests.compat.record {name}`"
    assert entry["record"] is not None, f"{name} fails on MLflow itself: {entry['failure']}"
    return entry["record"]


def _run_mlnb(name: str, tmp_path: Path) -> tuple[harness.Outcome, list[str]]:
    outcome = harness.run(name, "mlnb", tmp_path / "mlnb")
    if outcome.record is None:
        return outcome, [f"does not run on mlnb: {outcome.failure}"]
    return outcome, harness.differences(_mlflow_record(name), outcome.record)


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_runs_unchanged_on_mlnb(name, tmp_path):
    _, diffs = _run_mlnb(name, tmp_path)
    if name in EXCLUDED:
        assert diffs, (f"{name} now runs on mlnb and matches MLflow: remove it from "
                       f"tests/compat/known_differences.toml")
    else:
        assert not diffs, f"{name} differs from MLflow:\n" + "\n".join(diffs[:20])


def test_there_are_enough_scripts_and_each_covers_one_thing():
    assert len(SCRIPTS) >= 30
    areas = {name.split("_")[0] for name in SCRIPTS}
    assert {"tracking", "sklearn", "pyfunc", "signature", "autolog", "evaluate", "registry", "logged",
            "dataset", "models"} <= areas


def test_every_script_has_a_current_mlflow_record():
    assert STORED["mlflow_version"] == version("mlflow") == "3.17.2"
    stale = [n for n in SCRIPTS if record.stale(STORED, n)]
    assert not stale, f"re-record with `python -m tests.compat.record`: {stale}"
    failing = {n: STORED["records"][n]["failure"] for n in SCRIPTS if STORED["records"][n]["record"] is None}
    assert not failing, f"scripts that fail on MLflow itself: {failing}"


def test_a_stored_mlflow_record_reproduces_live():
    name = "tracking_params_metrics"
    with tempfile.TemporaryDirectory() as folder:
        live = harness.run(name, "mlflow", Path(folder))
    assert live.record is not None, live.failure
    assert harness.differences(_mlflow_record(name), live.record) == []


def test_known_differences_name_real_scripts_with_a_reason():
    assert set(EXCLUDED) <= set(SCRIPTS), set(EXCLUDED) - set(SCRIPTS)
    assert all(isinstance(reason, str) and len(reason) > 10 for reason in EXCLUDED.values())


def test_at_most_a_tenth_of_the_scripts_are_excluded():
    assert len(EXCLUDED) <= len(SCRIPTS) // 10, \
        f"{len(EXCLUDED)} of {len(SCRIPTS)} scripts are excluded: {sorted(EXCLUDED)}"


def test_imports_are_rewritten_and_nothing_else():
    source = (
        "import mlflow\n"
        "import mlflow.sklearn\n"
        "    import mlflow.pyfunc as pf\n"
        "from mlflow import MlflowClient\n"
        "from mlflow.models import infer_signature\n"
        "x = 'import mlflow'  # mlflow.log_param stays\n"
    )
    assert harness.to_mlnb(source) == (
        "import mlnb as mlflow\n"
        "import mlnb.sklearn; import mlnb as mlflow\n"
        "    import mlnb.pyfunc as pf\n"
        "from mlnb import MlflowClient\n"
        "from mlnb.models import infer_signature\n"
        "x = 'import mlflow'  # mlflow.log_param stays\n"
    )


def test_records_compare_floats_with_a_tolerance_and_ignore_ids():
    expected = {"run_id": "a", "metrics": {"acc": 0.1 + 0.2}, "names": ["x", "y"], "n": 3}
    assert harness.differences(expected, {"run_id": "b", "metrics": {"acc": 0.3}, "names": ["x", "y"], "n": 3}) == []
    assert harness.differences(expected, {"metrics": {"acc": 0.31}, "names": ["x"], "n": "3"}) == [
        "$.metrics.acc: 0.31, MLflow: 0.30000000000000004",
        "$.n: \"3\", MLflow: 3",
        "$.names: 1 items, MLflow has 2: [\"x\"] vs [\"x\", \"y\"]",
    ]

"""``mlnb runs|experiments|artifacts`` and ``models prepare-env`` against a real store on disk.

The same seeding script fills an MLflow store (run with MLflow 3.17.2) and an mlnb store (only its
import changed); then each command runs in a subprocess with ``mlflow`` and with ``python -m mlnb``,
and the outputs are compared after ids, dates and store paths are replaced by placeholders.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.compat.harness import to_mlnb

ROOT = Path(__file__).parents[1]

SEED = """
import json
import os

import mlflow

mlflow.set_experiment("cli-exp")
with mlflow.start_run(run_name="first") as first:
    mlflow.log_param("alpha", 0.5)
    mlflow.log_metric("rmse", 1.25)
    mlflow.set_tag("team", "vision")
    with open("notes.txt", "w") as f:
        f.write("hello")
    mlflow.log_artifact("notes.txt")
    mlflow.log_artifact("notes.txt", "docs")
with mlflow.start_run(run_name="second") as second:
    mlflow.log_param("alpha", 0.1)
    mlflow.log_metric("rmse", 0.75)
print(json.dumps({"experiment_id": first.info.experiment_id, "runs": [first.info.run_id, second.info.run_id]}))
"""


class Side:
    """One store and the command that works on it: MLflow's CLI or mlnb's."""

    def __init__(self, library: str, folder: Path) -> None:
        self.library, self.folder = library, folder
        folder.mkdir(parents=True, exist_ok=True)
        db = folder / f"{library}.db"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLNB_"))}
        self.env.update({"MLFLOW_TRACKING_URI": f"sqlite:///{db}", "PYTHONPATH": str(ROOT),
                         "GIT_PYTHON_REFRESH": "quiet", "TZ": "UTC"})
        if library == "mlnb":
            self.env["MLNB_TRACKING_URI"] = str(db)
        self.ids: dict = {}

    def seed(self) -> None:
        source = SEED if self.library == "mlflow" else to_mlnb(SEED)
        out = subprocess.run([sys.executable, "-c", source], cwd=self.folder, env=self.env, capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        self.ids = json.loads(out.stdout.strip().splitlines()[-1])

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        command = [shutil.which("mlflow")] if self.library == "mlflow" else [sys.executable, "-m", "mlnb"]
        return subprocess.run([*command, *args], cwd=self.folder, env=self.env, capture_output=True, text=True,
                              timeout=300)

    def normalize(self, text: str) -> str:
        """Replace what differs between any two stores (ids, dates, paths) by placeholders."""
        for i, run_id in enumerate(self.ids["runs"]):
            text = text.replace(run_id, f"<run{i}>")
        text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?( UTC|\+00:00)?", "<date>", text)
        text = re.sub(r"/tmp/tmp\w+", "<tmp>", text)
        return text.replace(str(self.folder), "<store>")


def _table(text: str) -> tuple[list[str] | None, list[list[str]]]:
    """A CLI table's headers and rows (cells are separated by two or more spaces). MLflow prints
    nothing at all for an empty table, mlnb the headers: both read as (headers or None, [])."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if len(lines) <= 2:
        return None, []
    split = [re.split(r"\s{2,}", line.strip()) for line in lines]
    assert set(lines[1].replace(" ", "")) == {"-"}, text
    return split[0], split[2:]


@pytest.fixture(scope="module")
def sides(tmp_path_factory) -> dict[str, Side]:
    folder = tmp_path_factory.mktemp("cli-stores")
    out = {}
    for library in ("mlflow", "mlnb"):
        side = Side(library, folder / library)
        side.seed()
        out[library] = side
    return out


def _both(sides, *args: str) -> dict[str, str]:
    """Run the same command on both sides; each must succeed; their normalized outputs."""
    out = {}
    for library, side in sides.items():
        result = side.cli(*(a.format(**_placeholders(side)) for a in args))
        assert result.returncode == 0, f"{library} {args}: {result.stderr}"
        out[library] = side.normalize(result.stdout)
    return out


def _placeholders(side: Side) -> dict[str, str]:
    return {"exp": side.ids["experiment_id"], "run0": side.ids["runs"][0], "run1": side.ids["runs"][1]}


def test_runs_list_prints_mlflows_table(sides):
    out = _both(sides, "runs", "list", "--experiment-id", "{exp}")
    assert _table(out["mlnb"]) == _table(out["mlflow"])
    headers, rows = _table(out["mlnb"])
    assert headers == ["Date", "Name", "ID"] and [r[1:] for r in rows] == [["second", "<run1>"], ["first", "<run0>"]]


def test_runs_describe_prints_the_run_as_mlflow_does(sides):
    out = _both(sides, "runs", "describe", "--run-id", "{run0}")
    ours, theirs = json.loads(out["mlnb"]), json.loads(out["mlflow"])
    assert list(ours) == list(theirs) == ["info", "data", "inputs", "outputs"]
    assert sorted(ours["info"]) == sorted(theirs["info"])
    for key in ("run_id", "run_name", "status", "lifecycle_stage"):
        assert ours["info"][key] == theirs["info"][key]
    assert ours["data"]["params"] == theirs["data"]["params"] == {"alpha": "0.5"}
    assert ours["data"]["metrics"] == theirs["data"]["metrics"] == {"rmse": 1.25}
    user_tags = {k: v for k, v in ours["data"]["tags"].items() if not k.startswith("mlflow.")}
    assert user_tags == {k: v for k, v in theirs["data"]["tags"].items() if not k.startswith("mlflow.")}
    assert ours["inputs"] == theirs["inputs"] and ours["outputs"] == theirs["outputs"]
    assert out["mlnb"].startswith("{\n    \"info\": {\n        \"artifact_uri\"")  # MLflow's 4-space layout


def test_experiments_search_prints_mlflows_table(sides):
    out = _both(sides, "experiments", "search")
    ours, theirs = _table(out["mlnb"]), _table(out["mlflow"])
    assert ours[0] == theirs[0] == ["Experiment Id", "Name", "Artifact Location"]
    assert [r[:2] for r in ours[1]] == [r[:2] for r in theirs[1]] == [["0", "Default"], ["1", "cli-exp"]]
    assert all(os.path.isabs(r[2].replace("<store>", "/")) for r in ours[1])


def test_experiments_csv_has_mlflows_columns_and_rows(sides, tmp_path):
    out = _both(sides, "experiments", "csv", "-x", "{exp}")
    ours, theirs = (text.strip().splitlines() for text in (out["mlnb"], out["mlflow"]))
    assert len(ours) == len(theirs) == 3
    our_columns, their_columns = ours[0].split(","), theirs[0].split(",")
    assert our_columns[:6] == their_columns[:6] == ["run_id", "experiment_id", "status", "artifact_uri",
                                                    "start_time", "end_time"]
    assert set(our_columns) == set(their_columns)
    side = sides["mlnb"]
    target = tmp_path / "runs.csv"
    result = side.cli("experiments", "csv", "-x", side.ids["experiment_id"], "-o", str(target))
    assert result.returncode == 0 and str(target) in result.stdout
    assert target.read_text().splitlines()[0] == ours[0]


def test_artifacts_list_prints_mlflows_json(sides):
    top = _both(sides, "artifacts", "list", "-r", "{run0}")
    assert top["mlnb"] == top["mlflow"]
    assert json.loads(top["mlnb"]) == [{"path": "docs", "is_dir": True},
                                       {"path": "notes.txt", "is_dir": False, "file_size": 5}]
    nested = _both(sides, "artifacts", "list", "-r", "{run0}", "-a", "docs")
    assert nested["mlnb"] == nested["mlflow"]


def test_artifacts_download_prints_the_local_path(sides):
    for library, side in sides.items():
        dst = side.folder / "downloaded"
        result = side.cli("artifacts", "download", "-r", side.ids["runs"][0], "-a", "docs", "-d", str(dst))
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == str(dst / "docs"), library
        assert (dst / "docs" / "notes.txt").read_text() == "hello"
        by_uri = side.cli("artifacts", "download", "-u", f"runs:/{side.ids['runs'][0]}/notes.txt")
        assert by_uri.returncode == 0, by_uri.stderr
        assert Path(by_uri.stdout.strip().splitlines()[-1]).read_text() == "hello"


def test_log_artifact_then_list_matches_mlflow(sides):
    for side in sides.values():
        (side.folder / "extra.csv").write_text("a,b\n1,2\n")
    _both(sides, "artifacts", "log-artifact", "-l", "extra.csv", "-r", "{run1}", "-a", "tables")
    listed = _both(sides, "artifacts", "list", "-r", "{run1}", "-a", "tables")
    assert listed["mlnb"] == listed["mlflow"]
    assert json.loads(listed["mlnb"]) == [{"path": "tables/extra.csv", "is_dir": False, "file_size": 8}]


def test_lifecycle_commands_say_what_mlflow_says(sides):
    steps = [
        ("experiments", "create", "-n", "scratch"),
        ("experiments", "rename", "-x", "2", "--new-name", "renamed"),
        ("experiments", "delete", "-x", "2"),
        ("experiments", "search", "-v", "deleted_only"),
        ("experiments", "restore", "-x", "2"),
        ("experiments", "search", "-v", "deleted_only"),
        ("runs", "delete", "--run-id", "{run1}"),
        ("runs", "list", "--experiment-id", "{exp}", "-v", "deleted_only"),
        ("runs", "restore", "--run-id", "{run1}"),
        ("runs", "list", "--experiment-id", "{exp}"),
    ]
    for step in steps:
        out = _both(sides, *step)
        if step[1] in ("search", "list"):
            ours, theirs = _table(out["mlnb"]), _table(out["mlflow"])
            assert (ours[0] == theirs[0] or theirs[0] is None) and [r[:2] if step[1] == "search" else r[1:] for r in ours[1]] == \
                [r[:2] if step[1] == "search" else r[1:] for r in theirs[1]], step
        else:
            assert out["mlnb"] == out["mlflow"], step


@pytest.mark.parametrize("args", [
    ("runs", "describe", "--run-id", "0123456789abcdef0123456789abcdef"),
    ("runs", "delete", "--run-id", "0123456789abcdef0123456789abcdef"),
    ("experiments", "delete", "-x", "99"),
    ("experiments", "rename", "-x", "99", "--new-name", "x"),
    ("experiments", "csv", "-x", "99"),
    ("artifacts", "list", "-r", "0123456789abcdef0123456789abcdef"),
    ("artifacts", "log-artifact", "-l", "no-such-file.txt", "-r", "{run0}"),
])
def test_errors_are_one_line_without_a_traceback(sides, args):
    side = sides["mlnb"]
    result = side.cli(*(a.format(**_placeholders(side)) for a in args))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.stderr, result.stderr


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> Path:
    from tests._serving import save_logistic_model

    return save_logistic_model(tmp_path_factory.mktemp("cli-model") / "model")


@pytest.mark.parametrize("command", ["predict", "prepare-env", "serve"])
def test_env_manager_conda_is_refused_naming_the_ones_mlnb_has(saved_model, command, tmp_path):
    request = tmp_path / "in.json"
    request.write_text(json.dumps({"dataframe_records": [{"f0": 0.0}]}))
    extra = ["-i", str(request)] if command == "predict" else []
    result = subprocess.run([sys.executable, "-m", "mlnb", "models", command, "-m", str(saved_model), *extra,
                             "--env-manager", "conda"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == (
        "Error: --env-manager conda is not available: mlnb restores environments with uv or virtualenv "
        "(venv + pip). Use --env-manager uv (or virtualenv, or local for the current environment).")


@pytest.mark.parametrize("flags", [("--install-mlflow",), ("-r", "scikit-learn==1.0"), ("--env", "A=1")])
def test_flags_for_a_restored_environment_are_refused_with_local(saved_model, flags, tmp_path):
    request = tmp_path / "in.json"
    request.write_text(json.dumps({"dataframe_records": [{"f0": 0.0}]}))
    result = subprocess.run([sys.executable, "-m", "mlnb", "models", "predict", "-m", str(saved_model),
                             "-i", str(request), "--env-manager", "local", *flags], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {flags[0].replace('-r', '--pip-requirements-override')} "
                                                   "needs a restored environment"), result.stderr


def test_predict_and_prepare_env_take_mlflows_flags():
    def flags(*command: str) -> set[str]:
        out = subprocess.run([sys.executable, "-m", "mlnb", *command, "--help"], capture_output=True, text=True,
                             timeout=60).stdout
        return set(re.findall(r"(--[a-z-]+)", out))

    assert {"--model-uri", "--input-path", "--output-path", "--content-type", "--env-manager", "--install-mlflow",
            "--pip-requirements-override", "--env"} <= flags("models", "predict")
    assert {"--model-uri", "--env-manager", "--install-mlflow"} <= flags("models", "prepare-env")


def test_prepare_env_local_checks_the_current_environment(saved_model):
    result = subprocess.run([sys.executable, "-m", "mlnb", "models", "prepare-env", "-m", str(saved_model),
                             "--env-manager", "local"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "runs in the current environment (--env-manager local): nothing to prepare" in result.stdout


def test_prepare_env_names_requirements_that_are_not_installed(saved_model, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(saved_model, model)
    with open(model / "requirements.txt", "a") as f:
        f.write("\nno-such-distribution-mlnb==1.0\n")
    result = subprocess.run([sys.executable, "-m", "mlnb", "models", "prepare-env", "-m", str(model),
                             "--env-manager", "local"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Not installed: no-such-distribution-mlnb==1.0" in result.stderr
    assert f"pip install -r {model / 'requirements.txt'}" in result.stderr


def test_python_dash_m_mlnb_is_the_mlnb_command():
    result = subprocess.run([sys.executable, "-m", "mlnb", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: mlnb ")
    for group in ("artifacts", "experiments", "models", "runs"):
        assert re.search(rf"^\s+{group}\s", result.stdout, re.M), group


def test_experiment_commands_work_on_an_mlflow_tracking_server(tmp_path):
    from mlflow import MlflowClient

    from tests._tracking import mlflow_server

    with mlflow_server(tmp_path / "server") as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLNB_"))}
        env.update({"MLNB_TRACKING_URI": url, "MLFLOW_TRACKING_URI": url, "PYTHONPATH": str(ROOT)})

        def mlnb(*args: str) -> str:
            result = subprocess.run([sys.executable, "-m", "mlnb", *args], env=env, capture_output=True, text=True,
                                    timeout=120)
            assert result.returncode == 0, result.stderr
            return result.stdout

        created = mlnb("experiments", "create", "-n", "on-the-server")
        experiment_id = re.search(r"with id (\S+)", created)[1]
        mlnb("experiments", "rename", "-x", experiment_id, "--new-name", "renamed-on-the-server")
        theirs = MlflowClient(url)
        assert theirs.get_experiment(experiment_id).name == "renamed-on-the-server"
        mlnb("experiments", "delete", "-x", experiment_id)
        assert theirs.get_experiment(experiment_id).lifecycle_stage == "deleted"
        assert "renamed-on-the-server" not in mlnb("experiments", "search")
        mlnb("experiments", "restore", "-x", experiment_id)
        assert theirs.get_experiment(experiment_id).lifecycle_stage == "active"
        assert "renamed-on-the-server" in mlnb("experiments", "search")

"""The magics in a real IPython shell: %load_ext mlnb, %%autolog, %load_model, %mlnb, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import mlnb
from mlnb.errors import MlnbError


@pytest.fixture
def shell():
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "mlnb")
    yield sh
    sh.run_line_magic("unload_ext", "mlnb")
    sh.reset(new_session=False)


def run(shell, source: str):
    """Run a cell as a notebook would; return (result, captured output)."""
    with capture_output() as out:
        result = shell.run_cell(source)
    return result, out


def html_outputs(out) -> list[str]:
    return [o.data["text/html"] for o in out.outputs if "text/html" in o.data]


FIT_TWO = """
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
X, y = make_classification(n_samples=120, n_features=4, random_state=0)
print("fitting now")
lr = LogisticRegression().fit(X, y)
tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
round(lr.score(X, y), 3)
"""


def test_load_ext_imports_no_heavy_library():
    code = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "mlnb")
print(json.dumps({
    "heavy": [m for m in ("pandas", "sklearn", "matplotlib", "ipywidgets", "numpy") if m in sys.modules],
    "line": sorted(k for k in shell.magics_manager.magics["line"] if k in ("load_model", "mlnb")),
    "cell": sorted(k for k in shell.magics_manager.magics["cell"] if k == "autolog"),
}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found == {"heavy": [], "line": ["load_model", "mlnb"], "cell": ["autolog"]}


def test_loading_twice_is_harmless_and_unload_removes_the_magics():
    sh = InteractiveShell.instance()
    mlnb.load_ipython_extension(sh)
    mlnb.load_ipython_extension(sh)
    assert "autolog" in sh.magics_manager.magics["cell"]
    mlnb.unload_ipython_extension(sh)
    assert "autolog" not in sh.magics_manager.magics["cell"]
    assert "load_model" not in sh.magics_manager.magics["line"]
    result, out = run(sh, "%load_model runs:/abc/model")
    assert "not found" in out.stdout + out.stderr


def test_autolog_cell_is_one_finished_run_keeping_output_and_showing_a_card(shell):
    result, out = run(shell, "%%autolog --experiment magic-exp --run-name two-fits --tags team=ml stage=dev\n" + FIT_TWO)
    assert result.success, out.stdout
    assert "fitting now" in out.stdout
    assert "0.9" in out.stdout  # the cell's last expression is still displayed
    run_ = mlnb.last_active_run()
    assert run_.info.status == "FINISHED"
    assert run_.info.run_name == "two-fits"
    assert run_.data.tags["team"] == "ml" and run_.data.tags["stage"] == "dev"
    assert mlnb.get_experiment_by_name("magic-exp").experiment_id == run_.info.experiment_id
    # both estimators are in the one run, kept apart
    assert "C" in run_.data.params and "DecisionTreeClassifier-2.max_depth" in run_.data.params
    cards = html_outputs(out)
    assert len(cards) == 1
    assert "two-fits" in cards[0] and "FINISHED" in cards[0]
    assert f"runs:/{run_.info.run_id}/model" in cards[0]
    assert len(mlnb.search_runs(experiment_names=["magic-exp"])) == 1
    # autologging is off again after the cell
    from sklearn.linear_model import LinearRegression

    LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    assert len(mlnb.search_runs(experiment_names=["magic-exp"])) == 1
    assert mlnb.active_run() is None


def test_autolog_cell_puts_back_the_users_own_autolog_settings(shell):
    from mlnb.autologging import get_autologging_config

    mlnb.sklearn.autolog(log_models=False, log_post_training_metrics=False, silent=True, extra_tags={"who": "me"})
    before = get_autologging_config("sklearn")
    try:
        result, out = run(shell, "%%autolog\n" + FIT_TWO)
        assert result.success
        assert f"runs:/{mlnb.last_active_run().info.run_id}/model" in html_outputs(out)[0]  # models on in the cell
        assert get_autologging_config("sklearn") == before                                # the user's settings again
        assert get_autologging_config("sklearn", "log_models") is False
    finally:
        mlnb.autolog(disable=True)


def test_autolog_no_models_logs_no_model(shell):
    result, out = run(shell, "%%autolog --no-models\n" + FIT_TWO)
    assert result.success, out.stdout
    run_ = mlnb.last_active_run()
    assert run_.data.params["max_iter"] == "100"
    assert "runs:/" not in html_outputs(out)[0]
    client = mlnb.MlnbClient()
    assert not [f for f in client.list_artifacts(run_.info.run_id) if f.path.startswith("model")]


def test_autolog_cell_that_raises_ends_failed_and_says_so_briefly(shell):
    result, out = run(shell, "%%autolog --run-name broken\nx = 1\n1 / 0")
    assert not result.success
    assert "MagicFailed" == type(result.error_in_exec).__name__
    assert "ZeroDivisionError" in str(result.error_in_exec) and "FAILED" in str(result.error_in_exec)
    run_ = mlnb.last_active_run()
    assert run_.info.status == "FAILED" and run_.info.run_name == "broken"
    assert "FAILED" in html_outputs(out)[0]
    assert mlnb.active_run() is None


def test_autolog_cell_interrupted_ends_killed(shell):
    result, out = run(shell, "%%autolog\nraise KeyboardInterrupt")
    assert not result.success
    assert mlnb.last_active_run().info.status == "KILLED"
    assert mlnb.active_run() is None


def test_autolog_inside_an_active_run_makes_a_child_run(shell):
    with mlnb.start_run() as parent:
        result, out = run(shell, "%%autolog\n" + FIT_TWO)
        assert result.success
        child = mlnb.last_active_run()
    runs = mlnb.search_runs(output_format="list")
    assert len(runs) == 2
    (kid,) = [r for r in runs if r.info.run_id != parent.info.run_id]
    assert kid.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert child.info.run_id == parent.info.run_id  # the parent is active again after the cell


@pytest.mark.parametrize("line", ["%%autolog --bogus", "%%autolog --tags novalue", "%%autolog --experiment"])
def test_autolog_bad_arguments_print_usage_not_a_traceback(shell, line):
    result, out = run(shell, f"{line}\nx = 1")
    text = out.stdout + out.stderr
    assert "UsageError" in text and "\n%%autolog [--experiment NAME]" in text
    assert "%%%autolog" not in text and "See %%autolog? for help." in text
    assert "Traceback" not in text
    assert "x" not in shell.user_ns
    assert mlnb.search_runs(output_format="list") == []


def test_load_model_returns_the_model_with_a_model_card(shell):
    run(shell, "%%autolog\n" + FIT_TWO)
    run_id = mlnb.last_active_run().info.run_id
    result, out = run(shell, f"m = %load_model runs:/{run_id}/model\nm")
    assert result.success
    model = shell.user_ns["m"]
    assert model.metadata.run_id == run_id
    assert list(model.predict(shell.user_ns["X"][:3])) == list(shell.user_ns["lr"].predict(shell.user_ns["X"][:3]))
    formats, _ = shell.display_formatter.format(model)
    assert "text/plain" in formats
    card = formats["text/html"]
    for part in ("sklearn", "Inputs", f"runs:/{run_id}/model", "scikit-learn", "KB"):
        assert part in card
    result, out = run(shell, f"est = %load_model runs:/{run_id}/model --flavor sklearn")
    assert type(shell.user_ns["est"]).__name__ == "LogisticRegression"


@pytest.mark.parametrize("uri, tried", [
    ("no/such/model", "the local path"),
    ("runs:/0123456789abcdef0123456789abcdef/model", "tracking store"),
])
def test_load_model_on_a_bad_uri_says_what_was_tried(shell, uri, tried):
    result, out = run(shell, f"m = %load_model {uri}")
    error = result.error_in_exec
    assert isinstance(error, MlnbError)
    assert uri in str(error) and tried in str(error)
    assert error._render_traceback_()[0].count("\n") == 0  # one line, no traceback
    assert "m" not in shell.user_ns


def test_load_model_without_uri_prints_usage(shell):
    result, out = run(shell, "%load_model")
    text = out.stdout + out.stderr
    assert "%load_model [--flavor NAME] uri" in text and "Traceback" not in text
    assert "See %load_model? for help." in text


def test_load_model_unknown_flavor_names_the_known_ones(shell, tmp_path):
    run(shell, "%%autolog\n" + FIT_TWO)
    run_id = mlnb.last_active_run().info.run_id
    result, out = run(shell, f"%load_model runs:/{run_id}/model --flavor nope")
    assert "Unknown flavor 'nope'" in str(result.error_in_exec) and "sklearn" in str(result.error_in_exec)


def test_mlnb_magic_unknown_command_prints_usage(shell):
    result, out = run(shell, "%mlnb nothing")
    text = out.stdout + out.stderr
    assert "Unknown command 'nothing'" in text and "%mlnb" in text and "Traceback" not in text


def test_magic_help_is_the_docstring(shell):
    doc = shell.find_cell_magic("autolog").__doc__
    assert "Run the cell with autologging" in doc and "--run-name" in doc
    assert "m = %load_model" in shell.find_line_magic("load_model").__doc__

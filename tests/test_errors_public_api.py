"""A failing public call ends in one clear mlnb message: no internal chain, no mlnb frames, in plain
Python and in a real IPython kernel; ``MLNB_SHOW_INTERNALS=1`` shows everything again."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
from nbclient import NotebookClient

MISSING_COLUMN = "\n".join([
    "import mlnb, pandas as pd",
    "from sklearn.datasets import make_classification",
    "from sklearn.linear_model import LogisticRegression",
    "X, y = make_classification(n_samples=100, n_features=4, random_state=0)",
    "df = pd.DataFrame(X, columns=list('abcd')); df['y'] = y",
    "m = LogisticRegression().fit(df[list('abcd')], y)",
    "mlnb.evaluate(m, df.drop(columns=['b']), targets='y', model_type='classifier',",
    "              evaluator_config={'log_model_explainability': False})",
])
MESSAGE = "The evaluation data lacks 1 column(s) the model needs: 'b'."


def run_script(tmp_path, **env) -> str:
    script = tmp_path / "fails.py"
    script.write_text(MISSING_COLUMN)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, **env}, timeout=300)
    assert out.returncode == 1
    return out.stderr


def test_plain_python_prints_the_callers_line_and_the_message(tmp_path):
    err = run_script(tmp_path, MLNB_SHOW_INTERNALS="")
    assert err.strip().endswith(MESSAGE + " Pass data with every feature column the model was trained on "
                                "(plus the targets column).")
    assert "direct cause" not in err and "During handling" not in err and "sklearn" not in err
    assert err.count('File "') == 2            # the script's line and the public boundary
    assert len(err.splitlines()) <= 8


def test_show_internals_keeps_the_chain(tmp_path):
    err = run_script(tmp_path, MLNB_SHOW_INTERNALS="1")
    assert "direct cause" in err and "sklearn" in err and MESSAGE in err


def test_the_original_error_stays_reachable():
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import mlnb
    from mlnb.errors import InvalidParameterError

    df = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0], "y": [0, 1, 0, 1]})
    m = LogisticRegression().fit(df[["a", "b"]], df["y"])
    try:
        mlnb.evaluate(m, df.drop(columns=["b"]), targets="y", model_type="classifier",
                      evaluator_config={"log_model_explainability": False})
    except InvalidParameterError as exc:
        assert exc.__cause__ is None and exc.__suppress_context__
        assert isinstance(exc.internal_cause, ValueError)
    else:
        raise AssertionError("evaluate accepted data without the model's column 'b'")


def test_a_kernel_shows_a_short_traceback_ending_in_the_message(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(MISSING_COLUMN)])
    env_keep = os.environ.pop("MLNB_SHOW_INTERNALS", None)
    try:
        NotebookClient(nb, kernel_name="python3", timeout=300, allow_errors=True,
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        if env_keep is not None:
            os.environ["MLNB_SHOW_INTERNALS"] = env_keep
    (error,) = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert error.ename == "InvalidParameterError" and error.evalue.startswith(MESSAGE)
    shown = "\n".join(error.traceback)
    assert "direct cause" not in shown and "sklearn" not in shown and "inputs.py" not in shown
    assert len(error.traceback) <= 5          # rule, header, the cell's line, the boundary, the message


def test_loading_and_serving_errors_carry_no_internal_frames(tmp_path):
    import traceback

    import pytest

    import mlnb
    import mlnb.tracebacks
    from mlnb.errors import MlnbError

    calls = [lambda: mlnb.pyfunc.load_model(str(tmp_path / "no-model")),
             lambda: mlnb.pyfunc.load_model("runs:/0123456789abcdef0123456789abcdef/model"),
             lambda: mlnb.serve(str(tmp_path / "no-model"))]
    for call in calls:
        with pytest.raises(MlnbError) as info:
            call()
        frames = [f.filename for f in traceback.extract_tb(info.value.__traceback__)]
        assert [f for f in frames if "/mlnb/" in f] == [mlnb.tracebacks.__file__]
        assert info.value.__cause__ is None and info.value.__suppress_context__

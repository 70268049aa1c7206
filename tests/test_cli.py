"""The ``mlnb`` command: ``models predict`` (JSON and CSV) and ``models serve``.

``models predict`` shares its parsing and encoding with the server, which
tests/test_serving_protocol.py compares with MLflow's request by request.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

from tests._serving import COLUMNS, mlnb_serve_cmd, save_logistic_model, stop
from tests.conftest import WAIT, free_port


@pytest.fixture
def model(tmp_path):
    return save_logistic_model(tmp_path / "model")


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(25, 5)), columns=COLUMNS)


def _expected(model, batch) -> list:
    import mlnb.pyfunc

    return mlnb.pyfunc.load_model(model).predict(batch).tolist()


def _mlnb(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlnb.cli", *args], capture_output=True, text=True, timeout=120, **kwargs)


def test_predict_json_writes_predictions_to_a_file(tmp_path, model, batch):
    request = tmp_path / "in.json"
    request.write_text(json.dumps({"dataframe_split": batch.to_dict(orient="split")}))
    result = _mlnb("models", "predict", "-m", str(model), "-i", str(request), "-o", str(tmp_path / "ours.json"), "-t", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "ours.json").read_text()) == {"predictions": _expected(model, batch)}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".mlnb-predict-")] == []


def test_predict_csv_to_stdout(tmp_path, model, batch):
    request = tmp_path / "in.csv"
    batch.to_csv(request, index=False)
    result = _mlnb("models", "predict", "-m", str(model), "-i", str(request), "-t", "csv")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"predictions": _expected(model, batch)}


def test_predict_reads_standard_input(model, batch):
    body = json.dumps({"dataframe_records": batch.to_dict(orient="records")})
    result = _mlnb("models", "predict", "-m", str(model), input=body)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["predictions"] == _expected(model, batch)


def test_predict_bad_input_fails_with_a_clear_message(tmp_path, model):
    request = tmp_path / "in.json"
    request.write_text(json.dumps({"dataframe_split": {"columns": ["f0"], "data": [[1.0]]}}))
    result = _mlnb("models", "predict", "-m", str(model), "-i", str(request), "-o", str(tmp_path / "out.json"))
    assert result.returncode != 0
    assert "Missing required columns" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.json").exists()


def test_predict_with_a_missing_model_fails_cleanly(tmp_path):
    result = _mlnb("models", "predict", "-m", str(tmp_path / "nope"), "-i", "x.json")
    assert result.returncode == 1
    assert "could not load the model" in result.stderr and "Traceback" not in result.stderr


def test_console_script_lists_the_commands():
    exe = shutil.which("mlnb")
    assert exe is not None
    result = subprocess.run([exe, "models", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "serve" in result.stdout and "predict" in result.stdout


def _lines(proc: subprocess.Popen) -> "queue.Queue[str]":
    lines: queue.Queue[str] = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_serve_prints_the_url_and_a_curl_example_that_works(tmp_path, model):
    port = free_port()
    proc = subprocess.Popen(mlnb_serve_cmd(model, port, "-t", "30"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        lines, seen = _lines(proc), []
        deadline = time.monotonic() + WAIT
        while not any(line.strip().startswith("curl ") for line in seen):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(seen)
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                pass
        url = f"http://127.0.0.1:{port}"
        assert url in seen[0]
        curl = next(line.strip() for line in seen if line.strip().startswith("curl "))
        assert f"{url}/invocations" in curl
        answer = subprocess.run(curl, shell=True, capture_output=True, text=True, timeout=WAIT)
        expected = _expected(model, pd.DataFrame([[0.0] * 5], columns=COLUMNS))
        assert json.loads(answer.stdout) == {"predictions": expected}
    finally:
        stop(proc)

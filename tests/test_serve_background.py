"""``mlnb.serve(model)`` from a notebook: a background server with a url, a curl example and stop()."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

import mlnb
import mlnb.serving
from mlnb.errors import InvalidParameterError
from tests._serving import COLUMNS, save_logistic_model
from tests.conftest import WAIT, free_port

ROW = {"dataframe_split": {"columns": COLUMNS, "data": [[0.1, 0.2, 0.3, 0.4, 0.5]]}}


def _score(url: str) -> dict:
    return httpx.post(f"{url}/invocations", json=ROW, timeout=WAIT).json()


def _expected(model) -> dict:
    import mlnb.pyfunc
    import pandas as pd

    frame = pd.DataFrame(ROW["dataframe_split"]["data"], columns=COLUMNS)
    return {"predictions": mlnb.pyfunc.load_model(model).predict(frame).tolist()}


def _refuses(url: str) -> bool:
    """True when nothing answers at ``url`` (a stopped server refuses at once; a live one on a loaded
    machine gets time to answer, so slowness never reads as stopped)."""
    try:
        httpx.get(f"{url}/ping", timeout=WAIT)
    except httpx.TransportError:
        return True
    return False


def test_serve_a_path_then_stop(tmp_path):
    model = save_logistic_model(tmp_path / "model")
    handle = mlnb.serve(str(model))
    try:
        assert handle.url.startswith("http://127.0.0.1:")
        assert handle.running
        assert _score(handle.url) == _expected(model)
    finally:
        handle.stop()
    assert not handle.running
    assert _refuses(handle.url)
    handle.stop()  # idempotent


def test_repr_carries_a_ready_to_paste_curl_example(tmp_path):
    model = save_logistic_model(tmp_path / "model")
    with mlnb.serving.serve(model, port=free_port()) as handle:
        text = repr(handle)
        assert handle.url in text and "running" in text
        curl = text.splitlines()[1].strip()
        assert curl == handle.curl and curl.startswith(f"curl -X POST {handle.url}/invocations")
        answer = subprocess.run(curl, shell=True, capture_output=True, text=True, timeout=WAIT)
        zero_row = {"dataframe_split": {"columns": COLUMNS, "data": [[0.0] * 5]}}
        assert json.loads(answer.stdout) == httpx.post(f"{handle.url}/invocations", json=zero_row, timeout=WAIT).json()
        assert set(json.loads(answer.stdout)) == {"predictions"}
        html = handle._repr_html_()
        assert handle.url in html and "curl -X POST" in html and "<pre" in html
    assert "stopped" in repr(handle)


def test_serves_loaded_models_and_plain_estimators(tmp_path):
    import mlnb.pyfunc

    model = save_logistic_model(tmp_path / "model")
    pyfunc_model = mlnb.pyfunc.load_model(model)
    with mlnb.serve(pyfunc_model) as a, mlnb.serve(pyfunc_model.get_raw_model()) as b:
        assert a.url != b.url
        assert _score(a.url) == _score(b.url) == _expected(model)


def test_several_workers_need_a_uri(tmp_path):
    import mlnb.pyfunc

    model = save_logistic_model(tmp_path / "model")
    with pytest.raises(InvalidParameterError, match="URI or path"):
        mlnb.serve(mlnb.pyfunc.load_model(model), workers=2)


def test_several_workers_serve_and_stop_when_the_kernel_exits(tmp_path):
    model = save_logistic_model(tmp_path / "model")
    script = (f"import json, httpx, mlnb; h = mlnb.serve({str(model)!r}, workers=2, timeout={WAIT}); print(h.url); "
              f"print(json.dumps(httpx.post(h.url + '/invocations', json={ROW!r}, timeout={WAIT}).json()), flush=True)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=2 * WAIT)
    assert result.returncode == 0, result.stderr
    url, answer = result.stdout.strip().splitlines()[-2:]
    assert url.startswith("http://127.0.0.1:")
    assert json.loads(answer) == _expected(model)
    assert _refuses(url)  # atexit stopped the child server


def test_import_mlnb_does_not_import_the_web_server():
    code = "import sys, mlnb, mlnb.serving; mlnb.serve; print('uvicorn' in sys.modules, 'starlette' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT)
    assert result.stdout.split() == ["False", "False"]

"""mlnb's scoring server against MLflow's: the same requests over real HTTP, the same answers.

Both servers serve one saved LogisticRegression (started once for the module). Where mlnb
deliberately answers differently (docs/serving.md, "Differences from MLflow"), the test says so.
"""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pandas as pd
import pytest

from tests._serving import COLUMNS, mlflow_serve_cmd, mlnb_serve_cmd, save_logistic_model, start, stop
from tests.conftest import WAIT, free_port

JSON = "application/json"
FRAME = pd.DataFrame(np.arange(15, dtype=float).reshape(3, 5) / 10 - 0.7, columns=COLUMNS)


def _parquet() -> bytes:
    buf = io.BytesIO()
    FRAME.to_parquet(buf)
    return buf.getvalue()


def _j(doc) -> str:
    return json.dumps(doc)


# name -> (content type, body)
CASES = {
    "dataframe_split": (JSON, _j({"dataframe_split": FRAME.to_dict(orient="split")})),
    "dataframe_split integers": (JSON, _j({"dataframe_split": {"columns": COLUMNS, "data": [[1, 2, 3, 4, 5]]}})),
    "dataframe_split one row": (JSON, _j({"dataframe_split": {"columns": COLUMNS, "data": [[0.1] * 5]}})),
    "dataframe_records": (JSON, _j({"dataframe_records": FRAME.to_dict(orient="records")})),
    "dataframe_records extra column": (JSON, _j({"dataframe_records": [{**r, "zz": 1} for r in FRAME.to_dict(orient="records")]})),
    "instances of objects": (JSON, _j({"instances": FRAME.to_dict(orient="records")})),
    "inputs as columns": (JSON, _j({"inputs": FRAME.to_dict(orient="list")})),
    "inputs as records": (JSON, _j({"inputs": FRAME.to_dict(orient="records")})),
    "inputs as records with integers": (JSON, _j({"inputs": [dict(zip(COLUMNS, range(5)))]})),
    "inputs as records missing a column": (JSON, _j({"inputs": [dict(zip(COLUMNS[:4], range(4)))]})),
    "params alongside input": (JSON, _j({"dataframe_split": FRAME.to_dict(orient="split"), "params": {"a": 1}})),
    "csv": ("text/csv", FRAME.to_csv(index=False)),
    "csv with charset": ("text/csv; charset=utf-8", FRAME.to_csv(index=False)),
    "json with charset": ("application/json; charset=UTF-8", _j({"dataframe_split": FRAME.to_dict(orient="split")})),
    "parquet": ("application/vnd.apache.parquet", _parquet()),
    "malformed json": (JSON, "{not json"),
    "json list": (JSON, "[1, 2]"),
    "json scalar": (JSON, "3"),
    "no input key": (JSON, "{}"),
    "two input keys": (JSON, _j({"inputs": [[1] * 5], "instances": [[1] * 5]})),
    "unknown key only": (JSON, _j({"foo": 1})),
    "split not an object": (JSON, _j({"dataframe_split": [1]})),
    "split without data": (JSON, _j({"dataframe_split": {"columns": COLUMNS}})),
    "split with extra field": (JSON, _j({"dataframe_split": {"data": [[1] * 5], "x": 1}})),
    "records not a list": (JSON, _j({"dataframe_records": {"a": 1}})),
    "missing column": (JSON, _j({"dataframe_split": {"columns": ["f0"], "data": [[1.0]]}})),
    "string in a double column": (JSON, _j({"dataframe_split": {"columns": COLUMNS, "data": [["a", 1, 2, 3, 4]]}})),
    "null in a double column": (JSON, _j({"dataframe_split": {"columns": COLUMNS, "data": [[None, 1, 2, 3, 4]]}})),
    "ragged rows": (JSON, _j({"dataframe_split": {"columns": COLUMNS, "data": [[1, 2], [1, 2, 3, 4, 5]]}})),
    "NaN token": (JSON, '{"dataframe_split": {"columns": ["f0","f1","f2","f3","f4"], "data": [[NaN,1,2,3,4]]}}'),
    "no rows": (JSON, _j({"dataframe_split": {"columns": COLUMNS, "data": []}})),
    "wrong width inputs": (JSON, _j({"inputs": [[1, 2, 3]]})),
    "unsupported content type": ("text/plain", "x"),
    "latin-1 charset": ("application/json; charset=latin-1", "{}"),
    "unknown content type parameter": ("application/json; foo=bar", "{}"),
    "empty content type": ("", "{}"),
    "malformed csv": ("text/csv", 'f0,f1\n1,2,3\n"unterminated'),
    "empty csv": ("text/csv", ""),
    "strings in csv": ("text/csv", "f0,f1,f2,f3,f4\na,b,c,d,e\n"),
    # CSV the numeric fast path must read exactly as MLflow's pandas reading does, or hand over
    "csv with CRLF line ends": ("text/csv", FRAME.to_csv(index=False, lineterminator="\r\n")),
    "csv with an empty cell": ("text/csv", "f0,f1,f2,f3,f4\n0.1,,0.3,0.4,0.5\n"),
    "csv with a short row": ("text/csv", "f0,f1,f2,f3,f4\n0.1,0.2,0.3,0.4,0.5\n0.1,0.2\n"),
    "csv with one extra field": ("text/csv", "f0,f1,f2,f3,f4\n9,0.1,0.2,0.3,0.4,0.5\n"),
    "csv with columns reordered": ("text/csv", "f4,f3,f2,f1,f0\n0.5,0.4,0.3,0.2,0.1\n"),
    "csv with a quoted header": ("text/csv", '"f0","f1","f2","f3","f4"\n0.1,0.2,0.3,0.4,0.5\n'),
    "csv with integers and exponents": ("text/csv", "f0,f1,f2,f3,f4\n1,2,3e-1,-4E2,5\n"),
    "csv with blank lines": ("text/csv", "f0,f1,f2,f3,f4\n\n0.1,0.2,0.3,0.4,0.5\n\n"),
    "csv header only": ("text/csv", "f0,f1,f2,f3,f4\n"),
    "malformed parquet": ("application/vnd.apache.parquet", b"PAR1garbage"),
    "invalid utf-8": (JSON, b'{"inputs": "\xff\xfe"}'),
}

# mlnb accepts positional rows when their width matches a named signature; MLflow refuses them (400).
ACCEPTED_BY_MLNB_ONLY = {
    "dataframe_split without columns": (JSON, _j({"dataframe_split": {"data": FRAME.to_numpy().tolist()}})),
    "instances as rows": (JSON, _j({"instances": FRAME.to_numpy().tolist()})),
    "inputs as rows": (JSON, _j({"inputs": FRAME.to_numpy().tolist()})),
}
# Same status, but mlnb's error_code names where the problem was found (signature vs parsing).
ERROR_CODE_DIFFERS = {"string in a double column", "wrong width inputs"}
# MLflow answers these 415s in plain text; mlnb in its JSON error format.
PLAIN_TEXT_IN_MLFLOW = {"unsupported content type", "latin-1 charset", "unknown content type parameter", "empty content type"}


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """(mlnb URL, MLflow URL), both serving the same model; stopped at the end of the module."""
    root = tmp_path_factory.mktemp("serving-protocol")
    model = save_logistic_model(root / "model")
    ports = free_port(), free_port()
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    procs = []
    try:
        procs.append(start(mlnb_serve_cmd(model, ports[0]), urls[0], root / "mlnb.log"))
        procs.append(start(mlflow_serve_cmd(model, ports[1]), urls[1], root / "mlflow.log"))
        yield urls[0], urls[1]
    finally:
        for proc in procs:
            stop(proc)


def _post(url: str, content_type: str, body) -> httpx.Response:
    content = body if isinstance(body, bytes) else body.encode()
    return httpx.post(f"{url}/invocations", content=content, headers={"Content-Type": content_type}, timeout=WAIT)


@pytest.mark.parametrize("name", list(CASES))
def test_same_answer_as_mlflow(servers, name):
    ours_url, theirs_url = servers
    content_type, body = CASES[name]
    ours, theirs = _post(ours_url, content_type, body), _post(theirs_url, content_type, body)
    assert ours.status_code == theirs.status_code, (ours.text, theirs.text)
    assert ours.headers["content-type"] == "application/json"
    doc = ours.json()  # always valid JSON
    if theirs.status_code == 200:
        assert doc == theirs.json()
        return
    assert isinstance(doc["message"], str) and doc["message"]
    if name in PLAIN_TEXT_IN_MLFLOW:
        assert doc["error_code"] == "BAD_REQUEST"
    elif name not in ERROR_CODE_DIFFERS:
        assert doc["error_code"] == theirs.json()["error_code"]


@pytest.mark.parametrize("name", list(ACCEPTED_BY_MLNB_ONLY))
def test_positional_rows_are_accepted_where_mlflow_refuses_them(servers, name):
    ours_url, theirs_url = servers
    content_type, body = ACCEPTED_BY_MLNB_ONLY[name]
    expected = _post(theirs_url, JSON, _j({"dataframe_split": FRAME.to_dict(orient="split")})).json()
    assert _post(ours_url, content_type, body).json() == expected
    assert _post(theirs_url, content_type, body).status_code == 400


def test_missing_content_type_is_415_where_mlflow_crashes(servers):
    ours_url, theirs_url = servers
    ours = httpx.post(f"{ours_url}/invocations", content=b"{}", timeout=WAIT)
    theirs = httpx.post(f"{theirs_url}/invocations", content=b"{}", timeout=WAIT)
    assert "content-type" not in ours.request.headers
    assert (ours.status_code, theirs.status_code) == (415, 500)
    assert "Content-Type" in ours.json()["message"]


@pytest.mark.parametrize("path", ["/ping", "/health"])
def test_health_endpoints_match(servers, path):
    ours, theirs = (httpx.get(f"{url}{path}", timeout=WAIT) for url in servers)
    assert (ours.status_code, ours.text) == (theirs.status_code, theirs.text) == (200, "\n")


def test_version_answers_with_mlnb_version(servers):
    import mlnb

    ours, theirs = (httpx.get(f"{url}/version", timeout=WAIT) for url in servers)
    assert ours.status_code == theirs.status_code == 200
    assert ours.text == mlnb.__version__


def test_unknown_path_is_a_json_404(servers):
    ours, theirs = (httpx.get(f"{url}/nope", timeout=WAIT) for url in servers)
    assert ours.status_code == theirs.status_code == 404
    assert ours.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_wrong_method_is_405(servers):
    ours, theirs = (httpx.get(f"{url}/invocations", timeout=WAIT) for url in servers)
    assert ours.status_code == theirs.status_code == 405
    assert ours.json()["error_code"] == "BAD_REQUEST"


def test_large_batch_predictions_match(servers):
    from sklearn.datasets import make_classification

    X, _ = make_classification(n_samples=2000, n_features=5, random_state=1)
    body = _j({"dataframe_split": {"columns": COLUMNS, "data": X.tolist()}})
    ours, theirs = (_post(url, JSON, body) for url in servers)
    assert ours.status_code == theirs.status_code == 200
    assert ours.json() == theirs.json()
    assert len(ours.json()["predictions"]) == 2000


# -- output shapes: models served in-process on a real port ----------------------------------
class _Returns:
    def __init__(self, value):
        self.value = value

    def predict(self, data):
        return self.value


@pytest.mark.parametrize("value, expected", [
    (np.array([np.nan, np.inf, -np.inf, 1.5]), [None, None, None, 1.5]),
    (pd.DataFrame({"a": [1, 2], "b": ["x", None]}), [{"a": 1, "b": "x"}, {"a": 2, "b": None}]),
    (pd.Series([0.5, np.nan], name="p"), [{"p": 0.5}, {"p": None}]),
    (np.array([[1, 2], [3, 4]]), [[1, 2], [3, 4]]),
    ({"label": np.array([1, 0])}, {"label": [1, 0]}),
    (3.5, 3.5),
])
def test_predictions_are_shaped_like_mlflow_and_always_valid_json(value, expected):
    import mlnb.serving

    with mlnb.serving.serve(_Returns(value)) as handle:
        response = httpx.post(f"{handle.url}/invocations", content=_j({"inputs": [[1.0]]}),
                              headers={"Content-Type": JSON}, timeout=WAIT)
    assert response.status_code == 200
    assert json.loads(response.text) == {"predictions": expected}  # strict JSON: no NaN tokens
    assert "NaN" not in response.text and "Infinity" not in response.text


def test_model_failure_is_400_with_stack_trace_in_debug_mode():
    import mlnb.serving

    class Broken:
        def predict(self, data):
            raise RuntimeError("boom")

    with mlnb.serving.serve(Broken(), debug=True) as handle:
        response = httpx.post(f"{handle.url}/invocations", content=_j({"inputs": [[1.0]]}),
                              headers={"Content-Type": JSON}, timeout=WAIT)
    assert response.status_code == 400
    doc = response.json()
    assert doc["error_code"] == "BAD_REQUEST" and "boom" in doc["message"] and "RuntimeError" in doc["stack_trace"]

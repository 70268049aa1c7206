"""The scoring server's limits, each tripped on a real server: the documented status and JSON error.

Header size, header count, header and body timeouts (the `mlnb models serve` flags), the
concurrency limit, /ping answering while a large body is read and scored, the warning for
0.0.0.0, and stack traces only in debug mode (checked against a real `mlflow models serve`).
"""

from __future__ import annotations

import json
import socket
import threading
import warnings

import httpx
import numpy as np
import pandas as pd
import pytest

from tests._serving import (COLUMNS, mlflow_serve_cmd, mlnb_serve_cmd, output_when_ready, read_response,
                            save_logistic_model, start, stop)
from tests.conftest import WAIT, free_port

JSON = "application/json"
ONE_ROW = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [[0.1, 0.2, 0.3, 0.4, 0.5]]}}).encode()


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """(port, process) of `mlnb models serve` with small limits on the head and the body."""
    root = tmp_path_factory.mktemp("serving-limits")
    model = save_logistic_model(root / "model")
    port = free_port()
    proc = start(mlnb_serve_cmd(model, port, "--max-header-size", "4096", "--max-headers", "20",
                                "--header-timeout", "1", "--body-timeout", "1", "--max-body-size", "65536"),
                 f"http://127.0.0.1:{port}", root / "server.log")
    yield port, proc
    stop(proc)


def _exchange(port: int, *parts: bytes) -> tuple[int, dict, bytes]:
    """Send ``parts`` on a new connection; (status, headers, body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        for part in parts:
            sock.sendall(part)
        return read_response(sock)


def _json_error(body: bytes, code: str, *words: str) -> None:
    doc = json.loads(body)
    assert doc["error_code"] == code
    for word in words:
        assert word in doc["message"]


# -- the request head ------------------------------------------------------------------------
def test_headers_larger_than_the_limit_are_a_431(limited):
    port, proc = limited
    status, headers, body = _exchange(port, b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n")
    assert status == 431 and headers["connection"] == "close"
    _json_error(body, "REQUEST_LIMIT_EXCEEDED", "4,096 bytes", "--max-header-size")
    assert _exchange(port, b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Ok: " + b"a" * 3000 + b"\r\n\r\n")[0] == 200
    assert proc.poll() is None


def test_a_head_sent_in_many_small_pieces_counts_as_a_whole(limited):
    port, _ = limited
    # each piece is far under the 4,096-byte limit; only the last one takes the head over it, so the
    # server's answer (and close) never races a client still sending
    pieces = [b"GET /ping HTTP/1.1\r\nHost: x\r\n"] + [b"X-A: " + b"a" * 500 + b"\r\n"] * 8 \
        + [b"X-B: " + b"b" * 100 + b"\r\n\r\n"]
    assert sum(map(len, pieces[:-1])) < 4096 < sum(map(len, pieces))
    status, _, body = _exchange(port, *pieces)
    assert status == 431
    _json_error(body, "REQUEST_LIMIT_EXCEEDED", "--max-header-size")


def test_too_many_header_lines_are_a_431(limited):
    port, _ = limited
    many = b"".join(b"X-%d: y\r\n" % i for i in range(25))
    status, headers, body = _exchange(port, b"GET /ping HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert status == 431 and headers["connection"] == "close"
    _json_error(body, "REQUEST_LIMIT_EXCEEDED", "20 header lines", "--max-headers")
    few = b"".join(b"X-%d: y\r\n" % i for i in range(15))
    assert _exchange(port, b"GET /ping HTTP/1.1\r\nHost: x\r\n" + few + b"\r\n")[0] == 200


def test_headers_that_never_finish_are_a_408(limited):
    port, _ = limited
    status, headers, body = _exchange(port, b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: appl")
    assert status == 408 and headers["connection"] == "close"
    _json_error(body, "DEADLINE_EXCEEDED", "headers", "--header-timeout")


def test_a_connection_that_sends_nothing_is_closed(limited):
    port, _ = limited
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        assert sock.recv(100) == b""  # closed by the server, without an answer


def test_the_head_limits_apply_to_every_request_on_a_keep_alive_connection(limited):
    port, _ = limited
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        for _ in range(3):  # a body larger than the head limit does not count as head
            body = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [[0.5] * 5] * 300}}).encode()
            assert len(body) > 4096
            sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)
            assert read_response(sock)[0] == 200
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n")
        assert read_response(sock)[0] == 431


# -- the body --------------------------------------------------------------------------------
def test_a_body_that_stops_arriving_is_a_408(limited):
    port, proc = limited
    head = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    status, headers, body = _exchange(port, head, b'{"inputs": ')
    assert status == 408 and headers["connection"] == "close"
    _json_error(body, "DEADLINE_EXCEEDED", "body", "--body-timeout")
    assert _exchange(port, head.replace(b"100", str(len(ONE_ROW)).encode()), ONE_ROW)[0] == 200
    assert proc.poll() is None


def test_a_body_over_the_limit_is_a_413_before_it_is_read(limited):
    port, _ = limited
    head = (b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000\r\n\r\n")
    status, _, body = _exchange(port, head)  # nothing of the body is sent: the answer comes anyway
    assert status == 413
    _json_error(body, "REQUEST_LIMIT_EXCEEDED", "65,536 bytes", "--max-body-size")


# -- concurrency -----------------------------------------------------------------------------
class _Gate:
    """A model whose predict waits until released, counting the calls that are waiting."""

    def __init__(self, inner=None, waiting_for: int = 1) -> None:
        self.inner = inner
        if inner is not None:
            self.metadata = inner.metadata  # the signature, so the server reads rows as for the model
        self.all_in = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._count, self._expected = 0, waiting_for

    def predict(self, data):
        with self._lock:
            self._count += 1
            if self._count >= self._expected:
                self.all_in.set()
        assert self.release.wait(120)
        return self.inner.predict(data) if self.inner is not None else [1] * len(data)


def test_more_requests_in_flight_than_the_limit_are_a_503():
    import mlnb.serving

    gate = _Gate(waiting_for=2)
    with mlnb.serving.serve(gate, max_concurrency=2) as handle:
        with httpx.Client(base_url=handle.url, timeout=60) as client:
            post = lambda: client.post("/invocations", content=ONE_ROW, headers={"Content-Type": JSON})  # noqa: E731
            threads = [threading.Thread(target=post) for _ in range(2)]
            for thread in threads:
                thread.start()
            assert gate.all_in.wait(60)  # both slots taken
            refused = post()
            assert refused.status_code == 503
            _json_error(refused.content, "TEMPORARILY_UNAVAILABLE", "2 requests", "--max-concurrency")
            assert client.get("/ping").status_code == 200  # health checks are not scoring requests
            gate.release.set()
            for thread in threads:
                thread.join()
            assert post().status_code == 200  # slots free again


def test_ping_answers_while_a_large_body_is_read_and_scored(tmp_path):
    """/ping completes after the large body is sent and before the model is called (while it is
    parsed), and again while the model runs; the large request completes last."""
    import mlnb.pyfunc
    import mlnb.serving

    gate = _Gate(mlnb.pyfunc.load_model(save_logistic_model(tmp_path / "model")))
    rows = np.random.default_rng(0).normal(size=(300_000, 5))
    body = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": rows.tolist()}}).encode()
    events: list[str] = []
    answer: dict = {}
    with mlnb.serving.serve(gate) as handle:
        port = int(handle.url.rsplit(":", 1)[1])
        sent = threading.Event()

        def big() -> None:
            with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
                sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body) + body)
                events.append("sent")
                sent.set()
                answer["status"], _, answer["body"] = read_response(sock)
                events.append("answered")

        thread = threading.Thread(target=big)
        thread.start()
        assert sent.wait(120)
        with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
            while not gate.all_in.is_set():
                sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
                assert read_response(sock)[0] == 200
                events.append("ping" if not gate.all_in.is_set() else "ping in predict")
            events.append("predict")
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock)[0] == 200
            events.append("ping in predict")
        gate.release.set()
        thread.join(120)
    assert answer["status"] == 200
    expected = gate.inner.predict(pd.DataFrame(rows, columns=COLUMNS)).tolist()
    assert json.loads(answer["body"])["predictions"] == expected  # read piecewise, answered as a whole parse would be
    assert events[0] == "sent" and events[-1] == "answered"
    assert "ping" in events[:events.index("predict")]
    assert events[events.index("predict") + 1] == "ping in predict"


# -- the network warning ---------------------------------------------------------------------
def test_binding_every_interface_prints_the_addresses_and_a_warning(tmp_path):
    model = save_logistic_model(tmp_path / "model")
    port = free_port()
    proc = start(mlnb_serve_cmd(model, port, "-h", "0.0.0.0"), f"http://127.0.0.1:{port}", tmp_path / "server.log")
    try:
        out = output_when_ready(proc, "Try it:")
    finally:
        stop(proc)
    serving = next(line for line in out.splitlines() if line.startswith("mlnb is serving"))
    assert f"http://127.0.0.1:{port}" in serving and "0.0.0.0" not in serving
    warning = [line for line in out.splitlines() if line.startswith("Warning:")]
    assert len(warning) == 1 and "over the network" in warning[0] and "0.0.0.0" in warning[0]
    assert "-h 127.0.0.1" in warning[0]


def test_local_serving_prints_no_warning(tmp_path):
    model = save_logistic_model(tmp_path / "model")
    port = free_port()
    proc = start(mlnb_serve_cmd(model, port), f"http://127.0.0.1:{port}", tmp_path / "server.log")
    try:
        out = output_when_ready(proc, "Try it:")
    finally:
        stop(proc)
    assert f"at http://127.0.0.1:{port} (1 worker)" in out and "Warning" not in out


def test_serve_in_a_notebook_on_every_interface_warns():
    import mlnb.serving

    with pytest.warns(UserWarning, match="over the network"):
        handle = mlnb.serving.serve(_Gate(), host="0.0.0.0")
    handle.stop()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mlnb.serving.serve(_Gate()).stop()


# -- stack traces ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def failing(tmp_path_factory):
    """URLs of mlnb (default), mlnb --debug and MLflow serving a model that fails on 3-wide rows, and mlnb's log."""
    from sklearn.linear_model import LogisticRegression

    import mlnb.sklearn

    root = tmp_path_factory.mktemp("serving-failing")
    X = np.random.default_rng(0).normal(size=(50, 5))
    mlnb.sklearn.save_model(LogisticRegression().fit(X, X[:, 0] > 0), root / "model")  # no signature
    ports = [free_port() for _ in range(3)]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    cmds = [mlnb_serve_cmd(root / "model", ports[0]), mlnb_serve_cmd(root / "model", ports[1], "--debug"),
            mlflow_serve_cmd(root / "model", ports[2])]
    procs = []
    try:
        for cmd, url, name in zip(cmds, urls, ("mlnb", "debug", "mlflow")):
            procs.append(start(cmd, url, root / f"{name}.log"))
        yield urls, root / "mlnb.log"
    finally:
        for proc in procs:
            stop(proc)


def test_a_model_error_has_no_stack_trace_unless_debug_but_the_log_keeps_it(failing):
    (ours, debug, theirs), log = failing
    bad = json.dumps({"inputs": [[1.0, 2.0, 3.0]]})
    answers = [httpx.post(f"{url}/invocations", content=bad, headers={"Content-Type": JSON}, timeout=30)
               for url in (ours, debug, theirs)]
    assert [a.status_code for a in answers] == [400, 400, 400]
    assert {a.json()["error_code"] for a in answers} == {"BAD_REQUEST"}
    assert "stack_trace" in answers[2].json()  # MLflow always sends it
    assert "stack_trace" not in answers[0].json()
    assert "Traceback" in answers[1].json()["stack_trace"] and "ValueError" in answers[1].json()["stack_trace"]
    assert answers[0].json()["message"] == answers[1].json()["message"]
    logged = log.read_text()
    assert "Traceback" in logged and "ValueError" in logged and "features" in logged


def test_stack_trace_in_the_answer_with_debug_in_a_notebook(caplog):
    import mlnb.serving

    class Broken:
        def predict(self, data):
            raise RuntimeError("boom")

    for debug in (False, True):
        with mlnb.serving.serve(Broken(), debug=debug) as handle:
            doc = httpx.post(f"{handle.url}/invocations", content=ONE_ROW, headers={"Content-Type": JSON},
                             timeout=WAIT).json()
        assert doc["error_code"] == "BAD_REQUEST" and "boom" in doc["message"]
        assert ("stack_trace" in doc) is debug
    assert sum("RuntimeError: boom" in r.getMessage() and "Traceback" in r.getMessage() for r in caplog.records) == 2


# -- the limits as values --------------------------------------------------------------------
def test_limits_are_checked_and_named():
    from mlnb.errors import InvalidParameterError
    from mlnb.serving.limits import CLI_FLAGS, Limits, limits_from

    with pytest.raises(InvalidParameterError, match="max_body"):
        Limits(max_body=0)
    with pytest.raises(InvalidParameterError, match="Unknown serving limit"):
        limits_from({"max_bodies": 1})
    args = Limits(max_concurrency=3, debug=True).to_args()
    assert args[args.index("--max-concurrency") + 1] == "3" and "--debug" in args
    assert set(CLI_FLAGS) == {f for f in Limits.__dataclass_fields__}


def test_a_response_head_waits_for_its_body_and_goes_out_with_it():
    """OneWriteTransport, on a real socket pair: a head is held until the body (one send with it),
    until the loop's turn ends when no body follows, or until close; large bodies are not copied."""
    import asyncio
    import socket

    from mlnb.serving.protocol import OneWriteTransport

    async def scenario() -> list:
        ours, peer = socket.socketpair()
        peer.setblocking(False)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
        wrapped = OneWriteTransport(transport)
        seen = []

        def pending() -> bytes:
            try:
                return peer.recv(1 << 20)
            except BlockingIOError:
                return b""

        wrapped.write(b"HEAD\r\n\r\n")
        seen.append(pending())                      # held: nothing sent yet
        wrapped.write(b"body")
        seen.append(pending())                      # head and body in one piece
        wrapped.write(b"HEAD-ONLY")
        await asyncio.sleep(0)                      # the loop's turn ends: sent alone
        await asyncio.sleep(0)
        seen.append(pending())
        wrapped.write(b"LAST")
        wrapped.close()                             # close sends what is held first
        await asyncio.sleep(0.05)
        seen.append(pending())
        peer.close()
        return seen

    assert asyncio.run(scenario()) == [b"", b"HEAD\r\n\r\nbody", b"HEAD-ONLY", b"LAST"]

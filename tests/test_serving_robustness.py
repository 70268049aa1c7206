"""The scoring server under bad input, load and failure: no 5xx, no crash, no leak, clear errors."""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests._serving import COLUMNS, RawClient, mlnb_serve_cmd, save_logistic_model, start, stop
from tests.conftest import WAIT, free_port

JSON = "application/json"
ONE_ROW = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [[0.1, 0.2, 0.3, 0.4, 0.5]]}}).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(url, process) of ``mlnb models serve`` with a 64 KiB body limit."""
    root = tmp_path_factory.mktemp("serving-robustness")
    model = save_logistic_model(root / "model")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(mlnb_serve_cmd(model, port, "--max-body-size", "65536"), url, root / "server.log")
    yield url, proc
    stop(proc)


# -- fuzz ------------------------------------------------------------------------------------
_CONTENT_TYPES = [
    None, "", JSON, "text/csv", "application/vnd.apache.parquet", "application/json; charset=utf-8",
    "application/json; charset=utf-16", "text/csv; header=present", "APPLICATION/JSON", "text/plain",
    "multipart/form-data; boundary=x", "application/json;;;", "application/json; charset", ";", "x/y",
    "application/x-www-form-urlencoded", "image/png", "application/json; charset=\"utf-8\"",
]
_VALID = [
    ONE_ROW,
    json.dumps({"dataframe_records": [dict(zip(COLUMNS, [0.1] * 5))]}).encode(),
    json.dumps({"instances": [[1, 2, 3, 4, 5]]}).encode(),
    json.dumps({"inputs": {c: [1.0] for c in COLUMNS}}).encode(),
    ("f0,f1,f2,f3,f4\n" + "0.1,0.2,0.3,0.4,0.5\n" * 3).encode(),
]
_ATOMS = [None, True, False, 0, -1, 1e308, -1e308, 2**70, "", "x", "NaN", [], {}, [[]], [None], {"a": None},
          "\u0000", "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"), [1.5] * 5, [[1.5] * 5]]
_KEYS = ["dataframe_split", "dataframe_records", "instances", "inputs", "params", "columns", "data", "index", "x"]


def _random_json(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth > 3 or roll < 0.35:
        return rng.choice(_ATOMS)
    if roll < 0.65:
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(_KEYS): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _mutate(rng: random.Random, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 6)):
        op = rng.random()
        pos = rng.randrange(len(data) + 1)
        if op < 0.4 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op < 0.7:
            data[pos:pos] = bytes(rng.choice(b'{}[]",:0.-eE\\ \n\xff') for _ in range(rng.randint(1, 4)))
        else:
            del data[pos:pos + rng.randint(1, 8)]
    return bytes(data)


def _fuzz_request(rng: random.Random) -> tuple[bytes, dict]:
    kind = rng.random()
    if kind < 0.25:
        body = _mutate(rng, rng.choice(_VALID))
    elif kind < 0.5:
        body = json.dumps(_random_json(rng)).encode()
    elif kind < 0.6:
        body = json.dumps({rng.choice(_KEYS[:4]): _random_json(rng), "params": _random_json(rng)}).encode()
    elif kind < 0.7:
        body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
    elif kind < 0.75:
        n = rng.randint(100, 3000)
        body = b"[" * n + b"]" * rng.choice([0, n])  # deep nesting
    elif kind < 0.8:
        body = b"f0,f1,f2,f3,f4\n" + b"\n".join(
            b",".join(rng.choice([b"1", b"x", b"", b"NaN", b'"', b"1e999"]) for _ in range(rng.randint(0, 7)))
            for _ in range(rng.randint(0, 5)))
    else:
        body = rng.choice(_VALID)
    headers = {}
    content_type = rng.choice(_CONTENT_TYPES)
    if content_type is not None:
        headers["Content-Type"] = content_type
    if rng.random() < 0.2:
        headers[f"X-Fuzz-{rng.randint(0, 9)}"] = "".join(chr(rng.randint(32, 126)) for _ in range(rng.randint(0, 50))).strip()
    if rng.random() < 0.1:
        headers["Accept"] = rng.choice(["text/csv", "*/*", "application/xml", "??"])
    return body, headers


def test_fuzzed_requests_never_get_a_5xx(server):
    url, proc = server
    rng = random.Random(20261126)
    statuses = {}
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(1200):
            body, headers = _fuzz_request(rng)
            path = "/invocations" if rng.random() < 0.95 else rng.choice(["/", "/invocations/", "/ping?x=1", "/%ff"])
            response = client.post(path, content=body, headers=headers)
            assert response.status_code < 500, (i, body[:200], headers, response.text[:500])
            if response.status_code != 200:
                assert "error_code" in response.json()
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert client.get("/ping").status_code == 200
    assert proc.poll() is None
    assert statuses.get(200, 0) > 50 and statuses.get(400, 0) > 300 and statuses.get(415, 0) > 100


# -- size limit ------------------------------------------------------------------------------
def test_over_large_body_is_413_naming_the_limit(server):
    url, _ = server
    big = b'{"inputs": [' + b"1.0," * 20000 + b"1.0]}"
    response = httpx.post(f"{url}/invocations", content=big, headers={"Content-Type": JSON}, timeout=30)
    assert response.status_code == 413
    assert response.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert "65,536 bytes" in response.json()["message"]

    def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(20):
            yield b" " * 8192

    chunked = httpx.post(f"{url}/invocations", content=chunks(), headers={"Content-Type": JSON}, timeout=30)
    assert chunked.status_code == 413
    assert httpx.post(f"{url}/invocations", content=ONE_ROW, headers={"Content-Type": JSON},
                      timeout=WAIT).status_code == 200


# -- load and memory ---------------------------------------------------------------------------
def test_concurrency_32_without_errors(server):
    url, _ = server

    def client(_):
        with RawClient(url) as c:
            return [c.post(ONE_ROW, JSON) for _ in range(60)]

    with ThreadPoolExecutor(32) as pool:
        results = [r for batch in pool.map(client, range(32), timeout=120) for r in batch]
    assert len(results) == 32 * 60
    assert set(results) == {(200, b'{"predictions":[1]}')}


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


_MIXED = [(ONE_ROW, JSON), (("f0,f1,f2,f3,f4\n" + "0.1,0.2,0.3,0.4,0.5\n" * 3).encode(), "text/csv"),
          (json.dumps({"dataframe_records": [dict(zip(COLUMNS, [0.5] * 5))] * 3}).encode(), JSON),
          (b"{bad", JSON)]


def _hammer(url: str, count: int) -> None:
    row = {"columns": COLUMNS, "data": [[0.1, 0.2, 0.3, 0.4, 0.5]]}
    with RawClient(url) as c:
        for i in range(count):
            body, content_type = _MIXED[i % len(_MIXED)]
            if i % 5 == 4:  # a param name never seen before: per-request warnings must not pile up
                body = json.dumps({"dataframe_split": row, "params": {f"p{i}": 1}}).encode()
            assert c.post(body, content_type)[0] in (200, 400)


def test_memory_does_not_grow_over_10000_requests(server):
    url, proc = server
    _hammer(url, 1000)  # warm up: caches, allocator arenas, thread pool
    before = _rss_kb(proc.pid)
    _hammer(url, 10000)
    growth_mb = (_rss_kb(proc.pid) - before) / 1024
    assert growth_mb < 10, f"RSS grew {growth_mb:.1f} MB over 10,000 requests"


# -- failures --------------------------------------------------------------------------------
def test_slow_prediction_is_504_and_the_server_keeps_answering():
    import pandas  # noqa: F401  (warm: the first request must not pay the import inside its timeout)

    import mlnb.serving

    blocking, release = threading.Event(), threading.Event()

    class Slow:
        def predict(self, data):
            if blocking.is_set():
                release.wait(30)
            return [1]

    with mlnb.serving.serve(Slow(), timeout=1) as handle, httpx.Client(base_url=handle.url, timeout=60) as client:
        post = lambda: client.post("/invocations", content=ONE_ROW, headers={"Content-Type": JSON})  # noqa: E731
        assert post().json() == {"predictions": [1]}  # warm-up: the worker thread exists, pandas is loaded
        blocking.set()
        response = post()  # the model blocks until released, well past the timeout
        assert response.status_code == 504
        assert response.json()["error_code"] == "DEADLINE_EXCEEDED"
        assert "1 s" in response.json()["message"]
        assert client.get("/ping").status_code == 200
        blocking.clear()
        release.set()
        assert post().json() == {"predictions": [1]}


@pytest.mark.parametrize("make_model", ["missing", "corrupt"])
def test_model_that_fails_to_load_exits_nonzero_with_a_clear_message(tmp_path, make_model):
    model = tmp_path / "model"
    if make_model == "corrupt":
        save_logistic_model(model)
        (model / "model.skops").write_bytes(b"not a skops file")
    result = subprocess.run(mlnb_serve_cmd(model, free_port()), capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "could not load the model" in result.stderr
    assert str(model) in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


# -- where requests are scored ---------------------------------------------------------------
def test_placement_moves_small_requests_to_the_loop_only_after_a_quick_streak():
    from mlnb.serving.app import Placement

    placement = Placement(small=1000, budget=0.002, streak=3)
    assert not placement.on_loop(10)  # nothing known about the model yet: the thread, with its timeout
    for _ in range(3):
        placement.record(10, 0.0005)
    assert placement.on_loop(10)
    assert not placement.on_loop(1001)  # large bodies always go to the thread
    placement.record(5000, 10.0)  # a slow large request says nothing about small ones
    assert placement.on_loop(10)
    placement.record(10, 0.5)  # one slow small request ends the streak
    assert not placement.on_loop(10)
    for _ in range(2):
        placement.record(10, 0.0005)
    assert not placement.on_loop(10)
    placement.record(10, 0.0005)
    assert placement.on_loop(10)


def test_placement_judges_quickness_by_cpu_time_so_a_busy_machine_keeps_quick_models_on_the_loop():
    from mlnb.serving.app import Placement

    placement = Placement(small=1000, budget=0.002, streak=2, slack=10)
    for _ in range(2):
        placement.record(10, 0.008, cpu_seconds=0.0004)  # preempted by other processes: 8 ms wall, 0.4 ms CPU
    assert placement.on_loop(10)
    placement.record(10, 0.05, cpu_seconds=0.0001)  # waited (I/O, sleep) far past the wall bound
    assert not placement.on_loop(10)
    for _ in range(2):
        placement.record(10, 0.001, cpu_seconds=0.0009)
    assert placement.on_loop(10)
    placement.record(10, 0.003, cpu_seconds=0.003)  # the scoring itself is over the budget
    assert not placement.on_loop(10)


def test_a_model_that_turns_slow_is_bounded_by_the_timeout_again():
    """Quick small requests run on the event loop; once the model turns slow, the timeout holds again.

    The request that breaks the streak runs on the loop and cannot be interrupted (documented);
    the next one is back in a worker thread and gets its 504. Large bodies never leave the thread.
    Where each prediction ran is read from the thread that ran it: the server's own thread is the
    event loop's.
    """
    import pandas  # noqa: F401  (warm: no cold import inside the timeout)

    import mlnb.serving

    class TurnsSlow:
        def __init__(self) -> None:
            self.ran_in: list[str] = []
            self.mode = "quick"
            self.release = threading.Event()

        def predict(self, data):
            self.ran_in.append(threading.current_thread().name)
            if self.mode == "slow once":
                self.mode = "blocking"
                time.sleep(0.05)  # far over the 2 ms budget: ends the quick streak
            elif self.mode == "blocking":
                self.release.wait(30)
            return [1] * len(data)

    model = TurnsSlow()
    big = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [[0.5] * 5] * 3000}}).encode()
    assert len(big) > 64 * 1024

    with mlnb.serving.serve(model, timeout=1) as handle, httpx.Client(base_url=handle.url, timeout=60) as client:
        post = lambda body: client.post("/invocations", content=body, headers={"Content-Type": JSON})  # noqa: E731
        loop_thread = f"mlnb-serve-{handle.url.rsplit(':', 1)[1]}"
        for _ in range(20):
            assert post(ONE_ROW).status_code == 200
        assert model.ran_in[0] != loop_thread and model.ran_in[-1] == loop_thread  # the streak moved them
        model.mode = "blocking"
        assert post(big).status_code == 504  # large: in a worker thread from the start
        assert model.ran_in[-1] != loop_thread
        model.mode = "slow once"
        assert post(ONE_ROW).status_code == 200  # the streak-breaker ran on the loop, to the end
        assert model.ran_in[-1] == loop_thread
        assert post(ONE_ROW).status_code == 504  # back in a worker thread, bounded by the timeout
        assert model.ran_in[-1] != loop_thread
        model.release.set()
        assert client.get("/ping").status_code == 200

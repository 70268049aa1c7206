"""One 100 MB request: the scoring server's peak memory and its /ping latency while it scores.

``mlnb models serve`` and ``mlflow models serve`` serve the same LogisticRegression (5 double
columns), one worker each, on 127.0.0.1, in one run. Each gets the same bodies: a 100 MB JSON
``dataframe_split`` and a 100 MB CSV of the same kind of rows. For each body and server, in
alternating rounds (MLNB_BENCH_ROUNDS, default 3): the peak-RSS counter of the server's processes
is reset (``/proc/<pid>/clear_refs``), a client sends the body while another polls ``GET /ping``
on a keep-alive connection every 10 ms, and when the answer is in, the peak RSS (``VmHWM``) of the
process that scored and the ping latencies are read. Figures are medians over rounds.

Goals (issue 11): mlnb's peak RSS <= 4x the body size, /ping p99 < 50 ms. MLflow may need several
GB for one such body; MLNB_BENCH_ABUSE_MB (default 100) makes the bodies smaller.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import statistics
import sys
import threading
import time

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _util import fmt_time, scratch_dir  # noqa: E402
from bench_serve import _free_port, _start, _stop  # noqa: E402

COLUMNS = [f"f{i}" for i in range(5)]
ROUNDS = int(os.environ.get("MLNB_BENCH_ROUNDS", "3"))
BODY_MB = float(os.environ.get("MLNB_BENCH_ABUSE_MB", "100"))
MB = 1024 * 1024


def _bodies(work: pathlib.Path, size: int) -> list[tuple[str, str, pathlib.Path]]:
    """(name, content type, file) of a JSON and a CSV body of about ``size`` bytes each."""
    import numpy as np

    rng = np.random.default_rng(0)
    rows = rng.normal(size=(max(1, size // 100), 5))
    json_path, csv_path = work / "body.json", work / "body.csv"
    text = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": rows.tolist()}})
    json_path.write_text(text)
    del text
    with open(csv_path, "w") as f:
        f.write(",".join(COLUMNS) + "\n")
        for start in range(0, len(rows), 100_000):
            f.write("\n".join(",".join(map(repr, r)) for r in rows[start:start + 100_000].tolist()) + "\n")
    return [("JSON dataframe_split", "application/json", json_path), ("CSV", "text/csv", csv_path)]


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peaks(pids: list[int]) -> None:
    for pid in pids:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS


class _Pinger(threading.Thread):
    """GET /ping on one keep-alive connection every 10 ms; records each latency."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.latencies: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        request = b"GET /ping HTTP/1.1\r\nHost: bench\r\n\r\n"
        while not self.stop.is_set():
            start = time.perf_counter()
            self.sock.sendall(request)
            _read_response(self.sock)
            self.latencies.append(time.perf_counter() - start)
            self.stop.wait(0.01)
        self.sock.close()


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(v) for k, _, v in (line.partition(b":") for line in lines[1:]) if k.strip().lower() == b"content-length")
    while len(rest) < length:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        rest += chunk
    return int(lines[0].split()[1]), rest[:length]


def _one_round(port: int, server_pid: int, content_type: str, body: bytes) -> dict:
    pids = _tree(server_pid)
    _reset_peaks(pids)
    base = {pid: _status_kb(pid, "VmRSS") for pid in pids}
    pinger = _Pinger(port)
    pinger.start()
    time.sleep(0.1)
    sent_at = len(pinger.latencies)
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=600) as sock:
        sock.sendall(f"POST /invocations HTTP/1.1\r\nHost: bench\r\nContent-Type: {content_type}\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode())
        sock.sendall(body)
        status, answer = _read_response(sock)
    elapsed = time.perf_counter() - start
    during = len(pinger.latencies)
    pinger.stop.set()
    pinger.join()
    peaks = {pid: _status_kb(pid, "VmHWM") for pid in pids}
    scorer = max(peaks, key=peaks.get)  # the process that scored: the largest peak
    pings = sorted(pinger.latencies[sent_at:during]) or [float("nan")]
    return {"status": status, "seconds": elapsed, "peak": peaks[scorer] * 1024, "base": base[scorer] * 1024,
            "p50": pings[len(pings) // 2], "p99": pings[min(len(pings) - 1, int(len(pings) * 0.99))],
            "max": pings[-1], "pings": len(pings), "answer": answer[:60]}


def main() -> int:
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    import mlnb.sklearn
    from mlnb.models.signature import infer_signature

    work = scratch_dir("mlnb-bench-abuse-")
    X, y = make_classification(n_samples=1000, n_features=5, n_informative=3, random_state=0)
    frame = pd.DataFrame(X, columns=COLUMNS)
    model_dir = work / "model"
    mlnb.sklearn.save_model(LogisticRegression().fit(frame, y), model_dir, signature=infer_signature(frame, y))
    bodies = _bodies(work, int(BODY_MB * MB))

    ports = _free_port(), _free_port()
    procs = []
    try:
        procs.append(_start([sys.executable, "-m", "mlnb.cli", "models", "serve", "-m", str(model_dir),
                             "-p", str(ports[0]), "--max-body-size", str(int(BODY_MB * MB * 1.2))],
                            ports[0], work / "mlnb.log"))
        procs.append(_start([sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model_dir),
                             "-p", str(ports[1]), "--env-manager", "local"], ports[1], work / "mlflow.log"))
        results = []
        for name, content_type, path in bodies:
            body = path.read_bytes()
            rounds = [[_one_round(port, proc.pid, content_type, body) for port, proc in zip(ports, procs)]
                      for _ in range(ROUNDS)]
            results.append((name, len(body), [[r[i] for r in rounds] for i in (0, 1)]))
            del body
        _print(results)
        return 0
    finally:
        for proc in procs:
            _stop(proc)


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _print(results) -> None:
    print(f"\n## one large request, 1 worker each, 127.0.0.1 (median of {ROUNDS} alternating rounds); "
          f"same model, same body for both")
    print(f"{'body':<28} {'server':<7} {'status':>6} {'time':>8} {'peak RSS':>10} {'x body':>7} {'idle RSS':>9} "
          f"{'/ping p50':>10} {'p99':>9} {'max':>9} {'pings':>6}")
    goals = []
    for name, size, (ours, theirs) in results:
        for server, runs in (("mlnb", ours), ("mlflow", theirs)):
            statuses = sorted({r["status"] for r in runs})
            peak = _median(runs, "peak")
            print(f"{name + f' {size / MB:.0f} MB':<28} {server:<7} {'/'.join(map(str, statuses)):>6} "
                  f"{fmt_time(_median(runs, 'seconds')):>8} {peak / MB:>8.0f} MB {peak / size:>6.1f}x "
                  f"{_median(runs, 'base') / MB:>7.0f} MB {fmt_time(_median(runs, 'p50')):>10} "
                  f"{fmt_time(_median(runs, 'p99')):>9} {fmt_time(_median(runs, 'max')):>9} {int(_median(runs, 'pings')):>6}")
            if any(r["status"] != 200 for r in runs):
                print(f"    {server} answered {runs[0]['answer']!r}")
        peak, p99 = _median(ours, "peak") / size, _median(ours, "p99")
        goals.append(f"{name}: mlnb peak RSS {peak:.1f}x the body (goal <= 4x: {'met' if peak <= 4 else 'MISSED'}), "
                     f"/ping p99 {fmt_time(p99)} (goal < 50 ms: {'met' if p99 < 0.05 else 'MISSED'}); "
                     f"MLflow {_median(theirs, 'peak') / size:.1f}x and {fmt_time(_median(theirs, 'p99'))}")
    print()
    for line in goals:
        print(line)
    with open("/proc/loadavg") as f:
        print(f"load average: {' '.join(f.read().split()[:3])}")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())

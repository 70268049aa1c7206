"""Scoring server throughput: ``mlnb models serve`` vs ``mlflow models serve``, driven by wrk.

Same LogisticRegression, same worker count (MLNB_BENCH_WORKERS, default 1), both on 127.0.0.1,
one run. Each case is a fixed request body POSTed by wrk (Lua script); both servers get a warm-up,
then MLNB_BENCH_ROUNDS rounds (default 5) of MLNB_BENCH_SECONDS each (default 4), alternating
mlnb and MLflow so that drift in the machine's speed reaches both alike. Figures are the medians
over rounds. The in-process ``predict`` time of the same batch is printed alongside, as the limit
a server approaches: through ``mlnb.pyfunc`` (DataFrame, signature check) and the raw estimator on a
float array. The one-row limit in the goals is the raw estimator's predict on a float64 array; its
predict on the same row as a DataFrame is printed next to it. Needs Debian's ``wrk`` (``apt-get install -y wrk``).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _util import best_of, fmt_time, report  # noqa: E402

COLUMNS = [f"f{i}" for i in range(5)]
WORKERS = int(os.environ.get("MLNB_BENCH_WORKERS", "1"))
SECONDS = int(os.environ.get("MLNB_BENCH_SECONDS", "4"))
ROUNDS = int(os.environ.get("MLNB_BENCH_ROUNDS", "5"))

_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "%(content_type)s"
local f = assert(io.open("%(body)s", "rb"))
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
                 + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
           latency:percentile(50), latency:percentile(99), errors))
end
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    from mlnb.serving.server import wait_until_ready

    if not wait_until_ready(url, time.monotonic() + timeout, lambda: proc.poll() is None):
        raise RuntimeError(f"server at {url} did not start (exit status {proc.poll()})")


def _start(cmd: list[str], port: int, log: pathlib.Path) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    _wait(f"http://127.0.0.1:{port}", proc)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wrk(url: str, script: pathlib.Path, connections: int, seconds: int, path: str = "/invocations") -> dict:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), f"{url}{path}"],
        capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT"))
    requests, duration_us, p50, p99, errors = map(int, line.split()[1:])
    return {"rps": requests / (duration_us / 1e6), "p50": p50 / 1e6, "p99": p99 / 1e6, "errors": errors}


_PING_LUA = """
wrk.method = "GET"
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.requests, summary.duration,
           latency:percentile(50), latency:percentile(99), summary.errors.status))
end
"""


def _goals(rows, details, ping_rate: float, raw_one_row: float) -> list[tuple[str, bool, str]]:
    """(goal, met, figure) for each of the serving goals."""
    rate = {name: (ours["rps"], theirs["rps"]) for name, ours, theirs, _, _ in details}
    p99_4 = next(ours["p99"] for name, ours, _, _, conns in details if name.startswith("1-row") and conns == 4)
    one, one_mlflow = rate["1-row JSON (dataframe_split)"]
    single = rate["1-row JSON, one connection"][0]
    limit = 1 / raw_one_row
    budget = 1.5 * (raw_one_row + 1 / ping_rate)      # 1.5 x (raw predict + HTTP alone)
    ratio = {name: ours / theirs for name, ours, theirs in rows}
    return [
        ("1-row requests >= 20x MLflow", one / one_mlflow >= 20, f"{one / one_mlflow:.1f}x"),
        ("1-row requests >= 50% of the raw predict rate on one core", one >= 0.5 * limit,
         f"{one:,.0f} req/s = {100 * one / limit:.0f}% of {limit:,.0f}/s"),
        ("1-row request <= 1.5x (raw predict + HTTP alone), one connection", 1 / single <= budget,
         f"{fmt_time(1 / single)} per request; budget {fmt_time(budget)} = 1.5 x ({fmt_time(raw_one_row)} "
         f"+ {fmt_time(1 / ping_rate)} for GET /ping)"),
        ("1-row p99 < 5 ms at 4 connections", p99_4 < 0.005, fmt_time(p99_4)),
        ("10,000-row CSV >= 4x MLflow", ratio["10,000-row CSV rows/s"] >= 4, f"{ratio['10,000-row CSV rows/s']:.1f}x"),
        ("100 records >= 10x MLflow", ratio["100-record JSON (dataframe_records) rows/s"] >= 10,
         f"{ratio['100-record JSON (dataframe_records) rows/s']:.1f}x"),
    ]


def _median(results) -> dict:
    """Per-key median of several wrk results; errors are summed over all of them."""
    import statistics

    results = list(results)
    merged = {key: statistics.median(r[key] for r in results) for key in results[0]}
    merged["errors"] = sum(r["errors"] for r in results)
    return merged


def main() -> int:
    if shutil.which("wrk") is None:
        print("bench_serve needs wrk: apt-get install -y wrk", file=sys.stderr)
        return 1
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    import mlnb.pyfunc
    import mlnb.sklearn
    from mlnb.models.signature import infer_signature

    work = pathlib.Path(tempfile.mkdtemp(prefix="mlnb-bench-serve-"))
    procs = []
    try:
        X, y = make_classification(n_samples=1000, n_features=5, n_informative=3, random_state=0)
        frame = pd.DataFrame(X, columns=COLUMNS)
        model_dir = work / "model"
        mlnb.sklearn.save_model(LogisticRegression().fit(frame, y), model_dir,
                                signature=infer_signature(frame, y))
        loaded = mlnb.pyfunc.load_model(model_dir)
        estimator = loaded.get_raw_model()  # the floor: scikit-learn's predict on a float array

        rng = np.random.default_rng(0)
        big = pd.DataFrame(rng.normal(size=(10_000, 5)), columns=COLUMNS)
        # (case, content type, body, rows per request, connections, in-process batch)
        cases = [
            ("1-row JSON (dataframe_split)", "application/json",
             json.dumps({"dataframe_split": big.iloc[:1].to_dict(orient="split") | {"index": None}}), 1, 4, big.iloc[:1]),
            ("1-row JSON, one connection", "application/json",
             json.dumps({"dataframe_split": big.iloc[:1].to_dict(orient="split") | {"index": None}}), 1, 1, big.iloc[:1]),
            ("100-record JSON (dataframe_records)", "application/json",
             json.dumps({"dataframe_records": big.iloc[:100].to_dict(orient="records")}), 100, 4, big.iloc[:100]),
            ("10,000-row JSON (dataframe_split)", "application/json",
             json.dumps({"dataframe_split": {"columns": COLUMNS, "data": big.to_numpy().tolist()}}), 10_000, 2, big),
            ("10,000-row CSV", "text/csv", big.to_csv(index=False), 10_000, 2, big),
        ]
        scripts = []
        for i, (_, content_type, body, *_rest) in enumerate(cases):
            (work / f"body{i}").write_text(body)
            script = work / f"case{i}.lua"
            script.write_text(_LUA % {"content_type": content_type, "body": work / f"body{i}"})
            scripts.append(script)

        ports = _free_port(), _free_port()
        procs.append(_start([sys.executable, "-m", "mlnb.cli", "models", "serve", "-m", str(model_dir),
                             "-p", str(ports[0]), "-w", str(WORKERS)], ports[0], work / "mlnb.log"))
        procs.append(_start([sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model_dir),
                             "-p", str(ports[1]), "-w", str(WORKERS), "--env-manager", "local"],
                            ports[1], work / "mlflow.log"))
        urls = [f"http://127.0.0.1:{p}" for p in ports]

        rows, details = [], []
        for (name, _, _, n_rows, conns, batch), script in zip(cases, scripts):
            for url in urls:
                _wrk(url, script, conns, 1)  # warm up
            rounds = [[_wrk(url, script, conns, SECONDS) for url in urls] for _ in range(ROUNDS)]
            ours, theirs = (_median(r[i] for r in rounds) for i in (0, 1))
            array = batch.to_numpy()
            with warnings.catch_warnings():   # the raw estimator on an unnamed array warns each call; not measured
                warnings.simplefilter("ignore")
                predict = (best_of(lambda: loaded.predict(batch), repeat=20),
                           best_of(lambda: estimator.predict(array), repeat=20))
            unit = "req/s" if n_rows == 1 else "rows/s"
            rows.append((f"{name} {unit}", ours["rps"] * n_rows, theirs["rps"] * n_rows))
            details.append((name, ours, theirs, predict, conns))

        ping = work / "ping.lua"
        ping.write_text(_PING_LUA)
        _wrk(urls[0], ping, 1, 1, "/ping")
        ping_rate = _median(_wrk(urls[0], ping, 1, SECONDS, "/ping") for _ in range(ROUNDS))["rps"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw_one_row = best_of(lambda: estimator.predict(big.iloc[:1].to_numpy()), repeat=200)
            raw_frame_row = best_of(lambda: estimator.predict(big.iloc[:1]), repeat=200)

        report(f"scoring server, same model directory, request body and connections for both, {WORKERS} "
               f"worker(s), wrk on 127.0.0.1 (median of {ROUNDS} alternating rounds of {SECONDS} s per case)",
               rows, unit="rate")
        print(f"\n{'case':<38} {'conns':>5} {'mlnb p50/p99':>20} {'mlflow p50/p99':>20} {'pyfunc / raw predict':>22} {'errors':>8}")
        for name, ours, theirs, predict, conns in details:
            print(f"{name:<38} {conns:>5} {fmt_time(ours['p50']) + ' / ' + fmt_time(ours['p99']):>20} "
                  f"{fmt_time(theirs['p50']) + ' / ' + fmt_time(theirs['p99']):>20} {fmt_time(predict[0]) + ' / ' + fmt_time(predict[1]):>22} "
                  f"{ours['errors']:>3}/{theirs['errors']:<3}")
        print(f"\nraw estimator predict of 1 row (a float64 array): {fmt_time(raw_one_row)}, so the limit on one "
              f"core is {1 / raw_one_row:,.0f} predicts/s; mlnb GET /ping alone (HTTP only, one connection): "
              f"{ping_rate:,.0f} req/s")
        print(f"raw estimator predict of the same row as a DataFrame: {fmt_time(raw_frame_row)} "
              f"({1 / raw_frame_row:,.0f} predicts/s)")
        print(f"load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
        print("\n## goals")
        for goal, met, figure in _goals(rows, details, ping_rate, raw_one_row):
            print(f"{'met' if met else 'NOT met':<8} {goal}: {figure}")
        return 0
    finally:
        for proc in procs:
            _stop(proc)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())

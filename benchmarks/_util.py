"""Timing helpers shared by the benchmarks: best-of-N wall time and a ratio table."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable


def scratch_dir(prefix: str) -> Path:
    """A temporary directory for this benchmark process, removed when the process exits (failed or not)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, True)
    return path


def best_of(fn: Callable[[], object], repeat: int = 5, number: int = 1) -> float:
    """Best wall time in seconds of ``number`` calls of ``fn``, over ``repeat`` tries, per call."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t) / number)
    return min(times)


def median_of(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def python_startup(code: str, repeat: int = 5) -> float:
    """Best wall time of ``python -c code`` in a fresh interpreter."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - t)
    return min(times)


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def report(title: str, rows: list[tuple[str, float, float]], unit: str = "time") -> None:
    """Print ``(case, mlnb, mlflow)`` rows. For ``unit='time'`` lower is better and the ratio is
    mlflow/mlnb; for a rate (``unit='rate'``) it is mlnb/mlflow. Either way, ratio > 1 means mlnb wins.

    Under ``benchmarks/run.py`` the rows also go to the file named by ``$MLNB_BENCH_ROWS``, from which
    run.py writes benchmarks/results.md."""
    print(f"\n## {title}")
    print(f"{'case':<44} {'mlnb':>12} {'mlflow':>12} {'ratio':>9}")
    recorded = []
    for case, ours, theirs in rows:
        if unit == "time":
            ratio = theirs / ours if ours else float("inf")
            a, b = fmt_time(ours), fmt_time(theirs)
        else:
            ratio = ours / theirs if theirs else float("inf")
            a, b = f"{ours:,.0f}/s", f"{theirs:,.0f}/s"
        print(f"{case:<44} {a:>12} {b:>12} {ratio:>8.1f}x")
        recorded.append({"table": title, "case": case, "mlnb": a, "mlflow": b, "ratio": f"{ratio:,.1f}x"})
    sys.stdout.flush()
    if os.environ.get("MLNB_BENCH_ROWS"):
        with open(os.environ["MLNB_BENCH_ROWS"], "a") as out:
            for row in recorded:
                out.write(json.dumps(row) + "\n")

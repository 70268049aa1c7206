"""Scoring a Spark DataFrame with a scikit-learn model: mlnb.pyfunc.spark_udf against MLflow's.

One million rows of ten double columns, generated in the JVM and cached, scored by a logistic
regression that mlnb saved (both libraries load the same model directory) on ``local[2]``, with
``env_manager="local"`` for both. Each library gets a fresh SparkSession (so its Python workers
start empty) and three full passes (``write.format("noop")``: every row scored, nothing kept); the
best pass counts. Peak executor memory is the largest total RSS of the Python worker processes
under the JVM, sampled every 20 ms during the passes.

    python benchmarks/bench_spark_udf.py         # or: python benchmarks/run.py spark_udf
"""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from pathlib import Path

from _util import report, scratch_dir

ROWS = int(os.environ.get("MLNB_BENCH_SPARK_ROWS", 1_000_000))
FEATURES = 10
PASSES = 3


def _session():
    from pyspark.sql import SparkSession

    return (SparkSession.builder.master("local[2]").appName("mlnb-bench-spark-udf")
            .config("spark.driver.memory", "1g").config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false").config("spark.driver.host", "127.0.0.1")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.log.level", "ERROR").getOrCreate())


def _stop(session) -> None:
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    session.stop()
    gateway.shutdown()
    gateway.proc.stdin.close()
    gateway.proc.wait(timeout=60)
    SparkContext._gateway = SparkContext._jvm = None


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _python_rss(jvm: int) -> int:
    """Total resident bytes of the Python processes under the JVM (pyspark's daemon and workers)."""
    todo, total = _children(jvm), 0
    while todo:
        pid = todo.pop()
        todo += _children(pid)
        try:
            if b"python" in Path(f"/proc/{pid}/cmdline").read_bytes():
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


class _PeakMemory:
    def __init__(self, jvm: int) -> None:
        self.jvm, self.peak, self._stop = jvm, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _python_rss(self.jvm))
            self._stop.wait(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _measure(make_udf, model_dir: str) -> tuple[float, int]:
    """Best rows/s over the passes and the peak executor memory, in a fresh session."""
    from pyspark import SparkContext
    from pyspark.sql.functions import rand

    spark = _session()
    try:
        df = spark.range(ROWS).select(*[rand(seed=i).alias(f"f{i}") for i in range(FEATURES)]).cache()
        df.count()
        udf = make_udf(spark, model_dir)
        best = 0.0
        with _PeakMemory(SparkContext._gateway.proc.pid) as memory:
            for _ in range(PASSES):
                start = time.perf_counter()
                df.select(udf(*df.columns).alias("p")).write.format("noop").mode("overwrite").save()
                best = max(best, ROWS / (time.perf_counter() - start))
        return best, memory.peak
    finally:
        _stop(spark)


def main() -> None:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import mlflow.pyfunc
    import mlnb
    import mlnb.pyfunc
    import mlnb.sklearn

    warnings.filterwarnings("ignore")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((5000, FEATURES)), columns=[f"f{i}" for i in range(FEATURES)])
    y = (X.sum(axis=1) > FEATURES / 2).astype(int)
    model = LogisticRegression(max_iter=500).fit(X, y)
    path = str(scratch_dir("mlnb-bench-spark-udf-") / "model")
    mlnb.sklearn.save_model(model, path, signature=mlnb.infer_signature(X, model.predict(X)))

    ours, ours_mem = _measure(lambda s, p: mlnb.pyfunc.spark_udf(s, p, result_type="long"), path)
    theirs, theirs_mem = _measure(
        lambda s, p: mlflow.pyfunc.spark_udf(s, p, result_type="long", env_manager="local"), path)
    case = f"{ROWS:,} rows x {FEATURES} doubles, LogisticRegression, local[2]"
    report("spark_udf: rows scored per second", [(case, ours, theirs)], unit="rate")
    _report_memory("spark_udf: peak executor memory (Python workers' RSS)", case, ours_mem, theirs_mem)


def _report_memory(title: str, case: str, ours: int, theirs: int) -> None:
    """Print (and record for run.py) one memory row; ratio = MLflow / mlnb (above 1: mlnb uses less)."""
    a, b, ratio = f"{ours / 2**20:,.0f} MB", f"{theirs / 2**20:,.0f} MB", theirs / ours if ours else float("inf")
    print(f"\n## {title}\n{'case':<44} {'mlnb':>12} {'mlflow':>12} {'ratio':>9}")
    print(f"{case:<44} {a:>12} {b:>12} {ratio:>8.1f}x", flush=True)
    if os.environ.get("MLNB_BENCH_ROWS"):
        with open(os.environ["MLNB_BENCH_ROWS"], "a") as out:
            out.write(json.dumps({"table": title, "case": case, "mlnb": a, "mlflow": b, "ratio": f"{ratio:,.1f}x"}) + "\n")


if __name__ == "__main__":
    main()

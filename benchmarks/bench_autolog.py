"""Autolog: the time it adds to one scikit-learn fit, mlnb vs MLflow, model logging included.

    python benchmarks/bench_autolog.py        (or: python benchmarks/run.py autolog)

In one process, on 1,000x10 data: each fit alone, each fit under ``mlnb.sklearn.autolog()``
(store: SQLite in a temp dir) and under ``mlflow.sklearn.autolog()`` (MLflow's SQLite store in a
temp dir). Both log params, training metrics, plots and the model. The figure compared is the
median added time per fit; the ratio says how many times less mlnb adds.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import fmt_time, report  # noqa: E402

REPEAT_MLNB, REPEAT_MLFLOW = 25, 5


def _times(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    import numpy as np
    from sklearn.datasets import make_classification, make_regression
    from sklearn.linear_model import LinearRegression, LogisticRegression

    Xc, yc = make_classification(1000, 10, random_state=0)
    Xr, yr = make_regression(1000, 10, noise=1.0, random_state=0)
    cases = {
        "LinearRegression": lambda: LinearRegression().fit(Xr, yr),
        "LogisticRegression": lambda: LogisticRegression().fit(Xc, yc),
    }
    tmp = tempfile.mkdtemp(prefix="bench-autolog-")
    os.chdir(tmp)
    os.environ["MLNB_TRACKING_URI"] = os.path.join(tmp, "mlnb.db")
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)

    def median(name, repeat):
        return statistics.median(_times(cases[name], repeat))

    plain = {}
    for name, fit in cases.items():
        fit()
        plain[name] = median(name, REPEAT_MLNB)

    import mlnb.sklearn

    mlnb.sklearn.autolog()
    ours = {}
    for name, fit in cases.items():
        fit()  # warm: the store's tables, the first save's imports
        ours[name] = median(name, REPEAT_MLNB)
    mlnb.sklearn.autolog(disable=True)

    import mlflow
    import mlflow.sklearn

    mlflow.set_tracking_uri(f"sqlite:///{os.path.join(tmp, 'mlflow.db')}")
    mlflow.sklearn.autolog(silent=True)
    theirs = {}
    for name, fit in cases.items():
        fit()
        theirs[name] = median(name, REPEAT_MLFLOW)
    mlflow.sklearn.autolog(disable=True)

    print("\nfit alone (median): " + ", ".join(f"{k} {fmt_time(v)}" for k, v in plain.items()))
    print("fit with autolog (median): " + ", ".join(
        f"{k} mlnb {fmt_time(ours[k])} / mlflow {fmt_time(theirs[k])}" for k in cases))
    rows = [(f"{name} 1000x10: time added per fit", max(ours[name] - plain[name], 1e-6),
             theirs[name] - plain[name]) for name in cases]
    report("autolog: time added to one fit (params, metrics, plots, model)", rows)
    worst = max(ours[n] - plain[n] for n in cases)
    print(f"\nmlnb adds at most {fmt_time(worst)} per fit (goal: 30 ms)")
    _ = np


if __name__ == "__main__":
    main()

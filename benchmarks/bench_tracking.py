"""Tracking: mlnb's embedded store against MLflow's SQLite store, in one process.

    python benchmarks/run.py tracking

1. Logging one run: start_run, 10 params, 50 metric points, end (two shapes: one log_metrics
   call with 50 keys, and 10 steps of 5 metrics).
2. search_runs returning every run of an experiment as a DataFrame: MLflow and mlnb with 2,000
   runs each, and mlnb with 10,000 runs (goal: under 0.2 s).

MLflow's 2,000 runs are cloned in SQL from runs logged through its own client (logging 2,000 runs
through its API takes minutes), so its tables hold exactly what MLflow writes.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import fmt_time, median_of, report, scratch_dir  # noqa: E402

N_SMALL, N_LARGE = 2_000, 10_000


def log_one_batch(api):
    with api.start_run():
        api.log_params({f"p{i}": i for i in range(10)})
        api.log_metrics({f"m{j}": j * 0.5 for j in range(50)})


def log_one_steps(api):
    with api.start_run():
        api.log_params({f"p{i}": i for i in range(10)})
        for step in range(10):
            api.log_metrics({f"m{j}": step * j * 0.1 for j in range(5)}, step=step)


def fill_mlnb(n: int, experiment: str) -> str:
    import mlnb
    from mlnb.tracking.entities import Metric

    client = mlnb.MlnbClient()
    eid = client.create_experiment(experiment)
    params = {f"p{i}": str(i) for i in range(10)}
    for r in range(n):
        run = client.create_run(eid, run_name=f"r{r}")
        metrics = [Metric(f"m{j}", s * j * 0.1 + r, 1_700_000_000_000 + s, s) for j in range(5) for s in range(10)]
        client.log_batch(run.info.run_id, metrics=metrics, params=params)
        client.set_terminated(run.info.run_id)
    return eid


def fill_mlflow(db: Path, n: int, templates: int = 20) -> str:
    """Log ``templates`` runs with MLflow's client, then clone them in SQL up to ``n`` runs."""
    import mlflow
    from mlflow.entities import Metric, Param

    client = mlflow.MlflowClient(f"sqlite:///{db}")
    eid = client.create_experiment("search")
    ids = []
    for r in range(templates):
        run = client.create_run(eid, run_name=f"r{r}")
        client.log_batch(run.info.run_id,
                         metrics=[Metric(f"m{j}", s * j * 0.1 + r, 1_700_000_000_000 + s, s)
                                  for j in range(5) for s in range(10)],
                         params=[Param(f"p{i}", str(i)) for i in range(10)])
        client.set_terminated(run.info.run_id)
        ids.append(run.info.run_id)
    conn = sqlite3.connect(db)
    tables = {t: [c[1] for c in conn.execute(f"PRAGMA table_info({t})")]
              for t in ("runs", "params", "tags", "metrics", "latest_metrics")}
    rows = {t: {rid: conn.execute(f"SELECT * FROM {t} WHERE run_uuid = ?", (rid,)).fetchall() for rid in ids}
            for t in tables}
    with conn:
        for k in range(n - templates):
            src = ids[k % templates]
            new = uuid.uuid4().hex
            for t, cols in tables.items():
                at = cols.index("run_uuid")
                fresh = []
                for row in rows[t][src]:
                    row = list(row)
                    row[at] = new
                    if t == "runs" and row[cols.index("artifact_uri")]:
                        row[cols.index("artifact_uri")] = row[cols.index("artifact_uri")].replace(src, new)
                    fresh.append(row)
                conn.executemany(f"INSERT INTO {t} VALUES ({','.join('?' * len(cols))})", fresh)
    conn.close()
    return eid


def main() -> None:
    logging.disable(logging.WARNING)
    os.environ.pop("MLNB_TRACKING_URI", None)
    tmp = scratch_dir("mlnb-bench-tracking-")
    os.chdir(tmp)
    import pandas  # noqa: F401  (import cost is not what we measure)

    import mlflow
    import mlnb

    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow-log.db'}")
    mlflow.set_experiment("log")
    mlnb.set_tracking_uri(tmp / "mlnb-log.db")
    mlnb.set_experiment("log")
    rows = []
    for label, fn in (("log run: 10 params + 50 metrics (1 call)", log_one_batch),
                      ("log run: 10 params + 10 steps x 5 metrics", log_one_steps)):
        fn(mlnb), fn(mlflow)  # warm up: tables, caches, imports
        ours = median_of(lambda: fn(mlnb), repeat=30)
        theirs = median_of(lambda: fn(mlflow), repeat=10)
        rows.append((label, ours, theirs))
    report("Tracking: logging a run (median)", rows)

    print(f"\nfilling stores: mlflow {N_SMALL} runs, mlnb {N_SMALL} and {N_LARGE} runs ...", flush=True)
    t = time.perf_counter()
    mlflow_db = tmp / "mlflow-search.db"
    theirs_exp = fill_mlflow(mlflow_db, N_SMALL)
    mlflow.set_tracking_uri(f"sqlite:///{mlflow_db}")
    mlnb.set_tracking_uri(tmp / "mlnb-search.db")
    small_exp = fill_mlnb(N_SMALL, "small")
    large_exp = fill_mlnb(N_LARGE, "large")
    print(f"filled in {time.perf_counter() - t:.1f} s", flush=True)

    shapes = {
        "mlflow": mlflow.search_runs([theirs_exp]).shape,
        "small": mlnb.search_runs([small_exp]).shape,
        "large": mlnb.search_runs([large_exp]).shape,
    }
    assert shapes["small"][0] == shapes["mlflow"][0] == N_SMALL and shapes["large"][0] == N_LARGE, shapes
    theirs = median_of(lambda: mlflow.search_runs([theirs_exp]), repeat=3)
    ours_small = median_of(lambda: mlnb.search_runs([small_exp]), repeat=7)
    ours_large = median_of(lambda: mlnb.search_runs([large_exp]), repeat=7)
    filtered = median_of(lambda: mlnb.search_runs([large_exp], filter_string="metrics.m1 > 5000 AND params.p3 = '3'",
                                                  order_by=["metrics.m2 DESC"]), repeat=7)
    report("Tracking: search_runs -> DataFrame (median)", [
        (f"{N_SMALL:,} runs (mlnb) vs {N_SMALL:,} (mlflow)", ours_small, theirs),
        (f"{N_LARGE:,} runs (mlnb) vs {N_SMALL:,} (mlflow)", ours_large, theirs),
    ])
    print(f"\nDataFrame shapes: mlflow {shapes['mlflow']}, mlnb {shapes['small']} and {shapes['large']}")
    print(f"mlnb {N_LARGE:,} runs: {fmt_time(ours_large)} (goal < 200 ms); "
          f"with a filter and order_by: {fmt_time(filtered)}")


if __name__ == "__main__":
    main()

"""Tracking: mlnb and MLflow on the SAME store file (MLflow's SQLite store), in one process.

    python benchmarks/run.py tracking

1. Logging one run: start_run, 10 params, 50 metric points, end (two shapes: one log_metrics
   call with 50 keys, and 10 steps of 5 metrics), both tools logging into one mlflow.db.
   Goal: mlnb >= 20x MLflow.
2. search_runs returning all 10,000 runs of an experiment as a DataFrame, both tools reading
   the same file. Goal: mlnb < 0.2 s and >= 20x MLflow.

The 10,000 runs are cloned in SQL from runs logged through MLflow's own client (logging 10,000
runs through its API takes many minutes), so the tables hold exactly what MLflow writes.
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

N_LARGE = 10_000


def log_one_batch(api):
    with api.start_run():
        api.log_params({f"p{i}": i for i in range(10)})
        api.log_metrics({f"m{j}": j * 0.5 for j in range(50)})


def log_one_steps(api):
    with api.start_run():
        api.log_params({f"p{i}": i for i in range(10)})
        for step in range(10):
            api.log_metrics({f"m{j}": step * j * 0.1 for j in range(5)}, step=step)


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

    log_db = tmp / "mlflow.db"
    mlnb.set_tracking_uri(log_db)
    mlnb.set_experiment("log")   # mlnb creates the file; MLflow opens it as its own
    mlflow.set_tracking_uri(f"sqlite:///{log_db}")
    mlflow.set_experiment("log")
    rows = []
    for label, fn in (("log run: 10 params + 50 metrics (1 call)", log_one_batch),
                      ("log run: 10 params + 10 steps x 5 metrics", log_one_steps)):
        fn(mlnb), fn(mlflow)  # warm up: tables, caches, imports
        ours = median_of(lambda: fn(mlnb), repeat=30)
        theirs = median_of(lambda: fn(mlflow), repeat=10)
        rows.append((label, ours, theirs))
    report("Tracking: logging a run into one mlflow.db (median)", rows)

    print(f"\nfilling one store with {N_LARGE:,} runs (MLflow's rows) ...", flush=True)
    t = time.perf_counter()
    search_db = tmp / "search.db"
    mlnb.set_tracking_uri(search_db)
    mlnb.set_experiment("Default")   # created by mlnb, filled through MLflow's client
    eid = fill_mlflow(search_db, N_LARGE)
    mlflow.set_tracking_uri(f"sqlite:///{search_db}")
    print(f"filled in {time.perf_counter() - t:.1f} s", flush=True)

    ours_df, theirs_df = mlnb.search_runs([eid]), mlflow.search_runs([eid])
    assert len(ours_df) == len(theirs_df) == N_LARGE, (ours_df.shape, theirs_df.shape)
    assert set(theirs_df.columns) == set(ours_df.columns), set(theirs_df.columns) ^ set(ours_df.columns)
    theirs = median_of(lambda: mlflow.search_runs([eid]), repeat=3)
    ours = median_of(lambda: mlnb.search_runs([eid]), repeat=7)
    filtered = median_of(lambda: mlnb.search_runs([eid], filter_string="metrics.m1 > 5 AND params.p3 = '3'",
                                                  order_by=["metrics.m2 DESC"]), repeat=7)
    filtered_theirs = median_of(lambda: mlflow.search_runs([eid], filter_string="metrics.m1 > 5 AND params.p3 = '3'",
                                                           order_by=["metrics.m2 DESC"]), repeat=3)
    report("Tracking: search_runs -> DataFrame, same file (median)", [
        (f"{N_LARGE:,} runs", ours, theirs),
        (f"{N_LARGE:,} runs, filter + order_by", filtered, filtered_theirs),
    ])
    print(f"\nDataFrame shape: {ours_df.shape} (both tools)")
    print(f"mlnb {N_LARGE:,} runs: {fmt_time(ours)} (goal < 200 ms, >= 20x MLflow: {theirs / ours:.0f}x)")


if __name__ == "__main__":
    main()

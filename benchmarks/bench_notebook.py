"""The notebook layer: loading the extension, and opening the run browser on 10,000 runs.

    python benchmarks/run.py notebook

* ``%load_ext mlnb`` in a fresh IPython shell vs ``import mlflow`` (what an MLflow notebook starts
  with), each timed inside a fresh interpreter that already has IPython loaded, as a kernel has.
* ``mlnb.runs()`` (count + first page of 20 runs + every widget built) on a store of 10,000 runs vs
  ``mlflow.search_runs(max_results=20)`` on an MLflow SQLite store holding the same 10,000 runs
  (same params and metrics). MLflow's store is filled by cloning one logged run's rows in SQL,
  since logging 10,000 runs through MLflow's client takes many minutes; mlnb's store is filled
  through its client.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import best_of, report  # noqa: E402

RUNS = 10_000
PAGE = 20

_TIMED_IN_SHELL = """
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
t = time.perf_counter()
{action}
print(json.dumps(time.perf_counter() - t))
"""


def _in_fresh_shell(action: str, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", _TIMED_IN_SHELL.format(action=action)],
                             capture_output=True, text=True, check=True)
        times.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return min(times)


def _fill_mlnb(n: int) -> None:
    from mlnb.tracking.client import MlnbClient
    from mlnb.tracking.entities import Metric, Param

    client = MlnbClient()
    eid = client.create_experiment("big")
    for i in range(n):
        run = client.create_run(eid, run_name=f"run-{i}")
        client.log_batch(run.info.run_id,
                         metrics=[Metric("rmse", 1.0 / (i + 1), 0, 0), Metric("r2", i / n, 0, 0)],
                         params=[Param("alpha", str(i % 7)), Param("depth", str(i % 5))])
        client.set_terminated(run.info.run_id)


def _fill_mlflow(db: Path, n: int) -> str:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{db}")
    exp = mlflow.set_experiment("big")
    with mlflow.start_run(run_name="template") as run:
        mlflow.log_params({"alpha": "0", "depth": "0"})
        mlflow.log_metrics({"rmse": 1.0, "r2": 0.0})
    template = run.info.run_id
    values = {"alpha": lambda i: str(i % 7), "depth": lambda i: str(i % 5),
              "rmse": lambda i: 1.0 / (i + 1), "r2": lambda i: i / n}
    con = sqlite3.connect(db)
    with con:
        for table in ("runs", "params", "metrics", "latest_metrics", "tags"):
            cols = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
            rows = con.execute(f"SELECT {','.join(cols)} FROM {table} WHERE run_uuid = ?", (template,)).fetchall()
            at_id = cols.index("run_uuid")
            at_key = cols.index("key") if "key" in cols else None

            def clone(row, i):
                row = list(row)
                row[at_id] = uuid.UUID(int=i).hex
                if at_key is not None and row[at_key] in values and table != "tags":
                    row[cols.index("value")] = values[row[at_key]](i)
                return tuple(row)

            batch = [clone(row, i) for i in range(1, n) for row in rows]
            con.executemany(f"INSERT INTO {table} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})", batch)
    con.close()
    return exp.experiment_id


def main() -> None:
    load_ext = _in_fresh_shell('shell.run_line_magic("load_ext", "mlnb")')
    import_mlflow = _in_fresh_shell("import mlflow")
    rows = [("%load_ext mlnb vs import mlflow (in IPython)", load_ext, import_mlflow)]
    print(f"%load_ext mlnb: {load_ext * 1e3:.1f} ms; import mlflow: {import_mlflow * 1e3:.0f} ms", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        os.environ["MLNB_TRACKING_URI"] = str(Path(tmp) / "mlnb.db")
        _fill_mlnb(RUNS)
        print(f"filled mlnb's store with {RUNS:,} runs", flush=True)
        eid = _fill_mlflow(Path(tmp) / "mlflow.db", RUNS)
        print(f"filled MLflow's store with {RUNS:,} runs", flush=True)
        import ipywidgets  # noqa: F401  (a kernel that shows widgets has it loaded)
        import mlflow

        import mlnb

        first = best_of(lambda: mlnb.runs(experiment="big"), repeat=1)
        browser = mlnb.runs(experiment="big")
        assert browser.total == RUNS and len(browser.page_runs) == PAGE
        opened = best_of(lambda: mlnb.runs(experiment="big"), repeat=3)
        page = mlflow.search_runs([eid], max_results=PAGE)
        assert len(page) == PAGE
        mlflow_page = best_of(lambda: mlflow.search_runs([eid], max_results=PAGE), repeat=3)
        rows.append((f"open run browser, {RUNS:,} runs (first page)", opened, mlflow_page))
        print(f"opened: {opened * 1e3:.0f} ms; MLflow first page: {mlflow_page * 1e3:.0f} ms", flush=True)
        sorted_mlnb = best_of(lambda: browser.sort("metrics.`rmse` ASC"), repeat=3)
        sorted_mlflow = best_of(lambda: mlflow.search_runs([eid], max_results=PAGE, order_by=["metrics.rmse ASC"]),
                                repeat=3)
        rows.append((f"sort by a metric, {RUNS:,} runs", sorted_mlnb, sorted_mlflow))
        filtered_mlnb = best_of(lambda: browser.set_filter("params.alpha = '3'"), repeat=3)
        filtered_mlflow = best_of(
            lambda: mlflow.search_runs([eid], filter_string="params.alpha = '3'", max_results=PAGE), repeat=3)
        rows.append((f"filter on a param, {RUNS:,} runs", filtered_mlnb, filtered_mlflow))
        last = best_of(lambda: browser.go_to_page(RUNS // PAGE - 1), repeat=3)
        print(f"\nrun browser, first open in this process (store connection included): {first * 1e3:.0f} ms; "
              f"last page: {last * 1e3:.1f} ms")
        os.chdir("/")
    report("notebook layer", rows)


if __name__ == "__main__":
    main()

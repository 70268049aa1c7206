"""The notebook layer: loading the extension, and opening the run browser on 10,000 runs.

    python benchmarks/run.py notebook

* ``%load_ext mlnb`` in a fresh IPython shell vs ``import mlflow`` (what an MLflow notebook starts
  with), each timed inside a fresh interpreter that already has IPython loaded, as a kernel has.
* ``mlnb.runs()`` (count + first page of 20 runs + every widget built) on a store of 10,000 runs vs
  ``mlflow.search_runs(max_results=20)`` on the SAME file (mlnb's store is MLflow's SQLite store),
  filled through mlnb's client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
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
    return eid


def main() -> None:
    load_ext = _in_fresh_shell('shell.run_line_magic("load_ext", "mlnb")')
    import_mlflow = _in_fresh_shell("import mlflow")
    rows = [("%load_ext mlnb vs import mlflow (in IPython)", load_ext, import_mlflow)]
    print(f"%load_ext mlnb: {load_ext * 1e3:.1f} ms; import mlflow: {import_mlflow * 1e3:.0f} ms", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        os.environ.pop("MLNB_TRACKING_URI", None)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(tmp) / 'mlflow.db'}"   # one file, both tools
        eid = _fill_mlnb(RUNS)
        print(f"filled the store with {RUNS:,} runs", flush=True)
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

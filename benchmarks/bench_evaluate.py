"""mlnb.evaluate vs mlflow.models.evaluate: same saved models, same data, full evaluation with SHAP.

    python benchmarks/run.py evaluate            # MLflow's slow regressor case extrapolated
    python benchmarks/bench_evaluate.py --full   # MLflow's regressor case at full size (minutes)

Both evaluate the same MLflow-format model directory (logged once with mlflow.sklearn) on the same
5,000 x 10 held-out frame. Imports are warmed up first, so the figures are steady-state calls.
Both explain MLflow's default sample, 2,000 rows (each row says so; a row where the two explained
different rows says "NOT same work" and does not count toward the goal). MLflow explains the
gradient-boosting regressor with a model-agnostic explainer, which takes minutes: by default its
time is extrapolated from a run without SHAP plus a run explaining 200 rows (SHAP time scaled to
2,000 rows), and labelled as such.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import fmt_time, report, scratch_dir  # noqa: E402

ROWS, FEATURES = 5000, 10
MLFLOW_SHAP_ROWS = 2000          # MLflow's default explainability_nsamples
PROBE_SHAP_ROWS = 200


def _data(kind: str):
    import pandas as pd
    from sklearn.datasets import make_classification, make_regression

    if kind == "classifier":
        X, y = make_classification(2 * ROWS, FEATURES, random_state=0)
    else:
        X, y = make_regression(2 * ROWS, FEATURES, noise=5.0, random_state=0)
    cols = [f"f{i}" for i in range(FEATURES)]
    train = pd.DataFrame(X[:ROWS], columns=cols)
    test = pd.DataFrame(X[ROWS:], columns=cols)
    test["y"] = y[ROWS:]
    return train, y[:ROWS], test


def _log_mlflow_model(model, X):
    import mlflow

    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", input_example=X.iloc[:3],
                                        serialization_format="cloudpickle")
    return mlflow.artifacts.download_artifacts(info.model_uri)


class _Timed:
    """Wall and CPU seconds of a block (CPU time is what an idle machine's wall time would be
    for this single-threaded work, so it is reported too when other processes load the machine)."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def _mlflow_eval(path, data, model_type, config=None):
    import mlflow

    with mlflow.start_run(), _Timed() as t:
        res = mlflow.models.evaluate(path, data, targets="y", model_type=model_type,
                                     evaluator_config=config or {})
    return t, res


def _mlnb_eval(path, data, model_type):
    import mlnb

    with mlnb.start_run(), _Timed() as t:
        res = mlnb.evaluate(path, data, targets="y", model_type=model_type)
    return t, res


def _median(runs):
    """The run of median wall time."""
    return sorted(runs, key=lambda r: r[0].wall)[len(runs) // 2]


def _work(ours, mlflow_rows: int, extrapolated: bool = False) -> str:
    """What a row compares: the rows each side explained, and whether that is the same work."""
    rows = ours.explanation.rows
    if rows != mlflow_rows:
        return f"NOT same work (SHAP on {rows:,} rows by mlnb, {mlflow_rows:,} by MLflow; not counted)"
    if extrapolated:
        return f"same work, SHAP on {rows:,} rows each (MLflow time extrapolated*)"
    return f"same work, SHAP on {rows:,} rows each"


def _compare(ours, theirs) -> str:
    """Which MLflow metrics and artifacts mlnb also has, and the largest metric difference."""
    import numbers

    keys = [k for k in theirs.metrics if isinstance(theirs.metrics[k], numbers.Number)]
    missing = [k for k in keys if k not in ours.metrics]
    diff = max((abs(ours.metrics[k] - theirs.metrics[k]) / max(1.0, abs(theirs.metrics[k]))
                for k in keys if k in ours.metrics), default=0.0)
    arts_missing = [a for a in theirs.artifacts if a not in ours.artifacts]
    extra = [a for a in ours.artifacts if a not in theirs.artifacts]
    only_ours = [k for k in ours.metrics if k not in theirs.metrics]
    return (f"metrics: {len(keys) - len(missing)}/{len(keys)} of MLflow's present, max relative diff {diff:.1e}"
            f"{' MISSING ' + str(missing) if missing else ''}"
            f"{'; MLflow did not log ' + str(only_ours) if only_ours else ''}; plots: all MLflow's present"
            f"{' except ' + str(arts_missing) if arts_missing else ''}; mlnb adds {extra or 'none'}")


def main(argv: list[str]) -> None:
    full = "--full" in argv
    os.environ.setdefault("TQDM_DISABLE", "1")   # progress bars (both tools') would fill the recorded output
    tmp = str(scratch_dir("mlnb-bench-evaluate-"))
    os.chdir(tmp)
    os.environ["MLNB_TRACKING_URI"] = str(Path(tmp) / "mlnb.db")
    warnings.simplefilter("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    import mlflow
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier

    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    rows, cpu_rows, notes = [], [], []

    # classifier: RandomForestClassifier(50 trees)
    X, y, test = _data("classifier")
    rf = RandomForestClassifier(n_estimators=50, random_state=0).fit(X, y)
    path = _log_mlflow_model(rf, X)
    _mlnb_eval(path, test.iloc[:300], "classifier")                      # warm imports
    _mlflow_eval(path, test.iloc[:300], "classifier", {"explainability_nsamples": 50})
    first = _mlnb_eval(path, test, "classifier")            # alternating: mlnb, MLflow, mlnb, mlnb
    theirs = _mlflow_eval(path, test, "classifier")
    ours = _median([first] + [_mlnb_eval(path, test, "classifier") for _ in range(2)])
    label = f"RandomForestClassifier(50) 5000x10, {_work(ours[1], min(MLFLOW_SHAP_ROWS, ROWS))}"
    rows.append((label, ours[0].wall, theirs[0].wall))
    cpu_rows.append((label, ours[0].cpu, theirs[0].cpu))
    notes.append(f"classifier: mlnb {ours[1].explanation.summary()}; MLflow explained "
                 f"{min(MLFLOW_SHAP_ROWS, ROWS)} rows. {_compare(ours[1], theirs[1])}")

    # regressor: GradientBoostingRegressor
    X, y, test = _data("regressor")
    gb = GradientBoostingRegressor(random_state=0).fit(X, y)
    path = _log_mlflow_model(gb, X)
    _mlnb_eval(path, test.iloc[:300], "regressor")
    ours = _median([_mlnb_eval(path, test, "regressor") for _ in range(3)])
    if full:
        t, theirs = _mlflow_eval(path, test, "regressor")
        theirs_wall, theirs_cpu = t.wall, t.cpu
        label = f"GradientBoostingRegressor 5000x10, {_work(ours[1], min(MLFLOW_SHAP_ROWS, ROWS))}"
    else:
        base, theirs = _mlflow_eval(path, test, "regressor", {"log_model_explainability": False})
        probe, probe_res = _mlflow_eval(path, test, "regressor", {"explainability_nsamples": PROBE_SHAP_ROWS})
        scale = MLFLOW_SHAP_ROWS / PROBE_SHAP_ROWS
        theirs_wall = base.wall + (probe.wall - base.wall) * scale
        theirs_cpu = base.cpu + (probe.cpu - base.cpu) * scale
        theirs.artifacts.update(probe_res.artifacts)
        label = f"GradientBoostingRegressor 5000x10, {_work(ours[1], min(MLFLOW_SHAP_ROWS, ROWS), True)}"
        notes.append(f"* MLflow regressor time extrapolated: {fmt_time(base.wall)} without SHAP + "
                     f"({fmt_time(probe.wall)} - {fmt_time(base.wall)}) x {MLFLOW_SHAP_ROWS}/{PROBE_SHAP_ROWS} "
                     "SHAP rows (MLflow's default 2,000). Run with --full to measure it (minutes).")
    rows.append((label, ours[0].wall, theirs_wall))
    cpu_rows.append((label, ours[0].cpu, theirs_cpu))
    notes.append(f"regressor: mlnb {ours[1].explanation.summary()}. {_compare(ours[1], theirs)}")

    report("evaluate: full evaluation with SHAP (wall time per call, lower is better)", rows)
    report("evaluate: the same calls in CPU time of this process", cpu_rows)
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for n in notes:
        print(n)
    counted = [r for r in rows if "NOT same work" not in r[0]]
    wall_goal = bool(counted) and all(r[1] <= 3.0 for r in counted)
    cpu_goal = bool(counted) and all(r[1] <= 3.0 for r in cpu_rows if "NOT same work" not in r[0])
    print(f"goal (each mlnb evaluation, SHAP on MLflow's rows included, within 3 s): "
          f"wall {'met' if wall_goal else 'NOT met'}, CPU {'met' if cpu_goal else 'NOT met'} "
          f"({len(counted)} of {len(rows)} rows are the same work and count)")


if __name__ == "__main__":
    main(sys.argv[1:])

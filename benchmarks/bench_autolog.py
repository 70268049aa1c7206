"""Autolog: the time it adds to one scikit-learn fit, mlnb vs MLflow, model logging included.

    python benchmarks/bench_autolog.py        (or: python benchmarks/run.py autolog)

In one process, on 1,000x10 data, alternating: each fit alone and under ``mlnb.<library>.autolog()``
(store: SQLite in a temp dir) and under ``mlflow.<library>.autolog()`` (MLflow's SQLite store in a
temp dir), for scikit-learn fits and, when installed, XGBoost and LightGBM fits with an eval set
(their per-iteration history, feature importance) and a statsmodels OLS fit (its statistics and
summary), and a PyTorch Lightning fit (4 epochs of a linear model on 64 generated rows, fixed seed; its
per-epoch metrics, checkpoint and model). Both log params, metrics, plots and the model.
``MLNB_BENCH_AUTOLOG=XGBRegressor,LGBMRegressor`` measures only those fits; ``MLNB_BENCH_AUTOLOG_REPEAT=2``
runs fewer rounds (a quick check of the code path). The figure compared is the median added time per
fit; the ratio says how many times less mlnb adds. The 30 ms goal is for tabular libraries; the
Lightning row is reported beside it and does not count toward it.

Each library is measured in a fresh process of its own (mlnb's rows, then MLflow's, in that one
process), as a notebook that fits one library has it: a scikit-learn fit is not measured with
PyTorch, Lightning and LightGBM loaded beside it. ``MLNB_BENCH_AUTOLOG_LIBRARY`` names the one
library a process measures; it is set by the parent run, not by hand.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's mlnb, whatever is installed
from _util import fmt_time, report, scratch_dir  # noqa: E402

_REPEAT = os.environ.get("MLNB_BENCH_AUTOLOG_REPEAT")
REPEAT_MLNB, REPEAT_MLFLOW = (int(_REPEAT), int(_REPEAT)) if _REPEAT else (21, 5)
NOT_TABULAR = ("Lightning",)   # rows outside the tabular 30 ms goal
#: every case: name -> (the library whose autolog logs it, the module it needs); ``_cases`` builds the fits
CASES = {
    "LinearRegression": ("sklearn", "sklearn"), "LogisticRegression": ("sklearn", "sklearn"),
    "XGBRegressor": ("xgboost", "xgboost"), "LGBMRegressor": ("lightgbm", "lightgbm"),
    "statsmodels OLS": ("statsmodels", "statsmodels"), "Lightning (PyTorch)": ("pytorch", "pytorch_lightning"),
}


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (MLflow runs a subprocess per save)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _measure(fn) -> tuple[float, float]:
    t, c = time.perf_counter(), _cpu()
    fn()
    return time.perf_counter() - t, _cpu() - c


def _added(fit, enable, disable, repeat: int) -> dict[str, float]:
    """Median wall and CPU of the fit alone and with autolog, and the median added per pair.

    Plain and autologged fits alternate, so a change in the machine's load hits both alike.
    """
    enable()
    fit()  # warm: the store's tables, the first save's imports
    plain, logged = [], []
    for _ in range(repeat):
        disable()
        plain.append(_measure(fit))
        enable()
        logged.append(_measure(fit))
    disable()
    med = statistics.median
    return {
        "plain": med(p[0] for p in plain), "logged": med(q[0] for q in logged),
        "wall": med(q[0] - p[0] for p, q in zip(plain, logged)),
        "CPU": med(q[1] - p[1] for p, q in zip(plain, logged)),
    }


def _boosting_cases(Xr, yr, library: str) -> dict[str, tuple]:
    """An XGBoost or LightGBM fit with an eval set (its per-iteration history is logged)."""
    if library == "xgboost":
        import xgboost

        return {"XGBRegressor": ("xgboost", lambda: xgboost.XGBRegressor(n_estimators=20, max_depth=3, n_jobs=1).fit(
            Xr[:800], yr[:800], eval_set=[(Xr[800:], yr[800:])], verbose=False))}
    import lightgbm

    return {"LGBMRegressor": ("lightgbm", lambda: lightgbm.LGBMRegressor(n_estimators=20, n_jobs=1, verbose=-1).fit(
        Xr[:800], yr[:800], eval_X=(Xr[800:],), eval_y=(yr[800:],)))}


def _statsmodels_cases(Xr, yr) -> dict[str, tuple]:
    """A statsmodels OLS fit (its statistics and summary are logged)."""
    import statsmodels.api as sm

    X = sm.add_constant(Xr)
    return {"statsmodels OLS": ("statsmodels", lambda: sm.OLS(yr, X).fit())}


def _lightning_cases(scratch: str) -> dict[str, tuple]:
    """A small PyTorch Lightning fit (logged by ``<library>.pytorch.autolog``)."""
    import pytorch_lightning as pl
    import torch

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning").setLevel(logging.ERROR)

    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(4, 1)

        def forward(self, x):
            return self.linear(x)

        def training_step(self, batch, batch_idx):
            loss = torch.nn.functional.mse_loss(self(batch[0]), batch[1])
            self.log("train_loss", loss, on_step=False, on_epoch=True)
            return loss

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", torch.nn.functional.mse_loss(self(batch[0]), batch[1]))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    X = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    data = torch.utils.data.TensorDataset(X, X.sum(1, keepdim=True))

    def fit() -> None:
        torch.manual_seed(0)
        trainer = pl.Trainer(max_epochs=4, logger=False, enable_progress_bar=False, enable_model_summary=False,
                             enable_checkpointing=False, default_root_dir=scratch, deterministic=True)
        loader = torch.utils.data.DataLoader(data, batch_size=16)
        trainer.fit(Tiny(), loader, loader)

    return {"Lightning (PyTorch)": ("pytorch", fit)}


def _cases(library: str, tmp: str) -> dict[str, tuple]:
    """One library's cases: name -> (the library whose autolog logs it, the fit). Imports only that library."""
    from sklearn.datasets import make_classification, make_regression

    Xr, yr = make_regression(1000, 10, noise=1.0, random_state=0)
    if library == "sklearn":
        from sklearn.linear_model import LinearRegression, LogisticRegression

        Xc, yc = make_classification(1000, 10, random_state=0)
        return {"LinearRegression": ("sklearn", lambda: LinearRegression().fit(Xr, yr)),
                "LogisticRegression": ("sklearn", lambda: LogisticRegression().fit(Xc, yc))}
    if library in ("xgboost", "lightgbm"):
        return _boosting_cases(Xr, yr, library)
    if library == "statsmodels":
        return _statsmodels_cases(Xr, yr)
    return _lightning_cases(tmp)


def _case_libraries() -> dict[str, str]:
    """name -> library of the cases this machine can run, without importing the libraries (the parent
    process stays small; a child is started only for an installed library)."""
    import importlib.util

    return {name: lib for name, (lib, module) in CASES.items() if importlib.util.find_spec(module) is not None}


def measure_library(library: str, chosen: list[str]) -> dict[str, dict]:
    """In this process: every chosen case of one library, mlnb's autolog first, then MLflow's."""
    tmp = str(scratch_dir("mlnb-bench-autolog-"))
    cases = {name: case for name, case in _cases(library, tmp).items() if not chosen or name in chosen}
    os.chdir(tmp)
    os.environ["MLNB_TRACKING_URI"] = os.path.join(tmp, "mlnb.db")
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)

    import importlib

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{os.path.join(tmp, 'mlflow.db')}")
    mine = importlib.import_module(f"mlnb.{library}")
    ours = {name: _added(fit, mine.autolog, lambda: mine.autolog(disable=True), REPEAT_MLNB)
            for name, (_, fit) in cases.items()}
    other = importlib.import_module(f"mlflow.{library}")
    theirs = {name: _added(fit, lambda: other.autolog(silent=True),
                           lambda: other.autolog(disable=True, silent=True), REPEAT_MLFLOW)
              for name, (_, fit) in cases.items()}
    return {name: {"ours": ours[name], "theirs": theirs[name]} for name in cases}


def main() -> None:
    chosen = [n for n in os.environ.get("MLNB_BENCH_AUTOLOG", "").split(",") if n]
    library = os.environ.get("MLNB_BENCH_AUTOLOG_LIBRARY")
    if library:   # a child: measure one library, hand the figures back as one JSON line
        print("RESULT " + json.dumps(measure_library(library, chosen)), flush=True)
        return

    libraries = _case_libraries()
    names = [name for name in libraries if not chosen or name in chosen]
    results: dict[str, dict] = {}
    for library in dict.fromkeys(libraries[name] for name in names):
        env = {**os.environ, "MLNB_BENCH_AUTOLOG_LIBRARY": library}
        done = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True)
        sys.stderr.write(done.stderr)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not lines:
            raise SystemExit(f"measuring {library} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
        results.update(json.loads(lines[-1][len("RESULT "):]))
    ours = {name: results[name]["ours"] for name in names}
    theirs = {name: results[name]["theirs"] for name in names}

    print("\nmedian fit (each library in a fresh process): " + "; ".join(
        f"{k} alone {fmt_time(ours[k]['plain'])}, with mlnb autolog {fmt_time(ours[k]['logged'])}, "
        f"with mlflow autolog {fmt_time(theirs[k]['logged'])}" for k in names))
    for what in ("wall", "CPU"):
        rows = [(f"{name}: {what} added per fit", max(ours[name][what], 1e-6), theirs[name][what])
                for name in names]
        report(f"autolog, 1000x10 data: {what} time added to one fit (params, metrics, plots, model)", rows)
    tabular = [n for n in names if not n.startswith(NOT_TABULAR)]
    worst = max((ours[n]["wall"] for n in tabular), default=0.0)
    others = "; ".join(f"{n} adds {fmt_time(ours[n]['wall'])}" for n in names if n not in tabular)
    print(f"\nmlnb adds at most {fmt_time(worst)} wall per tabular fit (goal: 30 ms for tabular libraries"
          + (f"; not counted toward it, as not tabular: {others}" if others else "")
          + f"); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()

"""The format core against MLflow on the same work: import, save, load and one-row predict.

    python benchmarks/run.py models

Goals (issue 2): ``import mlnb`` adds at most 0.1 s to a bare Python start; ``save_model`` of a
LogisticRegression at least 20x faster than ``mlflow.sklearn.save_model`` (steady state and the
first call in a fresh process); ``pyfunc.load_model`` faster than MLflow's; one-row ``predict``
through pyfunc within 2x of the raw estimator.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import best_of, fmt_time, python_startup, report, scratch_dir  # noqa: E402

_FIT = """
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
X, y = make_classification(n_samples=500, n_features=8, random_state=0)
X = pd.DataFrame(X, columns=[f"f{i}" for i in range(8)])
model = LogisticRegression(max_iter=500).fit(X, y)
"""


def _first_save_in_fresh_process(library: str, path: Path, env: dict | None = None) -> float:
    """Seconds from importing the flavor to the end of the first save, in a new interpreter."""
    imp = "import mlnb.sklearn as flavor" if library == "mlnb" else "import mlflow.sklearn as flavor"
    code = textwrap.dedent(_FIT) + textwrap.dedent(f"""
        import time, warnings
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        {imp}
        flavor.save_model(model, {str(path)!r})
        print(time.perf_counter() - t)
    """)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    return float(out.stdout.strip().splitlines()[-1])


def _import_cost(module: str, repeat: int) -> float:
    """Best time of ``import module`` measured inside fresh interpreters (no process-start noise)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return min(float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                    text=True).stdout) for _ in range(repeat))


def main() -> None:
    warnings.simplefilter("ignore")
    work = scratch_dir("mlnb-bench-models-")
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{work}/mlflow.db")

    # -- import -----------------------------------------------------------------------------
    bare = python_startup("pass", repeat=10)
    mlnb_start = python_startup("import mlnb", repeat=10)
    mlflow_start = python_startup("import mlflow", repeat=3)
    mlnb_import = _import_cost("mlnb", repeat=10)
    mlflow_import = _import_cost("mlflow", repeat=3)
    report("import (fresh interpreter, best of 10/3)", [
        ("python -c 'import <lib>' (whole process)", mlnb_start, mlflow_start),
        ("the import itself, timed inside", mlnb_import, mlflow_import),
    ])
    print(f"(bare python start: {fmt_time(bare)})")

    # -- save -------------------------------------------------------------------------------
    scope: dict = {}
    exec(_FIT, scope)
    model, X = scope["model"], scope["X"]
    import mlflow.pyfunc
    import mlflow.sklearn

    import mlnb.pyfunc
    import mlnb.sklearn

    ours, theirs = iter(range(100)), iter(range(100))
    mlnb_save = best_of(lambda: mlnb.sklearn.save_model(model, work / f"n{next(ours)}"), repeat=7)
    mlflow_save = best_of(lambda: mlflow.sklearn.save_model(model, str(work / f"m{next(theirs)}")), repeat=3)
    mlnb_first = min(_first_save_in_fresh_process("mlnb", work / f"fn{i}") for i in range(3))
    mlflow_first = _first_save_in_fresh_process("mlflow", work / "fm")
    skops_import = _import_cost("skops.io", repeat=3)
    report("save_model(LogisticRegression)", [
        ("steady state (best of 7/3)", mlnb_save, mlflow_save),
        ("fresh process: import flavor + first save", mlnb_first, mlflow_first),
    ])
    print(f"(importing skops.io, scikit-learn included, which computes skops' trusted-type lists once per process: {fmt_time(skops_import)})")

    # -- load -------------------------------------------------------------------------------
    mlflow_dir = str(work / "m0")  # a model MLflow wrote: both libraries read the same files
    mlnb_load = best_of(lambda: mlnb.pyfunc.load_model(mlflow_dir), repeat=7)
    mlflow_load = best_of(lambda: mlflow.pyfunc.load_model(mlflow_dir), repeat=7)
    report("pyfunc.load_model (MLflow-written LogisticRegression)", [
        ("load_model", mlnb_load, mlflow_load),
    ])

    # -- predict ----------------------------------------------------------------------------
    from mlnb.models.signature import infer_signature

    sig_dir = work / "with-signature"
    mlnb.sklearn.save_model(model, sig_dir, signature=infer_signature(X, model.predict(X)))
    ours, theirs = mlnb.pyfunc.load_model(sig_dir), mlflow.pyfunc.load_model(str(sig_dir))
    row = X.iloc[:1]
    raw = best_of(lambda: model.predict(row), repeat=5, number=300)
    mlnb_pred = best_of(lambda: ours.predict(row), repeat=5, number=300)
    mlflow_pred = best_of(lambda: theirs.predict(row), repeat=5, number=300)
    report("one-row predict through pyfunc (with a signature)", [
        ("pyfunc.predict(1-row DataFrame)", mlnb_pred, mlflow_pred),
    ])
    print(f"raw estimator predict: {fmt_time(raw)}; through pyfunc: mlnb {mlnb_pred / raw:.2f}x, "
          f"MLflow {mlflow_pred / raw:.2f}x the raw time")

    # -- goals ------------------------------------------------------------------------------
    goals = [
        ("import mlnb adds <= 0.1 s", mlnb_import <= 0.1),
        ("save >= 20x faster (steady state)", mlflow_save / mlnb_save >= 20),
        ("save >= 20x faster (fresh process)", mlflow_first / mlnb_first >= 20),
        ("load faster than MLflow", mlnb_load < mlflow_load),
        ("predict within 2x of the raw estimator", mlnb_pred <= 2 * raw),
    ]
    print("\n## goals")
    for name, ok in goals:
        print(f"{'met ' if ok else 'MISSED'}  {name}")


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"\n(benchmark took {time.perf_counter() - t:.0f} s)")

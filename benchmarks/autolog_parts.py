"""What the wall time scikit-learn autolog adds to a fit is made of, and how it compares with
another checkout of mlnb.

    python benchmarks/autolog_parts.py [--rounds 8] [--against PATH]

A diagnostic, not a benchmark: the benchmarks (``bench_*.py``, run by ``run.py``) put mlnb and
MLflow side by side and record the figures in results.md; this script answers "which part of
mlnb's own autolog costs what", and "is this checkout slower than that one on the same work".
It prints its figures and records nothing.

In the ``full`` variant it also times, inside the same logged fits, the drawing of estimator.html
and the logging of the training dataset (where the checkout has them). Those figures come from one
process each, so they do not depend on how fast the machine is from one process to the next, which
on a shared machine varies by more than the differences between variants.

It measures the two scikit-learn fits of ``bench_autolog.py`` (LinearRegression, LogisticRegression
on 1,000x10 generated data, the median added wall time of 21 alternating plain/autologged pairs,
SQLite store in a temp dir) for each variant, each in a fresh process. Every round runs every
variant, starting with a different one each round, so a change in the machine's speed hits them
alike; use a multiple of the number of variants as ``--rounds``. The figure per variant is the
median over the rounds.

Variants:

- ``full``: autolog as it ships;
- ``no estimator.html``: the same, with the page not drawn (this script replaces
  ``mlnb.autologging.estimator_html.render`` in its own child process; nothing is changed on disk);
- ``no estimator.html, no datasets``: also ``autolog(log_datasets=False)``;
- with ``--against PATH``, ``full`` for the mlnb checkout at PATH (for instance one made with
  ``git worktree add ../mlnb-old <commit>``), run through the same code here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANTS = ("full", "no estimator.html", "no estimator.html, no datasets")


def _child(root: str, variant: str) -> None:
    """In a fresh process: measure one variant of one checkout, print one JSON line."""
    import logging

    sys.path.insert(0, str(HERE))
    from _util import scratch_dir

    import bench_autolog   # it puts this checkout first on sys.path: the measured one goes before it

    sys.path.insert(0, root)

    tmp = str(scratch_dir("mlnb-autolog-parts-"))
    os.chdir(tmp)
    os.environ["MLNB_TRACKING_URI"] = os.path.join(tmp, "mlnb.db")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    cases = bench_autolog._cases("sklearn", tmp)

    import mlnb.sklearn

    if not mlnb.sklearn.__file__.startswith(root):
        raise SystemExit(f"measured {mlnb.sklearn.__file__}, not the checkout at {root}")
    options = {"log_datasets": False} if variant.endswith("no datasets") else {}
    if variant != "full":
        from mlnb.autologging import estimator_html

        estimator_html.render = lambda estimator: None   # this process only: the page is not drawn
    spent = _time_parts() if variant == "full" else {}
    figures, parts = {}, {}
    for name, (_, fit) in cases.items():
        for times in spent.values():
            times.clear()
        figures[name] = bench_autolog._added(fit, lambda: mlnb.sklearn.autolog(**options),
                                             lambda: mlnb.sklearn.autolog(disable=True), 21)["wall"]
        parts.update({f"{name}: {part}": statistics.median(times) for part, times in spent.items() if times})
    print("RESULT " + json.dumps({"cases": figures, "parts": parts}), flush=True)


def _time_parts() -> dict[str, list[float]]:
    """Time the drawing of estimator.html and the logging of the training dataset inside each logged
    fit (this process only), where the checkout has them; return part -> seconds per call."""
    import importlib

    spent: dict[str, list[float]] = {}
    for part, module, name in (("estimator.html", "mlnb.autologging.estimator_html", "render"),
                               ("training dataset", "mlnb.autologging.sklearn", "log_training_dataset")):
        try:
            owner = importlib.import_module(module)
        except ImportError:
            continue
        original = getattr(owner, name, None)
        if original is None:
            continue
        times = spent[part] = []

        def timed(*args, _original=original, _times=times, **kwargs):
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                _times.append(time.perf_counter() - start)

        setattr(owner, name, timed)
    return spent


def _measure(root: str, variant: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run([sys.executable, __file__, "--child", root, variant], capture_output=True, text=True,
                          env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"{variant} ({root}) failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--against", help="another mlnb checkout to measure with the full autolog")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return

    here = str(HERE.parent)
    runs = [(f"this checkout, {v}", here, v) for v in VARIANTS]
    if args.against:
        runs.insert(0, (f"{args.against}, full", str(Path(args.against).resolve()), "full"))
    seen: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in runs}
    parts: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in runs}
    for n in range(args.rounds):
        # each round starts with the next variant: a machine that slows down under sustained load
        # (this one does) would otherwise favour whichever variant always runs first
        for label, root, variant in runs[n % len(runs):] + runs[:n % len(runs)]:
            result = _measure(root, variant)
            seen[label].append(result["cases"])
            if result["parts"]:
                parts[label].append(result["parts"])
            print(f"round {n + 1}: {label}: " + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in seen[label][-1].items())
                  + f" (load average {os.getloadavg()[0]:.1f})", flush=True)

    names = list(next(iter(seen.values()))[0])
    print(f"\nwall time scikit-learn autolog adds per fit, median of {args.rounds} fresh processes "
          f"(each the median of 21 pairs)")
    print(f"{'variant':52s}" + "".join(f"{n:>20s}" for n in names))
    for label, figures in seen.items():
        print(f"{label:52s}" + "".join(f"{statistics.median(f[n] for f in figures) * 1e3:17.2f} ms"
                                       for n in names))
    for label, timed in parts.items():
        if timed:
            print(f"{label}, timed inside the logged fits (median per fit): " + "; ".join(
                f"{key} {statistics.median(t[key] for t in timed) * 1e3:.2f} ms" for key in timed[0]))


if __name__ == "__main__":
    main()

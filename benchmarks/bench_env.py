"""Serving from a restored environment: time from ``serve`` to the first successful /invocations.

One scikit-learn model, saved in MLflow's format with its requirements pinned. mlnb serves it with
``--env-manager uv``; MLflow 3.17.2 with ``--env-manager uv`` and ``--env-manager virtualenv`` (its
default). Cold: no cached environment (each tool gets an empty environment folder; the installers'
own download caches are kept, alike for all). Warm: the same command again, the environment
cached. Each figure is the median of MLNB_BENCH_ENV_ROUNDS rounds (default 3), every round
measuring every tool in turn, so drift in the machine's speed reaches all alike. Packages come from the machine's usual index for both tools (MLflow also installs itself
into its environment; mlnb brings its code from this installation). Disk per environment is the
folder's size on disk, hard links counted once. The installers' download caches are shared by all
runs: on a machine where they are empty, the first tool measured cold also pays for downloads, so
run the benchmark twice and read the second run.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _util import report  # noqa: E402

TIMEOUT = float(os.environ.get("MLNB_BENCH_ENV_TIMEOUT", "1800"))
#: rounds; each gives every tool an empty environment folder (cold) and then reuses it (warm)
ROUNDS = int(os.environ.get("MLNB_BENCH_ENV_ROUNDS", "3"))
BODY = json.dumps({"dataframe_split": {"columns": ["a", "b"], "data": [[0.2, 0.8], [0.9, 0.1]]}}).encode()


def save_model(folder: Path) -> Path:
    import mlflow.sklearn
    import numpy as np
    import sklearn
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.random((50, 2))
    import pandas as pd

    model = LogisticRegression().fit(pd.DataFrame(x, columns=["a", "b"]), (x[:, 0] > x[:, 1]).astype(int))
    mlflow.sklearn.save_model(model, str(folder), serialization_format="cloudpickle",
                              pip_requirements=[f"scikit-learn=={sklearn.__version__}", "cloudpickle", "pandas"])
    return folder


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_prediction(cmd: list[str], port: int, env: dict) -> float:
    """Seconds from starting ``cmd`` to a 200 from /invocations; the server is stopped after."""
    log = tempfile.TemporaryFile()
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        while time.monotonic() - started < TIMEOUT:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"{cmd[:6]} exited: {log.read().decode(errors='replace')[-2000:]}")
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=BODY,
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=5) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{cmd[:6]} gave no prediction in {TIMEOUT:.0f}s")
    finally:
        import signal

        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def main() -> None:
    from mlnb.environments import size_on_disk

    work = Path(tempfile.mkdtemp(prefix="mlnb-bench-env-"))
    model = save_model(work / "model")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLNB_ENV_", "VIRTUAL_ENV"))}
    base["PYTHONPATH"] = str(HERE.parent)
    tools = {
        "mlnb uv": ([sys.executable, "-m", "mlnb.cli", "models", "serve", "-m", str(model), "--env-manager", "uv"],
                    "MLNB_ENV_CACHE", "envs"),
        "MLflow uv": ([sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model), "--env-manager", "uv"],
                      "MLFLOW_ENV_ROOT", ""),
        "MLflow virtualenv": ([sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model),
                               "--env-manager", "virtualenv"], "MLFLOW_ENV_ROOT", ""),
    }
    samples: dict[tuple[str, str], list[float]] = {}
    disk: dict[str, int] = {}
    for turn in range(ROUNDS):  # alternating: each round measures every tool, cold then warm
        for name, (cmd, variable, sub) in tools.items():
            root = work / f"{name.replace(' ', '-')}-{turn}"
            env = {**base, variable: str(root)}
            for state in ("cold", "warm"):
                port = free_port()
                try:
                    seconds = first_prediction([*cmd, "-p", str(port)], port, env)
                except RuntimeError as exc:
                    print(f"round {turn + 1} {name} {state}: failed: {exc}", flush=True)
                    continue
                samples.setdefault((name, state), []).append(seconds)
                print(f"round {turn + 1} {name} {state}: {seconds:.1f} s", flush=True)
            if turn == 0:
                folders = [p for p in (root / sub).iterdir() if p.is_dir() and not p.name.startswith(".")] if (
                    root / sub).is_dir() else []
                disk[name] = sum(size_on_disk(p) for p in folders)
                print(f"{name}: {len(folders)} environment folder(s), {disk[name] / 1e6:.0f} MB on disk", flush=True)
    times = {key: statistics.median(values) for key, values in samples.items()}
    nan = float("nan")
    rows = [(f"{state}: mlnb uv vs {other}", times.get(("mlnb uv", state), nan), times.get((other, state), nan))
            for state in ("cold", "warm") for other in ("MLflow uv", "MLflow virtualenv")]
    report(f"serve to first /invocations, restored environment (median of {ROUNDS} alternating rounds)", rows)
    print("\nDisk per environment: " + ", ".join(f"{n} {d / 1e6:.0f} MB" for n, d in disk.items()))


if __name__ == "__main__":
    main()

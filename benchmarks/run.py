"""Run every benchmark (or those named) and print mlnb-vs-MLflow ratios.

    python benchmarks/run.py              # all
    python benchmarks/run.py models serve # some

Each ``bench_<name>.py`` runs mlnb and MLflow on the same work in one process and prints a table
whose ratio column is "times better than MLflow" (>1 means mlnb is faster).
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).parent


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    failed = []
    for name in names:
        script = HERE / f"bench_{name}.py"
        if not script.exists():
            print(f"no benchmark named {name!r}", file=sys.stderr)
            return 2
        print(f"\n# {name}", flush=True)
        if subprocess.run([sys.executable, str(script)]).returncode:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

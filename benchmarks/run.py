"""Run every benchmark (or those named), print mlnb-vs-MLflow ratios and record them in results.md.

    python benchmarks/run.py              # all
    python benchmarks/run.py models serve # some

Each ``bench_<name>.py`` runs mlnb and MLflow on the same work in one process and prints a table
whose ratio column is "times better than MLflow" (>1 means mlnb is faster). Each benchmark that
succeeds replaces its own section of ``benchmarks/results.md`` (the one place the docs link to for
figures): the machine, its CPU count and load average, the date, every row with the command that
measured it, and the benchmark's full output. Sections of benchmarks not run are left as they were.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results.md"

TITLE = "# Benchmark results"
INTRO = """\
The one place for mlnb's speed figures: README.md and docs/ link here. This file is written by
`python benchmarks/run.py [section ...]`; each run replaces the sections it measured and keeps the
others. Each section says when and where it was measured (load average included: the machine may
have been busy), and every row names the command that measured it. Ratio = how many times faster
mlnb is than MLflow on the same work in the same process (above 1: mlnb is faster)."""
_SECTION = re.compile(r"<!-- section: (\w+) -->\n.*?<!-- end section: \1 -->\n", re.S)


def sections_available(bench_dir: Path = HERE) -> list[str]:
    """The benchmark names: ``bench_<name>.py`` in ``bench_dir``."""
    return sorted(p.stem.removeprefix("bench_") for p in bench_dir.glob("bench_*.py"))


def machine() -> str:
    """What the figures were measured on, in a line."""
    cpu = platform.processor() or platform.machine()
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def _mlflow_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlflow")
    except PackageNotFoundError:
        return "not installed"


def render_section(name: str, rows: list[dict], output: str, *, when: str, load_before: str,
                   load_after: str) -> str:
    """One benchmark's section of results.md."""
    command = f"`python benchmarks/run.py {name}`"
    lines = [f"<!-- section: {name} -->", f"## {name}", "",
             f"Measured {when} by {command} on {machine()}, MLflow {_mlflow_version()}. "
             f"Load average (1 / 5 / 15 min) {load_before} before, {load_after} after.", ""]
    if rows:
        lines += ["| table | case | mlnb | MLflow | ratio | command |", "|---|---|---|---|---|---|"]
        for row in rows:
            cells = [row["table"], row["case"], row["mlnb"], row["mlflow"], row["ratio"], command]
            lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    lines += ["<details><summary>full output</summary>", "", "```", output.rstrip(), "```", "", "</details>",
              f"<!-- end section: {name} -->", ""]
    return "\n".join(lines)


def write_results(results: Path, measured: dict[str, str], available: list[str]) -> None:
    """Write ``results`` with the ``measured`` sections replacing their old text, other sections kept,
    and a header naming the benchmarks that have no figures yet. Written to a temp file, then renamed."""
    old = results.read_text() if results.exists() else ""
    sections = {m.group(1): m.group(0) for m in _SECTION.finditer(old)}
    sections.update({name: text if text.endswith("\n") else text + "\n" for name, text in measured.items()})
    missing = [name for name in available if name not in sections]
    header = [TITLE, "", INTRO, ""]
    if missing:
        header += ["Not measured yet: " + ", ".join(f"`{n}`" for n in missing) + " (run "
                   f"`python benchmarks/run.py {' '.join(missing)}` to fill them in).", ""]
    body = "\n".join(sections[name] for name in sorted(sections))
    fd, tmp = tempfile.mkstemp(dir=results.parent, prefix=".results-", suffix=".md")
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(header) + "\n" + body)
    os.replace(tmp, results)


def run_one(script: Path) -> tuple[int, str, list[dict]]:
    """Run one benchmark script, echoing its output; return its exit code, output and recorded rows."""
    with tempfile.TemporaryDirectory(prefix="mlnb-bench-") as tmp:
        rows_file = Path(tmp) / "rows.jsonl"
        env = {**os.environ, "MLNB_BENCH_ROWS": str(rows_file),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}
        # bytecode caching on, as an installed package has it: with PYTHONDONTWRITEBYTECODE set, every
        # fresh interpreter a benchmark starts would compile this checkout's mlnb from source while it
        # reads MLflow's installed bytecode
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env)
        output = []
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            output.append(line)
        code = proc.wait()
        rows = [json.loads(line) for line in rows_file.read_text().splitlines()] if rows_file.exists() else []
    return code, "".join(output), rows


def main(argv: list[str], bench_dir: Path = HERE, results: Path = RESULTS) -> int:
    names = argv or sections_available(bench_dir)
    unknown = [n for n in names if not (bench_dir / f"bench_{n}.py").exists()]
    if unknown:
        print(f"no benchmark named {', '.join(map(repr, unknown))}; there are: "
              f"{', '.join(sections_available(bench_dir))}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        print(f"\n# {name}", flush=True)
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        before = _load()
        code, output, rows = run_one(bench_dir / f"bench_{name}.py")
        if code:
            failed.append(name)
            continue
        section = render_section(name, rows, output, when=when, load_before=before, load_after=_load())
        write_results(results, {name: section}, sections_available(bench_dir))
        print(f"(recorded in {results})", flush=True)
    if failed:
        print(f"\nfailed (results.md keeps their previous figures): {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""benchmarks/run.py writes benchmarks/results.md, the one place for speed figures, and the docs link
to it instead of copying numbers.

The writer runs real benchmark scripts (small ones written here, using the benchmarks' own
``report``) in subprocesses, as it runs the real ones.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench_run():
    spec = importlib.util.spec_from_file_location("bench_run", REPO / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bench(directory: Path, name: str, mlnb_seconds: float, fail: bool = False) -> None:
    (directory / f"bench_{name}.py").write_text(
        "from _util import report\n"
        f"print('measuring {name}')\n"
        f"report('{name} table', [('one call', {mlnb_seconds}, 0.5), ('a | b', 0.002, 0.004)])\n"
        + ("raise SystemExit(3)\n" if fail else ""))


def test_a_section_is_written_with_machine_load_date_and_commands(bench_run, tmp_path, capsys):
    _bench(tmp_path, "quick", 0.005)
    _bench(tmp_path, "later", 0.01)
    results = tmp_path / "results.md"
    assert bench_run.main(["quick"], bench_dir=tmp_path, results=results) == 0
    text = results.read_text()
    assert text.startswith("# Benchmark results\n")
    assert "Not measured yet: `later` (run `python benchmarks/run.py later`" in text
    section = re.search(r"<!-- section: quick -->.*<!-- end section: quick -->", text, re.S).group(0)
    assert re.search(r"Measured \d{4}-\d\d-\d\d \d\d:\d\d UTC by `python benchmarks/run.py quick`", section)
    assert f"{os.cpu_count()} CPUs" in section and "Load average (1 / 5 / 15 min)" in section
    assert "| quick table | one call | 5.0 ms | 500.0 ms | 100.0x | `python benchmarks/run.py quick` |" in section
    assert r"| quick table | a \| b | 2.0 ms | 4.0 ms | 2.0x |" in section
    assert "measuring quick" in section                      # the full output is kept
    assert "measuring quick" in capsys.readouterr().out      # and echoed while it runs


def test_a_rerun_replaces_its_section_and_keeps_the_others(bench_run, tmp_path):
    _bench(tmp_path, "quick", 0.005)
    _bench(tmp_path, "later", 0.01)
    results = tmp_path / "results.md"
    assert bench_run.main(["quick", "later"], bench_dir=tmp_path, results=results) == 0
    assert "Not measured yet" not in results.read_text()
    _bench(tmp_path, "quick", 0.25)
    assert bench_run.main(["quick"], bench_dir=tmp_path, results=results) == 0
    text = results.read_text()
    assert text.count("<!-- section: quick -->") == 1 and "| one call | 250.0 ms | 500.0 ms | 2.0x" in text
    assert "| later table | one call | 10.0 ms | 500.0 ms | 50.0x" in text


def test_a_failed_benchmark_keeps_its_previous_figures(bench_run, tmp_path):
    _bench(tmp_path, "quick", 0.005)
    results = tmp_path / "results.md"
    assert bench_run.main(["quick"], bench_dir=tmp_path, results=results) == 0
    before = results.read_text()
    _bench(tmp_path, "quick", 0.25, fail=True)
    assert bench_run.main(["quick"], bench_dir=tmp_path, results=results) == 1
    assert results.read_text() == before
    assert bench_run.main(["nonesuch"], bench_dir=tmp_path, results=results) == 2


def test_the_repository_results_name_every_benchmark(bench_run):
    """benchmarks/results.md has a section, or a 'not measured yet' entry, for every benchmark."""
    text = (REPO / "benchmarks" / "results.md").read_text()
    measured = set(re.findall(r"<!-- section: (\w+) -->", text))
    waiting = re.search(r"Not measured yet: (.*)", text)
    waiting = set(re.findall(r"`(\w+)`", waiting.group(1))) if waiting else set()
    assert measured | waiting == set(bench_run.sections_available())


#: a ratio (16x, 13.9×) or a table row holding a time or rate: how copied speed figures look
_RATIO = re.compile(r"\b\d+(?:[,.]\d+)*[x×](?!\w)")
_TIMED_ROW = re.compile(r"^\|.*\b\d[\d,.]*\s?(ms|µs|s|req/s|rows/s)\b", re.M)


def test_docs_link_to_the_results_instead_of_copying_figures():
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        prose = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)   # code blocks hold examples
        figures = [m.group(0) for m in _RATIO.finditer(prose)] + [m.group(0)[:60] for m in _TIMED_ROW.finditer(prose)]
        assert figures == [], f"{doc.name} copies figures {figures[:5]}: link to benchmarks/results.md instead"
        if "benchmarks/run.py" in prose:
            assert "benchmarks/results.md" in prose, f"{doc.name} names a benchmark without linking its figures"

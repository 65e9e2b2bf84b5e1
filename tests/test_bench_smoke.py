"""Smoke test of the benchmark (`python -m bench --quick`): it runs end to end, reports
every shape, and leaves nothing behind but the files asked for.

Benchmarks are not tests (docs/spec.md): nothing here looks at a timing's value,
only at the structure of the report and that its numbers are real numbers.
It is one test on purpose: under pytest-xdist a module fixture would run the
benchmark once per worker, doubling its load on a 2-core CI machine.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHAPES = ("chain", "independent", "unbalanced", "tax-analyzer", "random-dag")
WITH_NEEDS = ("chain", "unbalanced", "tax-analyzer")  # no max_parallel: latency is reported
OURS = ("eager", "wave")
SVG = "{http://www.w3.org/2000/svg}"


def _check_rows(figures: dict, peers: set[str]) -> None:
    """A row for every shape and tool (peers skip the ours-only random DAG), all runs good."""
    found = {(row["shape"], row["tool"]) for row in figures["rows"]}
    expected = {(shape, tool) for shape in SHAPES for tool in OURS}
    expected |= {(shape, tool) for shape in SHAPES[:-1] for tool in peers}
    assert expected <= found, sorted(expected - found)
    assert not {tool for shape, tool in found if shape == "random-dag"} - set(OURS)
    for row in figures["rows"]:
        where = (row["shape"], row["tool"])
        assert row["errors"] == 0, (where, row["first_error"])
        assert row["runs"] >= 1, where
        for key in ("median_s", "min_s", "max_s", "peak_rss_mb"):
            assert math.isfinite(row[key]) and row[key] > 0, (where, key)
        if row["tool"] in OURS and row["shape"] in WITH_NEEDS:
            assert math.isfinite(row["latency_p50_ms"]) and row["latency_p50_ms"] >= 0, where
            assert row["latency_p99_ms"] >= row["latency_p50_ms"], where
        if "make" in peers and row["shape"] != "random-dag":
            assert math.isfinite(row["vs_make"]) and row["vs_make"] > 0, where


def _check_core(figures: dict) -> None:
    assert figures["core_note"] is None
    timed = {(c["shape"], c["strategy"]) for c in figures["core"]}
    assert {(shape, strategy) for shape in SHAPES for strategy in OURS} <= timed
    assert all(all(math.isfinite(s) for s in c["seconds"]) for c in figures["core"])


def _check_markdown(docs: Path) -> None:
    text = (docs / "benchmarks.md").read_text()
    assert "| shape | tool | runs | median s |" in text
    for shape in SHAPES:
        assert f"| {shape} | ours eager |" in text
    assert "](bench-chart.svg)" in text
    assert "nproc" in text and "How to reproduce" in text
    root = ET.parse(docs / "bench-chart.svg").getroot()
    assert root.tag == f"{SVG}svg"
    assert len(root.findall(f"{SVG}rect")) > len(SHAPES)  # a background and bars


def test_quick_run_reports_every_shape_and_leaves_only_the_asked_files(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp_path))
    argv = [sys.executable, "-m", "bench", "--quick", "--no-install", "--timeout", "60"]
    argv += ["--out", str(tmp_path / "docs" / "benchmarks.md")]
    argv += ["--json", str(tmp_path / "figures.json")]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr

    figures = json.loads((tmp_path / "figures.json").read_text())
    peers = {"make"} if shutil.which("make") else set()
    _check_rows(figures, peers)
    _check_core(figures)
    _check_markdown(tmp_path / "docs")
    assert "| shape | tool |" in done.stdout  # the table is printed too
    # The generated inputs and state lived in a temp dir under TMPDIR, now gone.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs", "figures.json"]
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == [
        "bench-chart.svg",
        "benchmarks.md",
    ]

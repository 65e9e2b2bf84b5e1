"""Smoke test of the benchmark (`python -m bench --quick`): it runs end to end, reports
every shape with every tool it found, and leaves nothing behind but the files asked for.

Benchmarks are not tests (docs/spec.md): nothing here looks at a timing's value,
only at the structure of the report and that its numbers are real numbers.
The quick run is one test on purpose: under pytest-xdist a module fixture would
run the benchmark once per worker, doubling its load on a 2-core CI machine.
It installs nothing (--no-install): ours runs from this test's interpreter,
and ninja or go-task take part only where they already are.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from bench import report
from bench.goals import CHECKS, goals
from bench.results import Results, Sample
from bench.shapes import all_shapes
from bench.tools import Tool

REPO = Path(__file__).resolve().parent.parent
SHAPES = (
    "chain",
    "independent",
    "unbalanced",
    "tax-analyzer",
    "dag-20",
    "dag-50",
    "dag-100",
    "empty",
)
WITH_NEEDS = ("chain", "unbalanced", "tax-analyzer")  # no max_parallel: latency is reported
ALL_TRUE = ("chain", "independent", "dag-20", "dag-50", "dag-100")  # a cost per job
OURS = ("eager", "eager-tmpfs", "wave", "wave-tmpfs")
SVG = "{http://www.w3.org/2000/svg}"


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _check_tools(figures: dict) -> set[str]:
    """Ours on the disk always; on tmpfs or a reason; make where it is; the python peer."""
    tools = set(figures["tools"])
    assert {"eager", "wave", "python"} <= tools, tools
    if "eager-tmpfs" not in tools:
        assert any("tmpfs" in line for line in figures["skipped"]), figures["skipped"]
    if shutil.which("make"):
        assert "make" in tools
    for peer, label in (("ninja", "ninja"), ("task", "go-task")):  # key, as a skip names it
        assert peer in tools or any(line.startswith(f"{label}:") for line in figures["skipped"]), (
            peer,
            figures["skipped"],
        )
    return tools


def _check_rows(figures: dict, tools: set[str]) -> None:
    """A row for every shape and tool that runs it, all runs good, every figure a number."""
    peers_of = {shape["name"]: set(shape["peers"]) & tools for shape in figures["shapes"]}
    assert peers_of["empty"] == {"python"}
    found = {(row["shape"], row["tool"]) for row in figures["rows"]}
    ours = tools & set(OURS)
    expected = {(shape, tool) for shape in SHAPES for tool in ours | peers_of[shape]}
    assert found == expected, sorted(found ^ expected)
    for row in figures["rows"]:
        where = (row["shape"], row["tool"])
        assert row["errors"] == 0, (where, row["first_error"])
        assert row["runs"] >= 1, where
        for key in ("median_s", "min_s", "max_s", "peak_rss_mb"):
            assert _finite(row[key]) and row[key] > 0, (where, key)
        assert set(row["ratios"]) == peers_of[row["shape"]], where
        assert all(_finite(r) and r > 0 for r in row["ratios"].values()), where
        if row["tool"] in ours and row["shape"] in WITH_NEEDS:
            assert _finite(row["latency_p50_ms"]) and row["latency_p50_ms"] >= 0, where
            assert row["latency_p99_ms"] >= row["latency_p50_ms"], where
        per_job = row["tool"] in ours and row["shape"] in ALL_TRUE
        assert _finite(row["per_job_ms"]) if per_job else row["per_job_ms"] is None, where


def _check_core(figures: dict) -> None:
    assert figures["core_note"] is None
    timed = {(c["shape"], c["strategy"]) for c in figures["core"]}
    assert timed == {(shape, s) for shape in SHAPES if shape != "empty" for s in ("eager", "wave")}
    assert all(all(_finite(s) for s in c["seconds"]) for c in figures["core"])


def _check_markdown(docs: Path) -> None:
    text = (docs / "benchmarks.md").read_text()
    assert "| shape | tool | runs | median s |" in text
    assert "| × ninja | × make | × go-task | × python |" in text
    for shape in SHAPES:
        assert f"| {shape} | ours eager |" in text
    for section in ("## Goals", "## Results", "## Machine", "How to reproduce", "on the method"):
        assert section in text, section
    assert "](bench-chart.svg)" in text
    outside = [link for link in re.findall(r"\]\(([^)]+)\)", text) if link.startswith("../")]
    assert outside == [], f"links leaving docs/: {outside}"
    root = ET.parse(docs / "bench-chart.svg").getroot()
    assert root.tag == f"{SVG}svg"
    assert len(root.findall(f"{SVG}rect")) > len(SHAPES)  # a background and bars


def _our_shm_dirs() -> set[str]:
    shm = Path("/dev/shm")
    return {p.name for p in shm.glob("hookcoord-bench-*")} if shm.is_dir() else set()


def test_quick_run_reports_every_shape_and_leaves_only_the_asked_files(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp_path))
    argv = [sys.executable, "-m", "bench", "--quick", "--no-install", "--timeout", "60"]
    argv += ["--ours-python", sys.executable, "--workdir", str(tmp_path / "work")]
    argv += ["--out", str(tmp_path / "docs" / "benchmarks.md")]
    argv += ["--json", str(tmp_path / "figures.json")]
    shm_before = _our_shm_dirs()
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr

    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures["quick"] and figures["goals"] == []
    tools = _check_tools(figures)
    _check_rows(figures, tools)
    _check_core(figures)
    _check_markdown(tmp_path / "docs")
    assert "| shape | tool |" in done.stdout  # the table is printed too
    # The work dir (created by the run) and the tmpfs dir are gone.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs", "figures.json"]
    assert _our_shm_dirs() <= shm_before
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == [
        "bench-chart.svg",
        "benchmarks.md",
    ]


def test_every_goal_is_evaluated_when_every_figure_is_there() -> None:
    """The goals of a full-size run, from made-up samples: each row gets a verdict or is shown.

    The full run takes many minutes; this catches a goal that cannot be
    evaluated (a wrong shape, tool or figure name) before it gets that far.
    """
    shapes = all_shapes()

    def argv(*_: object) -> list[str]:
        return []

    keys = (*OURS, "ninja", "make", "task", "python")
    tools = [Tool(key, key, argv, "v", ours=key in OURS, tmpfs="tmpfs" in key) for key in keys]
    results = Results(shapes, tools, [], repeat=2, big_repeat=1, quick=False, machine={})
    for shape in shapes:
        iterations = range(1 if shape.big else 2)
        for tool in results.tools_for(shape):
            wall = 0.1 + len(shape.jobs) * 0.001 + shape.critical_path
            results.samples[shape.name, tool.key] = [
                Sample(i, wall, 20_000, shape.critical_path or None, (100_000,) * len(shape.jobs))
                for i in iterations
            ]
    found = goals(results)
    for goal, check in zip(found, CHECKS, strict=True):
        assert goal.measured != "not measured", goal
        shown = check is not None and check[4] is None
        assert (goal.met is None) == shown, goal
    results.machine.update(date="d", nproc="2", cpu="c", python="p", os="o", load_before="0 0 0")
    results.machine.update(rss_method="r", ours_from="o", state_disk="d", state_tmpfs="t")
    text = report.markdown(results, chart=None)
    assert "| goal | measured | met |" in text and "not measured" not in text

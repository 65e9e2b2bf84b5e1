"""Turn results into the markdown report (docs/benchmarks.md) and a JSON dump.

The targets come from issue 5; they are evaluated and shown, never asserted:
a benchmark reports, CI does not fail on a slow machine.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

from bench.results import Results, rows

COLUMNS = (
    "shape",
    "tool",
    "runs",
    "median s",
    "min s",
    "max s",
    "× make",
    "× go-task",
    "wall / CP",
    "span / CP",
    "start lat. p50 ms",
    "p99 ms",
    "peak RSS MB",
)


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}x"


def table(results: Results) -> str:
    """The main table: one row per tool per shape."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows(results):
        runs = str(row.runs) + (f" ({row.errors} failed)" if row.errors else "")
        cells = [
            row.shape,
            row.label,
            runs,
            _num(row.median_s),
            _num(row.min_s),
            _num(row.max_s),
            _ratio(row.vs_make),
            _ratio(row.vs_task),
            _num(row.wall_per_cp, 2),
            _num(row.span_per_cp, 2),
            _num(row.latency_p50_ms),
            _num(row.latency_p99_ms),
            _num(row.peak_rss_mb, 1),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def core_table(results: Results) -> str:
    if results.core_note:
        return f"Not measured: {results.core_note}."
    lines = [
        "| shape | strategy | jobs | median s | min s | max s |",
        "|---|---|---|---|---|---|",
    ]
    for timing in results.core:
        lines.append(
            f"| {timing.shape} | {timing.strategy} | {timing.jobs} | "
            f"{statistics.median(timing.seconds):.4f} | {min(timing.seconds):.4f} | "
            f"{max(timing.seconds):.4f} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    """One target of issue 5: what it asks, what was measured, and whether it was met."""

    text: str
    measured: str
    met: bool | None  # None: not measured (tool skipped or run failed)


# (target text, shape, our strategy, Row field, upper limit, unit), from issue 5.
LIMITS = (
    ("chain: eager <= 1.5x make", "chain", "eager", "vs_make", 1.5, "x"),
    ("chain: eager <= 0.75x go-task", "chain", "eager", "vs_task", 0.75, "x"),
    ("independent: eager <= 1.5x make", "independent", "eager", "vs_make", 1.5, "x"),
    (
        "unbalanced: eager makespan <= 1.05x critical path",
        "unbalanced",
        "eager",
        "span_per_cp",
        1.05,
        "x",
    ),
    (
        "chain: dependent-start latency p50 <= 0.3 ms",
        "chain",
        "eager",
        "latency_p50_ms",
        0.3,
        " ms",
    ),
    ("chain: dependent-start latency p99 <= 2 ms", "chain", "eager", "latency_p99_ms", 2.0, " ms"),
    ("random-dag: peak RSS <= 100 MB", "random-dag", "eager", "peak_rss_mb", 100.0, " MB"),
)
CORE_LIMIT_S = 0.5


def _measured(value: float | None, unit: str) -> str:
    return "not measured" if value is None else f"{value:.3f}{unit}"


def targets(results: Results) -> list[Target]:
    """Evaluate issue 5's targets against a full-size run."""
    by_key = {(row.shape, row.tool): row for row in rows(results)}
    found = []
    for text, shape, tool, field, limit, unit in LIMITS:
        row = by_key.get((shape, tool))
        value = None if row is None else getattr(row, field)
        found.append(
            Target(text, _measured(value, unit), None if value is None else value <= limit)
        )

    unbalanced = next((s for s in results.shapes if s.name == "unbalanced"), None)
    wave = by_key.get(("unbalanced", "wave"))
    if unbalanced is not None and wave is not None and wave.span_per_cp is not None:
        span = wave.span_per_cp * unbalanced.critical_path
        beside = Target("unbalanced: wave makespan, beside (near 2.0 s)", f"{span:.3f} s", None)
        found.insert(4, beside)  # right after the eager makespan

    dag = by_key.get(("random-dag", "eager"))
    found.append(
        Target(
            "random-dag (10k jobs): completes",
            "not run" if dag is None else f"{dag.runs} ok, {dag.errors} failed",
            None if dag is None else dag.runs > 0 and dag.errors == 0,
        )
    )
    core = [c for c in results.core if c.shape == "random-dag" and c.strategy == "eager"]
    median = statistics.median(core[0].seconds) if core else None
    found.append(
        Target(
            f"random-dag: scheduling core alone <= {CORE_LIMIT_S} s",
            _measured(median, " s"),
            None if median is None else median <= CORE_LIMIT_S,
        )
    )
    return found


def targets_table(results: Results) -> str:
    if results.quick:
        return "Quick smoke run: the shapes are shrunk, so the targets are not evaluated."
    lines = ["| target | measured | met |", "|---|---|---|"]
    words = {True: "yes", False: "**no**", None: "–"}
    for target in targets(results):
        lines.append(f"| {target.text} | {target.measured} | {words[target.met]} |")
    return "\n".join(lines)


def _load_warning(results: Results) -> list[str]:
    """A caution when other work was on the machine as the run began: ratios are then rough.

    Only the load before the run counts: the one after includes the benchmark itself.
    """
    loads = [float(x) for x in results.machine.get("load_before", "").split()]
    cores = int(results.machine.get("nproc") or 1)
    if not loads or max(loads) < cores / 2:
        return []
    return [
        "",
        f"Caution: the load average was already {max(loads):.1f} on {cores} cores when the "
        "run began, so other work shared the machine; the interleaving and paired ratios "
        "dampen that, but absolute times and tails (max, p99) are inflated.",
    ]


def markdown(results: Results, *, chart: str | None) -> str:
    """The whole report; `chart` is the SVG's path relative to the report, if one was written."""
    machine = results.machine
    shapes = "\n".join(
        f"- **{s.name}**: {s.title}; {len(s.jobs)} jobs, {s.edges} edges"
        + (f", critical path {s.critical_path:.2f} s" if s.critical_path > 0 else "")
        + ("" if s.peers else " (ours only)")
        for s in results.shapes
    )
    skipped = "\n".join(f"- {line}" for line in results.skipped) or "- none"
    versions = "\n".join(
        f"- {key}: {value}" for key, value in machine.items() if key in ("make", "task")
    )
    parts = [
        "# Benchmarks",
        "",
        "Generated by `python -m bench"
        + (" --quick" if results.quick else "")
        + f"` ({results.repeat} interleaved iteration(s) per shape and tool). "
        "Do not edit by hand: rerun the benchmark.",
        "",
        "## Shapes",
        "",
        shapes,
        "",
        "## Results",
        "",
        table(results),
        "",
        "Columns: wall time of the whole command (median, min, max over the runs); "
        "`× make` and `× go-task` are the median of per-iteration ratios (each run "
        "divided by the peer's run of the same iteration); `wall / CP` is the median "
        "wall time over the critical path (sum of sleeps on the longest path; shown "
        "only where it is not zero); `span / CP` is ours only: first job start to last "
        "job end from the recorded monotonic fields, over the critical path, so it "
        "excludes interpreter start-up; start latency is ours only: for each job with "
        "needs, `started_mono_ns` minus the latest `finished_mono_ns` of its needs, "
        "pooled over all runs, shown for shapes without `max_parallel` (where a ready "
        "job would also wait for a free slot); for wave it includes the wait for the "
        "level barrier; peak RSS is the largest over the runs of "
        "the largest peak resident set of any single process in the tool's tree (the "
        f"tool itself here), in MB (10^6 bytes), measured by {machine['rss_method']}.",
        "",
        "## Scheduling core alone",
        "",
        "The pure `coordinator.scheduler.Scheduler` driven in-process with a FIFO of "
        "running jobs (no process, no file): construction plus every `job_ended` call.",
        "",
        core_table(results),
        "",
        "## Targets (issue 5)",
        "",
        targets_table(results),
        "",
    ]
    if chart:
        parts += ["## Chart", "", f"![median wall time per shape and tool]({chart})", ""]
    parts += [
        "## Machine",
        "",
        f"- date: {machine['date']}",
        f"- nproc: {machine['nproc']}; CPU: {machine['cpu']}",
        f"- {machine['python']} on {machine['os']}",
        f"- load average (1, 5, 15 min) before: {machine['load_before']}, "
        f"after: {machine.get('load_after', '?')}",
        versions,
        *_load_warning(results),
        "",
        "Skipped tools:",
        "",
        skipped,
        "",
        "## How to reproduce",
        "",
        "```sh",
        "make .venv/.installed",
        ".venv/bin/pip install -e '.[bench]'   # go-task (go-task-bin); make is a system tool",
        ".venv/bin/python -m bench --out docs/benchmarks.md   # writes docs/bench-chart.svg too",
        ".venv/bin/python -m bench --quick                    # smoke run, prints the table",
        ".venv/bin/python -m bench --only chain,unbalanced --repeat 9",
        "```",
        "",
        "## Notes on the method",
        "",
        "- Each shape's inputs (hooks YAML, Makefile of .PHONY targets, Taskfile with "
        "`deps` and `run: once`) are generated once from the same graph into a temp dir; "
        "every tool runs with that dir as cwd and output to a log file.",
        "- Iterations are interleaved: each iteration runs every shape with every tool, "
        "in an order rotated per iteration. One untimed warm-up run per tool comes first.",
        "- make gets `-j N` with N = max_parallel (or the job count when unbounded); "
        "go-task gets `--concurrency N` when the shape has a limit.",
        "- The peers run a job differently from us: make executes a simple command such "
        "as `true` or `sleep 1` directly, without a shell, and go-task interprets it with "
        "its built-in shell (`true` costs it no process at all), while our coordinator "
        "runs every job with `sh -c` in its own process group and writes meta.json "
        "twice per job (spec: records).",
        "- Our wall time includes the Python interpreter's start-up and imports; ours "
        "runs with a bytecode cache (in the temp dir), as an installed package would.",
        "",
    ]
    return "\n".join(parts)


def to_json(results: Results) -> dict[str, Any]:
    """Raw figures for machines (and the smoke test): rows, core timings, targets, machine."""
    return {
        "quick": results.quick,
        "repeat": results.repeat,
        "machine": results.machine,
        "skipped": results.skipped,
        "shapes": [
            {
                "name": s.name,
                "title": s.title,
                "jobs": len(s.jobs),
                "critical_path_s": s.critical_path,
            }
            for s in results.shapes
        ],
        "rows": [asdict(row) for row in rows(results)],
        "core": [asdict(timing) for timing in results.core],
        "core_note": results.core_note,
        "targets": [] if results.quick else [asdict(t) for t in targets(results)],
    }

"""Turn results into the markdown report (docs/benchmarks.md) and a JSON dump.

This module writes the whole of docs/benchmarks.md, method text included, so
the text cannot drift from what the code does: change it here, then rerun.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.goals import FLAT_TOLERANCE, goals, goals_table
from bench.results import Results, rows
from bench.shapes import BIG_JOBS
from bench.suite import DEFAULT_BIG_REPEAT, DEFAULT_TIMEOUT_S

# Peer key -> ratio column header, in the table's order.
RATIO_COLUMNS = {"ninja": "× ninja", "make": "× make", "task": "× go-task", "python": "× python"}
COLUMNS = (
    "shape",
    "tool",
    "runs",
    "median s",
    "min s",
    "max s",
    *RATIO_COLUMNS.values(),
    "wall / CP",
    "span / CP",
    "start lat. p50 ms",
    "p99 ms",
    "per job ms",
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
            *(_ratio(row.ratios.get(peer)) for peer in RATIO_COLUMNS),
            _num(row.wall_per_cp, 2),
            _num(row.span_per_cp, 2),
            _num(row.latency_p50_ms),
            _num(row.latency_p99_ms),
            _num(row.per_job_ms),
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


def _disk_warning(results: Results) -> list[str]:
    fstype = results.machine.get("state_disk_fstype", "")
    if fstype not in ("tmpfs", "ramfs"):
        return []
    return ["", f"Caution: the local-disk state dirs were on {fstype}, so no row measured a disk."]


def _install_warning(results: Results) -> list[str]:
    if "site-packages" in Path(results.machine.get("ours_from", "site-packages")).parts:
        return []
    return ["", "Caution: ours imported the coordinator from the checkout, not an installed copy."]


def _iterations(results: Results) -> str:
    text = f"{results.repeat} interleaved iteration(s) per shape and tool"
    big = [s.name for s in results.shapes if s.big]
    if big and results.big_repeat < results.repeat:
        text += (
            f"; {results.big_repeat} for the shapes of {BIG_JOBS} jobs or more ({', '.join(big)})"
        )
    return text


COLUMNS_TEXT = (
    "Columns: wall time of the whole command (median, min, max over the runs); `× ninja`, "
    "`× make`, `× go-task` and `× python` (the `python -c pass` peer, on the empty hook) "
    "are the median of per-iteration ratios (each run divided by the peer's run of the same "
    "iteration); `wall / CP` is the median wall time over the critical path (sum of sleeps "
    "on the longest path; shown only where it is not zero); `span / CP` is ours only: first "
    "job start to last job end from the recorded monotonic fields, over the critical path, "
    "so it excludes interpreter start-up; start latency is ours only: for each job with "
    "needs, `started_mono_ns` minus the latest `finished_mono_ns` of its needs, pooled over "
    "all runs, shown for shapes without `max_parallel` (where a ready job would also wait "
    "for a free slot); for wave it includes the wait for the level barrier; `per job ms` is "
    "ours only, on the shapes of `true` jobs: the median over iterations of (wall − the "
    "median wall of our empty-hook runs of the same iteration) / jobs; peak RSS is the "
    "largest over the runs of the largest peak resident set of any single process in the "
    "tool's tree (the tool itself here), in MB (10^6 bytes), measured by {rss_method}. "
    "`ours … tmpfs` rows are the same runs with the state dir on tmpfs instead of the local "
    "disk."
)

REPRODUCE = """\
```sh
make bench   # builds .venv and .bench-venv, installs the bench extra, writes this file
.venv/bin/python -m bench --quick   # smoke run (seconds), prints the tables
.venv/bin/python -m bench --only chain,dag-2000,empty --repeat 9   # prints, writes no report
```

`python -m bench` builds `.bench-venv` when it is missing or its sources
changed, and pip-installs the bench extra into the venv it runs from when
ninja or go-task is missing; `--no-install` forbids both. `--ours-python PY`
runs ours with another interpreter, `--workdir DIR` moves the local-disk work
dir, `--keep` keeps it and the tmpfs dir, `--timeout S` bounds each run and
`--big-repeat N` sets the iterations of the big shapes."""

METHOD = (
    "- Ours runs as `.bench-venv/bin/python -m coordinator run …`: a regular (not editable) "
    "`pip install` of a copy of the sources into its own venv, byte-compiled with "
    "`compileall`, rebuilt when the digest of pyproject.toml, README.md, coordinator/ and "
    "harness/ changes; no PYTHONPATH or pycache prefix reaches it. The machine section "
    "says where it imported the coordinator from. Our wall time includes the interpreter's "
    "start-up and imports. The benchmark's own code runs from `.venv`.",
    "- Each shape's inputs (hooks YAML, Makefile of .PHONY targets, Taskfile with `deps` and "
    "`run: once`, build.ninja with one `build` per job, needs as order-only `||` deps and a "
    "phony `default` target over every job) are generated once from the same graph into a "
    "work dir on the local disk (`.bench-work/` in the repository by default, not the system "
    "temp dir); every tool runs with its shape's dir as cwd and output to a log file.",
    "- Our state dir is on that local disk for the `ours eager` / `ours wave` rows, and on "
    "tmpfs (`/dev/shm`, when /proc/mounts says it is a tmpfs) for the `… tmpfs` rows: two "
    "runs per shape and iteration. The goals are about the local disk.",
    "- Iterations are interleaved: each iteration runs every shape with every tool, in an "
    f"order rotated per iteration. The shapes of {BIG_JOBS} jobs or more run in the first "
    f"`--big-repeat` iterations only (default {DEFAULT_BIG_REPEAT}). One untimed warm-up "
    "run per tool comes first.",
    "- ninja and make get `-j N` with N = max_parallel (or the job count when unbounded); "
    "go-task gets `--concurrency N` when the shape has a limit. ninja's `.ninja_log` and "
    "`.ninja_deps` are removed before every run, so every run does the same work.",
    "- How the peers run a job: ninja runs each command with `/bin/sh -c`, as we do, and "
    "records only a line per command in `.ninja_log`, which makes it the floor; make "
    "executes a simple command such as `true` or `sleep 1` directly, without a shell; "
    "go-task interprets it with its built-in shell (`true` costs it no process at all). "
    "Our coordinator runs every job with `sh -c` "
    "in its own process group and writes meta.json twice per job (spec: records).",
    "- The empty hook (no job) is ours against `python -c pass` run by the same interpreter: "
    "what our start-up, imports and file loading cost over the bare interpreter's start.",
    f"- Cost per job is flat when dag-10000's is at most {FLAT_TOLERANCE}x dag-200's (same "
    "generator, same max_parallel); dag-2000's is shown between them.",
    f"- Each run has a timeout (`--timeout`, default {DEFAULT_TIMEOUT_S:g} s); a run that "
    "exceeds it is killed with its process group and counted as a failed sample, not "
    "waited for.",
)


def markdown(results: Results, *, chart: str | None) -> str:
    """The whole report; `chart` is the SVG's path relative to the report, if one was written."""
    machine = results.machine
    shapes = "\n".join(
        f"- **{s.name}**: {s.title}; {len(s.jobs)} jobs, {s.edges} edges"
        + (f", critical path {s.critical_path:.2f} s" if s.critical_path > 0 else "")
        for s in results.shapes
    )
    skipped = "\n".join(f"- {line}" for line in results.skipped) or "- none"
    versions = "\n".join(
        f"- {key.removesuffix('_version')}: {value}"
        for key, value in machine.items()
        if key.endswith("_version")
    )
    parts = [
        "# Benchmarks",
        "",
        "Generated by `python -m bench"
        + (" --quick" if results.quick else "")
        + f"` ({_iterations(results)}). Do not edit by hand: rerun the benchmark.",
        "",
        "## Shapes",
        "",
        shapes,
        "",
        "## Goals",
        "",
        "Same run, same machine, ours eager with its state on the local disk; rows marked "
        "(shown) are beside the goals, for comparison. Why a goal is not met, what was "
        "tried and what it measured: [performance.md](performance.md).",
        "",
        goals_table(results),
        "",
        "## Results",
        "",
        table(results),
        "",
        COLUMNS_TEXT.format(rss_method=machine["rss_method"]),
        "",
        "## Scheduling core alone",
        "",
        "The pure `coordinator.scheduler.Scheduler` driven in-process with a FIFO of "
        "running jobs (no process, no file): construction plus every `job_ended` call.",
        "",
        core_table(results),
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
        f"- ours imported the coordinator from {machine['ours_from']}",
        f"- state dirs on the local disk: under {machine['state_disk']}",
        f"- state dirs on tmpfs: under {machine['state_tmpfs']}",
        versions,
        *_load_warning(results),
        *_disk_warning(results),
        *_install_warning(results),
        "",
        "Skipped tools:",
        "",
        skipped,
        "",
        "## How to reproduce",
        "",
        REPRODUCE,
        "",
        "## Notes on the method",
        "",
        *METHOD,
        "",
    ]
    return "\n".join(parts)


def to_json(results: Results) -> dict[str, Any]:
    """Raw figures for machines (and the smoke test): rows, core timings, goals, machine."""
    return {
        "quick": results.quick,
        "repeat": results.repeat,
        "big_repeat": results.big_repeat,
        "machine": results.machine,
        "tools": [tool.key for tool in results.tools],
        "skipped": results.skipped,
        "shapes": [
            {
                "name": s.name,
                "title": s.title,
                "jobs": len(s.jobs),
                "critical_path_s": s.critical_path,
                "peers": list(s.peers),
            }
            for s in results.shapes
        ],
        "rows": [asdict(row) for row in rows(results)],
        "core": [asdict(timing) for timing in results.core],
        "core_note": results.core_note,
        "goals": [] if results.quick else [asdict(goal) for goal in goals(results)],
    }

"""What a benchmark run collected, and the statistics the report derives from it.

Statistics live here, apart from the formatting, so the smoke test and the
JSON output see exactly the numbers the table shows.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bench.core import CoreTiming
from bench.shapes import Shape
from bench.tools import Tool


@dataclass(frozen=True)
class Sample:
    """One timed run of one tool on one shape, in iteration `iteration`."""

    iteration: int
    wall_s: float
    max_rss_kb: int
    span_s: float | None = None  # ours only: first job start to last job end, from meta
    latencies_ns: tuple[int, ...] = ()  # ours only: see bench.meta.summarize
    error: str | None = None


@dataclass
class Results:
    """Everything one benchmark run measured; samples are keyed by (shape name, tool key)."""

    shapes: list[Shape]
    tools: list[Tool]
    skipped: list[str]
    repeat: int
    big_repeat: int  # iterations of the big shapes (Shape.big)
    quick: bool
    machine: dict[str, str]
    samples: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)
    core: list[CoreTiming] = field(default_factory=list)
    core_note: str | None = None

    def tools_for(self, shape: Shape) -> list[Tool]:
        """Ours on every shape; a peer on the shapes that name it."""
        return [tool for tool in self.tools if tool.ours or tool.key in shape.peers]


@dataclass(frozen=True)
class Row:
    """One line of the table: a tool on a shape. None means not applicable or no data."""

    shape: str
    tool: str
    label: str
    runs: int
    errors: int
    median_s: float | None
    min_s: float | None
    max_s: float | None
    ratios: dict[str, float | None]  # peer key -> paired ratio (see paired_ratio)
    wall_per_cp: float | None
    span_per_cp: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    per_job_ms: float | None  # ours on all-`true` shapes: see per_job_ms
    peak_rss_mb: float | None
    first_error: str | None


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): always one of the observed values."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def paired_ratio(mine: Sequence[Sample], theirs: Sequence[Sample]) -> float | None:
    """Median over iterations of my wall time / theirs, pairing runs of the same iteration.

    Pairing cancels slow drifts of the machine's load, which an unpaired
    ratio of medians would fold into the result.
    """
    by_iteration = {s.iteration: s.wall_s for s in theirs if s.error is None}
    ratios = [
        s.wall_s / by_iteration[s.iteration]
        for s in mine
        if s.error is None and by_iteration.get(s.iteration)
    ]
    return statistics.median(ratios) if ratios else None


def empty_baseline(results: Results) -> dict[int, float]:
    """Per iteration, the median wall time of our runs of the empty hook (all variants).

    It is what a run costs before its first job (start-up, loading the file,
    exit), so subtracting it from a run of the same iteration leaves the jobs'
    share; the median over our variants (strategies, state dirs, which do no
    work for zero jobs) steadies it.
    """
    walls: dict[int, list[float]] = {}
    for shape in results.shapes:
        if shape.jobs:
            continue
        for tool in results.tools:
            if tool.ours:
                for s in results.samples.get((shape.name, tool.key), []):
                    if s.error is None:
                        walls.setdefault(s.iteration, []).append(s.wall_s)
    return {iteration: statistics.median(values) for iteration, values in walls.items()}


def per_job_ms(samples: Sequence[Sample], baseline: Mapping[int, float], jobs: int) -> float | None:
    """Median over iterations of (wall - that iteration's empty-hook wall) / jobs, in ms."""
    costs = [
        (s.wall_s - baseline[s.iteration]) / jobs * 1e3
        for s in samples
        if s.error is None and s.iteration in baseline
    ]
    return statistics.median(costs) if costs and jobs else None


def rows(results: Results) -> list[Row]:
    """The table's rows, shape by shape in report order, tools in discovery order."""
    baseline = empty_baseline(results)
    table = []
    for shape in results.shapes:
        cells: Mapping[str, list[Sample]] = {
            tool.key: results.samples.get((shape.name, tool.key), [])
            for tool in results.tools_for(shape)
        }
        peers = [tool.key for tool in results.tools_for(shape) if not tool.ours]
        cp = shape.critical_path
        for tool in results.tools_for(shape):
            samples = cells[tool.key]
            good = [s for s in samples if s.error is None]
            walls = [s.wall_s for s in good]
            spans = [s.span_s for s in good if s.span_s is not None]
            # Under max_parallel a ready job also waits for a slot, which says
            # nothing about the coordinator's reaction time: no latency there.
            latencies = (
                [] if shape.max_parallel else [ns / 1e6 for s in good for ns in s.latencies_ns]
            )
            median = statistics.median(walls) if walls else None
            per_job = shape.all_true and tool.ours
            table.append(
                Row(
                    shape=shape.name,
                    tool=tool.key,
                    label=tool.label,
                    runs=len(good),
                    errors=len(samples) - len(good),
                    median_s=median,
                    min_s=min(walls, default=None),
                    max_s=max(walls, default=None),
                    ratios={peer: paired_ratio(samples, cells[peer]) for peer in peers},
                    wall_per_cp=median / cp if median is not None and cp > 0 else None,
                    span_per_cp=statistics.median(spans) / cp if spans and cp > 0 else None,
                    latency_p50_ms=percentile(latencies, 50) if latencies else None,
                    latency_p99_ms=percentile(latencies, 99) if latencies else None,
                    per_job_ms=per_job_ms(samples, baseline, len(shape.jobs)) if per_job else None,
                    peak_rss_mb=max(s.max_rss_kb for s in good) * 1024 / 1e6 if good else None,
                    first_error=next((s.error for s in samples if s.error), None),
                )
            )
    return table

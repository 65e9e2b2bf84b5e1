"""The goals of issue 12, evaluated on a full-size run: each met or not, beside its measure.

They are evaluated and shown, never asserted: a benchmark reports, CI does
not fail on a slow machine. Every goal is about ours eager with its state on
the local disk; a few rows with no limit (tmpfs, wave, the 10,000-job ratio)
are shown beside them for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.results import Results, Row, rows

# dag-10000's cost per job may be this much above dag-200's and still count as flat.
FLAT_TOLERANCE = 1.25
FLAT_SHAPES = ("dag-200", "dag-2000", "dag-10000")


@dataclass(frozen=True)
class Goal:
    """One line of the goals table. `met` is None when not measured or not a goal."""

    text: str
    measured: str
    met: bool | None


Check = tuple[str, str, str, str, float | None, str]
FLAT = None  # where the cost-per-job goal (_flat) goes

# (text, shape, our tool, figure, upper limit or None for a row only shown, unit), in
# the report's order. A figure is a Row field, or "x PEER" for the paired ratio to PEER.
CHECKS: tuple[Check | None, ...] = (
    ("chain-200: eager / go-task <= 1.0", "chain", "eager", "x task", 1.0, "x"),
    ("independent-200x8: eager / go-task <= 1.0", "independent", "eager", "x task", 1.0, "x"),
    ("dag-2000x16: eager / go-task <= 1.0", "dag-2000", "eager", "x task", 1.0, "x"),
    ("dag-10000x16: eager / go-task (shown)", "dag-10000", "eager", "x task", None, "x"),
    ("chain-200: eager / ninja <= 1.5", "chain", "eager", "x ninja", 1.5, "x"),
    ("independent-200x8: eager / ninja <= 1.5", "independent", "eager", "x ninja", 1.5, "x"),
    ("dag-2000x16: eager / ninja <= 2.0", "dag-2000", "eager", "x ninja", 2.0, "x"),
    FLAT,
    ("chain-200: dependent-start p50 <= 0.3 ms, records on disk", "chain", "eager",
     "latency_p50_ms", 0.3, " ms"),
    ("chain-200: dependent-start p50, records on tmpfs (shown)", "chain", "eager-tmpfs",
     "latency_p50_ms", None, " ms"),
    ("chain-200: dependent-start p99 <= 2 ms, records on disk", "chain", "eager",
     "latency_p99_ms", 2.0, " ms"),
    ("chain-200: dependent-start p99, records on tmpfs (shown)", "chain", "eager-tmpfs",
     "latency_p99_ms", None, " ms"),
    ("unbalanced: eager makespan (span / CP) <= 1.02", "unbalanced", "eager", "span_per_cp",
     1.02, "x"),
    ("unbalanced: wave makespan (span / CP, shown)", "unbalanced", "wave", "span_per_cp",
     None, "x"),
    ("empty hook: eager / `python -c pass` <= 2.0", "empty", "eager", "x python", 2.0, "x"),
    ("dag-10000x16: peak RSS of ours eager <= 60 MB", "dag-10000", "eager", "peak_rss_mb",
     60.0, " MB"),
)  # fmt: skip


def _figure(row: Row, name: str) -> float | None:
    peer = name.removeprefix("x ")
    return row.ratios.get(peer) if peer != name else getattr(row, name)


def _check(check: Check, by_key: dict[tuple[str, str], Row]) -> Goal:
    text, shape, tool, name, limit, unit = check
    row = by_key.get((shape, tool))
    value = None if row is None else _figure(row, name)
    if value is None:
        return Goal(text, "not measured", None)
    return Goal(text, f"{value:.3f}{unit}", None if limit is None else value <= limit)


def _flat(by_key: dict[tuple[str, str], Row]) -> Goal:
    """Cost per job flat from 200 to 10,000 jobs (bench.results.per_job_ms)."""
    text = f"cost per job: dag-10000 <= {FLAT_TOLERANCE}x dag-200 (ms per job, disk)"
    costs = {}
    for shape in FLAT_SHAPES:
        row = by_key.get((shape, "eager"))
        costs[shape] = None if row is None else row.per_job_ms
    shown = ", ".join(
        f"{shape} {'–' if cost is None else f'{cost:.3f}'}" for shape, cost in costs.items()
    )
    small, large = costs[FLAT_SHAPES[0]], costs[FLAT_SHAPES[-1]]
    if small is None or large is None or small <= 0:
        return Goal(text, f"{shown}; not measured", None)
    ratio = large / small
    return Goal(text, f"{shown}; {ratio:.2f}x", ratio <= FLAT_TOLERANCE)


def goals(results: Results) -> list[Goal]:
    """Every goal and shown row, in the report's order."""
    by_key = {(row.shape, row.tool): row for row in rows(results)}
    return [_flat(by_key) if check is FLAT else _check(check, by_key) for check in CHECKS]


def goals_table(results: Results) -> str:
    if results.quick:
        return "Quick smoke run: the shapes are shrunk, so the goals are not evaluated."
    lines = ["| goal | measured | met |", "|---|---|---|"]
    words = {True: "yes", False: "**no**", None: "–"}
    for goal in goals(results):
        lines.append(f"| {goal.text} | {goal.measured} | {words[goal.met]} |")
    return "\n".join(lines)

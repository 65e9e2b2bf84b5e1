"""Read our coordinator's records (spec: records) back into per-run figures.

Only the monotonic fields are used, so the figures are immune to wall-clock
steps and comparable between jobs of one run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.shapes import Shape
from coordinator import store
from coordinator.model import Record, Status


@dataclass(frozen=True)
class RunMeta:
    """What one run of ours recorded: its span and the dependent-start latencies."""

    span_s: float
    latencies_ns: tuple[int, ...]


def read_records(state_dir: Path) -> dict[str, Record]:
    """Every record under `state_dir` (one run per state dir), keyed by job name."""
    records: dict[str, Record] = {}
    for run_dir in sorted(state_dir.glob("jobs/*/*")):
        records.update(store.read_records(run_dir))
    return records


def summarize(shape: Shape, state_dir: Path) -> RunMeta:
    """Span (first start to last end) and, per job with needs, its start minus its last need's end.

    That latency is how long a ready job waited to be started: along the
    chain it is pure coordinator overhead; under `max_parallel` or a wave
    barrier it also includes the wait for a slot or for the level.
    Raises ValueError when a job is missing, did not complete, or started
    before a need had finished.
    """
    records = read_records(state_dir)
    missing = [job.name for job in shape.jobs if job.name not in records]
    if missing:
        raise ValueError(f"{len(missing)} job(s) have no record, e.g. {missing[0]}")
    failed = [r for r in records.values() if r.status is not Status.COMPLETED]
    if failed:
        first = failed[0]
        raise ValueError(f"job {first.name} ended {first.status.value}: {first.reason}")
    starts = {name: r.started_mono_ns for name, r in records.items()}
    ends = {name: r.finished_mono_ns for name, r in records.items()}
    latencies = []
    for job in shape.jobs:
        if job.needs:
            last = max(job.needs, key=ends.__getitem__)
            latency = starts[job.name] - ends[last]
            if latency < 0:  # the very bug this project exists to prevent (README)
                raise ValueError(f"job {job.name} started before its need {last} finished")
            latencies.append(latency)
    span = (max(ends.values()) - min(starts.values())) / 1e9 if records else 0.0
    return RunMeta(span, tuple(latencies))

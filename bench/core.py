"""Time the pure scheduling core alone: no process, no file, no clock inside it.

The simulation keeps a FIFO of running jobs and ends the oldest each step,
which is what a run of equally long jobs looks like. What is timed is
building the `Scheduler` and driving it to `finished`.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from bench.shapes import Shape


@dataclass(frozen=True)
class CoreTiming:
    """Seconds per simulated run of one shape under one strategy."""

    shape: str
    strategy: str
    jobs: int
    seconds: tuple[float, ...]


def simulate(shape: Shape, strategy: str) -> float:
    """One simulated run; returns its duration in seconds.

    Raises RuntimeError when the scheduler does not start every job exactly
    once or does not finish: a core that skips work must not look fast.
    """
    from coordinator.model import JobSpec, Status, Strategy
    from coordinator.scheduler import Scheduler, Start

    specs = [JobSpec(j.name, j.run, needs=j.needs, background=j.background) for j in shape.jobs]
    begin = time.perf_counter()
    scheduler = Scheduler(specs, strategy=Strategy(strategy), max_parallel=shape.max_parallel)
    running: deque[str] = deque()
    started = 0
    actions = scheduler.start()
    while True:
        for action in actions:
            if isinstance(action, Start):
                running.append(action.name)
                started += 1
        if not running:
            break
        actions = scheduler.job_ended(running.popleft(), Status.COMPLETED)
    elapsed = time.perf_counter() - begin
    if started != len(shape.jobs) or not scheduler.finished:
        raise RuntimeError(
            f"{shape.name}/{strategy}: started {started} of {len(shape.jobs)} jobs, "
            f"finished={scheduler.finished}"
        )
    return elapsed


def available() -> str | None:
    """None when the scheduler can be imported, else why not."""
    try:
        import coordinator.scheduler  # noqa: F401
    except Exception as error:  # a half-written package can fail in any way
        return f"coordinator.scheduler cannot be imported: {error}"
    return None


def time_core(shape: Shape, strategy: str, repeat: int) -> CoreTiming:
    seconds = tuple(simulate(shape, strategy) for _ in range(repeat))
    return CoreTiming(shape.name, strategy, len(shape.jobs), seconds)

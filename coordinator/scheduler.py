"""The scheduling decision core: which job to start, skip or cancel, and when.

It is a pure state machine in the style of h11: it knows the graph, the policy
and the concurrency limit, and is driven by events ("job X ended with status
S"). It never starts a process, reads a clock or waits; the engine around it
does the IO and reports back. That keeps every rule of the spec (scheduling) testable
exhaustively, and lets `eager` and `wave` share one implementation.

The DAG walk is `graphlib.TopologicalSorter`, one per phase (foreground, then
background). Jobs must already be validated and promoted (`coordinator.graph`):
graphlib would silently accept an unknown need as a new root.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from graphlib import TopologicalSorter

from coordinator.model import JobSpec, SkipCause, Status, Strategy


@dataclass(frozen=True)
class Start:
    """Start this job now."""

    name: str


@dataclass(frozen=True)
class Skip:
    """Record this job as skipped without running it."""

    name: str
    cause: SkipCause
    reason: str


@dataclass(frozen=True)
class Cancel:
    """Record this never-started job as cancelled without running it."""

    name: str
    reason: str


Action = Start | Skip | Cancel

Condition = Callable[[JobSpec], str | None]
"""Returns a reason when the job's own skip/only condition says not to run it."""


def _no_condition(job: JobSpec) -> str | None:
    return None


class Scheduler:
    """Decides, event by event, what the engine should do next.

    Call `start()` once, then `job_ended()` for every started job, in any
    order. Each call returns the actions to carry out. `finished` is true once
    every job has ended (run, skipped or cancelled).
    """

    def __init__(
        self,
        jobs: Sequence[JobSpec],
        *,
        strategy: Strategy = Strategy.EAGER,
        max_parallel: int | None = None,
        condition: Condition = _no_condition,
    ) -> None:
        if max_parallel is not None and max_parallel < 1:
            raise ValueError("max_parallel must be >= 1")
        self._jobs = {job.name: job for job in jobs}
        self._order = {job.name: index for index, job in enumerate(jobs)}
        self._dependents: dict[str, list[str]] = {job.name: [] for job in jobs}
        for job in jobs:
            for need in job.needs:
                self._dependents[need].append(job.name)
        self._strategy = strategy
        self._limit = max_parallel
        self._condition = condition
        foreground = [job for job in jobs if not job.background]
        background = [job for job in jobs if job.background]
        self._phases = [phase for phase in (foreground, background) if phase]
        self._phase_index = -1
        self._sorter: TopologicalSorter[str] = TopologicalSorter()
        self._level: set[str] = set()  # wave: the current level, marked done at its barrier
        self._level_open = 0  # wave: members of the current level not yet ended
        self._waiting: list[tuple[int, str]] = []  # ready to start, a heap by file order
        self._running: set[str] = set()
        self._ended: dict[str, tuple[Status, SkipCause | None]] = {}
        self._fresh: list[str] = []  # ended since the last doomed-dependents check
        self._cancelled = False
        self._started = False

    # -- queries -------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return len(self._ended) == len(self._jobs)

    @property
    def running(self) -> frozenset[str]:
        return frozenset(self._running)

    def pending(self) -> list[str]:
        """Jobs that have neither started nor ended, in file order."""
        return [n for n in self._jobs if n not in self._ended and n not in self._running]

    # -- events --------------------------------------------------------------

    def start(self) -> list[Action]:
        """Begin the run: the first jobs to start (and any skips already known)."""
        if self._started:
            raise RuntimeError("start() called twice")
        self._started = True
        actions: list[Action] = []
        self._advance(actions)
        return actions

    def job_ended(self, name: str, status: Status) -> list[Action]:
        """A started job ended with `status`; returns what follows from it."""
        if name not in self._running:
            raise ValueError(f"job {name!r} is not running")
        if not status.terminal or status is Status.SKIPPED:
            raise ValueError(f"a started job cannot end as {status.value}")
        self._running.discard(name)
        self._end(name, status)
        actions: list[Action] = []
        if self._strategy is Strategy.EAGER:
            self._sorter.done(name)
        self._advance(actions)
        return actions

    def cancel(self, name: str | None = None) -> list[Action]:
        """Cancel one job, or everything when `name` is None.

        Jobs not yet started come back as `Cancel` actions. A running job is
        not touched here: the engine terminates it and reports it through
        `job_ended(name, Status.CANCELLED)`. After cancelling everything, no
        job is ever started again.
        """
        if name is not None and name not in self._jobs:
            raise KeyError(name)
        if name is None:
            self._cancelled = True
        targets = self.pending() if name is None else [name]
        queued = {n for _, n in self._waiting}
        actions: list[Action] = []
        for target in targets:
            if target in self._ended or target in self._running:
                continue
            self._end(target, Status.CANCELLED)
            actions.append(Cancel(target, "cancelled before it started"))
            if target in queued and self._strategy is Strategy.EAGER:
                self._sorter.done(target)  # graphlib passed it out; it has ended now
        self._waiting = [(i, n) for i, n in self._waiting if n not in self._ended]
        heapq.heapify(self._waiting)
        if self._started:
            self._advance(actions)
        return actions

    # -- the walk --------------------------------------------------------------

    def _advance(self, actions: list[Action]) -> None:
        """Resolve everything that became ready, then fill free slots."""
        while True:
            phase_over = self._phase_index == -1 or not self._sorter.is_active()
            if phase_over and not self._next_phase():
                break
            progressed = self._take_ready(actions)
            if self._strategy is Strategy.WAVE and self._level_ended():
                self._sorter.done(*self._level)
                self._level = set()
                progressed = True
            if not progressed:
                break
        if self._strategy is Strategy.EAGER:
            self._skip_doomed(actions)
        else:
            self._fresh.clear()
        self._fill_slots(actions)

    def _next_phase(self) -> bool:
        """Move to the next phase once the current one has fully ended."""
        if self._phase_index + 1 >= len(self._phases):
            return False
        if self._running or self._waiting:
            return False
        self._phase_index += 1
        phase = self._phases[self._phase_index]
        names = {job.name for job in phase}
        self._sorter = TopologicalSorter()
        for job in phase:
            self._sorter.add(job.name, *(n for n in job.needs if n in names))
        self._sorter.prepare()
        return True

    def _take_ready(self, actions: list[Action]) -> bool:
        ready = sorted(self._sorter.get_ready(), key=self._order.__getitem__)
        for name in ready:
            self._resolve(name, actions)
        if self._strategy is Strategy.WAVE:
            self._level.update(ready)
            self._level_open += sum(name not in self._ended for name in ready)
        return bool(ready)

    def _resolve(self, name: str, actions: list[Action]) -> None:
        """A job's needs have all ended: skip it, or queue it to start."""
        if name not in self._ended:
            job = self._jobs[name]
            failed = self._unsatisfied(job.needs)
            if failed:
                self._end(name, Status.SKIPPED, SkipCause.NEEDS)
                actions.append(Skip(name, SkipCause.NEEDS, "; ".join(failed)))
            elif (reason := self._condition(job)) is not None:
                self._end(name, Status.SKIPPED, SkipCause.CONDITION)
                actions.append(Skip(name, SkipCause.CONDITION, reason))
            else:
                heapq.heappush(self._waiting, (self._order[name], name))
                return
        if self._strategy is Strategy.EAGER:
            self._sorter.done(name)

    def _skip_doomed(self, actions: list[Action]) -> None:
        """Eager: skip the jobs whose needs have all ended, one unsuccessfully.

        graphlib reaches a job only once each of its needs is marked done, and
        a job cancelled before it was ready cannot be marked done until graphlib
        reaches it. Its dependents would then wait on unrelated jobs before
        being skipped; checking the dependents of every job that ended settles
        them at once.
        """
        while self._fresh:
            for dependent in self._dependents[self._fresh.pop()]:
                needs = self._jobs[dependent].needs
                if dependent in self._ended or not all(n in self._ended for n in needs):
                    continue
                failed = self._unsatisfied(needs)
                if failed:
                    self._end(dependent, Status.SKIPPED, SkipCause.NEEDS)
                    actions.append(Skip(dependent, SkipCause.NEEDS, "; ".join(failed)))

    def _end(self, name: str, status: Status, cause: SkipCause | None = None) -> None:
        if self._strategy is Strategy.WAVE and name in self._level:
            self._level_open -= 1
        self._ended[name] = (status, cause)
        self._fresh.append(name)

    def _unsatisfied(self, needs: Iterable[str]) -> list[str]:
        """`need 'x' STATUS` for each need that did not succeed (the spec (records)'s reason text).

        STATUS is the need's recorded status word (`failed`, `timed_out`,
        `cancelled`, `skipped`), so a reader can match it against the record.
        """
        reasons = []
        for need in dict.fromkeys(needs):  # `needs: [a, a]` names `a` once
            status, cause = self._ended[need]
            if status is Status.COMPLETED or cause is SkipCause.CONDITION:
                continue
            reasons.append(f"need '{need}' {status.value}")
        return reasons

    def _level_ended(self) -> bool:
        return bool(self._level) and self._level_open == 0

    def _fill_slots(self, actions: list[Action]) -> None:
        if self._cancelled:
            return
        while self._waiting and (self._limit is None or len(self._running) < self._limit):
            _, name = heapq.heappop(self._waiting)
            self._running.add(name)
            actions.append(Start(name))

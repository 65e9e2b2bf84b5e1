"""The scheduling decision core: which job to start, skip or cancel, and when.

It is a pure state machine in the style of h11: it knows the graph, the policy
and the concurrency limit, and is driven by events ("job X ended with status
S"). It never starts a process, reads a clock or waits; the engine around it
does the IO and reports back. That keeps every rule of the spec (scheduling)
testable exhaustively, and lets `eager` and `wave` share one implementation.

Every job is in one explicit state, blocked, ready, running or ended, and only
ever moves forward. Under `eager` each job counts its needs that have not
ended yet, and a job that ends, however it ends (ran, skipped, cancelled
before it was ready), counts down its dependents. So a job is looked at
exactly once, when its last need ends, and the failure of a need spreads at
once, without waiting on unrelated jobs. A background job's needs in the
foreground count the same way: they end during the foreground phase, so a
failed one skips the job then, and a job whose needs all succeeded waits for
its phase. Under `wave` the barrier decides instead: a level opens once every
job of the level below has ended, and by then every need of its jobs has
ended too. Either way an event costs the jobs it unblocks, never a walk over
the whole graph. Ready jobs wait in a heap by file order, the spec's tie rule
when the limit leaves more jobs ready than slots.

Jobs must already be validated and promoted (`coordinator.graph`): a need
naming no job fails here with a KeyError, and a cycle, or a foreground job
needing a background one, would leave jobs blocked forever, so the run would
never finish.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

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


class _State(enum.Enum):
    """Where a job is; it moves down this list only, possibly jumping to ENDED."""

    BLOCKED = "blocked"  # a need has not ended, or its phase (wave: level) has not begun
    READY = "ready"  # may start: waits in the heap for a free slot
    RUNNING = "running"
    ENDED = "ended"  # ran, skipped or cancelled; how is in `Scheduler._ended`


_FOREGROUND, _BACKGROUND = 0, 1  # the phases, in the order they run

_Decide = Callable[[str, list[Action]], None]
"""What to do with a job whose needs have all ended (`Scheduler._resolve` or `_decide_early`)."""


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
        self._strategy = strategy
        self._limit = max_parallel
        self._condition = condition
        self._state = dict.fromkeys(self._jobs, _State.BLOCKED)
        self._ended: dict[str, tuple[Status, SkipCause | None]] = {}
        self._running: set[str] = set()
        # Ready jobs, a heap by file order. A ready job that is cancelled stays
        # in it until popped, and is dropped then: removing it would cost a scan.
        self._ready: list[tuple[int, str]] = []
        self._phase_of = {job.name: _BACKGROUND if job.background else _FOREGROUND for job in jobs}
        self._left = [0, 0]  # per phase: its jobs that have not ended
        self._dependents: dict[str, list[str]] = {name: [] for name in self._jobs}
        self._unended: dict[str, int] = {}  # per job: its needs not ended (eager counts down)
        # Eager, per phase: jobs whose needs have all ended, not looked at yet.
        self._due: list[list[str]] = [[], []]
        self._parked: list[str] = []  # eager: background jobs whose needs all succeeded
        for job in jobs:
            needs = dict.fromkeys(job.needs)  # `needs: [a, a]` waits for `a` once
            self._unended[job.name] = len(needs)
            for need in needs:
                self._dependents[need].append(job.name)
            self._left[self._phase_of[job.name]] += 1
            if not needs:
                self._due[self._phase_of[job.name]].append(job.name)
        self._phase = -1  # the phase that has begun last; -1 before start()
        wave = strategy is Strategy.WAVE
        self._levels = self._wave_levels() if wave else []  # wave, per phase: level by level
        self._level = -1  # wave: the open level of the current phase
        self._level_open = 0  # wave: jobs of the open level that are ready or running
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
        waiting = (_State.BLOCKED, _State.READY)
        return [name for name, state in self._state.items() if state in waiting]

    # -- events --------------------------------------------------------------

    def start(self) -> list[Action]:
        """Begin the run: the first jobs to start (and any skips already known)."""
        if self._started:
            raise RuntimeError("start() called twice")
        self._started = True
        self._next_phase()
        actions: list[Action] = []
        self._advance(actions)
        return actions

    def job_ended(self, name: str, status: Status) -> list[Action]:
        """A started job ended with `status`; returns what follows from it."""
        if self._state.get(name) is not _State.RUNNING:
            raise ValueError(f"job {name!r} is not running")
        if not status.terminal or status is Status.SKIPPED:
            raise ValueError(f"a started job cannot end as {status.value}")
        self._running.discard(name)
        self._end(name, status)
        actions: list[Action] = []
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
        actions: list[Action] = []
        for target in targets:
            if self._state[target] in (_State.BLOCKED, _State.READY):
                self._end(target, Status.CANCELLED)
                actions.append(Cancel(target, "cancelled before it started"))
        if self._started:
            self._advance(actions)
        return actions

    # -- the walk --------------------------------------------------------------

    def _advance(self, actions: list[Action]) -> None:
        """Settle what the last event unblocked, phase after phase, then fill free slots."""
        while True:
            if self._strategy is Strategy.WAVE:
                self._open_levels(actions)
            else:
                self._release(self._phase, self._resolve, actions)
            if not self._next_phase():
                break
        if self._strategy is Strategy.EAGER and self._phase == _FOREGROUND:
            self._release(_BACKGROUND, self._decide_early, actions)
        self._fill_slots(actions)

    def _next_phase(self) -> bool:
        """Begin the next phase once the current one has fully ended (spec: phases)."""
        if self._phase == _BACKGROUND or (self._phase == _FOREGROUND and self._left[_FOREGROUND]):
            return False
        self._phase += 1
        if self._phase == _BACKGROUND:
            self._due[_BACKGROUND] += self._parked
            self._parked = []
        self._level, self._level_open = -1, 0
        return True

    def _release(self, phase: int, decide: _Decide, actions: list[Action]) -> None:
        """Eager: hand each due job of `phase` to `decide`, in rounds, each in file order.

        A round is the jobs whose last need ended in the round before: a skip
        spreads down the graph one generation at a time, the way the spec's
        reasons read (`need 'b' skipped` after `need 'a' failed`).
        """
        while due := self._due[phase]:
            self._due[phase] = []
            for name in sorted(due, key=self._order.__getitem__):
                if self._state[name] is _State.BLOCKED:  # not cancelled meanwhile
                    decide(name, actions)

    def _open_levels(self, actions: list[Action]) -> None:
        """Wave: open the phase's next level each time the open one has fully ended.

        A level's jobs are resolved together when it opens; the ones skipped
        or cancelled by then hold it open no longer, so a level of skips opens
        the next one at once.
        """
        levels = self._levels[self._phase]
        while self._level_open == 0 and self._level + 1 < len(levels):
            self._level += 1
            members = levels[self._level]
            for name in members:
                if self._state[name] is _State.BLOCKED:  # not cancelled before
                    self._resolve(name, actions)
            self._level_open = sum(self._state[name] is _State.READY for name in members)

    def _resolve(self, name: str, actions: list[Action]) -> None:
        """All needs of `name` have ended, its phase (wave: level) has begun: skip or ready it.

        Needs are decided before the job's own condition (spec: conditions),
        and the condition is read only now, once.
        """
        job = self._jobs[name]
        failed = self._unsatisfied(job.needs)
        if failed:
            self._skip(name, SkipCause.NEEDS, "; ".join(failed), actions)
        elif (reason := self._condition(job)) is not None:
            self._skip(name, SkipCause.CONDITION, reason, actions)
        else:
            self._state[name] = _State.READY
            heapq.heappush(self._ready, (self._order[name], name))

    def _decide_early(self, name: str, actions: list[Action]) -> None:
        """Eager, in the foreground phase: the needs of background job `name` have all ended.

        A failed one skips it now; otherwise it waits, with its condition
        unread, for the background phase to begin.
        """
        failed = self._unsatisfied(self._jobs[name].needs)
        if failed:
            self._skip(name, SkipCause.NEEDS, "; ".join(failed), actions)
        else:
            self._parked.append(name)

    def _skip(self, name: str, cause: SkipCause, reason: str, actions: list[Action]) -> None:
        self._end(name, Status.SKIPPED, cause)
        actions.append(Skip(name, cause, reason))

    def _end(self, name: str, status: Status, cause: SkipCause | None = None) -> None:
        """Record how `name` ended, and tell what waits for it: its level or its dependents."""
        was = self._state[name]
        self._state[name] = _State.ENDED
        self._ended[name] = (status, cause)
        self._left[self._phase_of[name]] -= 1
        if self._strategy is Strategy.WAVE:
            if was is _State.READY or was is _State.RUNNING:
                self._level_open -= 1  # only the open level's jobs are ever ready or running
            return
        for dependent in self._dependents[name]:
            self._unended[dependent] -= 1
            if not self._unended[dependent]:
                self._due[self._phase_of[dependent]].append(dependent)

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

    def _wave_levels(self) -> list[list[list[str]]]:
        """Wave, per phase: its jobs by level (spec: wave.levels), each level in file order.

        A job's level is one more than the highest level of its needs in the
        same phase, 0 without any: a background job's foreground needs do not
        count. Computed once, by Kahn's walk over the whole graph, so that a
        job's needs all have their level before it gets its own.
        """
        waiting = dict(self._unended)  # per job: its needs not walked yet
        level = dict.fromkeys(self._jobs, 0)
        walk = [name for name, count in waiting.items() if not count]
        while walk:
            need = walk.pop()
            for dependent in self._dependents[need]:
                if self._phase_of[dependent] == self._phase_of[need]:
                    level[dependent] = max(level[dependent], level[need] + 1)
                waiting[dependent] -= 1
                if not waiting[dependent]:
                    walk.append(dependent)
        levels: list[list[list[str]]] = [[], []]
        for name, number in level.items():  # file order
            phase = levels[self._phase_of[name]]
            phase.extend([] for _ in range(number + 1 - len(phase)))
            phase[number].append(name)
        return levels

    def _fill_slots(self, actions: list[Action]) -> None:
        if self._cancelled:
            return
        while self._ready and (self._limit is None or len(self._running) < self._limit):
            _, name = heapq.heappop(self._ready)
            if self._state[name] is _State.READY:
                self._state[name] = _State.RUNNING
                self._running.add(name)
                actions.append(Start(name))

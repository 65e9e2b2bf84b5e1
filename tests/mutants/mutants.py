"""One-bug coordinators: our real coordinator with exactly one deliberate bug each.

They exist for mutation testing of the scenario suite: run the suite against
each mutant (`python tests/mutants/run.py NAME run {hooks_file} --hook ...` as
the coordinator command) and it must fail, or a rule of the spec is not
really tested.

Why wrappers, and not switches inside `coordinator/`: the coordinator must not
carry test-only code paths (a switch is one more thing that can be left on,
and it would make the real code harder to read). A mutant is applied from
outside instead: `run.py` imports our modules, `apply()` monkeypatches one
small function or method (wrapping the original wherever it can, so the
mutant keeps up with changes to the code around it), and then the normal CLI
runs unchanged. Signal handling, exit codes, stdout and stderr are those of
`python -m coordinator`, except for the one bug.

Adding a mutant: write a function that patches one thing, decorated with
`@_mutant(name, rule, description)`. `name` is kebab-case, `rule` one rule id
of docs/spec.md (the one rule the bug breaks), `description` one sentence.
Patch by name through `_wrap(owner, "attr")`, which hands the replacement
the original as its first argument and fails loudly (AttributeError) when
the attribute has gone, so a mutant never silently stops applying. Patch the
name where it is looked up: `coordinator.engine.spawn`, not
`coordinator.runner.spawn`, since the engine imported it by name. Then check
by hand that the mutant shows its bug and otherwise still works, and run
tests/test_mutants.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Mutant:
    name: str
    rule: str
    description: str
    apply: Callable[[], None]


MUTANTS: dict[str, Mutant] = {}


def _mutant(name: str, rule: str, description: str) -> Callable[[Callable[[], None]], Any]:
    def register(apply: Callable[[], None]) -> Callable[[], None]:
        if name in MUTANTS:
            raise ValueError(f"duplicate mutant {name!r}")
        MUTANTS[name] = Mutant(name, rule, description, apply)
        return apply

    return register


def _wrap(owner: Any, attr: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Replace `owner.attr` by a function calling `replacement(original, *args, **kwargs)`.

    Works for module functions and for plain methods (the wrapper is a plain
    function, so it binds `self` like the original did).
    """
    original = getattr(owner, attr)  # AttributeError: the code moved, update the mutant

    def decorate(replacement: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return replacement(original, *args, **kwargs)

        setattr(owner, attr, wrapper)
        return replacement

    return decorate


def _wrap_check(method: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`_wrap` for a value check of the loader's `_Checker`.

    The loader dispatches keys through module-level tables holding the
    functions themselves, so the class attribute and every table entry that
    is the original are replaced.
    """
    from coordinator import loader

    original = getattr(loader._Checker, method)

    def decorate(replacement: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return replacement(original, *args, **kwargs)

        setattr(loader._Checker, method, wrapper)
        for value in vars(loader).values():
            if isinstance(value, dict):
                for key, entry in list(value.items()):
                    if entry is original:
                        value[key] = wrapper
        return replacement

    return decorate


def _wrap_ok(keep: Callable[[Any], bool]) -> None:
    """Make `RunResult.ok` judge only the records for which `keep(record)` holds."""
    from coordinator import engine

    original = engine.RunResult.ok  # a property

    def ok(self: Any) -> bool:
        records = {n: r for n, r in self.records.items() if keep(r)}
        return original.fget(dataclasses.replace(self, records=records))

    engine.RunResult.ok = property(ok)


def _engine_clock() -> Callable[[], float]:
    """The clock the engine measures deadlines with, in seconds."""
    from coordinator import engine

    return getattr(engine, "monotonic", time.monotonic)


# -- 4.2 needs ---------------------------------------------------------------------


@_mutant(
    "ignore-background-needs",
    "needs.wait",
    "Background jobs start as soon as the background phase begins, without waiting for "
    "their needs (the upstream bug).",
)
def _ignore_background_needs() -> None:
    from coordinator import scheduler

    @_wrap(scheduler.Scheduler, "__init__")
    def __init__(original, self, jobs, **options):
        # The scheduler keeps its own copy of the jobs; the records still show the needs.
        jobs = [dataclasses.replace(j, needs=()) if j.background else j for j in jobs]
        original(self, jobs, **options)


@_mutant(
    "no-skip-on-failure",
    "needs.skip",
    "A job whose need failed, timed out or was cancelled runs anyway.",
)
def _no_skip_on_failure() -> None:
    from coordinator import scheduler

    @_wrap(scheduler.Scheduler, "_unsatisfied")
    def _unsatisfied(original, self, needs):
        return []


@_mutant(
    "skip-not-transitive",
    "needs.skip-transitive",
    "A need that was itself skipped for its needs counts as satisfied, so its dependents run.",
)
def _skip_not_transitive() -> None:
    from coordinator import scheduler
    from coordinator.model import SkipCause, Status

    @_wrap(scheduler.Scheduler, "_unsatisfied")
    def _unsatisfied(original, self, needs):
        doomed = (Status.SKIPPED, SkipCause.NEEDS)
        return original(self, [n for n in needs if self._ended[n] != doomed])


@_mutant(
    "reason-without-status",
    "needs.reason",
    "The reason of a needs-skip names the need but not its status (`need 'a' did not succeed`).",
)
def _reason_without_status() -> None:
    from coordinator import scheduler

    @_wrap(scheduler.Scheduler, "_unsatisfied")
    def _unsatisfied(original, self, needs):
        return [f"need '{n}' did not succeed" for n in needs if original(self, [n])]


@_mutant(
    "condition-skip-fails-dependents",
    "needs.satisfied",
    "A need skipped by its own condition counts as unsuccessful, so its dependents are skipped.",
)
def _condition_skip_fails_dependents() -> None:
    from coordinator import scheduler
    from coordinator.model import SkipCause, Status

    @_wrap(scheduler.Scheduler, "_unsatisfied")
    def _unsatisfied(original, self, needs):
        reasons = []
        for need in needs:
            if self._ended[need] == (Status.SKIPPED, SkipCause.CONDITION):
                reasons.append(f"need '{need}' skipped")
            else:
                reasons.extend(original(self, [need]))
        return reasons


# -- 4.2 conditions ----------------------------------------------------------------


@_mutant(
    "condition-beats-failed-need",
    "condition.need-wins",
    "A job whose need failed but whose own condition says skip is recorded "
    "`skip_cause: condition` instead of `needs`.",
)
def _condition_beats_failed_need() -> None:
    from coordinator import scheduler
    from coordinator.model import SkipCause, Status

    @_wrap(scheduler.Scheduler, "_resolve")
    def _resolve(original, self, name, actions):
        job = self._jobs[name]
        if self._unsatisfied(job.needs) and (reason := self._condition(job)) is not None:
            self._end(name, Status.SKIPPED, SkipCause.CONDITION)
            actions.append(scheduler.Skip(name, SkipCause.CONDITION, reason))
        else:
            original(self, name, actions)


@_mutant(
    "conditions-read-job-env",
    "condition.inherited-env",
    "skip/only read the job's own `env` merged over the inherited environment.",
)
def _conditions_read_job_env() -> None:
    from coordinator import engine

    @_wrap(engine, "condition_reason")
    def condition_reason(original, job, env):
        return original(job, {**env, **job.env})


@_mutant(
    "empty-skip-var-counts",
    "condition.skip",
    "A `skip` variable set to the empty string counts as set, so the job is skipped.",
)
def _empty_skip_var_counts() -> None:
    from coordinator import engine

    @_wrap(engine, "condition_reason")
    def condition_reason(original, job, env):
        if isinstance(job.skip, str) and env.get(job.skip) == "":
            return f"skip: ${job.skip} is set"
        return original(job, env)


@_mutant(
    "empty-only-var-counts",
    "condition.only",
    "An `only` variable set to the empty string counts as set, so the job runs.",
)
def _empty_only_var_counts() -> None:
    from coordinator import engine

    @_wrap(engine, "condition_reason")
    def condition_reason(original, job, env):
        if isinstance(job.only, str) and env.get(job.only) == "" and job.only != job.skip:
            env = {**env, job.only: "(empty)"}
        return original(job, env)


@_mutant(
    "only-before-skip",
    "condition.skip-first",
    "`only` is checked before `skip`, so when both say skip the reason names the `only` one.",
)
def _only_before_skip() -> None:
    from coordinator import engine

    @_wrap(engine, "condition_reason")
    def condition_reason(original, job, env):
        reason = original(dataclasses.replace(job, skip=False), env)
        return reason if reason is not None else original(job, env)


@_mutant(
    "condition-reason-generic",
    "condition.reason",
    "A condition skip's reason names neither the variable nor the key.",
)
def _condition_reason_generic() -> None:
    from coordinator import engine

    @_wrap(engine, "condition_reason")
    def condition_reason(original, job, env):
        return None if original(job, env) is None else "condition not met"


# -- 4.2 phases ----------------------------------------------------------------------


@_mutant(
    "no-promotion",
    "phase.promotion",
    "A background job needed by a foreground job is not promoted: it stays background "
    "(recorded so, no promoted reason) and its foreground dependents wait for it in the "
    "background phase.",
)
def _no_promotion() -> None:
    from coordinator import graph, scheduler

    @_wrap(graph, "promote")
    def promote(original, jobs):
        return tuple(jobs), {}

    @_wrap(scheduler.Scheduler, "__init__")
    def __init__(original, self, jobs, **options):
        # Foreground jobs needing a background job, directly or not, cannot run before
        # the background phase: the scheduler's copies of them are deferred to it (needs
        # are still waited for; the records, made from the engine's jobs, still say
        # foreground).
        later = {job.name for job in jobs if job.background}
        grew = True
        while grew:
            grew = False
            for job in jobs:
                if job.name not in later and later.intersection(job.needs):
                    later.add(job.name)
                    grew = True
        jobs = [dataclasses.replace(j, background=True) if j.name in later else j for j in jobs]
        original(self, jobs, **options)


@_mutant(
    "over-promotion",
    "phase.background-stays",
    "Background jobs needed only by background jobs are promoted to the foreground too.",
)
def _over_promotion() -> None:
    from coordinator import graph

    @_wrap(graph, "promote")
    def promote(original, jobs):
        promoted, reasons = original(jobs)
        by_name = {job.name: job for job in promoted}
        needed_by: dict[str, list[str]] = {}
        for job in promoted:
            for need in job.needs:
                if need in by_name and by_name[need].background:
                    needed_by.setdefault(need, []).append(repr(job.name))
        jobs = tuple(
            dataclasses.replace(j, background=False) if j.name in needed_by else j for j in promoted
        )
        extra = {
            n: "promoted to foreground: needed by " + ", ".join(by) for n, by in needed_by.items()
        }
        return jobs, {**extra, **reasons}


@_mutant(
    "background-early",
    "phase.foreground-first",
    "Background jobs start alongside the foreground jobs instead of after them.",
)
def _background_early() -> None:
    from coordinator import scheduler

    @_wrap(scheduler.Scheduler, "__init__")
    def __init__(original, self, jobs, **options):
        # One phase, needs still honoured; the records still say background.
        original(self, [dataclasses.replace(j, background=False) for j in jobs], **options)


# -- 4.2 strategies and limit ---------------------------------------------------------


@_mutant(
    "eager-as-wave",
    "eager.start-when-ready",
    "`eager` waits for a level barrier like `wave` instead of starting each job when ready.",
)
def _eager_as_wave() -> None:
    from coordinator import scheduler
    from coordinator.model import Strategy

    @_wrap(scheduler.Scheduler, "__init__")
    def __init__(original, self, jobs, **options):
        if options.get("strategy", Strategy.EAGER) is Strategy.EAGER:
            options["strategy"] = Strategy.WAVE
        original(self, jobs, **options)


@_mutant(
    "wave-no-barrier",
    "wave.levels",
    "`wave` has no barrier between levels: it starts each job when ready, like `eager`.",
)
def _wave_no_barrier() -> None:
    from coordinator import scheduler
    from coordinator.model import Strategy

    @_wrap(scheduler.Scheduler, "__init__")
    def __init__(original, self, jobs, **options):
        if options.get("strategy") is Strategy.WAVE:
            options["strategy"] = Strategy.EAGER
        original(self, jobs, **options)


@_mutant(
    "wave-global-levels",
    "wave.levels",
    "`wave` counts a job's level over the whole hook instead of its phase, so a background job "
    "needing a foreground job waits for an unrelated background level.",
)
def _wave_global_levels() -> None:
    from coordinator import scheduler

    @_wrap(scheduler.Scheduler, "_wave_levels")
    def _wave_levels(original, self):
        levels: dict[str, int] = {}

        def level(name: str) -> int:
            if name not in levels:
                needs = self._jobs[name].needs
                levels[name] = 1 + max(map(level, needs)) if needs else 0
            return levels[name]

        # Each phase's jobs, regrouped by their level over the whole hook; a level with
        # none of them stays empty, and opens the next one at once.
        phases = []
        for phase in original(self):
            names = sorted((name for group in phase for name in group), key=self._order.__getitem__)
            grouped: list[list[str]] = [[] for _ in range(1 + max(map(level, names), default=-1))]
            for name in names:
                grouped[level(name)].append(name)
            phases.append(grouped)
        return phases


@_mutant(
    "limit-off-by-one",
    "limit.max-parallel",
    "`max_parallel + 1` jobs run at once.",
)
def _limit_off_by_one() -> None:
    from coordinator import scheduler

    @_wrap(scheduler.Scheduler, "__init__")
    def __init__(original, self, jobs, **options):
        if options.get("max_parallel") is not None:
            options["max_parallel"] += 1
        original(self, jobs, **options)


@_mutant(
    "limit-ignores-grace",
    "limit.max-parallel",
    "A timed-out job inside its kill grace (SIGTERM sent, not yet gone) no longer counts "
    "against `max_parallel`.",
)
def _limit_ignores_grace() -> None:
    from coordinator import engine, scheduler

    @_wrap(scheduler.Scheduler, "_fill_slots")
    def _fill_slots(original, self, actions):
        graced = self.__dict__.get("_mutant_graced", set()) & self._running
        if self._limit is None or not graced:
            return original(self, actions)
        limit = self._limit
        self._limit = limit + len(graced)
        try:
            return original(self, actions)
        finally:
            self._limit = limit

    @_wrap(engine.Run, "_check_deadlines")
    def _check_deadlines(original, self):
        original(self)
        stopping = {name for name, proc in self._procs.items() if proc.stop.stopping}
        graced = self._scheduler.__dict__.setdefault("_mutant_graced", set())
        if stopping - graced:
            graced |= stopping
            actions: list[Any] = []
            self._scheduler._fill_slots(actions)
            self._carry_out(actions)


@_mutant(
    "ties-reversed",
    "limit.file-order",
    "When more jobs are ready than slots, the one latest in the file starts first.",
)
def _ties_reversed() -> None:
    from coordinator import scheduler

    @_wrap(scheduler.Scheduler, "__init__")
    def __init__(original, self, jobs, **options):
        original(self, jobs, **options)
        self._order = {name: -index for name, index in self._order.items()}


# -- 4.2 timeouts, stopping, cancel ---------------------------------------------------


@_mutant(
    "timeout-recorded-failed",
    "timeout.status",
    "A job stopped at its timeout is recorded `failed` instead of `timed_out`.",
)
def _timeout_recorded_failed() -> None:
    from coordinator import stopping
    from coordinator.model import Status

    @_wrap(stopping.JobStop, "outcome")
    def outcome(original, self):
        status, reason = original(self)
        return (Status.FAILED if status is Status.TIMED_OUT else status), reason


@_mutant(
    "timeout-rounded-up",
    "timeout.origin",
    "Fractional timeouts are rounded up to whole seconds.",
)
def _timeout_rounded_up() -> None:
    from coordinator import engine

    @_wrap(engine.Run, "__init__")
    def __init__(original, self, jobs, **options):
        jobs = [
            dataclasses.replace(j, timeout=float(math.ceil(j.timeout))) if j.timeout else j
            for j in jobs
        ]
        original(self, jobs, **options)


@_mutant(
    "timeout-from-run-start",
    "timeout.origin",
    "A job's timeout is counted from the start of the run, not from the job's own start.",
)
def _timeout_from_run_start() -> None:
    from coordinator import engine

    clock = _engine_clock()

    @_wrap(engine.Run, "run")
    def run(original, self):
        self._mutant_run_start = clock()
        return original(self)

    @_wrap(engine.Run, "_start")
    def _start(original, self, job):
        actions = original(self, job)
        proc = self._procs.get(job.name)
        if proc is not None and job.timeout is not None:
            proc.stop.deadline = self._mutant_run_start + job.timeout
        return actions


@_mutant(
    "kill-without-grace",
    "stop.grace",
    "A stop sends SIGKILL right after SIGTERM instead of after `kill_grace`.",
)
def _kill_without_grace() -> None:
    from coordinator import stopping

    @_wrap(stopping.JobStop, "__init__")
    def __init__(original, self, *, started, timeout, grace):
        original(self, started=started, timeout=timeout, grace=0.0)


@_mutant(
    "no-drain-wakeup",
    "stop.group-gone",
    "While a stopped job's group outlives its shell, nothing wakes the loop to look again: "
    "once the SIGKILL is sent, the run waits forever.",
)
def _no_drain_wakeup() -> None:
    from coordinator import stopping

    @_wrap(stopping.JobStop, "wake_at")
    def wake_at(original, self, now):
        self._draining = False  # what asks for the next look at the group
        return original(self, now)


@_mutant(
    "kill-only-leader",
    "stop.group-gone",
    "A stop signals only the job's shell, not its whole process group, so its children survive.",
)
def _kill_only_leader() -> None:
    from coordinator import engine

    @_wrap(engine, "signal_group")
    def signal_group(original, pgid, sig):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pgid, sig)  # the leader's pid is the group id


@_mutant(
    "daemon-killed",
    "stop.daemon-kept",
    "After a job exits normally its process group is killed, daemons included.",
)
def _daemon_killed() -> None:
    from coordinator import engine
    from coordinator.runner import signal_group

    @_wrap(engine.Run, "_finish")
    def _finish(original, self, proc):
        if not proc.stop.stopping:
            signal_group(proc.pgid, signal.SIGKILL)
        original(self, proc)


@_mutant(
    "cancel-running-recorded-failed",
    "cancel.running",
    "A running job stopped by a cancel is recorded `failed` instead of `cancelled`.",
)
def _cancel_running_recorded_failed() -> None:
    from coordinator import stopping
    from coordinator.model import Status

    @_wrap(stopping.JobStop, "outcome")
    def outcome(original, self):
        status, reason = original(self)
        return (Status.FAILED if status is Status.CANCELLED else status), reason


@_mutant(
    "cancel-pending-skipped",
    "cancel.pending",
    "On cancel, jobs that have not started are recorded `skipped` instead of `cancelled`.",
)
def _cancel_pending_skipped() -> None:
    from coordinator import engine
    from coordinator.model import SkipCause, Status

    @_wrap(engine.Run, "_end_unstarted")
    def _end_unstarted(original, self, name, status, reason, cause):
        if status is Status.CANCELLED:
            status, cause = Status.SKIPPED, SkipCause.NEEDS
        original(self, name, status, reason, cause)


@_mutant(
    "cancel-rewrites-ended",
    "cancel.ended-kept",
    "On cancel, jobs that had already ended are recorded again as `cancelled`.",
)
def _cancel_rewrites_ended() -> None:
    from coordinator import engine
    from coordinator.model import Status

    @_wrap(engine.Run, "_handle_requests")
    def _handle_requests(original, self):
        reasons = [reason for name, reason in list(self._requests) if name is None]
        ended = []
        if reasons and not self._cancelled:
            ended = [name for name, record in self._records.items() if record.status.terminal]
        original(self)
        for name in ended:
            record = dataclasses.replace(
                self._records[name], status=Status.CANCELLED, skip_cause=None, reason=reasons[0]
            )
            self._save(record, "ended")


@_mutant(
    "sigterm-exits-130",
    "cancel.exit",
    "SIGTERM cancels the run but the CLI exits 130 instead of 143.",
)
def _sigterm_exits_130() -> None:
    from coordinator import cli

    cli._SIGNAL_EXIT = {**cli._SIGNAL_EXIT, signal.SIGTERM: 130}


@_mutant(
    "sighup-ignored",
    "cancel.exit",
    "SIGHUP is ignored: the run goes on to its end instead of being cancelled with exit 129.",
)
def _sighup_ignored() -> None:
    from coordinator import cli

    cli._SIGNAL_EXIT = {s: code for s, code in cli._SIGNAL_EXIT.items() if s != signal.SIGHUP}
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


@_mutant(
    "sigterm-not-cancel",
    "protocol.sigterm",
    "SIGTERM is not handled: it kills the coordinator outright, so the run is not cancelled "
    "and its records are never finished.",
)
def _sigterm_not_cancel() -> None:
    from coordinator import cli

    cli._SIGNAL_EXIT = {s: code for s, code in cli._SIGNAL_EXIT.items() if s != signal.SIGTERM}


@_mutant(
    "missing-cwd-runs-in-root",
    "start.failure",
    "A job whose `cwd` does not exist runs in the run's cwd instead of failing to start.",
)
def _missing_cwd_runs_in_root() -> None:
    from coordinator import engine

    @_wrap(engine.Run, "_start")
    def _start(original, self, job):
        if job.cwd and not (self._cwd / job.cwd).is_dir():
            job = dataclasses.replace(job, cwd=None)
        return original(self, job)


# -- 4.1 jobs ---------------------------------------------------------------------------


@_mutant(
    "jobs-run-in-hooks-dir",
    "job.shell",
    "Jobs run in the hooks file's directory instead of the run's cwd.",
)
def _jobs_run_in_hooks_dir() -> None:
    from coordinator import cli

    @_wrap(cli, "prepare_hook")
    def prepare_hook(original, hooks, hook, **options):
        if options.get("cwd") is None and isinstance(hooks, (str, Path)):
            options["cwd"] = Path(hooks).resolve().parent
        return original(hooks, hook, **options)


@_mutant(
    "job-cwd-ignored",
    "job.cwd",
    "A job's `cwd` is ignored: it runs in the run's cwd.",
)
def _job_cwd_ignored() -> None:
    from coordinator import engine

    @_wrap(engine.Run, "_start")
    def _start(original, self, job):
        if job.cwd and (self._cwd / job.cwd).is_dir():
            job = dataclasses.replace(job, cwd=None)
        return original(self, job)


@_mutant(
    "job-env-dropped",
    "job.env",
    "A job's `env` is not added to its environment: it gets the inherited one only.",
)
def _job_env_dropped() -> None:
    from coordinator import engine

    @_wrap(engine.Run, "_start")
    def _start(original, self, job):
        return original(self, dataclasses.replace(job, env={}))


# -- 4.1/4.2 input ------------------------------------------------------------------------


class _BrokenHook(tuple):  # type: ignore[type-arg]
    """The jobs of a hook that failed validation, kept until someone selects it."""

    error: Exception


@_mutant(
    "selected-hook-only",
    "input.every-hook",
    "Input errors in hooks other than the selected one are ignored.",
)
def _selected_hook_only() -> None:
    from coordinator import api, loader
    from coordinator.model import InputError

    @_wrap_check("hook")
    def hook(original, self, body, label):
        try:
            return original(self, body, label)
        except InputError as error:
            broken = _BrokenHook()
            broken.error = error
            return broken

    def select_hook(original, hooks, name):
        jobs = original(hooks, name)
        if isinstance(jobs, _BrokenHook):
            raise jobs.error
        return jobs

    _wrap(loader, "select_hook")(select_hook)
    _wrap(api, "select_hook")(select_hook)


@_mutant(
    "unknown-hook-accepted",
    "input.unknown-hook",
    "A `--hook` the file does not define runs nothing and succeeds.",
)
def _unknown_hook_accepted() -> None:
    from coordinator import api

    @_wrap(api, "select_hook")
    def select_hook(original, hooks, name):
        return original(hooks, name) if name in hooks.hooks else ()


@_mutant(
    "other-hooks-run",
    "hook.selected",
    "The jobs of the other hooks run too, after the selected hook's (shared names skipped).",
)
def _other_hooks_run() -> None:
    from coordinator import api

    @_wrap(api, "select_hook")
    def select_hook(original, hooks, name):
        jobs = list(original(hooks, name))
        taken = {job.name for job in jobs}
        for other, more in hooks.hooks.items():
            if other != name:
                jobs += [job for job in more if job.name not in taken]
                taken |= {job.name for job in more}
        return tuple(jobs)


@_mutant(
    "env-bool-accepted",
    "input.types",
    "A boolean `env` value is accepted and passed as `True`/`False`.",
)
def _env_bool_accepted() -> None:
    @_wrap_check("env")
    def env(original, self, owner, key, label):
        block = owner[key]
        if isinstance(block, dict):
            for name, value in list(block.items()):
                if isinstance(value, bool):
                    block[name] = str(value)
        return original(self, owner, key, label)


@_mutant(
    "env-number-source-text",
    "input.env-number",
    "A number `env` value is passed as its source text (`1.50` stays `1.50`).",
)
def _env_number_source_text() -> None:
    @_wrap_check("env")
    def env(original, self, owner, key, label):
        block = owner[key]
        if isinstance(block, dict):
            for name, value in list(block.items()):
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    block[name] = block.value_text(name) or str(value)
        return original(self, owner, key, label)


def _rewrite_job_items(rewrite: Callable[[list[Any]], list[Any]]) -> None:
    """Let `rewrite` edit a hook's job mappings before the loader checks them."""
    from coordinator.yamlsrc import LineList

    @_wrap_check("hook")
    def hook(original, self, body, label):
        items = body.get("jobs")
        if isinstance(items, LineList):
            kept = rewrite(list(items))
            lines = {id(item): items.item_line(i) for i, item in enumerate(items)}
            new = LineList(items.line)
            new.extend(kept)
            new._item_lines = [lines[id(item)] for item in kept]
            body["jobs"] = new
        return original(self, body, label)


def _filter_needs(item: Any, keep: Callable[[str], bool]) -> None:
    from coordinator.yamlsrc import LineList, LineMap

    needs = item.get("needs") if isinstance(item, LineMap) else None
    if isinstance(needs, LineList):
        kept = [i for i, need in enumerate(needs) if not isinstance(need, str) or keep(need)]
        new = LineList(needs.line)
        new.extend(needs[i] for i in kept)
        new._item_lines = [needs.item_line(i) for i in kept]
        item["needs"] = new  # the LineMap keeps the key's line


@_mutant(
    "unknown-job-keys-ignored",
    "input.keys",
    "Unknown keys in a job are silently ignored instead of being input errors.",
)
def _unknown_job_keys_ignored() -> None:
    from coordinator import loader
    from coordinator.yamlsrc import LineMap

    def rewrite(items: list[Any]) -> list[Any]:
        for item in items:
            if isinstance(item, LineMap):
                for key in [k for k in item if k not in loader._JOB_KEYS]:
                    del item[key]
        return items

    _rewrite_job_items(rewrite)


@_mutant(
    "missing-run-accepted",
    "input.required",
    "A job without `run` is accepted and runs `true`.",
)
def _missing_run_accepted() -> None:
    from coordinator.yamlsrc import LineMap

    def rewrite(items: list[Any]) -> list[Any]:
        for item in items:
            if isinstance(item, LineMap) and "name" in item and "run" not in item:
                item["run"] = "true"
        return items

    _rewrite_job_items(rewrite)


@_mutant(
    "duplicate-names-last-wins",
    "input.unique-names",
    "Duplicate job names in a hook are accepted: the last definition wins.",
)
def _duplicate_names_last_wins() -> None:
    from coordinator.yamlsrc import LineMap

    def rewrite(items: list[Any]) -> list[Any]:
        last = {}
        for index, item in enumerate(items):
            if isinstance(item, LineMap) and isinstance(item.get("name"), str):
                last[item["name"]] = index
        return [
            item
            for index, item in enumerate(items)
            if not (isinstance(item, LineMap) and isinstance(item.get("name"), str))
            or last[item["name"]] == index
        ]

    _rewrite_job_items(rewrite)


@_mutant(
    "unknown-need-ignored",
    "input.unknown-need",
    "A `needs` entry naming no job of the hook is silently dropped.",
)
def _unknown_need_ignored() -> None:
    from coordinator.yamlsrc import LineMap

    def rewrite(items: list[Any]) -> list[Any]:
        names = {i.get("name") for i in items if isinstance(i, LineMap)}
        for item in items:
            _filter_needs(item, lambda need: need in names)
        return items

    _rewrite_job_items(rewrite)


@_mutant(
    "self-need-ignored",
    "input.cycle",
    "A job needing itself is accepted: the self-need is silently dropped.",
)
def _self_need_ignored() -> None:
    def rewrite(items: list[Any]) -> list[Any]:
        for item in items:
            name = item.get("name") if isinstance(item, dict) else None
            _filter_needs(item, lambda need, name=name: need != name)
        return items

    _rewrite_job_items(rewrite)


@_mutant(
    "input-error-exits-1",
    "input.nothing-runs",
    "On an input error the CLI exits 1 instead of 2.",
)
def _input_error_exits_1() -> None:
    from coordinator import cli

    getattr(cli, "EXIT_INPUT")  # noqa: B009 - fail loudly if the name has gone
    cli.EXIT_INPUT = 1


@_mutant(
    "input-message-no-line",
    "input.message",
    "Input error messages name the file but not the line (`FILE: ...`).",
)
def _input_message_no_line() -> None:
    from coordinator import model

    @_wrap(model.InputError, "__str__")
    def __str__(original, self):
        line, self.line = self.line, None
        try:
            return original(self)
        finally:
            self.line = line


@_mutant(
    "empty-hook-fails",
    "input.empty-hook",
    "A hook with `jobs: []` exits 1 instead of succeeding.",
)
def _empty_hook_fails() -> None:
    from coordinator import engine

    original = engine.RunResult.ok
    engine.RunResult.ok = property(lambda self: bool(self.records) and original.fget(self))


# -- 4.3 records ------------------------------------------------------------------------


@_mutant(
    "condition-skip-unrecorded",
    "record.every-job",
    "A job skipped by its own condition gets no record.",
)
def _condition_skip_unrecorded() -> None:
    from coordinator import recorder
    from coordinator.model import SkipCause

    @_wrap(recorder.Recorder, "submit")
    def submit(original, self, record, kind):
        if record.skip_cause is not SkipCause.CONDITION:
            original(self, record, kind)


@_mutant(
    "records-without-worktree-dir",
    "record.location",
    "Records are written under `<state_dir>/jobs/<invocation>/` without the worktree level.",
)
def _records_without_worktree_dir() -> None:
    from coordinator import store

    original = store.RunDir.at  # a classmethod, bound to RunDir

    def at(cls, state_dir, invocation, worktree):
        return cls(original(state_dir, invocation, worktree).path.parent)

    store.RunDir.at = classmethod(at)


@_mutant(
    "colliding-job-dirs",
    "record.distinct-dirs",
    "Odd job names map to directories with unsafe characters replaced by `_`, so `a b` and "
    "`a_b` share one.",
)
def _colliding_job_dirs() -> None:
    from coordinator import engine, store

    def dir_name(original, name):
        if original(name) == name:
            return name
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
        return "_" * len(safe) if safe in (".", "..") else safe

    _wrap(store, "dir_name")(dir_name)
    if hasattr(engine, "dir_name"):  # the engine names a job's log path by it too
        _wrap(engine, "dir_name")(dir_name)


@_mutant(
    "non-atomic-write",
    "record.atomic",
    "meta.json is written in place in two parts, so a reader can see a partial file.",
)
def _non_atomic_write() -> None:
    from coordinator import store

    @_wrap(store.RunDir, "write")
    def write(original, self, record):
        data = (json.dumps(record.to_json(), indent=2, ensure_ascii=False) + "\n").encode()
        path = Path(self.prepare(record.name)) / store.META
        with path.open("wb") as out:
            out.write(data[: len(data) // 2])
            out.flush()
            time.sleep(0.002)
            out.write(data[len(data) // 2 :])


@_mutant(
    "pid-field-missing",
    "record.fields",
    "Records lack the `pid` field.",
)
def _pid_field_missing() -> None:
    from coordinator import model

    @_wrap(model.Record, "to_json")
    def to_json(original, self):
        data = original(self)
        data.pop("pid", None)
        return data


@_mutant(
    "skipped-exit-code-zero",
    "record.invariants",
    "A skipped job, which never started, is recorded with `exit_code: 0` instead of null.",
)
def _skipped_exit_code_zero() -> None:
    from coordinator import engine
    from coordinator.model import Status

    @_wrap(engine.Run, "_save")
    def _save(original, self, record, kind):
        if record.status is Status.SKIPPED:
            record.exit_code = 0
        original(self, record, kind)


@_mutant(
    "background-recorded-wrong",
    "record.declared",
    "A promoted job is recorded `background: true` (as declared) instead of as run.",
)
def _background_recorded_wrong() -> None:
    from coordinator import engine

    @_wrap(engine.Run, "_record")
    def _record(original, self, job, status, **options):
        record = original(self, job, status, **options)
        if job.name in self._promoted:
            record.background = True
        return record


@_mutant(
    "needs-not-recorded",
    "record.declared",
    "Records show `needs: []` whatever the job declared.",
)
def _needs_not_recorded() -> None:
    from coordinator import engine

    @_wrap(engine.Run, "_record")
    def _record(original, self, job, status, **options):
        record = original(self, job, status, **options)
        record.needs = []
        return record


@_mutant(
    "time-format-naive",
    "record.time-format",
    "started_at/finished_at are local times without a zone (`2026-05-02 11:46:14.588257`).",
)
def _time_format_naive() -> None:
    from datetime import datetime

    from coordinator import engine

    @_wrap(engine, "now")
    def now(original):
        _, mono = original()
        return datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f"), mono


@_mutant(
    "started-stamp-late",
    "record.stamps",
    "The started_* stamps are taken 50 ms after the process was spawned, not just before.",
)
def _started_stamp_late() -> None:
    from coordinator import engine

    @_wrap(engine.Run, "_start")
    def _start(original, self, job):
        actions = original(self, job)
        proc = self._procs.get(job.name)
        if proc is not None:
            time.sleep(0.05)
            proc.started_at, proc.started_mono_ns = engine.now()
            record = self._records[job.name]  # queued, not written yet
            record.started_at, record.started_mono_ns = proc.started_at, proc.started_mono_ns
        return actions


@_mutant(
    "wall-clock-mono",
    "record.monotonic",
    "The recorded *_mono_ns fields are wall-clock readings (time.time_ns()), not CLOCK_MONOTONIC.",
)
def _wall_clock_mono() -> None:
    from coordinator import engine, timefmt

    clock = getattr(timefmt, "mono_ns", time.monotonic_ns)  # what the engine stamps with

    @_wrap(engine.Run, "_save")
    def _save(original, self, record, kind):
        # Only the records: the engine's own deadlines keep the monotonic stamps.
        offset = time.time_ns() - clock()
        if record.started_mono_ns is not None:
            record.started_mono_ns += offset
        if record.finished_mono_ns is not None:
            record.finished_mono_ns += offset
        original(self, record, kind)


@_mutant(
    "stderr-dropped",
    "record.output",
    "A job's stderr goes to /dev/null instead of output.log.",
)
def _stderr_dropped() -> None:
    from coordinator import engine

    @_wrap(engine, "spawn")
    def spawn(original, command, **options):
        return original("exec 2>/dev/null\n" + command, **options)


# -- 4.4 CLI ------------------------------------------------------------------------------


@_mutant(
    "exit-1-on-condition-skip",
    "cli.exit-ok",
    "The CLI exits 1 when a job was skipped by its own condition.",
)
def _exit_1_on_condition_skip() -> None:
    from coordinator import engine
    from coordinator.model import Status

    original = engine.RunResult.ok
    engine.RunResult.ok = property(
        lambda self: (
            original.fget(self) and all(r.status is Status.COMPLETED for r in self.records.values())
        )
    )


@_mutant(
    "exit-0-on-background-failure",
    "cli.exit-failed",
    "The CLI exits 0 when only background jobs failed.",
)
def _exit_0_on_background_failure() -> None:
    _wrap_ok(lambda record: not record.background)


@_mutant(
    "exit-0-after-timeout",
    "cli.exit-failed",
    "A timed-out job does not make the CLI exit 1.",
)
def _exit_0_after_timeout() -> None:
    from coordinator.model import Status

    _wrap_ok(lambda record: record.status is not Status.TIMED_OUT)


@_mutant(
    "state-dir-env-ignored",
    "cli.defaults",
    "The default state dir is always `.coordinator-state`, ignoring $COORDINATOR_STATE_DIR.",
)
def _state_dir_env_ignored() -> None:
    from coordinator import cli

    @_wrap(cli, "_state_dir_option")
    def _state_dir_option(original, parser):
        original(parser)
        parser.set_defaults(state_dir=Path(".coordinator-state"))


@_mutant(
    "jobs-listing-drops-skipped",
    "cli.jobs",
    "`jobs` leaves skipped jobs out of its listing.",
)
def _jobs_listing_drops_skipped() -> None:
    from coordinator import history
    from coordinator.model import Status

    @_wrap(history, "job_rows")  # the CLI imports it when `jobs` runs
    def job_rows(original, *args, **kwargs):
        return [row for row in original(*args, **kwargs) if row.record.status is not Status.SKIPPED]

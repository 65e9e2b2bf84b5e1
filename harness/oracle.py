"""The oracle: every run judged against every spec rule it can decide (docs/spec.md).

Scenarios state what they are about in `expect:`; the oracle needs nothing
from them but the hooks file the harness wrote and what was observed (the
records, the processes' own witnesses, the process table, the harness's own
CLOCK_MONOTONIC window around the run, the coordinator's exit status). It
is written from the spec alone and imports nothing from `coordinator/`.

It is exact where the spec is exact (statuses, skip causes, phases,
promotion, limit, ties, record fields, exit codes, stamps against
witnesses) and tolerant only where timing forces it, by the constants
below: a coordinator reacts to an event within REACT_SLACK, and eager
starts a ready job within EAGER_SLACK, each widened by twice the longest
stall the harness itself saw during the run (a loaded machine delays
every process alike, the judged one included). Those bounds are far above what a
correct coordinator needs on a loaded 2-core machine and far below what the
bugs they catch cost (a rounded timeout, a level barrier, a lost grace).

`judge(plan, obs)` is pure: no clock, no processes, no files.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from harness import contract as c
from harness.fakes import Action, Exit, Hang, IgnoreTerm, Print, Require
from harness.observe import Observation
from harness.records import Record

NS = 1_000_000_000
REACT_SLACK_NS = NS // 2  # a coordinator's reaction to a deadline, a signal or an exit
EAGER_SLACK_NS = NS // 2  # how long a ready job may wait for its start under eager
CLOCK_SLACK_NS = 1_000_000  # two clock reads in two processes are not simultaneous
MONO_WALL_SLACK_NS = NS // 2  # wall - mono of a record against the harness's own
TRAP_SET_NS = 50_000_000  # a job's `trap '' TERM` follows its start witness within this
NAME_MAX = 255  # bytes of a file name


@dataclass(frozen=True)
class Violation:
    """One rule broken by one run."""

    rule: str
    title: str
    expected: str
    observed: str
    job: str | None = None  # where the report points; None: the scenario
    jobs: tuple[str, ...] = ()  # whose output helps explain it


@dataclass(frozen=True)
class RunPlan:
    """What the harness asked for: the selected hook's jobs, settings and environment."""

    jobs: tuple[c.JobPlan, ...]
    strategy: str
    max_parallel: int | None
    kill_grace: float
    env: Mapping[str, str]  # the coordinator's inherited environment
    fakes: Mapping[str, tuple[Action, ...]]  # job -> its fake actions (fake jobs only)
    expect_input_error: bool = False
    hooks_path: str = ""
    hooks_lines: int = 0


def judge(plan: RunPlan, obs: Observation) -> list[Violation]:
    """Every rule violation found, in a stable order."""
    if plan.expect_input_error or obs.input_error is not None:
        return list(_input_error(plan, obs))
    found = list(_exit_code(plan, obs))
    found += list(_record_set(plan, obs))
    judged = _Judged(plan, obs)
    for check in (
        judged.fields,
        judged.outcomes,
        judged.phases,
        judged.starts,
        judged.limit,
        judged.timeouts,
        judged.stops,
        judged.cancel,
        judged.stamps,
        judged.outputs,
    ):
        found += list(check())
    return found


# -- input errors and the exit status --------------------------------------------------


def _input_error(plan: RunPlan, obs: Observation) -> Iterator[Violation]:
    if obs.input_error is None or not plan.expect_input_error:
        return  # expect.input_error, or the engine for a rejected valid file, reports it
    message = obs.input_error
    if obs.facts.exit_code is not None and obs.facts.exit_code != c.EXIT_INPUT:
        yield Violation(
            "input.nothing-runs", "exit status", "exit code 2", f"exit code {obs.facts.exit_code}"
        )
    if obs.state_files or obs.stray_starts:
        ran = ", ".join(obs.stray_starts) or "none"
        yield Violation(
            "input.nothing-runs",
            "input error",
            "nothing run and nothing recorded",
            f"{len(obs.state_files)} record file(s) written, commands started: {ran}",
        )
    lines = [line for line in message.splitlines() if line.strip()]
    if len(lines) != 1 or not _names_hooks_file(lines[0], plan):
        shown = message.strip() or "(nothing on stderr)"
        yield Violation(
            "input.message",
            "input error message",
            f"one stderr line, starting '{plan.hooks_path}:LINE: ' (LINE: 1..{plan.hooks_lines})",
            shown,
        )


def _names_hooks_file(line: str, plan: RunPlan) -> bool:
    """`FILE:LINE: ` with FILE the hooks file's path as it was given, and LINE one of its lines."""
    prefix = f"{plan.hooks_path}:"
    if not line.startswith(prefix):
        return False
    number, colon, _ = line[len(prefix) :].partition(": ")
    return bool(colon) and number.isdigit() and 1 <= int(number) <= max(plan.hooks_lines, 1)


def _exit_code(plan: RunPlan, obs: Observation) -> Iterator[Violation]:
    if obs.facts.exit_code is None:
        return
    if obs.facts.cancel is not None and obs.facts.cancel.signal is not None:
        expected = c.SIGNAL_EXITS[obs.facts.cancel.signal]
        if obs.facts.exit_code != expected:
            yield Violation(
                "cancel.exit",
                "exit status",
                f"exit code {expected} after {obs.facts.cancel.signal}",
                f"exit code {obs.facts.exit_code}",
            )
        return
    bad = sorted(
        name
        for name, record in obs.records.items()
        if not _succeeded(record) and name in {job.name for job in plan.jobs}
    )
    if bad and obs.facts.exit_code != c.EXIT_FAILED:
        shown = ", ".join(f"{name} {obs.records[name].status}" for name in bad)
        yield Violation(
            "cli.exit-failed",
            "exit status",
            f"exit code 1 (jobs that did not succeed: {shown})",
            f"exit code {obs.facts.exit_code}",
        )
    if not bad and obs.facts.exit_code != c.EXIT_OK:
        yield Violation(
            "cli.exit-ok",
            "exit status",
            "exit code 0 (every job completed or was skipped by its condition)",
            f"exit code {obs.facts.exit_code}",
        )


def _succeeded(record: Record) -> bool:
    """`completed`, or skipped by its own condition: a satisfied need, exit status 0."""
    return record.status == c.COMPLETED or (
        record.status == c.SKIPPED and record.skip_cause == "condition"
    )


def _record_set(plan: RunPlan, obs: Observation) -> Iterator[Violation]:
    names = {job.name for job in plan.jobs}
    for rule, problem in obs.record_problems:
        yield Violation(rule, "records", "records as the spec's table says", problem)
    for job in plan.jobs:
        record = obs.records.get(job.name)
        if record is None:
            rule = "record.every-job" if c.safe_job_dir(job.name) else "record.distinct-dirs"
            yield Violation(rule, f"record of {job.name}", "a record", "none", job.name)
        elif not record.final:
            yield Violation(
                "record.every-job",
                f"record of {job.name}",
                "a final status once the run has ended",
                record.status,
                job.name,
            )
    for name in obs.records:
        if name not in names:
            yield Violation("record.every-job", "records", "no unknown job", f"record of {name!r}")
    for name in obs.stray_starts:
        yield Violation(
            "hook.selected",
            "other hooks",
            "only the selected hook's jobs run",
            f"{name} ran",
        )
    if obs.facts.torn_reads:
        yield Violation(
            "record.atomic",
            "records",
            "a reader never sees a partial record",
            f"{obs.facts.torn_reads} unparsable read(s) of meta.json during the run",
        )


class _Judged:
    """The per-job rules, with what they share worked out once."""

    def __init__(self, plan: RunPlan, obs: Observation) -> None:
        self.plan = plan
        self.obs = obs
        self.jobs = [job for job in plan.jobs if job.name in obs.records]
        self.by_name = {job.name: job for job in plan.jobs}
        self.rec = obs.records
        self.foreground = c.foreground_jobs(plan.jobs)
        self.levels = c.wave_levels(plan.jobs)
        self.cancel_ns = None if obs.facts.cancel is None else obs.facts.cancel.mono_ns
        self.react_ns = REACT_SLACK_NS + 2 * obs.facts.stall_ns
        self.eager_ns = EAGER_SLACK_NS + 2 * obs.facts.stall_ns
        self.grace_ns = int(plan.kill_grace * NS)
        self.mono = all(
            r.started_mono_ns is not None for r in self.rec.values() if r.started_at is not None
        )
        self._ends: dict[str, int | None] = {}

    # -- shared facts

    def span(self, name: str) -> tuple[int, int | None] | None:
        """(start, end) on CLOCK_MONOTONIC; None if never started or not comparable."""
        record = self.rec.get(name)
        if record is None or record.started_mono_ns is None:
            return None
        return record.started_mono_ns, record.finished_mono_ns

    def ended_at(self, name: str) -> int | None:
        """When a job ended: its finish, or for a job that never ran, when it was decided.

        A skipped job has no stamps: it ended when it became ready (a
        condition, or a need that ended otherwise), which is when its own
        needs had ended.
        """
        if name not in self._ends:
            span = self.span(name)
            if span is not None:
                self._ends[name] = span[1]
            else:
                self._ends[name] = None  # guards against a cycle in bad input
                self._ends[name] = self.ready_at(name, eager=True)
        return self._ends[name]

    def ready_at(self, name: str, *, eager: bool) -> int | None:
        """When a job became ready: needs ended (eager) or its level's barrier (wave)."""
        job = self.by_name[name]
        moments = [self.origin()]
        if eager:
            others = list(job.needs)
        else:
            phase = name in self.foreground
            level = self.levels[name]
            others = [
                j.name
                for j in self.plan.jobs
                if (j.name in self.foreground) == phase and self.levels[j.name] < level
            ]
        if name not in self.foreground:
            others += sorted(self.foreground)
        for other in others:
            if other not in self.rec:
                continue
            end = self.ended_at(other)
            if end is None:
                return None
            moments.append(end)
        return max(moments)

    def origin(self) -> int:
        starts = [span[0] for name in self.rec if (span := self.span(name)) is not None]
        return min(starts, default=self.obs.facts.window[0])

    def cancelled_before(self, moment: int | None) -> bool:
        return self.cancel_ns is not None and (moment is None or self.cancel_ns <= moment)

    # -- record.*

    def fields(self) -> Iterator[Violation]:
        for job in self.jobs:
            record = self.rec[job.name]
            yield from self._invariants(job, record)
            yield from self._declared(job, record)
            yield from self._environment(job)
            yield from self._location(job, record)
            yield from self._monotonic(job, record)

    def _invariants(self, job: c.JobPlan, record: Record) -> Iterator[Violation]:
        def bad(expected: str, observed: str) -> Violation:
            return Violation(
                "record.invariants", f"record of {job.name}", expected, observed, job.name
            )

        pairs = (
            ("started_at", record.started_at, "started_mono_ns", record.started_mono_ns),
            ("finished_at", record.finished_at, "finished_mono_ns", record.finished_mono_ns),
        )
        for wall_key, wall, mono_key, mono in pairs:
            if (wall is None) != (mono is None):
                yield bad(f"{mono_key} null exactly when {wall_key} is", _fields(record))
        status = record.status
        if status == c.SKIPPED:
            if record.skip_cause is None:
                yield bad("a skip_cause (condition or needs)", "null")
            if record.started or record.exit_code is not None or record.pid is not None:
                yield bad(
                    "a skipped job never started: no stamps, pid or exit code", _fields(record)
                )
        elif record.skip_cause is not None:
            yield bad("skip_cause null unless skipped", f"{status}, {record.skip_cause}")
        ran = record.exit_code is not None or record.pid is not None
        if not record.started and status != c.FAILED and ran:
            yield bad("exit_code and pid null for a job that never started", _fields(record))
        if record.started and record.final and record.finished_mono_ns is None:
            yield bad("a finish for a job that started and ended", _fields(record))
        span = self.span(job.name)
        if span is not None and span[1] is not None and span[1] < span[0]:
            yield bad("finished_mono_ns >= started_mono_ns", _fields(record))
        if status == c.COMPLETED and record.exit_code != 0:
            yield bad("exit code 0 for a completed job", _fields(record))
        if status == c.FAILED and record.exit_code == 0:
            yield bad("a non-zero exit code (or null) for a failed job", _fields(record))
        if status in (c.COMPLETED, c.TIMED_OUT) and (not record.started or record.pid is None):
            yield bad(f"start stamps and a pid for a {status} job", _fields(record))
        witness = self.obs.witnesses.get(job.name)
        planned = _planned_exit(self.plan.fakes.get(job.name))
        stopped = status in (c.TIMED_OUT, c.CANCELLED)
        if status == c.FAILED and record.exit_code is not None and planned == 0:
            # A fake command that cannot fail did: it was not run as `sh -c` in its cwd.
            yield Violation(
                "job.cwd" if job.cwd else "job.shell",
                f"command of {job.name}",
                "a fake command that cannot fail completes (sh -c, in the work dir or its cwd)",
                _fields(record),
                job.name,
                (job.name,),
            )
        if witness and witness.ends and planned is not None and not stopped:
            want = c.COMPLETED if planned == 0 else c.FAILED
            if (status, record.exit_code) != (want, planned):
                yield bad(
                    f"{want} with exit code {planned}, as the job's command ended",
                    _fields(record),
                )

    def _environment(self, job: c.JobPlan) -> Iterator[Violation]:
        """What a job saw of its environment: the inherited one plus its own `env`."""
        witness = self.obs.witnesses.get(job.name)
        for name, seen in witness.env if witness else ():
            own = (job.env or {}).get(name)
            expected = own if own is not None else self.plan.env.get(name)
            if seen != expected:
                yield Violation(
                    "input.env-number" if _is_number_text(own) else "job.env",
                    f"environment of {job.name}",
                    f"{name}={expected}" if expected is not None else f"{name} unset",
                    f"{name}={seen}" if seen is not None else f"{name} unset",
                    job.name,
                )

    def _declared(self, job: c.JobPlan, record: Record) -> Iterator[Violation]:
        def bad(what: str, expected: str, observed: str) -> Violation:
            return Violation(
                "record.declared", f"{what} of {job.name}", expected, observed, job.name
            )

        if record.needs != job.needs:
            yield bad("needs", f"{list(job.needs)} as declared", str(list(record.needs)))
        if record.command != job.run:
            yield bad("command", "the run text", repr(record.command[:200]))
        if not job.background and record.background:
            yield bad("background", "false (a foreground job)", "true")
        promoted = job.background and job.name in self.foreground
        if promoted:
            by = c.promoters(self.plan.jobs, job.name)
            reason = record.reason or ""
            if record.background or "promoted" not in reason or not any(n in reason for n in by):
                yield Violation(
                    "phase.promotion",
                    f"promotion of {job.name}",
                    f"background false and a reason saying 'promoted', naming one of {sorted(by)}",
                    f"background {str(record.background).lower()}, reason {record.reason!r}",
                    job.name,
                )
        elif job.background and not record.background:
            yield Violation(
                "phase.background-stays",
                f"background of {job.name}",
                "true: no foreground job needs it",
                "false",
                job.name,
            )

    def _location(self, job: c.JobPlan, record: Record) -> Iterator[Violation]:
        if len(job.name.encode()) > NAME_MAX:
            return  # too long for a file name: encoded like any odd name
        if c.safe_job_dir(job.name) and record.job_dir != job.name:
            yield Violation(
                "record.location",
                f"directory of {job.name}",
                f"{job.name}/meta.json",
                f"{record.job_dir}/meta.json",
                job.name,
            )
        elif not c.safe_job_dir(job.name) and record.job_dir in self.by_name:
            yield Violation(
                "record.distinct-dirs",
                f"directory of {job.name}",
                "a directory no other job's name can have",
                f"{record.job_dir}/, the directory of job {record.job_dir!r}",
                job.name,
            )

    def _monotonic(self, job: c.JobPlan, record: Record) -> Iterator[Violation]:
        low, high = self.obs.facts.window
        pairs = (
            (record.started_mono_ns, record.started_at),
            (record.finished_mono_ns, record.finished_at),
        )
        for mono, wall in pairs:
            if mono is None:
                continue
            if not low <= mono <= high:
                yield Violation(
                    "record.monotonic",
                    f"monotonic stamps of {job.name}",
                    f"CLOCK_MONOTONIC readings inside the harness's window [{low}, {high}]",
                    f"{mono}",
                    job.name,
                )
                return
            if wall is not None:
                drift = abs(wall.ns - mono - self.obs.facts.wall_minus_mono)
                if drift > MONO_WALL_SLACK_NS + wall.precision_ns:
                    yield Violation(
                        "record.monotonic",
                        f"monotonic stamps of {job.name}",
                        "wall and monotonic stamps taken together (as the harness's clocks)",
                        f"they disagree by {_seconds(drift)}",
                        job.name,
                    )
                    return

    # -- outcomes: needs, conditions, cancel, start failures

    def outcomes(self) -> Iterator[Violation]:
        for job in self.jobs:
            yield from self._outcome(job, self.rec[job.name])

    def _outcome(self, job: c.JobPlan, record: Record) -> Iterator[Violation]:
        needs = [self.rec[n] for n in job.needs if n in self.rec]
        unmet = [n for n in needs if not _succeeded(n)]
        cancelled_run = self.cancel_ns is not None
        verdict = c.condition(job, self.plan.env)

        def bad(rule: str, expected: str) -> Violation:
            return Violation(rule, f"status of {job.name}", expected, _fields(record), job.name)

        if unmet:
            if record.started:
                rule = "needs.skip-transitive" if _needs_skipped(unmet) else "needs.skip"
                yield bad(rule, f"never runs: need {_show_need(unmet[0])}")
            elif record.status == c.SKIPPED and record.skip_cause == "condition":
                yield bad("condition.need-wins", f"skip_cause needs: need {_show_need(unmet[0])}")
            elif record.status == c.SKIPPED:
                if all(n.status == c.CANCELLED for n in unmet):
                    yield bad(
                        "cancel.pending", "cancelled: its need was cancelled, so it was pending"
                    )
                said = [n for n in unmet if f"need '{n.name}' {n.status}" in (record.reason or "")]
                if not said:
                    texts = " or ".join(f"need '{n.name}' {n.status}" for n in unmet)
                    yield Violation(
                        "needs.reason",
                        f"reason of {job.name}",
                        f"contains {texts}",
                        repr(record.reason),
                        job.name,
                    )
            elif record.status == c.CANCELLED and cancelled_run:
                pass
            else:
                rule = "needs.skip-transitive" if _needs_skipped(unmet) else "needs.skip"
                yield bad(rule, f"skipped, skip_cause needs: need {_show_need(unmet[0])}")
            return
        if record.status == c.SKIPPED and record.skip_cause == "needs":
            yield bad("needs.satisfied", "not skipped for its needs: every need succeeded")
            return
        if verdict.skip:
            if record.status == c.CANCELLED and cancelled_run and not record.started:
                return
            if record.status != c.SKIPPED or record.skip_cause != "condition":
                yield bad(self._condition_rule(job, verdict), "skipped, skip_cause condition")
            else:
                yield from self._condition_reason(job, record, verdict)
            return
        if record.status == c.SKIPPED:
            yield bad(self._condition_rule(job, verdict), "runs: its condition does not skip it")
        elif record.status == c.CANCELLED and not cancelled_run:
            rule = "cancel.running" if record.started else "cancel.pending"
            yield bad(rule, "not cancelled: nothing cancelled the run")
        yield from self._start_failure(job, record)

    def _condition_rule(self, job: c.JobPlan, verdict: c.ConditionVerdict) -> str:
        """Which condition rule a wrong condition outcome breaks."""
        if job.env:
            mixed = c.condition(job, {**self.plan.env, **job.env})
            if mixed.skip != verdict.skip:
                return "condition.inherited-env"
        if verdict.skip:
            return f"condition.{verdict.key}"
        return "condition.skip" if job.skip is not None else "condition.only"

    def _condition_reason(
        self, job: c.JobPlan, record: Record, verdict: c.ConditionVerdict
    ) -> Iterator[Violation]:
        reason = record.reason or ""
        word = verdict.variable or verdict.key or ""
        if word in reason:
            return
        rule = "condition.reason"
        if verdict.key == "skip" and job.only is not None:
            only = c.condition(replace(job, skip=None), self.plan.env)
            if only.skip and (only.variable or "only") in reason:
                rule = "condition.skip-first"
        yield Violation(
            rule, f"reason of {job.name}", f"names {word!r}", repr(record.reason), job.name
        )

    def _start_failure(self, job: c.JobPlan, record: Record) -> Iterator[Violation]:
        missing = job.cwd is not None and job.cwd in self.obs.missing_cwds
        could_not_start = record.status == c.FAILED and record.exit_code is None
        if missing and record.status not in (c.CANCELLED,) and not could_not_start:
            yield Violation(
                "start.failure",
                f"status of {job.name}",
                f"failed with exit_code null: its cwd {job.cwd!r} does not exist",
                _fields(record),
                job.name,
            )
        if could_not_start and job.cwd is not None and job.cwd not in (record.reason or ""):
            yield Violation(
                "start.failure",
                f"reason of {job.name}",
                f"names the missing cwd {job.cwd!r}",
                repr(record.reason),
                job.name,
            )

    # -- phases and order of starts

    def phases(self) -> Iterator[Violation]:
        ends = [
            (span[1], name)
            for name in self.foreground
            if (span := self.span(name)) is not None and span[1] is not None
        ]
        if not ends:
            return
        last, last_name = max(ends)
        for job in self.jobs:
            span = self.span(job.name)
            if job.name in self.foreground or span is None or span[0] >= last:
                continue
            yield Violation(
                "phase.foreground-first",
                f"start of background job {job.name}",
                f"after every foreground job ended (last: {last_name})",
                f"started {_seconds(last - span[0])} before {last_name} ended",
                job.name,
                (job.name, last_name),
            )

    def starts(self) -> Iterator[Violation]:
        for job in self.jobs:
            span = self.span(job.name)
            if span is None:
                continue
            for need in job.needs:
                end = self.ended_at(need) if need in self.rec else None
                need_record = self.rec.get(need)
                if need_record is None or not need_record.final:
                    continue
                if end is None or end > span[0]:
                    late = (
                        "never ended" if end is None else f"ended {_seconds(end - span[0])} after"
                    )
                    yield Violation(
                        "needs.wait",
                        f"start of {job.name}",
                        f"after its need {need} ended",
                        f"{need} {late} {job.name} started",
                        job.name,
                        (need, job.name),
                    )
            yield from self._wave(job, span[0])
            yield from self._promptness(job, span[0])

    def _wave(self, job: c.JobPlan, start: int) -> Iterator[Violation]:
        if self.plan.strategy != "wave":
            return
        phase = job.name in self.foreground
        for other in self.jobs:
            if (other.name in self.foreground) != phase:
                continue
            if self.levels[other.name] >= self.levels[job.name]:
                continue
            span = self.span(other.name)
            if span is not None and (span[1] is None or span[1] > start):
                yield Violation(
                    "wave.levels",
                    f"start of {job.name} (level {self.levels[job.name]})",
                    f"after every job of lower levels of its phase ended, {other.name} included",
                    f"started while {other.name} (level {self.levels[other.name]}) ran",
                    job.name,
                    (other.name, job.name),
                )

    def _promptness(self, job: c.JobPlan, start: int) -> Iterator[Violation]:
        """A ready job does not wait while a slot is free (eager), or its level is clear (wave)."""
        ready = self.ready_at(job.name, eager=self.plan.strategy != "wave")
        if ready is None:
            return
        # Starting other jobs meanwhile is not waiting: count from the last of them.
        others = [s[0] for n in self.rec if n != job.name and (s := self.span(n)) is not None]
        ready = max([ready] + [moment for moment in others if ready <= moment < start])
        if start - ready <= self.eager_ns:
            return
        rule = "wave.levels" if self.plan.strategy == "wave" else "eager.start-when-ready"
        for moment in self._free_slot_moments(job.name, ready, start - self.eager_ns):
            yield Violation(
                rule,
                f"start of {job.name}",
                f"within {_seconds(self.eager_ns)} of being ready with a slot free",
                f"ready and the coordinator idle from {_seconds(ready - self.origin())}, "
                f"a slot free at "
                f"{_seconds(moment - self.origin())}, started at {_seconds(start - self.origin())}",
                job.name,
            )
            return

    def _free_slot_moments(self, name: str, low: int, high: int) -> Iterator[int]:
        limit = self.plan.max_parallel
        spans = {n: s for n in self.rec if n != name and (s := self.span(n)) is not None}
        moments = [low, *sorted(end for _, end in spans.values() if end and low < end <= high)]
        for moment in moments:
            if self.cancelled_before(moment):
                return
            if limit is None:
                yield moment
                return
            busy = sum(
                1
                for start, end in spans.values()
                if start <= moment + self.eager_ns and (end is None or end > moment)
            )
            if busy < limit:
                yield moment
                return

    # -- the limit

    def limit(self) -> Iterator[Violation]:
        limit = self.plan.max_parallel
        if limit is None:
            return
        spans = {n: s for n in self.rec if (s := self.span(n)) is not None}
        peak, who = peak_concurrency(spans)
        if peak > limit:
            yield Violation(
                "limit.max-parallel",
                "jobs running at once",
                f"at most {limit} (max_parallel), kill grace included",
                f"{peak} at once: {', '.join(who)}",
                jobs=tuple(who),
            )
        eager = self.plan.strategy != "wave"
        ends = sorted(end for _, end in spans.values() if end is not None)
        for later in self.jobs:
            if later.name not in spans:
                continue
            started = spans[later.name][0]
            for first in self.jobs:
                if first.index >= later.index or first.name not in spans:
                    continue
                ready = self.ready_at(first.name, eager=eager)
                first_start = spans[first.name][0]
                if ready is None or ready > started or first_start <= started:
                    continue
                if not any(started < end <= first_start for end in ends):
                    continue  # both got a slot in the same round
                yield Violation(
                    "limit.file-order",
                    f"start of {later.name}",
                    f"{first.name} first: ready at the same time and earlier in the file",
                    f"{later.name} started {_seconds(first_start - started)} before {first.name}",
                    later.name,
                    (first.name, later.name),
                )
                break

    # -- timeouts and stops

    def timeouts(self) -> Iterator[Violation]:
        for job in self.jobs:
            record, span = self.rec[job.name], self.span(job.name)
            if job.timeout is None or span is None or span[1] is None:
                continue
            limit = int(job.timeout * NS)
            took = span[1] - span[0]
            if record.status == c.TIMED_OUT:
                if took < limit - CLOCK_SLACK_NS:
                    yield Violation(
                        "timeout.origin",
                        f"timeout of {job.name}",
                        f"stopped {job.timeout:g} s after its own start",
                        f"it ran {_seconds(took)}",
                        job.name,
                    )
                if record.exit_code in (None, 0):
                    yield Violation(
                        "timeout.status",
                        f"exit code of {job.name}",
                        "non-zero",
                        str(record.exit_code),
                        job.name,
                    )
                if "timed out" not in (record.reason or ""):
                    yield Violation(
                        "timeout.status",
                        f"reason of {job.name}",
                        "contains 'timed out'",
                        repr(record.reason),
                        job.name,
                    )
            elif record.status in (c.COMPLETED, c.FAILED) and took > limit + self.react_ns:
                yield Violation(
                    "timeout.status",
                    f"status of {job.name}",
                    f"timed_out: its timeout is {job.timeout:g} s",
                    f"{record.status} after {_seconds(took)}",
                    job.name,
                )

    def stops(self) -> Iterator[Violation]:
        for job in self.jobs:
            record, span = self.rec[job.name], self.span(job.name)
            if span is None or span[1] is None:
                continue
            cancel = self.obs.facts.cancel
            if record.status == c.TIMED_OUT and job.timeout is not None:
                stop = span[0] + int(job.timeout * NS)
                stop_wall = None if record.started_at is None else record.started_at.ns
                stop_wall = None if stop_wall is None else stop_wall + int(job.timeout * NS)
            elif record.status == c.CANCELLED and cancel is not None:
                stop = max(cancel.mono_ns, span[0])
                stop_wall = cancel.wall_ns
            else:
                continue
            ignores = _ignores_term(self.plan.fakes.get(job.name))
            if ignores and not self._trap_set(job.name, stop_wall):
                continue  # SIGTERM may have come before the trap: either end is right
            grace = self.grace_ns if ignores else 0
            after = span[1] - stop
            if ignores and after < self.grace_ns - CLOCK_SLACK_NS:
                yield Violation(
                    "stop.grace",
                    f"stop of {job.name}",
                    f"SIGKILL only {self.plan.kill_grace:g} s (kill_grace) after SIGTERM",
                    f"it ignores SIGTERM and was gone {_seconds(after)} after the stop",
                    job.name,
                )
            limit_ns = grace + self.react_ns
            rule = "timeout.origin" if record.status == c.TIMED_OUT else "stop.grace"
            if after > limit_ns:
                yield Violation(
                    rule,
                    f"stop of {job.name}",
                    f"gone within {_seconds(limit_ns)} of the stop "
                    f"({'kill_grace' if ignores else 'SIGTERM'})",
                    f"gone {_seconds(after)} after it",
                    job.name,
                )
        for name, procs in self.obs.leftovers.items():
            for proc in procs:
                yield Violation(
                    "stop.group-gone",
                    f"processes of {name}",
                    f"none left after it was {self.rec[name].status}",
                    f"{proc} still running",
                    name,
                    (name,),
                )
        for job in self.jobs:
            witness, record = self.obs.witnesses.get(job.name), self.rec[job.name]
            if witness is None or record.status not in (c.COMPLETED, c.FAILED):
                continue
            for pid in witness.daemons:
                if pid not in self.obs.alive_at_exit:
                    yield Violation(
                        "stop.daemon-kept",
                        f"daemon of {job.name}",
                        "still running: its job exited normally",
                        f"pid {pid} was gone when the coordinator exited",
                        job.name,
                    )

    def _trap_set(self, name: str, stop_wall: int | None) -> bool:
        """Whether a TERM-ignoring job had surely set its trap when the stop came."""
        witness = self.obs.witnesses.get(name)
        if witness is None or not witness.starts or stop_wall is None:
            return False
        return stop_wall - witness.starts[0] >= TRAP_SET_NS

    def cancel(self) -> Iterator[Violation]:
        if self.cancel_ns is None or self.obs.facts.cancel is None:
            return
        at = self.cancel_ns
        wall_at = self.obs.facts.cancel.wall_ns
        for job in self.jobs:
            record, span = self.rec[job.name], self.span(job.name)

            def bad(rule: str, expected: str, observed: str, job: c.JobPlan = job) -> Violation:
                return Violation(rule, f"{job.name} and the cancel", expected, observed, job.name)

            if record.status == c.CANCELLED and "cancel" not in (record.reason or ""):
                rule = "cancel.running" if record.started else "cancel.pending"
                yield bad(rule, "a reason containing 'cancel'", repr(record.reason))
            if span is None:
                continue
            start, end = span
            witness = self.obs.witnesses.get(job.name)
            ended_early = end is not None and end < at
            if witness and witness.ends and witness.ends[-1] < wall_at - self.react_ns:
                ended_early = True
            if record.status == c.CANCELLED and ended_early:
                yield bad(
                    "cancel.ended-kept",
                    "its own end recorded: it ended before the cancel",
                    "recorded cancelled",
                )
            if start > at + self.react_ns:
                yield bad(
                    "cancel.pending",
                    "nothing starts once the run is cancelled",
                    f"started {_seconds(start - at)} after the cancel",
                )
            deadline = None if job.timeout is None else start + int(job.timeout * NS)
            timed_first = deadline is not None and deadline < at + self.react_ns
            late_end = end is None or end > at + self.react_ns + self.grace_ns
            if start < at and late_end and record.status != c.CANCELLED and not timed_first:
                yield bad(
                    "cancel.running",
                    "cancelled: it was running when the run was cancelled",
                    record.status,
                )

    # -- witnesses and outputs

    def stamps(self) -> Iterator[Violation]:
        for job in self.jobs:
            witness, record = self.obs.witnesses.get(job.name), self.rec[job.name]
            if witness is None:
                continue

            def bad(expected: str, observed: str, job: c.JobPlan = job) -> Violation:
                return Violation(
                    "record.stamps", f"witness of {job.name}", expected, observed, job.name
                )

            if witness.starts and not record.started:
                yield bad("no run", f"its command ran, but it is recorded {record.status}")
            if len(witness.starts) > 1:
                yield bad("at most one run", f"its command started {len(witness.starts)} times")
            if record.status == c.COMPLETED and not (witness.starts and witness.ends):
                yield Violation(
                    "job.shell",
                    f"witness of {job.name}",
                    "its command ran to its end (sh -c, in the work dir or its cwd)",
                    "recorded completed, but the command did not run to its end",
                    job.name,
                )
            if witness.starts and record.started_at is not None:
                early = record.started_at.ns - witness.starts[0]
                if early > max(CLOCK_SLACK_NS, record.started_at.precision_ns):
                    yield bad(
                        "started_at taken before the process was spawned",
                        f"its process started {_seconds(early)} before the recorded started_at",
                    )
            if witness.ends and record.finished_at is not None:
                late = witness.ends[-1] - record.finished_at.ns
                if late > max(CLOCK_SLACK_NS, record.finished_at.precision_ns):
                    yield bad(
                        "finished_at taken after the process ended",
                        f"its process ended {_seconds(late)} after the recorded finished_at",
                    )
        yield from self._order_witnesses()

    def _order_witnesses(self) -> Iterator[Violation]:
        """When the records say A finished before B started, A's process ended before B's began."""
        for first in self.jobs:
            first_span = self.span(first.name)
            ends = self.obs.witnesses[first.name].ends if first.name in self.obs.witnesses else ()
            if first_span is None or first_span[1] is None or not ends:
                continue
            for then in self.jobs:
                then_span = self.span(then.name)
                witness = self.obs.witnesses.get(then.name)
                if then is first or then_span is None or not witness or not witness.starts:
                    continue
                if then_span[0] < first_span[1]:
                    continue  # the records do not claim an order
                overlap = ends[-1] - witness.starts[0]
                if overlap > CLOCK_SLACK_NS:
                    yield Violation(
                        "record.stamps",
                        f"witnesses of {first.name} and {then.name}",
                        f"{then.name}'s process started after {first.name}'s ended, as recorded",
                        f"{then.name}'s process started {_seconds(overlap)} before "
                        f"{first.name}'s ended",
                        then.name,
                        (first.name, then.name),
                    )

    def outputs(self) -> Iterator[Violation]:
        for job in self.jobs:
            witness = self.obs.witnesses.get(job.name)
            actions = self.plan.fakes.get(job.name) or ()
            if witness is None or not witness.ends:
                continue
            required = any(isinstance(a, Require) for a in actions)
            if required and self.rec[job.name].status != c.COMPLETED:
                continue  # a failed require ends the command before its prints
            output = self.obs.outputs.get(job.name, "")
            for action in actions:
                if isinstance(action, Print) and action.text not in output:
                    yield Violation(
                        "record.output",
                        f"output of {job.name}",
                        f"output.log contains its {action.stream} line {action.text!r}",
                        repr(output[-200:]),
                        job.name,
                    )


def peak_concurrency(spans: Mapping[str, tuple[int, int | None]]) -> tuple[int, list[str]]:
    """The most jobs running at one moment, and which. Touching intervals do not overlap."""
    events = []
    for name, (start, end) in spans.items():
        events.append((start, 1, name))
        if end is not None:
            events.append((end, 0, name))  # 0 sorts first: an end at t comes before a start at t
    running: list[str] = []
    best: list[str] = []
    for _, kind, name in sorted(events):
        if kind:
            running.append(name)
            if len(running) > len(best):
                best = list(running)
        else:
            running.remove(name)
    return len(best), best


def _planned_exit(actions: Sequence[Action] | None) -> int | None:
    """The exit code a fake command that ran to its end gives; None if it never ends by itself."""
    if actions is None:
        return None
    if any(isinstance(a, (Hang, Require)) for a in actions):
        return None  # a require may fail (exit 1) or pass: the witness alone cannot tell
    for action in actions:
        if isinstance(action, Exit):
            return action.code
    return 0


def _is_number_text(text: str | None) -> bool:
    """Whether an `env` value came from a YAML number (its text is what `env_text` made)."""
    if text is None:
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def _ignores_term(actions: Sequence[Action] | None) -> bool:
    return any(isinstance(a, IgnoreTerm) for a in actions or ())


def _needs_skipped(unmet: Sequence[Record]) -> bool:
    return all(n.status == c.SKIPPED and n.skip_cause == "needs" for n in unmet)


def _show_need(record: Record) -> str:
    cause = f" ({record.skip_cause})" if record.skip_cause else ""
    return f"{record.name!r} {record.status}{cause}"


def _fields(record: Record) -> str:
    text = record.status
    if record.skip_cause:
        text += f" ({record.skip_cause})"
    text += f", exit code {record.exit_code}"
    if not record.started:
        text += ", never started"
    if record.reason:
        text += f", reason: {record.reason}"
    return text


def _seconds(ns: float) -> str:
    return f"{ns / NS:.3f} s"

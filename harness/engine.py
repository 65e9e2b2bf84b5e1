"""Running one scenario and judging it: the harness without pytest.

`run_scenario(scenario, tmp_dir, driver)` writes the hooks file, runs it
with a driver, reads back what was recorded and returns an Outcome with
every failure found. Besides the scenario's own expectations, every run is
held to invariants no scenario should have to spell out:

- every job has exactly one final record, and no record names an unknown job;
- the witnesses agree with the records: a job recorded as never started did
  not run, a job ran at most once, a completed fake job ran to its end and
  ended before its recorded `finished_at`, and when the records say A
  finished before B started, A's process really ended before B's began;
- after a timeout or a cancel, no process of that job is left.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from coordinator.model import DEFAULT_KILL_GRACE, Status
from harness.drivers import Driver, DriverResult, InProcessDriver, RunRequest
from harness.expect import seconds
from harness.fakes import WITNESS_DIR
from harness.hooksfile import write_hooks_file
from harness.model import HOOK, Scenario
from harness.observe import Observation, observe, wall_ns
from harness.procs import TOKEN_VAR, kill_all, scenario_processes, wait_gone

INVOCATION = "scenario"
WORKTREE = "work"
WITNESS_SLACK_NS = 1_000_000  # 1 ms: clock reads of the two sides are not simultaneous
STOPPED_GRACE = 1.0  # seconds a stopped job's processes get to disappear after the run


@dataclass(frozen=True)
class Failure:
    """One thing that went wrong, at a scenario line when there is one."""

    line: int | None
    title: str
    expected: str
    observed: str
    jobs: tuple[str, ...] = ()  # jobs whose output helps explain it


@dataclass
class Outcome:
    scenario: Scenario
    observation: Observation
    failures: list[Failure] = field(default_factory=list)
    driver: str = ""
    tmp_dir: Path | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures


def run_scenario(scenario: Scenario, tmp_dir: Path, driver: Driver | None = None) -> Outcome:
    """Run one scenario in `tmp_dir`.

    `tmp_dir` gets `work/` (the jobs' cwd), `state/` (the records),
    `hooks.yml` (what the coordinator ran) and `scenario.yml` (the rendered
    scenario, to see what a Jinja loop produced).
    """
    driver = driver or InProcessDriver()
    work_dir, state_dir = tmp_dir / "work", tmp_dir / "state"
    (work_dir / WITNESS_DIR).mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    hooks = write_hooks_file(scenario, tmp_dir / "hooks.yml")
    (tmp_dir / "scenario.yml").write_text(scenario.rendered.text, encoding="utf-8")
    token = secrets.token_hex(8)
    request = RunRequest(
        hooks_file=hooks.path,
        hook=HOOK,
        work_dir=work_dir,
        state_dir=state_dir,
        invocation=INVOCATION,
        worktree=WORKTREE,
        env={**os.environ, **scenario.env, TOKEN_VAR: token},
        cancel=scenario.cancel,
        timeout=scenario.timeout,
        kill_grace=_kill_grace(scenario),
        scratch=tmp_dir,
    )
    started = time.monotonic()
    try:
        result = driver.run(request)
        run_dir = state_dir / "jobs" / INVOCATION / WORKTREE
        obs = observe(scenario, work_dir=work_dir, run_dir=run_dir)
        obs.input_error = result.input_error
        obs.timed_out = result.timed_out
        obs.coordinator_exit = result.exit_code
        obs.coordinator_stderr = result.stderr
        error_line = hooks.source_line(scenario, result.input_error or "")
        failures = _run_failures(scenario, result, error_line)
        if not failures:
            failures = invariant_failures(scenario, obs)
            failures += [
                Failure(e.line, e.title, m.expected, m.observed, e.jobs)
                for e in scenario.expectations
                if (m := e.check(obs, scenario)) is not None
            ]
        failures += _leftover_failures(scenario, obs, token)
    finally:
        kill_all(token)
    return Outcome(scenario, obs, failures, driver.name, tmp_dir, time.monotonic() - started)


def _kill_grace(scenario: Scenario) -> float:
    value = scenario.settings.get("kill_grace") if isinstance(scenario.settings, dict) else None
    return float(value) if isinstance(value, (int, float)) else DEFAULT_KILL_GRACE


def _run_failures(
    scenario: Scenario, result: DriverResult, error_line: int | None
) -> list[Failure]:
    """Problems with the run as a whole; when there are any, expectations are moot."""
    failures = []
    if result.timed_out:
        failures.append(
            Failure(
                scenario.timeout_line or scenario.line,
                "scenario timeout",
                f"the run ends within {scenario.timeout:g} s",
                f"still running after {scenario.timeout:g} s; everything was stopped",
            )
        )
    if result.error is not None:
        failures.append(Failure(scenario.line, "coordinator run", "a clean run", result.error))
    if result.input_error is not None and not scenario.input_error:
        failures.append(
            Failure(
                error_line,
                "coordinator rejected the hooks file",
                "the hooks file is accepted",
                result.input_error.strip(),
            )
        )
    return failures


def invariant_failures(scenario: Scenario, obs: Observation) -> list[Failure]:
    """What every run must satisfy: complete records, witnesses that agree with them."""
    failures = [Failure(scenario.line, "records", "readable records", p) for p in obs.problems]
    if scenario.input_error:
        return failures
    names = {job.name for job in scenario.jobs}
    for job in scenario.jobs:
        record = obs.records.get(job.name)
        if record is None:
            failures.append(Failure(job.line, f"record of {job.name}", "a record", "none"))
        elif not record.status.terminal:
            failures.append(
                Failure(job.line, f"record of {job.name}", "a final status", record.status.value)
            )
    for name in obs.records:
        if name not in names:
            failures.append(
                Failure(scenario.line, "records", "no unknown job", f"record of {name!r}")
            )
    failures += _witness_failures(scenario, obs)
    return failures


def _witness_failures(scenario: Scenario, obs: Observation) -> list[Failure]:
    """The processes' own timestamps must not contradict the records."""
    failures = []
    for job in scenario.jobs:
        witness, record = obs.witnesses.get(job.name), obs.records.get(job.name)
        if witness is None or record is None:
            continue
        title = f"witness of {job.name}"
        if witness.starts and record.started_at is None:
            observed = (
                f"its command ran, but it is recorded {record.status.value} and never started"
            )
            failures.append(Failure(job.line, title, "no run", observed, (job.name,)))
        if len(witness.starts) > 1:
            observed = f"its command started {len(witness.starts)} times"
            failures.append(Failure(job.line, title, "at most one run", observed, (job.name,)))
        if record.status is Status.COMPLETED and not (witness.starts and witness.ends):
            observed = "recorded completed, but its command did not run to its end"
            failures.append(Failure(job.line, title, "a start and an end witness", observed))
        if witness.ends and record.finished_at is not None:
            late = witness.ends[-1] - wall_ns(record.finished_at)
            if late > WITNESS_SLACK_NS:
                observed = f"its process ended {seconds(late)} after the recorded finished_at"
                failures.append(Failure(job.line, title, "finished_at after the end", observed))
    failures += _order_witness_failures(scenario, obs)
    return failures


def _order_witness_failures(scenario: Scenario, obs: Observation) -> list[Failure]:
    spans = obs.intervals()
    failures = []
    for first in scenario.jobs:
        first_end = first.name in spans and spans[first.name][1]
        ends = obs.witnesses[first.name].ends if first.name in obs.witnesses else ()
        if not first_end or not ends:
            continue
        for then in scenario.jobs:
            starts = obs.witnesses[then.name].starts if then.name in obs.witnesses else ()
            if then is first or then.name not in spans or not starts:
                continue
            if spans[then.name][0] < first_end:
                continue  # the records do not claim an order
            overlap = ends[-1] - starts[0]
            if overlap > WITNESS_SLACK_NS:
                failures.append(
                    Failure(
                        then.line,
                        f"witnesses of {first.name} and {then.name}",
                        f"{then.name}'s process started after {first.name}'s ended, as recorded",
                        f"{then.name}'s process started {seconds(overlap)} before "
                        f"{first.name}'s ended",
                        (first.name, then.name),
                    )
                )
    return failures


def _leftover_failures(scenario: Scenario, obs: Observation, token: str) -> list[Failure]:
    """No process of a timed-out or cancelled job may be left (DESIGN 4.2)."""
    stopped = {
        name: record
        for name, record in obs.records.items()
        if record.status in (Status.TIMED_OUT, Status.CANCELLED) and record.pid is not None
    }
    suspects: dict[int, str] = {}
    for proc in scenario_processes(token):
        for name, record in stopped.items():
            grandchildren = obs.witnesses[name].grandchildren if name in obs.witnesses else ()
            if proc.pgid == record.pid or proc.pid in grandchildren:
                suspects[proc.pid] = name
    left = wait_gone(token, set(suspects), STOPPED_GRACE) if suspects else []
    failures = []
    for proc in left:
        name = suspects[proc.pid]
        record = obs.records[name]
        job = next((j for j in scenario.jobs if j.name == name), None)
        failures.append(
            Failure(
                job.line if job else scenario.line,
                f"processes of {name}",
                f"none left after it was {record.status.value}",
                f"pid {proc.pid} ({proc.command}) still running",
                (name,),
            )
        )
    return failures

"""Running one scenario and judging it: the harness without pytest.

`run_scenario(scenario, tmp_dir, driver)` writes the hooks file, runs it
with a driver, looks at the process table, reads back what was recorded
and returns an Outcome with every failure found. The data flows one way:
hooks file -> run -> observation -> verdict. Two judges read the same
observation: the oracle (every spec rule it can decide, for every
scenario) and the scenario's own `expect:`.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import contract
from harness.drivers import Driver, DriverResult, InProcessDriver, RunRequest
from harness.hooksfile import HooksFile, write_hooks_file
from harness.model import Scenario
from harness.observe import Observation, observe
from harness.oracle import RunPlan, judge
from harness.procs import TOKEN_VAR, kill_all, scenario_processes, wait_gone

INVOCATION = "scenario"
WORKTREE = "work"
STOPPED_GRACE = 1.0  # seconds a stopped job's processes get to disappear after the run


@dataclass(frozen=True)
class Failure:
    """One thing that went wrong, at a scenario line when there is one."""

    line: int | None
    title: str
    expected: str
    observed: str
    jobs: tuple[str, ...] = ()  # jobs whose output helps explain it
    rule: str | None = None  # the spec rule it breaks, when the oracle found it


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
    (work_dir / ".witness").mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    hooks = write_hooks_file(scenario, tmp_dir / "hooks.yml")
    (tmp_dir / "scenario.yml").write_text(scenario.rendered.text, encoding="utf-8")
    token = secrets.token_hex(8)
    env = {**os.environ, **scenario.env, TOKEN_VAR: token}
    request = RunRequest(
        hooks_file=hooks.path,
        hook=scenario.hook,
        work_dir=work_dir,
        state_dir=state_dir,
        invocation=INVOCATION,
        worktree=WORKTREE,
        env=env,
        cancel=scenario.cancel,
        timeout=scenario.timeout,
        kill_grace=_kill_grace(scenario),
        scratch=tmp_dir,
    )
    started = time.monotonic()
    try:
        result = driver.run(request)
        alive = frozenset(proc.pid for proc in scenario_processes(token))
        obs = observe(
            result.facts,
            work_dir=work_dir,
            state_dir=state_dir,
            run_dir=state_dir / "jobs" / INVOCATION / WORKTREE,
            witness_files={job.name: job.witness for job in scenario.jobs if job.witness},
            other_witnesses=scenario.other_witnesses,
            cwds=[str(job.spec["cwd"]) for job in scenario.jobs if "cwd" in job.spec],
        )
        obs.alive_at_exit = alive
        obs.leftovers = _leftovers(obs, token)
        failures = _run_failures(scenario, result, hooks)
        if not failures:
            failures = _verdict(scenario, obs, _plan(scenario, env, hooks))
    finally:
        kill_all(token)
    return Outcome(scenario, obs, failures, driver.name, tmp_dir, time.monotonic() - started)


def _kill_grace(scenario: Scenario) -> float:
    value = scenario.setting("kill_grace")
    return float(value) if isinstance(value, (int, float)) else contract.DEFAULT_KILL_GRACE


def _plan(scenario: Scenario, env: dict[str, str], hooks: HooksFile) -> RunPlan:
    """What the oracle judges the run against: the hooks file as the harness wrote it."""
    limit = scenario.setting("max_parallel")
    return RunPlan(
        jobs=tuple(contract.job_plans([job.spec for job in scenario.jobs])),
        strategy=str(scenario.setting("strategy") or "eager"),
        max_parallel=limit if isinstance(limit, int) else None,
        kill_grace=_kill_grace(scenario),
        env=env,
        fakes={job.name: job.actions for job in scenario.jobs if job.actions is not None},
        expect_input_error=scenario.input_error,
        hooks_path=str(hooks.path),
        hooks_lines=hooks.lines,
    )


def _verdict(scenario: Scenario, obs: Observation, plan: RunPlan) -> list[Failure]:
    """The oracle's violations, then the scenario's own failed expectations."""
    lines = {job.name: job.line for job in scenario.jobs}
    failures = [
        Failure(
            lines.get(v.job or "") or scenario.line,
            f"[{v.rule}] {v.title}",
            v.expected,
            v.observed,
            v.jobs or ((v.job,) if v.job else ()),
            v.rule,
        )
        for v in judge(plan, obs)
    ]
    failures += [
        Failure(e.line, e.title, m.expected, m.observed, e.jobs)
        for e in scenario.expectations
        if (m := e.check(obs)) is not None
    ]
    return failures


def _run_failures(scenario: Scenario, result: DriverResult, hooks: HooksFile) -> list[Failure]:
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
        failures.append(
            Failure(
                scenario.line,
                "[protocol.command] coordinator run",
                "the command runs, records, exits by itself or on SIGTERM",
                result.error,
                rule="protocol.command",
            )
        )
    message = result.facts.input_error
    if message is not None and not scenario.input_error:
        failures.append(
            Failure(
                hooks.source_line(scenario, message),
                "coordinator rejected the hooks file",
                "the hooks file is accepted",
                message.strip(),
            )
        )
    return failures


def _leftovers(obs: Observation, token: str) -> dict[str, list[str]]:
    """Processes of timed-out or cancelled jobs still alive a moment after the run (IO)."""
    stopped = {
        name: record
        for name, record in obs.records.items()
        if record.status in (contract.TIMED_OUT, contract.CANCELLED) and record.pid is not None
    }
    suspects: dict[int, str] = {}
    for proc in scenario_processes(token) if stopped else ():
        for name, record in stopped.items():
            grandchildren = obs.witnesses[name].grandchildren if name in obs.witnesses else ()
            if proc.pgid == record.pid or proc.pid in grandchildren:
                suspects[proc.pid] = name
    left: dict[str, list[str]] = {}
    for proc in wait_gone(token, set(suspects), STOPPED_GRACE) if suspects else []:
        left.setdefault(suspects[proc.pid], []).append(f"pid {proc.pid} ({proc.command})")
    return left

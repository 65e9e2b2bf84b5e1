"""The engine end to end: drivers, the oracle's run-wide rules, timeouts, leftovers, reports.

Synthetic observations check what the oracle (harness/oracle.py) makes of
records and witnesses exactly, rule id included; a few short real runs check
the drivers (in-process and external, the spec (protocol)) and how the engine turns
violations into failures.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import (
    SYNTHETIC_PID,
    SYNTHETIC_T0_NS,
    synthetic_meta,
    synthetic_record,
    synthetic_stamp,
)
from harness import contract
from harness.drivers import ExternalDriver, InProcessDriver, RunRequest
from harness.engine import run_scenario
from harness.fakes import Witness
from harness.load import load_scenarios
from harness.model import Scenario
from harness.observe import CancelFacts, Observation, RunFacts, observe
from harness.oracle import RunPlan, judge
from harness.records import Record
from harness.report import format_outcome

MS = 1_000_000
T0 = SYNTHETIC_T0_NS  # wall-clock ns of the synthetic run's start
FACTS = RunFacts(window=(0, 10_000 * MS), wall_minus_mono=T0)
DRIVERS = [InProcessDriver(), ExternalDriver()]


def scenario(tmp_path: Path, text: str) -> Scenario:
    path = tmp_path / "s.yml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    (loaded,) = load_scenarios(path)
    return loaded


def plan(s: Scenario, env: Mapping[str, str] | None = None) -> RunPlan:
    """What the oracle judges a synthetic run of `s` against: its hooks file's jobs."""
    return RunPlan(
        jobs=tuple(contract.job_plans([job.spec for job in s.jobs])),
        strategy=str(s.setting("strategy") or "eager"),
        max_parallel=s.setting("max_parallel"),
        kill_grace=contract.DEFAULT_KILL_GRACE,
        env=env or {},
        fakes={job.name: job.actions for job in s.jobs if job.actions is not None},
        expect_input_error=s.input_error,
        hooks_path="hooks.yml",
        hooks_lines=20,
    )


def record(
    s: Scenario,
    name: str,
    start_ms: float | None = None,
    end_ms: float | None = None,
    status: str = "completed",
    **fields: object,
) -> Record:
    """A synthetic record of job `name` of `s`, with the needs and command it was declared with."""
    spec = next((job.spec for job in s.jobs if job.name == name), {"run": ""})
    declared = {"needs": list(spec.get("needs", [])), "command": spec["run"]}
    return synthetic_record(name, start_ms, end_ms, status, **{**declared, **fields})


def witness(
    start_ms: float | None, end_ms: float | None = None, *more_starts: float, daemons=()
) -> Witness:
    starts = [] if start_ms is None else [start_ms, *more_starts]
    ends = [] if end_ms is None else [end_ms]
    return Witness(
        tuple(T0 + int(s * MS) for s in starts),
        tuple(T0 + int(e * MS) for e in ends),
        (),
        tuple(daemons),
        (),
    )


def observation(
    *records: Record, witnesses: Mapping[str, Witness] | None = None, **extra: object
) -> Observation:
    obs = Observation(
        facts=FACTS,
        work_dir=Path("/nonexistent"),
        records={r.name: r for r in records},
        witnesses=dict(witnesses or {}),
    )
    for key, value in extra.items():
        setattr(obs, key, value)
    return obs


def verdict(s: Scenario, obs: Observation, env: Mapping[str, str] | None = None) -> list[str]:
    """The oracle's violations as the engine titles them: `[rule] title: observed`."""
    return [f"[{v.rule}] {v.title}: {v.observed}" for v in judge(plan(s, env), obs)]


TWO = """
name: two
jobs:
  - {name: a, fake: [sleep: 0.1]}
  - {name: b, needs: [a], fake: [sleep: 0.1]}
expect: {status: completed}
"""

A_FAILS = """
name: a-fails
jobs:
  - {name: a, fake: [sleep: 0.1, exit: 1]}
  - {name: b, needs: [a], fake: [sleep: 0.1]}
expect: {status: {a: failed, b: skipped}}
"""


def test_witnesses_that_agree_with_the_records_pass(tmp_path: Path) -> None:
    s = scenario(tmp_path, TWO)
    obs = observation(
        record(s, "a", 0, 100),
        record(s, "b", 101, 200),
        witnesses={"a": witness(1, 99), "b": witness(102, 199)},
    )
    assert verdict(s, obs) == []


def test_records_claiming_an_order_the_processes_did_not_follow_fail(tmp_path: Path) -> None:
    s = scenario(tmp_path, TWO)
    # The records say b started after a finished; b's own witness says it ran beside a.
    # Whole-second wall stamps are allowed, so no single stamp contradicts its witness:
    # only the order the monotonic stamps claim does.
    obs = observation(
        record(s, "a", 0, 100, precision="s"),
        record(s, "b", 101, 200, precision="s"),
        witnesses={"a": witness(1, 99), "b": witness(2, 98)},
    )
    assert verdict(s, obs) == [
        "[record.stamps] witnesses of a and b: b's process started 0.097 s before a's ended"
    ]
    (violation,) = judge(plan(s), obs)
    assert (violation.job, violation.jobs) == ("b", ("a", "b"))


def test_a_stamp_taken_on_the_wrong_side_of_its_process_fails(tmp_path: Path) -> None:
    s = scenario(tmp_path, TWO)
    obs = observation(
        record(s, "a", 0, 100),
        record(s, "b", 101, 200),
        witnesses={"a": witness(1, 90), "b": witness(95, 199)},  # spawned before started_at
    )
    assert verdict(s, obs) == [
        "[record.stamps] witness of b: its process started 0.006 s before the recorded started_at"
    ]
    # Within the clock slack (1 ms), or the precision the stamp was written with, is fine.
    near = replace(obs, witnesses={"a": witness(1, 90), "b": witness(100.5, 199)})
    assert verdict(s, near) == []
    # A started_at written in whole seconds may be up to a second off (here rounded up).
    ran = {"a": witness(1, 490), "b": witness(600, 699)}
    whole = synthetic_stamp(T0 + 1000 * MS, precision="s")
    coarse = observation(record(s, "a", 0, 500), record(s, "b", 600, 700, started_at=whole))
    assert verdict(s, replace(coarse, witnesses=ran)) == []
    exact = synthetic_stamp(T0 + 1000 * MS)
    fine = observation(record(s, "a", 0, 500), record(s, "b", 600, 700, started_at=exact))
    assert verdict(s, replace(fine, witnesses=ran)) == [
        "[record.stamps] witness of b: its process started 0.400 s before the recorded started_at"
    ]


def test_a_job_recorded_as_never_started_must_not_have_run(tmp_path: Path) -> None:
    s = scenario(tmp_path, A_FAILS)
    obs = observation(
        record(s, "a", 0, 100, "failed", exit_code=1),
        record(s, "b", status="skipped", skip_cause="needs", reason="need 'a' failed"),
        witnesses={"a": witness(1, 99), "b": witness(5)},
    )
    assert verdict(s, obs) == [
        "[record.stamps] witness of b: its command ran, but it is recorded skipped"
    ]


def test_runs_twice_unfinished_completion_and_late_finish_are_caught(tmp_path: Path) -> None:
    s = scenario(tmp_path, TWO)
    obs = observation(
        record(s, "a", 0, 100),
        record(s, "b", 160, 200),
        witnesses={"a": witness(1, 150), "b": witness(161, None, 170)},
    )
    assert verdict(s, obs) == [
        "[record.stamps] witness of a: its process ended 0.050 s after the recorded finished_at",
        "[record.stamps] witness of b: its command started 2 times",
        "[job.shell] witness of b: recorded completed, but the command did not run to its end",
    ]


def test_missing_running_and_unknown_records(tmp_path: Path) -> None:
    s = scenario(tmp_path, TWO)
    obs = observation(
        record(s, "b", 0, None, "running"),
        record(s, "zz", 0, 1),
        record_problems=[("record.fields", "x/meta.json is not readable JSON: bad")],
    )
    assert verdict(s, obs) == [
        "[record.fields] records: x/meta.json is not readable JSON: bad",
        "[record.every-job] record of a: none",
        "[record.every-job] record of b: running",
        "[record.every-job] records: record of 'zz'",
    ]


def test_a_witness_of_another_hook_and_a_torn_read_are_violations(tmp_path: Path) -> None:
    s = scenario(tmp_path, TWO)
    obs = observation(
        record(s, "a", 0, 100),
        record(s, "b", 101, 200),
        stray_starts=["500-other"],
        facts=replace(FACTS, torn_reads=3),
    )
    assert verdict(s, obs) == [
        "[hook.selected] other hooks: 500-other ran",
        "[record.atomic] records: 3 unparsable read(s) of meta.json during the run",
    ]


def test_a_daemon_of_a_job_that_exited_normally_must_be_left_alone(tmp_path: Path) -> None:
    s = scenario(
        tmp_path,
        """
        name: daemon
        jobs:
          - {name: a, fake: [daemon]}
        expect: {status: completed}
        """,
    )
    kept = observation(
        record(s, "a", 0, 100),
        witnesses={"a": witness(1, 99, daemons=[777])},
        alive_at_exit=frozenset({777}),
    )
    assert verdict(s, kept) == []
    killed = replace(kept, alive_at_exit=frozenset())
    assert verdict(s, killed) == [
        "[stop.daemon-kept] daemon of a: pid 777 was gone when the coordinator exited"
    ]


def test_the_exit_status_follows_the_records_and_the_cancel_signal(tmp_path: Path) -> None:
    s = scenario(tmp_path, A_FAILS)
    failed = record(s, "a", 0, 100, "failed", exit_code=1)
    skipped = record(s, "b", status="skipped", skip_cause="needs", reason="need 'a' failed")
    ran = {"a": witness(1, 99)}

    def exited(code: int, cancel: CancelFacts | None = None) -> list[str]:
        facts = replace(FACTS, exit_code=code, cancel=cancel)
        return verdict(s, observation(failed, skipped, witnesses=ran, facts=facts))

    assert exited(1) == []
    assert exited(0) == ["[cli.exit-failed] exit status: exit code 0"]
    sigint = CancelFacts("SIGINT", 200 * MS, T0 + 200 * MS)
    assert exited(130, sigint) == []
    assert exited(143, sigint) == ["[cancel.exit] exit status: exit code 143"]


def input_error_obs(message: str, **extra: object) -> Observation:
    facts = replace(FACTS, exit_code=2, input_error=message, stderr=message + "\n")
    return observation(facts=facts, **extra)


def test_an_expected_input_error_must_run_and_record_nothing(tmp_path: Path) -> None:
    s = scenario(
        tmp_path,
        """
        name: cycle
        jobs:
          - {name: a, needs: [b], fake: [write: a]}
          - {name: b, needs: [a], fake: [write: b]}
        expect: {input_error: {cycle: [a, b]}}
        """,
    )
    assert s.input_error and s.other_witnesses == (".witness/000-a", ".witness/001-b")
    clean = "hooks.yml:3: job 'a': dependency cycle: a -> b -> a"
    assert verdict(s, input_error_obs(clean)) == []
    ran = input_error_obs(clean, stray_starts=["000-a"], state_files=["state/x/meta.json"])
    assert verdict(s, ran) == [
        "[input.nothing-runs] input error: 1 record file(s) written, commands started: 000-a"
    ]
    assert verdict(s, input_error_obs("job 'a': dependency cycle: a -> b -> a")) == [
        "[input.message] input error message: job 'a': dependency cycle: a -> b -> a"
    ]
    beyond = "hooks.yml:21: job 'a': dependency cycle: a -> b -> a"  # the file has 20 lines
    assert [v.rule for v in judge(plan(s), input_error_obs(beyond))] == ["input.message"]
    wrong_exit = replace(
        input_error_obs(clean), facts=replace(FACTS, exit_code=1, input_error=clean)
    )
    assert verdict(s, wrong_exit) == ["[input.nothing-runs] exit status: exit code 1"]


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_real_run_passes_and_a_wrong_expectation_is_reported(tmp_path: Path, driver) -> None:
    s = scenario(
        tmp_path,
        """
        name: real
        jobs:
          - {name: a, fake: [sleep: 0.1, write: {path: a.txt, content: A}]}
          - {name: b, needs: [a], fake: [require: a.txt, stdout: hello]}
        expect:
          status: completed
          start_order: ["a < b"]
          output: {b: hello}
          markers: {content: {a.txt: A}}
          overlap: [[a, b]]
        """,
    )
    outcome = run_scenario(s, tmp_path / "run", driver)
    assert [(f.title, f.rule) for f in outcome.failures] == [("overlap of a and b", None)]
    report = format_outcome(outcome)
    assert "s.yml:10: overlap of a and b" in report
    assert "timeline (from the recorded meta):" in report
    assert "| completed  0" in report
    assert "output of b (output.log, last 1 line):\n    | hello" in report


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_scenario_timeout_stops_everything(tmp_path: Path, driver) -> None:
    # The timeout counts from the coordinator's launch: it leaves an external CLI
    # ample time to start and record the job even on a loaded machine.
    s = scenario(
        tmp_path,
        """
        name: forever
        timeout: 2.5
        coordinator: {kill_grace: 0.2}
        jobs:
          - {name: stuck, fake: [ignore_term, hang]}
        expect: {status: completed}
        """,
    )
    outcome = run_scenario(s, tmp_path / "run", driver)
    (failure,) = outcome.failures
    assert (failure.line, failure.title) == (2, "scenario timeout")
    stuck = outcome.observation.records["stuck"]
    assert stuck.status == contract.CANCELLED and stuck.pid is not None
    assert not _alive(stuck.pid)


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_cancel_after_a_delay(tmp_path: Path, driver) -> None:
    s = scenario(
        tmp_path,
        """
        name: cancel
        cancel: {after: 0.3}
        jobs:
          - {name: quick, fake: [write: quick]}
          - {name: stuck, fake: [hang]}
          - {name: later, needs: [stuck], fake: [write: later]}
        expect:
          status: {quick: completed, stuck: cancelled, later: cancelled}
          markers: {present: [quick], absent: [later]}
        """,
    )
    outcome = run_scenario(s, tmp_path / "run", driver)
    assert outcome.ok, format_outcome(outcome)
    cancel = outcome.observation.facts.cancel
    assert cancel is not None
    assert cancel.signal == (None if isinstance(driver, InProcessDriver) else "SIGTERM")


def test_cancel_by_sigint_exits_130(tmp_path: Path) -> None:
    s = scenario(
        tmp_path,
        """
        name: cancel-int
        cancel: {after: 0.2, when_started: stuck, signal: SIGINT}
        jobs:
          - {name: stuck, fake: [hang]}
        expect:
          status: {stuck: cancelled}
        """,
    )
    outcome = run_scenario(s, tmp_path / "run", ExternalDriver())
    assert outcome.ok, format_outcome(outcome)
    facts = outcome.observation.facts
    assert facts.cancel is not None and facts.cancel.signal == "SIGINT"
    assert facts.exit_code == 130  # the oracle's `cancel.exit` held it to this too


def test_input_error_through_the_cli_and_an_unexpected_one(tmp_path: Path) -> None:
    expected = scenario(
        tmp_path,
        """
        name: cycle
        jobs:
          - {name: a, needs: [b], fake: [write: a]}
          - {name: b, needs: [a], fake: [write: b]}
        expect: {input_error: {cycle: [a, b]}}
        """,
    )
    outcome = run_scenario(expected, tmp_path / "one", ExternalDriver())
    assert outcome.ok, format_outcome(outcome)
    assert outcome.observation.facts.exit_code == 2
    assert outcome.observation.stray_starts == []
    loaded = scenario(
        tmp_path,
        """
        name: bad-skip
        jobs:
          - {name: a, fake: [write: a]}
          - {name: b, fake: [write: b]}
        expect: {status: completed}
        """,
    )
    # The schema refuses `skip: $CI` at collection, as the coordinator would: slip it
    # into the hooks file behind the loader's back to get an input error nobody expected.
    first, second = loaded.hooks_jobs
    unexpected = replace(loaded, hooks_jobs=[first, {**second, "skip": "$CI"}])
    (failure,) = run_scenario(unexpected, tmp_path / "two", InProcessDriver()).failures
    assert failure.title == "coordinator rejected the hooks file"
    assert failure.line == 4  # job b in the scenario, not the line in hooks.yml
    assert "'$CI'" in failure.observed


# A coordinator that records a timeout but leaves the job's process group alive.
# Everything else it records is what the spec asks for, so that is its only lie.
LIAR = """\
import json, subprocess, sys, time
from datetime import datetime, timezone
from pathlib import Path

def stamp(ns):
    whole, fraction = divmod(ns, 1_000_000_000)
    moment = datetime.fromtimestamp(whole, timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{fraction:09d}Z"

job_dir = Path(sys.argv[1], "jobs", sys.argv[2], sys.argv[3], "stuck")
job_dir.mkdir(parents=True)
started_at, started_mono = time.time_ns(), time.monotonic_ns()
child = subprocess.Popen(
    ["sleep", "30"], start_new_session=True,
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
time.sleep(0.3)
finished_at, finished_mono = time.time_ns(), time.monotonic_ns()
(job_dir / "output.log").write_text("")
meta = {
    "name": "stuck", "status": "timed_out",
    "started_at": stamp(started_at), "finished_at": stamp(finished_at),
    "started_mono_ns": started_mono, "finished_mono_ns": finished_mono,
    "exit_code": -15, "needs": [], "background": False, "skip_cause": None,
    "reason": "timed out after 0.2 s", "command": "sleep 30", "pid": child.pid,
}
(job_dir / "meta.json.tmp").write_text(json.dumps(meta))
(job_dir / "meta.json.tmp").rename(job_dir / "meta.json")
sys.exit(1)
"""


def test_process_left_by_a_stopped_job_is_a_failure_and_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "liar.py"
    script.write_text(LIAR, encoding="utf-8")
    s = scenario(
        tmp_path,
        """
        name: liar
        jobs:
          - {name: stuck, timeout: 0.2, run: sleep 30}
        expect: {status: timed_out}
        """,
    )
    driver = ExternalDriver(f"python {script} {{state_dir}} {{invocation}} {{worktree}}")
    outcome = run_scenario(s, tmp_path / "run", driver)
    (failure,) = outcome.failures
    assert failure.title == "[stop.group-gone] processes of stuck", format_outcome(outcome)
    assert failure.rule == "stop.group-gone" and "still running" in failure.observed
    assert (failure.line, failure.jobs) == (3, ("stuck",))
    pid = outcome.observation.records["stuck"].pid
    assert pid is not None and not _alive(pid)


def test_external_template_is_split_into_words_then_filled(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown placeholder \{hook_file\}"):
        ExternalDriver("coord {hook_file}")
    driver = ExternalDriver("python shim.py --file={hooks_file} '{hook}' {state_dir}")
    spaced = tmp_path / "a dir"
    request = RunRequest(
        hooks_file=spaced / "hooks.yml",
        hook="post create",
        work_dir=spaced,
        state_dir=spaced / "state",
        invocation="i",
        worktree="w",
        env={},
        cancel=None,
        timeout=1.0,
        kill_grace=1.0,
        scratch=spaced,
    )
    assert driver.argv(request) == [
        sys.executable,
        "shim.py",
        f"--file={spaced / 'hooks.yml'}",
        "post create",
        str(spaced / "state"),
    ]


def _alive(pid: int) -> bool:
    """Whether `pid` is a live (non-zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def test_unusable_records_are_reported_not_crashed_on(tmp_path: Path) -> None:
    s = scenario(tmp_path, TWO)
    state_dir = tmp_path / "state"
    run_dir = state_dir / "jobs" / "i" / "w"
    good = synthetic_meta("a", 0, 100)
    files = {
        "a": json.dumps(good),
        "b": json.dumps({**good, "name": "b", "started_mono_ns": "soon"}),
        "c": json.dumps({**good, "name": "c", "finished_at": "yesterday"}),
        "d": "{not json",
        "e": json.dumps({**good, "started_at": "2026-05-02T09:46:14.588257123+02:00"}),
    }
    for directory, text in files.items():
        (run_dir / directory).mkdir(parents=True)
        (run_dir / directory / "meta.json").write_text(text)
        (run_dir / directory / "output.log").write_text("")
    obs = observe(FACTS, work_dir=tmp_path, state_dir=state_dir, run_dir=run_dir, witness_files={})
    # Records with a usable name and status are kept, their bad fields read as null.
    assert list(obs.records) == ["a", "b", "c"]
    assert obs.records["b"].started_mono_ns is None and obs.records["c"].finished_at is None
    assert obs.records["a"].pid == SYNTHETIC_PID and obs.records["a"].job_dir == "a"
    assert len(obs.state_files) == 5
    rules = [rule for rule, _ in obs.record_problems]
    assert rules == [
        "record.fields",
        "record.time-format",
        "record.fields",
        "record.time-format",
        "record.every-job",
    ]
    texts = [text for _, text in obs.record_problems]
    assert texts[0].endswith("'started_mono_ns' must be an integer or null, got 'soon'")
    assert texts[1].endswith("'finished_at': not an RFC 3339 time: 'yesterday'")
    assert texts[2].startswith("d/meta.json is not readable JSON")
    assert texts[3].startswith("e/meta.json ('a'): 'started_at': not a UTC time")
    assert texts[4] == "two records for job 'a' (a, e/meta.json)"  # e: a second 'a'
    # The oracle reports every one of them under its rule, then the record of no job of TWO.
    found = [(v.rule, v.observed) for v in judge(plan(s), obs) if v.title == "records"]
    assert found == [*obs.record_problems, ("record.every-job", "record of 'c'")]

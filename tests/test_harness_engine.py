"""The engine end to end: drivers, invariants, timeouts, leftovers, reports.

Synthetic observations check the witness invariants exactly; a few short
real runs check the drivers (in-process and external, DESIGN 4.5).
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import SYNTHETIC_T0_NS, synthetic_record
from coordinator.model import Status
from harness.drivers import ExternalDriver, InProcessDriver, RunRequest
from harness.engine import invariant_failures, run_scenario
from harness.fakes import Witness
from harness.load import load_scenarios
from harness.model import Scenario
from harness.observe import Observation, observe
from harness.report import format_outcome

MS = 1_000_000
T0 = SYNTHETIC_T0_NS  # wall-clock ns of the synthetic run's start
DRIVERS = [InProcessDriver(), ExternalDriver()]


def scenario(tmp_path: Path, text: str) -> Scenario:
    path = tmp_path / "s.yml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    (loaded,) = load_scenarios(path)
    return loaded


record = synthetic_record


def witness(start_ms: float | None, end_ms: float | None = None, *more_starts: float) -> Witness:
    starts = [] if start_ms is None else [start_ms, *more_starts]
    ends = [] if end_ms is None else [end_ms]
    return Witness(
        tuple(T0 + int(s * MS) for s in starts), tuple(T0 + int(e * MS) for e in ends), (), ()
    )


TWO = """
name: two
jobs:
  - {name: a, fake: [sleep: 0.1]}
  - {name: b, needs: [a], fake: [sleep: 0.1]}
expect: {status: completed}
"""


def titles(s: Scenario, obs: Observation) -> list[str]:
    return [f"{f.title}: {f.observed}" for f in invariant_failures(s, obs)]


def test_witnesses_that_agree_with_the_records_pass(tmp_path: Path) -> None:
    s = scenario(tmp_path, TWO)
    obs = Observation(
        records={"a": record("a", 0, 100), "b": record("b", 101, 200)},
        witnesses={"a": witness(1, 99), "b": witness(102, 199)},
    )
    assert titles(s, obs) == []


def test_records_claiming_an_order_the_processes_did_not_follow_fail(tmp_path: Path) -> None:
    s = scenario(tmp_path, TWO)
    # The records say b started after a finished; b's own witness says it ran beside a.
    obs = Observation(
        records={"a": record("a", 0, 100), "b": record("b", 101, 200)},
        witnesses={"a": witness(1, 99), "b": witness(2, 98)},
    )
    assert titles(s, obs) == ["witnesses of a and b: b's process started 0.097 s before a's ended"]


def test_a_job_recorded_as_never_started_must_not_have_run(tmp_path: Path) -> None:
    s = scenario(tmp_path, TWO)
    obs = Observation(
        records={
            "a": record("a", 0, 100, status=Status.FAILED, exit_code=1),
            "b": record("b", None, None, status=Status.SKIPPED, exit_code=None),
        },
        witnesses={"a": witness(1, 99), "b": witness(5)},
    )
    assert titles(s, obs) == [
        "witness of b: its command ran, but it is recorded skipped and never started"
    ]


def test_runs_twice_unfinished_completion_and_late_finish_are_caught(tmp_path: Path) -> None:
    s = scenario(tmp_path, TWO)
    obs = Observation(
        records={"a": record("a", 0, 100), "b": record("b", 160, 200)},
        witnesses={"a": witness(1, 150), "b": witness(161, None, 170)},
    )
    assert titles(s, obs) == [
        "witness of a: its process ended 0.050 s after the recorded finished_at",
        "witness of b: its command started 2 times",
        "witness of b: recorded completed, but its command did not run to its end",
    ]


def test_missing_running_and_unknown_records(tmp_path: Path) -> None:
    s = scenario(tmp_path, TWO)
    obs = Observation(
        records={"b": record("b", 0, None, status=Status.RUNNING), "zz": record("zz", 0, 1)},
        problems=["unreadable record x/meta.json: bad JSON"],
    )
    assert titles(s, obs) == [
        "records: unreadable record x/meta.json: bad JSON",
        "record of a: none",
        "record of b: running",
        "records: record of 'zz'",
    ]


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
          order: ["a < b"]
          output: {b: hello}
          markers: {content: {a.txt: A}}
          overlap: [[a, b]]
        """,
    )
    outcome = run_scenario(s, tmp_path / "run", driver)
    assert [f.title for f in outcome.failures] == ["overlap of a and b"]
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
    assert stuck.status is Status.CANCELLED and stuck.pid is not None
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


def test_input_error_through_the_cli_and_an_unexpected_one(tmp_path: Path) -> None:
    expected = scenario(
        tmp_path,
        """
        name: cycle
        jobs:
          - {name: a, needs: [b], fake: [write: a]}
          - {name: b, needs: [a], fake: [write: b]}
        expect: {input_error: dependency cycle}
        """,
    )
    outcome = run_scenario(expected, tmp_path / "one", ExternalDriver())
    assert outcome.ok, format_outcome(outcome)
    assert outcome.observation.coordinator_exit == 2
    unexpected = scenario(
        tmp_path,
        """
        name: bad-skip
        jobs:
          - {name: a, fake: [write: a]}
          - {name: b, skip: $CI, fake: [write: b]}
        expect: {status: completed}
        """,
    )
    (failure,) = run_scenario(unexpected, tmp_path / "two", InProcessDriver()).failures
    assert failure.title == "coordinator rejected the hooks file"
    assert failure.line == 4  # job b in the scenario, not the line in hooks.yml
    assert "'$CI'" in failure.observed


def test_process_left_by_a_stopped_job_is_a_failure_and_is_killed(tmp_path: Path) -> None:
    """A coordinator that records a timeout but leaves the job's group alive."""
    script = tmp_path / "liar.sh"
    script.write_text(
        textwrap.dedent(
            """\
            dir="$1/jobs/$2/$3/stuck"
            mkdir -p "$dir"
            setsid sleep 30 </dev/null >/dev/null 2>&1 &
            now=$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)
            printf '{"name": "stuck", "status": "timed_out", "started_at": "%s",
              "finished_at": "%s", "started_mono_ns": 1, "finished_mono_ns": 2,
              "exit_code": -15, "needs": [], "background": false, "skip_cause": null,
              "reason": "timed out", "command": "sleep 30", "pid": %s}' \\
              "$now" "$now" "$!" >"$dir/meta.json"
            """
        )
    )
    s = scenario(
        tmp_path,
        """
        name: liar
        jobs:
          - {name: stuck, run: sleep 30}
        expect: {status: timed_out}
        """,
    )
    driver = ExternalDriver(f"sh {script} {{state_dir}} {{invocation}} {{worktree}}")
    outcome = run_scenario(s, tmp_path / "run", driver)
    (failure,) = outcome.failures
    assert failure.title == "processes of stuck" and "still running" in failure.observed
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
    run_dir = tmp_path / "state"
    good = record("a", 0, 100).to_json()
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
    obs = observe(s, work_dir=tmp_path, run_dir=run_dir)
    assert list(obs.records) == ["a"]
    assert len(obs.problems) == 4
    assert obs.problems[0].endswith("started_mono_ns must be an integer or null, got 'soon'")
    assert obs.problems[1].endswith("finished_at is not an RFC 3339 time: 'yesterday'")
    assert obs.problems[2].startswith("unreadable record")
    assert obs.problems[3].startswith("two records for job 'a'")  # e: a second 'a', ns precision

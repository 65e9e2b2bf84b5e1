"""Proof that the scenario suite is a working regression gate (and that the protocol path works).

Run through `--coordinator-cmd`, the whole suite must:

- catch the upstream bug: against tests/racy_coordinator.py, which starts
  every job of a phase at once and only records `needs:` (DESIGN 2), every
  scenario that depends on needs-aware scheduling fails, and every scenario
  where it does not matter passes, so the failures are the bug's and not
  noise from the external path;
- pass entirely against our own CLI (`python -m coordinator run`), which
  checks the CLI and the external protocol of DESIGN 4.5 end to end.

Each test runs the suite in a pytest subprocess with `-n 2` and reads the
outcome of every item from a JUnit XML report. A new scenario must be added
to one of the two lists below: the test says so, so a change in what the
gate catches is always a visible diff.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.drivers import DEFAULT_COMMAND

ROOT = Path(__file__).resolve().parent.parent
RACY = Path(__file__).resolve().parent / "racy_coordinator.py"
PROTOCOL_ARGS = "--state-dir {state_dir} --invocation {invocation} --worktree {worktree}"
SUITE_TIMEOUT = 300  # seconds: far above the ~30 s it takes, only there to stop a hang

# Scenarios the racy coordinator must fail, by why.
RACY_FAILS = {
    # A dependent starts beside its need and finds its marker missing.
    "chain[foreground]",
    "chain[background]",
    "background-chain[eager]",
    "background-chain[wave]",
    "tax-analyzer[eager]",
    "tax-analyzer[wave]",
    "diamond[eager]",
    "diamond[wave]",
    "fan-out",
    "eager-vs-wave[eager]",
    "eager-vs-wave[wave]",
    "fan-in-barrier[eager]",
    "fan-in-barrier[wave]",
    "job-cwd",  # the dependent's cwd is made by its need
    # No promotion: the foreground job runs before the background job it needs.
    "promotion",
    # A failed, timed-out or cancelled need does not skip its dependents.
    "transitive-skip",
    "background-needs-failed",
    "diamond-branch-failure",
    "missing-cwd",
    "failed-need-beats-condition",
    "timeout-grandchild[obeys]",
    "timeout-grandchild[ignores]",
    # A cancel meant for a later job catches its needs still running.
    "cancel-mid-run",
    "cancel-when-started",
    # No max_parallel (the upstream tool had no limit either).
    "max-parallel[1]",
    "max-parallel[3]",
    "file-order[eager]",
    "file-order[wave]",
    "limit-kill-grace",
}

# Scenarios where needs-aware scheduling does not matter: they must pass under it.
RACY_PASSES = {
    "empty-hook",
    "condition-env",
    "skip-only",  # its needs are declared but nothing depends on their order
    "foreground-then-background",  # foreground before background is all it needs
    "exit-code",
    "output-capture",
    "job-env",
    "timeout",
    "cancel-kill-grace",
    # Validation: the hooks file is rejected before anything runs.
    "bad-type[run-list]",
    "bad-type[background-string]",
    "bad-type[env-null]",
    "bad-type[needs-string]",
    "bad-type[timeout-zero]",
    "bad-type[max-parallel-zero]",
    "cycle[2]",
    "cycle[3]",
    "cycle-through-chain",
    "duplicate-name",
    "missing-field[run]",
    "missing-field[name]",
    "self-need",
    "unknown-key[job]",
    "unknown-key[settings]",
    "unknown-need",
}


def run_suite(tmp_path: Path, template: str) -> dict[str, str]:
    """Run `pytest scenarios/` against `template`; the outcome of every item, by item name."""
    report = tmp_path / "junit.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "scenarios/",
        "-p",
        "xdist",
        "-n",
        "2",
        "-q",
        "--coordinator-cmd",
        template,
        "--basetemp",
        str(tmp_path / "basetemp"),
        "--junitxml",
        str(report),
    ]
    # The outer pytest's own settings (xdist worker ids, PYTEST_ADDOPTS) must not leak in.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    # Its own session, so that on a hang the whole tree (xdist workers, jobs) can be killed.
    with subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as suite:
        try:
            output, _ = suite.communicate(timeout=SUITE_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(suite.pid, signal.SIGKILL)
            suite.communicate()
            pytest.fail(f"the scenario suite did not finish within {SUITE_TIMEOUT} s")
    assert report.is_file(), f"no report from the suite run:\n{output}"
    outcomes: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("name", "")
        assert name not in outcomes, f"two items named {name!r}: the lists cannot tell them apart"
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcomes[name] = kinds[0] if kinds else "passed"
    return outcomes


def _template(*words: str) -> str:
    return " ".join(shlex.quote(word) for word in words) + " " + PROTOCOL_ARGS


def test_lists_do_not_overlap() -> None:
    assert not RACY_FAILS & RACY_PASSES


@pytest.mark.slow
def test_racy_coordinator_fails_exactly_the_needs_scenarios(tmp_path: Path) -> None:
    template = _template("python", str(RACY), "run", "{hooks_file}", "--hook", "{hook}")
    outcomes = run_suite(tmp_path, template)

    unlisted = set(outcomes) - RACY_FAILS - RACY_PASSES
    assert not unlisted, f"add these items to RACY_FAILS or RACY_PASSES: {sorted(unlisted)}"
    missing = (RACY_FAILS | RACY_PASSES) - set(outcomes)
    assert not missing, f"listed but not in the suite any more: {sorted(missing)}"
    failed = {name for name, outcome in outcomes.items() if outcome == "failure"}
    passed = {name for name, outcome in outcomes.items() if outcome == "passed"}
    assert sorted(RACY_FAILS - failed) == [], "the gate let the racy coordinator through"
    assert sorted(RACY_PASSES - passed) == [], "failed for a reason other than needs"


@pytest.mark.slow
def test_whole_suite_passes_through_our_cli(tmp_path: Path) -> None:
    outcomes = run_suite(tmp_path, DEFAULT_COMMAND)

    assert len(outcomes) >= len(RACY_FAILS | RACY_PASSES)
    not_passed = {name: outcome for name, outcome in outcomes.items() if outcome != "passed"}
    assert not_passed == {}

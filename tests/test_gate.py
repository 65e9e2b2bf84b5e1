"""Proof that the scenario suite is a working regression gate, and traceable to the spec.

- Our own CLI, driven through the protocol (`--coordinator-cmd`), passes
  every scenario item: the CLI and the external protocol work end to end,
  and no item depends on anything peculiar to the in-process path.
- `scripts/gate-power --fast` runs, for every one-bug mutant of
  tests/mutants (and the racy coordinator with the upstream bug), the
  scenarios whose `rules:` list the rule it breaks: each must be killed.
  The full matrix (every scenario against every mutant) is
  `make gate-power`.
- `scripts/conformance --check`: every rule of docs/spec.md is checked by
  the oracle or a scenario, no scenario or mutant names an unknown rule,
  and docs/conformance.md is current.

Adding a scenario never means editing a list here: the mutants say which
rule they break, and the scenarios say which rules they exercise.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.drivers import DEFAULT_COMMAND

ROOT = Path(__file__).resolve().parent.parent
SUITE_TIMEOUT = 600  # seconds: far above what it takes, only there to stop a hang


def _clean_env() -> dict[str, str]:
    """The outer pytest's own settings (xdist worker ids, PYTEST_ADDOPTS) must not leak in."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    # Its own session, so that on a hang the whole tree (xdist workers, jobs) can be killed.
    with subprocess.Popen(
        command,
        cwd=ROOT,
        env=_clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            output, _ = process.communicate(timeout=SUITE_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            pytest.fail(f"{command[1]} did not finish within {SUITE_TIMEOUT} s")
    return subprocess.CompletedProcess(command, process.returncode, output)


@pytest.mark.slow
def test_whole_suite_passes_through_our_cli(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    done = _run(
        [
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
            DEFAULT_COMMAND,
            "--basetemp",
            str(tmp_path / "basetemp"),
            "--junitxml",
            str(report),
        ]
    )
    assert report.is_file(), f"no report from the suite run:\n{done.stdout}"
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcomes[case.get("name", "")] = kinds[0] if kinds else "passed"
    assert len(outcomes) >= 60
    assert {name: kind for name, kind in outcomes.items() if kind != "passed"} == {}, done.stdout


@pytest.mark.slow
def test_every_mutant_is_killed_by_the_scenarios_of_its_rule() -> None:
    done = _run([sys.executable, "scripts/gate-power", "--fast"])
    assert done.returncode == 0, done.stdout
    assert "SURVIVED" not in done.stdout
    assert " mutants killed" in done.stdout


def test_every_spec_rule_is_checked_and_the_table_is_current() -> None:
    done = _run([sys.executable, "scripts/conformance", "--check"])
    assert done.returncode == 0, done.stdout

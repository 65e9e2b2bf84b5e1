"""The fuzzer (`python -m harness fuzz`): finds bugs, shrinks them, stays quiet on ours.

- With the default budget and the fixed CI seed, nothing is found against
  our coordinator (a false alarm here would be a false alarm against any
  correct coordinator: the generator relies only on what the spec fixes).
- Against a one-bug mutant it finds the bug, and the scenario it writes
  fails the same way against the mutant and passes against ours.
- Usage errors exit 2; a coordinator command that cannot start is a clean
  finding, not a traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness import ExternalDriver, InProcessDriver, load_scenarios, run_scenario
from harness.fuzz import Budget, cases, scenario_text, search

ROOT = Path(__file__).resolve().parent.parent
CI_SEED = 20261202  # fixed in CI; docs/fuzzing.md shows how to rotate it
PROTOCOL = (
    "run {hooks_file} --hook {hook} --state-dir {state_dir} "
    "--invocation {invocation} --worktree {worktree}"
)
NEEDS_RULES = {"needs.skip", "needs.skip-transitive", "condition.need-wins"}


def _mutant(name: str) -> ExternalDriver:
    return ExternalDriver(f"{sys.executable} {ROOT / 'tests/mutants/run.py'} {name} {PROTOCOL}")


@pytest.mark.slow
def test_the_default_budget_finds_nothing_against_ours(tmp_path: Path) -> None:
    finding, state = search(InProcessDriver(), tmp_path, seed=CI_SEED, budget=Budget())

    assert state.tried >= 50, "the budget ran out before it tried a meaningful number of cases"
    assert finding is None, finding and finding.text()


def test_a_found_bug_is_shrunk_to_a_scenario_that_fails_the_same_way(tmp_path: Path) -> None:
    budget = Budget(max_examples=60, seconds=60, shrink_seconds=15)
    finding, _ = search(_mutant("no-skip-on-failure"), tmp_path / "search", seed=3, budget=budget)

    assert finding is not None, "the fuzzer missed a coordinator that runs dependents of failures"
    assert NEEDS_RULES & set(finding.rules), finding.rules
    path = tmp_path / "fuzzed.yml"
    path.write_text(finding.text(), encoding="utf-8")
    (scenario,) = load_scenarios(path)
    assert NEEDS_RULES & set(scenario.rules)
    against_mutant = run_scenario(scenario, tmp_path / "mutant", _mutant("no-skip-on-failure"))
    against_ours = run_scenario(scenario, tmp_path / "ours", InProcessDriver())
    assert not against_mutant.ok
    assert against_ours.ok, [f.title for f in against_ours.failures]


def test_every_generated_case_is_a_loadable_scenario(tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(cases())
    def loads(case) -> None:
        path = tmp_path / "case.yml"
        path.write_text(scenario_text(case), encoding="utf-8")
        (scenario,) = load_scenarios(path)
        assert [job.name for job in scenario.jobs] == [job["name"] for job in case.jobs]

    loads()


def test_usage_errors_exit_2() -> None:
    for args in (["fuzz", "--max-examples", "0"], ["fuzz", "--coordinator-cmd", "x {nope}"], []):
        done = subprocess.run(
            [sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr


def test_a_coordinator_that_cannot_start_is_a_clean_finding(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "fuzz",
            "--seed",
            "1",
            "--max-examples",
            "3",
            "--shrink-budget",
            "2",
            "--out",
            str(tmp_path),
            "--coordinator-cmd",
            f"/nonexistent/coordinator {PROTOCOL}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cannot start the coordinator command" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert list(tmp_path.glob("fuzzed-*.yml"))


def test_pytest_fuzz_adds_one_item_that_fails_on_a_finding(tmp_path: Path) -> None:
    def pytest_run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *(sys.executable, "-m", "pytest", "scenarios/basics/empty-hook.yml"),
                *("-p", "no:randomly", "-q", "--basetemp", str(tmp_path / "base")),
                *("--fuzz", "4", *extra),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )

    clean = pytest_run("--fuzz-seed", "1")
    assert clean.returncode == 0, clean.stdout
    assert "2 passed" in clean.stdout  # the scenario and the fuzz item
    broken = pytest_run("--coordinator-cmd", f"/nonexistent/coordinator {PROTOCOL}")
    assert broken.returncode == 1
    assert "FAILED ::fuzz[20261202]" in broken.stdout
    assert "shrunk scenario:" in broken.stdout

"""Scenario items with pytest's cache: `--lf`, `--ff`, `--sw`, stable ids, sharding.

Each pytest run is a subprocess in a pytester directory, as a contributor
would type it, so the cache (`.pytest_cache`) carries over between runs
exactly as it does between two commands. The project's own configuration
must not switch the cache provider off (it did: `-p no:cacheprovider`).
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent

# One matrix case passes and one fails; so does one of the Python tests.
SCENARIO = """
name: grid
matrix:
  marker: [made, missing]
jobs:
  - {name: a, fake: [write: made]}
expect:
  markers: {present: ["{{ marker }}"]}
"""
PLAIN = """
name: plain
jobs:
  - {name: a, fake: [write: x]}
expect:
  markers: {present: [x]}
"""
PYTHON = """
def test_fails():
    assert False

def test_passes():
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\n")
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / "grid.yml").write_text(textwrap.dedent(SCENARIO).lstrip())
    (pytester.path / "scenarios" / "plain.yml").write_text(textwrap.dedent(PLAIN).lstrip())
    pytester.makepyfile(test_python=PYTHON)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> tuple[str, set[str]]:
    """Run pytest; the header line about the last failures, and the ids that ran (-rA)."""
    result = pytester.runpytest_subprocess("-rA", "-p", "no:randomly", *args, timeout=120)
    text = result.stdout.str()
    ran = set(re.findall(r"^(?:PASSED|FAILED) (\S+)", text, flags=re.M))
    status = next((line for line in text.splitlines() if "run-last-failure" in line), "")
    return status, ran


GRID_FAIL = "scenarios/grid.yml::grid[missing]"
GRID_PASS = "scenarios/grid.yml::grid[made]"
PY_FAIL = "test_python.py::test_fails"


def test_the_project_leaves_the_cache_provider_on() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    options = text.split("[tool.pytest.ini_options]", 1)[1].split("\n[", 1)[0]
    assert "no:cacheprovider" not in options


def test_last_failed_reruns_the_failed_scenarios_and_python_tests(project) -> None:
    _, ran = run(project)
    assert {GRID_FAIL, GRID_PASS, PY_FAIL, "scenarios/plain.yml::plain"} <= ran
    cache = json.loads((project.path / ".pytest_cache/v/cache/lastfailed").read_text())
    assert set(cache) == {GRID_FAIL, PY_FAIL}

    status, ran = run(project, "--lf")
    assert status.startswith("run-last-failure: rerun previous 2 failures")
    assert ran == {GRID_FAIL, PY_FAIL}

    status, ran = run(project, "--lf", "scenarios/")
    assert status.startswith("run-last-failure: rerun previous 1 failure")
    assert ran == {GRID_FAIL}


def test_failed_first_and_stepwise(project) -> None:
    run(project)
    result = project.runpytest_subprocess("--ff", "-v", "-p", "no:randomly", "scenarios/")
    order = re.findall(r"^(scenarios/\S+) (?:PASSED|FAILED)", result.stdout.str(), flags=re.M)
    assert order[0] == GRID_FAIL
    assert set(order) == {GRID_FAIL, GRID_PASS, "scenarios/plain.yml::plain"}

    # --sw stops at the first failure and, next time, starts from it.
    (project.path / "test_python.py").unlink()
    first = project.runpytest_subprocess("--sw", "-v", "-p", "no:randomly", "scenarios/")
    text = first.stdout.str()
    assert f"{GRID_FAIL} FAILED" in text and "continuing from this test next run" in text
    assert "plain.yml::plain" not in text
    second = project.runpytest_subprocess("--sw", "-v", "-p", "no:randomly", "scenarios/")
    text = second.stdout.str()
    assert "skipping 1 already passed items" in text and f"{GRID_FAIL} FAILED" in text
    assert f"{GRID_PASS} PASSED" not in text


def test_ids_are_stable_between_runs_and_under_xdist(project) -> None:
    once = project.runpytest_subprocess("--collect-only", "-q", "scenarios/").stdout.lines
    again = project.runpytest_subprocess("--collect-only", "-q", "scenarios/").stdout.lines
    ids = [line for line in once if "::" in line]
    assert ids == [line for line in again if "::" in line]
    assert ids == [GRID_PASS, GRID_FAIL, "scenarios/plain.yml::plain"]
    run(project, "scenarios/")
    _, ran = run(project, "--lf", "-p", "xdist", "-n", "2", "scenarios/")  # workers filter
    assert ran == {GRID_FAIL}


def test_pytest_split_shards_scenarios_by_their_durations(project) -> None:
    pytest.importorskip("pytest_split")
    (project.path / "test_python.py").unlink()
    for i in range(6):
        (project.path / "scenarios" / f"extra{i}.yml").write_text(
            PLAIN.replace("name: plain", f"name: extra{i}")
        )
    store = project.runpytest_subprocess("--store-durations", "scenarios/")
    assert store.ret == pytest.ExitCode.TESTS_FAILED  # grid[missing] fails; durations kept anyway
    durations = json.loads((project.path / ".test_durations").read_text())
    assert GRID_FAIL in durations and len(durations) == 9
    shards = []
    for group in (1, 2, 3):
        args = ["--splits", "3", "--group", str(group), "--collect-only", "-q", "scenarios/"]
        lines = project.runpytest_subprocess(*args).stdout.lines
        shards.append([line for line in lines if "::" in line])
        again = project.runpytest_subprocess(*args).stdout.lines
        assert shards[-1] == [line for line in again if "::" in line], "not deterministic"
    every = [item for shard in shards for item in shard]
    assert sorted(every) == sorted(durations) and len(every) == len(set(every))
    assert all(shard for shard in shards)


def test_the_suite_s_own_durations_file_names_scenario_items() -> None:
    durations = json.loads((ROOT / ".test_durations").read_text(encoding="utf-8"))
    scenario_ids = [key for key in durations if key.startswith("scenarios/")]
    assert "scenarios/needs/tax-analyzer.yml::tax-analyzer[wave]" in scenario_ids
    assert all(isinstance(seconds, float) for seconds in durations.values())

"""The harness's own spec derivations (harness/contract.py), against docs/spec.md.

Promotion (`phase.promotion`), wave levels (`wave.levels`), conditions
(`condition.*`) and the plans the oracle judges against, each on a few
small job lists written here, with no coordinator involved.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.contract import (
    ConditionVerdict,
    JobPlan,
    condition,
    env_text,
    foreground_jobs,
    job_plans,
    promoters,
    safe_job_dir,
    wave_levels,
)


def plans(*jobs: dict[str, Any]) -> list[JobPlan]:
    """JobPlans from short job mappings; `run` defaults to `true`."""
    return job_plans([{"run": "true", **job} for job in jobs])


def fg(name: str, *needs: str) -> dict[str, Any]:
    return {"name": name, "needs": list(needs)}


def bg(name: str, *needs: str) -> dict[str, Any]:
    return {"name": name, "needs": list(needs), "background": True}


# -- promotion ------------------------------------------------------------------------


def test_a_background_job_a_foreground_job_needs_is_promoted() -> None:
    jobs = plans(bg("deps"), fg("build", "deps"))
    assert foreground_jobs(jobs) == {"deps", "build"}
    assert promoters(jobs, "deps") == {"build"}


def test_promotion_is_transitive_through_background_jobs() -> None:
    # build (foreground) needs codegen, which needs deps, which needs fetch: all background.
    jobs = plans(bg("fetch"), bg("deps", "fetch"), bg("codegen", "deps"), fg("build", "codegen"))
    assert foreground_jobs(jobs) == {"fetch", "deps", "codegen", "build"}
    # The foreground jobs (after promotion) that need fetch, directly or not.
    assert promoters(jobs, "fetch") == {"deps", "codegen", "build"}


def test_a_background_job_needed_only_by_background_jobs_stays_background() -> None:
    jobs = plans(fg("install"), bg("index"), bg("lint", "index"), bg("report", "lint", "install"))
    assert foreground_jobs(jobs) == {"install"}
    assert promoters(jobs, "index") == set()


def test_promotion_does_not_flow_downstream() -> None:
    # docs needs build, a foreground job: that does not make docs foreground.
    jobs = plans(fg("build"), bg("docs", "build"), bg("lib"), fg("app", "lib"))
    assert foreground_jobs(jobs) == {"build", "lib", "app"}


def test_no_jobs() -> None:
    assert foreground_jobs([]) == set()
    assert wave_levels([]) == {}


# -- wave levels ------------------------------------------------------------------------


def test_wave_levels_are_the_longest_needs_path() -> None:
    jobs = plans(fg("a"), fg("b", "a"), fg("c"), fg("d", "b", "c"), fg("e", "a"))
    assert wave_levels(jobs) == {"a": 0, "b": 1, "c": 0, "d": 2, "e": 1}


def test_wave_levels_count_only_needs_inside_the_same_phase() -> None:
    jobs = plans(
        fg("install"),
        bg("lint", "install"),  # background: its foreground need is not a level below it
        bg("migrate", "install"),
        bg("seed", "migrate"),
        bg("gen"),
        fg("check", "gen"),  # gen is promoted, so it is a foreground level 0
    )
    assert wave_levels(jobs) == {
        "install": 0,
        "gen": 0,
        "check": 1,
        "lint": 0,
        "migrate": 0,
        "seed": 1,
    }


def test_a_promoted_job_takes_its_level_in_the_foreground_phase() -> None:
    jobs = plans(fg("x"), bg("p", "x"), fg("q", "p"), bg("r", "q"), bg("s", "r"))
    assert foreground_jobs(jobs) == {"x", "p", "q"}
    assert wave_levels(jobs) == {"x": 0, "p": 1, "q": 2, "r": 0, "s": 1}


# -- conditions -------------------------------------------------------------------------


def job(**conditions: Any) -> JobPlan:
    (plan,) = plans({"name": "j", **conditions})
    return plan


@pytest.mark.parametrize(
    ("env", "verdict"),
    [
        ({"SKIP": "1", "ONLY": "1"}, ConditionVerdict(True, "skip", "SKIP")),
        ({"SKIP": "1"}, ConditionVerdict(True, "skip", "SKIP")),  # skip first, though only fails
        ({}, ConditionVerdict(True, "only", "ONLY")),
        ({"ONLY": "yes"}, ConditionVerdict(False, None, None)),
    ],
)
def test_skip_is_decided_before_only(env: dict[str, str], verdict: ConditionVerdict) -> None:
    assert condition(job(skip="SKIP", only="ONLY"), env) == verdict


def test_an_empty_variable_counts_as_unset() -> None:
    assert condition(job(skip="CI"), {"CI": ""}) == ConditionVerdict(False, None, None)
    assert condition(job(skip="CI"), {"CI": "0"}).skip  # any non-empty value is set, "0" too
    assert condition(job(only="CI"), {"CI": ""}) == ConditionVerdict(True, "only", "CI")
    assert condition(job(only="CI"), {}) == ConditionVerdict(True, "only", "CI")
    assert not condition(job(only="CI"), {"CI": "false"}).skip


def test_boolean_conditions_read_no_variable() -> None:
    assert condition(job(skip=True), {}) == ConditionVerdict(True, "skip", None)
    assert condition(job(only=False), {}) == ConditionVerdict(True, "only", None)
    assert condition(job(skip=False, only=True), {}) == ConditionVerdict(False, None, None)
    assert condition(job(), {"ANY": "1"}) == ConditionVerdict(False, None, None)


def test_conditions_read_only_the_environment_they_are_given() -> None:
    # condition.inherited-env: the job's own env is not consulted.
    (plan,) = plans({"name": "j", "skip": "CI", "env": {"CI": "1"}})
    assert condition(plan, {}) == ConditionVerdict(False, None, None)


# -- plans and names ----------------------------------------------------------------------


def test_job_plans_from_the_jobs_as_written() -> None:
    first, second = job_plans(
        [
            {"name": "a", "run": "make"},
            {
                "name": "b",
                "run": "make test",
                "needs": ["a"],
                "background": True,
                "timeout": 2,
                "skip": "CI",
                "only": True,
                "env": {"RETRIES": 3, "RATE": 1.50, "MODE": "fast"},
                "cwd": "sub",
            },
        ]
    )
    assert first == JobPlan("a", 0, (), False, "make")
    assert second == JobPlan(
        "b",
        1,
        ("a",),
        True,
        "make test",
        timeout=2.0,
        skip="CI",
        only=True,
        env={"RETRIES": "3", "RATE": "1.5", "MODE": "fast"},
        cwd="sub",
    )


@pytest.mark.parametrize(("value", "text"), [(3, "3"), (-42, "-42"), (1.5, "1.5"), ("x", "x")])
def test_env_text_is_the_text_of_the_parsed_value(value: Any, text: str) -> None:
    assert env_text(value) == text


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("db-migrate", True),
        ("v1.2_build", True),
        ("...", True),
        (".", False),
        ("..", False),
        ("", False),
        ("a/b", False),
        ("with space", False),
        ("caf\u00e9", False),
    ],
)
def test_safe_job_dir(name: str, safe: bool) -> None:
    assert safe_job_dir(name) is safe

"""Graph validation and foreground promotion (coordinator.graph)."""

from __future__ import annotations

import itertools
import re
from graphlib import CycleError, TopologicalSorter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.graph import promote, validate_graph
from coordinator.model import InputError, JobSpec


def _jobs(*specs: tuple[str, list[str]] | tuple[str, list[str], bool]) -> list[JobSpec]:
    """Jobs at lines 1, 2, 3... from (name, needs[, background]) tuples."""
    return [
        JobSpec(
            name=spec[0],
            run="true",
            needs=tuple(spec[1]),
            background=bool(spec[2:]) and spec[2],
            line=i + 1,
        )
        for i, spec in enumerate(specs)
    ]


def _error(jobs: list[JobSpec]) -> InputError:
    with pytest.raises(InputError) as info:
        validate_graph(jobs, path="hooks.yml")
    return info.value


def _shown_cycle(message: str) -> list[str]:
    match = re.search(r"dependency cycle: ([^\s)]+(?: -> [^\s)]+)+)", message)
    assert match, message
    return match.group(1).split(" -> ")


def _assert_real_cycle(shown: list[str], jobs: list[JobSpec]) -> None:
    needs = {job.name: set(job.needs) for job in jobs}
    assert shown[0] == shown[-1]
    assert len(set(shown[:-1])) == len(shown) - 1, "a cycle visits each job once"
    for job, need in itertools.pairwise(shown):
        assert need in needs[job], f"{job} does not need {need}"


def test_a_valid_graph_passes() -> None:
    validate_graph(_jobs(("a", []), ("b", ["a"]), ("c", ["a", "b"]), ("d", [])))
    validate_graph([])


def test_duplicate_name_is_reported_at_the_second_job() -> None:
    error = _error(_jobs(("a", []), ("b", []), ("a", [])))
    assert str(error) == "hooks.yml:3: job 'a': duplicate name (already used by the job at line 1)"


def test_duplicate_name_of_jobs_built_in_python_without_lines() -> None:
    jobs = [JobSpec(name="a", run="x"), JobSpec(name="a", run="y")]
    with pytest.raises(InputError) as info:
        validate_graph(jobs)
    assert str(info.value) == "<input>: job 'a': duplicate name (already used by the job #1)"


def test_unknown_need_gets_a_close_match_suggestion() -> None:
    error = _error(_jobs(("db-migrate", []), ("db-seed", ["db-migrat"])))
    assert str(error) == (
        "hooks.yml:2: job 'db-seed': needs unknown job 'db-migrat' (did you mean 'db-migrate'?)"
    )
    assert error.line == 2


def test_unknown_need_without_a_close_match() -> None:
    error = _error(_jobs(("install", []), ("lint", ["zzz"])))
    assert str(error) == "hooks.yml:2: job 'lint': needs unknown job 'zzz'"


def test_unknown_need_never_suggests_the_job_itself() -> None:
    error = _error(_jobs(("build", ["buil"])))
    assert str(error) == "hooks.yml:1: job 'build': needs unknown job 'buil'"


def test_self_need_is_a_cycle_of_one() -> None:
    jobs = _jobs(("a", []), ("b", ["a", "b"]))
    error = _error(jobs)
    assert str(error) == "hooks.yml:2: job 'b': needs itself (dependency cycle: b -> b)"
    _assert_real_cycle(_shown_cycle(str(error)), jobs)


@pytest.mark.parametrize(
    ("jobs", "expected"),
    [
        (_jobs(("a", ["b"]), ("b", ["a"])), "a -> b -> a"),
        (_jobs(("x", []), ("a", ["c"]), ("b", ["a"]), ("c", ["b"])), "a -> c -> b -> a"),
        (
            _jobs(("a", ["b"]), ("b", ["c"]), ("c", ["d"]), ("d", ["a"]), ("e", ["a"])),
            "a -> b -> c -> d -> a",
        ),
    ],
    ids=["length-2", "length-3", "length-4-with-a-tail"],
)
def test_cycle_is_shown_from_its_first_job_in_file_order(
    jobs: list[JobSpec], expected: str
) -> None:
    error = _error(jobs)
    shown = _shown_cycle(str(error))
    _assert_real_cycle(shown, jobs)
    assert " -> ".join(shown) == expected
    first = next(job for job in jobs if job.name == shown[0])
    assert error.line == first.line
    assert str(error) == f"hooks.yml:{first.line}: job {shown[0]!r}: dependency cycle: {expected}"


def test_cycle_after_the_start_of_the_file_points_at_a_job_on_it() -> None:
    jobs = _jobs(("install", []), ("lint", ["install"]), ("m", ["s"]), ("s", ["m"]))
    error = _error(jobs)
    assert str(error) == "hooks.yml:3: job 'm': dependency cycle: m -> s -> m"


def test_first_problem_in_file_order_wins() -> None:
    # The cycle starts at line 1, the unknown need is on line 3.
    cycle_first = _jobs(("a", ["b"]), ("b", ["a"]), ("c", ["nope"]))
    assert _error(cycle_first).line == 1
    assert "dependency cycle" in str(_error(cycle_first))
    # The unknown need is on line 1, the cycle on lines 2-3.
    need_first = _jobs(("c", ["nope"]), ("a", ["b"]), ("b", ["a"]))
    assert str(_error(need_first)) == "hooks.yml:1: job 'c': needs unknown job 'nope'"
    # A duplicate before an unknown need.
    duplicate_first = _jobs(("a", []), ("a", []), ("c", ["nope"]))
    assert "duplicate name" in str(_error(duplicate_first))
    assert _error(duplicate_first).line == 2


def test_a_job_own_problem_comes_before_a_cycle_through_it() -> None:
    jobs = _jobs(("a", ["b", "nope"]), ("b", ["a"]))
    assert str(_error(jobs)) == "hooks.yml:1: job 'a': needs unknown job 'nope'"


@st.composite
def _graph_with_back_edge(draw: st.DrawFn) -> list[JobSpec]:
    """A random DAG over jobs in file order plus one edge closing a cycle."""
    count = draw(st.integers(min_value=2, max_value=8))
    names = [f"j{i}" for i in range(count)]
    needs: list[set[str]] = [set() for _ in names]
    for i in range(1, count):
        needs[i] = set(draw(st.lists(st.sampled_from(names[:i]), max_size=3)))
    # Close a cycle: some earlier job needs a later one that reaches it.
    low = draw(st.integers(min_value=0, max_value=count - 2))
    high = draw(st.integers(min_value=low + 1, max_value=count - 1))
    needs[high].add(names[low])
    needs[low].add(names[high])
    order = draw(st.permutations(range(count)))
    return [
        JobSpec(name=names[i], run="true", needs=tuple(sorted(needs[i])), line=line + 1)
        for line, i in enumerate(order)
    ]


@settings(max_examples=150, deadline=None)
@given(_graph_with_back_edge())
def test_any_reported_cycle_is_a_real_cycle(jobs: list[JobSpec]) -> None:
    error = _error(jobs)
    shown = _shown_cycle(str(error))
    _assert_real_cycle(shown, jobs)
    on_cycle = [job for job in jobs if job.name in shown]
    assert shown[0] == on_cycle[0].name, "shown from its first job in file order"
    assert error.line == on_cycle[0].line


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.integers(min_value=0, max_value=5), max_size=3), max_size=6))
def test_validation_agrees_with_graphlib(raw: list[list[int]]) -> None:
    """Known, non-self needs: an error exactly when graphlib finds a cycle."""
    names = [f"j{i}" for i in range(len(raw))]
    jobs = [
        JobSpec(
            name=name,
            run="true",
            needs=tuple(names[n] for n in ns if n < len(names) and names[n] != name),
        )
        for name, ns in zip(names, raw, strict=True)
    ]
    try:
        TopologicalSorter({job.name: job.needs for job in jobs}).prepare()
    except CycleError:
        with pytest.raises(InputError):
            validate_graph(jobs)
    else:
        validate_graph(jobs)


def test_promote_a_direct_need() -> None:
    jobs = _jobs(("ensure-db", [], True), ("install", ["ensure-db"]), ("lint", [], True))
    promoted, reasons = promote(jobs)
    assert [job.background for job in promoted] == [False, False, True]
    assert reasons == {"ensure-db": "promoted to foreground: needed by 'install'"}
    assert [job.name for job in promoted] == ["ensure-db", "install", "lint"]
    assert promoted[0].line == 1 and promoted[0].needs == ()


def test_promote_a_transitive_need_names_the_chain() -> None:
    jobs = _jobs(
        ("base", [], True),
        ("mid", ["base"], True),
        ("deploy", ["mid"]),
        ("check", ["base"]),
    )
    promoted, reasons = promote(jobs)
    assert [job.background for job in promoted] == [False, False, False, False]
    assert reasons == {
        "base": "promoted to foreground: needed by 'deploy' (through deploy -> mid -> base), "
        "'check'",
        "mid": "promoted to foreground: needed by 'deploy'",
    }


def test_promote_names_the_nearest_foreground_job_only() -> None:
    jobs = _jobs(("bg", [], True), ("fg1", ["bg"]), ("fg2", ["fg1"]), ("fg3", ["fg2", "bg"]))
    promoted, reasons = promote(jobs)
    assert promoted[0].background is False
    assert reasons == {"bg": "promoted to foreground: needed by 'fg1', 'fg3'"}


def test_background_needed_only_by_background_stays_background() -> None:
    jobs = _jobs(("install", []), ("migrate", ["install"], True), ("seed", ["migrate"], True))
    promoted, reasons = promote(jobs)
    assert tuple(promoted) == tuple(jobs)
    assert reasons == {}


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.lists(st.integers(min_value=0, max_value=7), max_size=3), st.booleans()),
        min_size=1,
        max_size=8,
    )
)
def test_after_promotion_no_foreground_job_needs_a_background_one(
    raw: list[tuple[list[int], bool]],
) -> None:
    """The invariant the two scheduling phases rely on, with nothing promoted needlessly."""
    jobs = [
        JobSpec(name=f"j{i}", run="true", needs=tuple(f"j{n}" for n in ns if n < i), background=bg)
        for i, (ns, bg) in enumerate(raw)
    ]
    promoted, reasons = promote(jobs)
    by_name = {job.name: job for job in promoted}
    for job in promoted:
        if not job.background:
            assert all(not by_name[need].background for need in job.needs)
    changed = {old.name for old, new in zip(jobs, promoted, strict=True) if old != new}
    assert changed == set(reasons)
    assert all(old.background for old in jobs if old.name in changed)
    # Nothing needless: each promoted job is needed by a job that is foreground now.
    for name in changed:
        assert any(name in job.needs for job in promoted if not job.background)

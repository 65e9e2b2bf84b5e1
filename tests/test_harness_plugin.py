"""The pytest plugin, through pytester: collection, errors, reports, options.

The inner sessions get the plugin the way users do: from the installed
package's `pytest11` entry point.
"""

from __future__ import annotations

import shlex
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

pytest_plugins = ["pytester"]

PASSING = """
name: passing
jobs:
  - {name: a, fake: [write: a.txt]}
expect:
  markers: {present: [a.txt]}
"""

FAILING = """
name: failing
jobs:
  - name: migrate
    fake: [sleep: 0.05, write: schema.sql]
  - name: seed
    needs: [migrate]
    fake: [require: schema.sql, stderr: seeding failed, exit: 4]
expect:
  status: completed
"""

MATRIX = """
name: grid
matrix:
  strategy: [eager, wave]
  limit: [1, 2]
coordinator: {strategy: "{{ strategy }}", max_parallel: {{ limit }}}
jobs:
  - {name: a, fake: []}
expect: {status: completed}
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An inner session; the outer one imported harness already, so it cannot be rewritten."""
    return pytester.runpytest("-W", "ignore::pytest.PytestAssertRewriteWarning", *args)


@pytest.fixture
def scenarios(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\n")

    def add(name: str, text: str) -> None:
        path = pytester.path / "scenarios" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")

    return add


def test_broken_file_is_one_clean_collection_error_and_others_still_run(
    pytester: pytest.Pytester, scenarios
) -> None:
    scenarios("good/passing.yml", PASSING)
    scenarios(
        "bad/broken.yml", "name: broken\njobs:\n  - {name: a, fake: [sleeep: 1]}\nexpect: {}\n"
    )
    scenarios("bad/unrendered.yml", "name: x\njobs: {{ nope }}\nexpect: {}\n")
    result = run(pytester, "scenarios")
    result.assert_outcomes(passed=1, errors=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    lines = result.stdout.lines
    broken = lines.index(next(line for line in lines if "ERROR collecting scenarios/bad/b" in line))
    assert lines[broken + 1].startswith(
        "scenarios/bad/broken.yml:3: jobs[a].fake[0]: unknown key 'sleeep' in fake action "
        "(did you mean 'sleep'?)"
    )
    assert "scenarios/bad/unrendered.yml:2: template: 'nope' is undefined" in lines
    assert "Traceback" not in result.stdout.str()


def test_other_collection_errors_still_stop_the_session(
    pytester: pytest.Pytester, scenarios
) -> None:
    scenarios("passing.yml", PASSING)
    pytester.makepyfile(test_broken="import not_a_module_anywhere\n")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*Interrupted: 1 error during collection*"])


def test_failure_report_names_the_line_and_shows_the_timeline(
    pytester: pytest.Pytester, scenarios
) -> None:
    scenarios("failing.yml", FAILING)
    result = run(pytester, "scenarios")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "scenarios/failing.yml:9: status of seed",
            "    expected: completed",
            "    observed: failed, exit code 4, reason: exited with code 4",
            "scenario failing failed 1 check(s) (in-process coordinator*",
            "timeline (from the recorded meta):",
            "    time 0 .. *",
            "    migrate  |#*| completed  0 *",
            "    seed     | *#| failed     4 *",
            "output of seed (output.log, last 1 line):",
            "    | seeding failed",
        ]
    )


def test_a_broken_rule_is_reported_with_its_id_though_every_expectation_holds(
    pytester: pytest.Pytester, scenarios
) -> None:
    # Our CLI behind a wrapper that always exits 0: the records are right, the exit
    # status is not, and only the oracle (rule cli.exit-failed) can tell.
    scenarios(
        "exit.yml",
        FAILING.replace("status: completed", "status: {migrate: completed, seed: failed}"),
    )
    wrapper = pytester.path / "exit-0.sh"
    wrapper.write_text('"$@"\nexit 0\n', encoding="utf-8")
    command = shlex.join(["sh", str(wrapper), sys.executable, "-m", "coordinator", "run"]) + (
        " {hooks_file} --hook {hook} --state-dir {state_dir} --invocation {invocation} "
        "--worktree {worktree}"
    )
    result = run(pytester, "scenarios", "--coordinator-cmd", command)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "scenarios/exit.yml:1: [cli.exit-failed] exit status",
            "    expected: exit code 1 (jobs that did not succeed: seed failed)",
            "    observed: exit code 0",
            "*scenario failing failed 1 check(s) (external coordinator*",
        ]
    )


def test_items_are_named_by_matrix_and_repeat_and_located_at_the_name_line(
    pytester: pytest.Pytester, scenarios
) -> None:
    scenarios("grid.yml", MATRIX)
    result = run(pytester, "scenarios", "--collect-only", "-q", "--scenario-repeat", "2")
    result.stdout.fnmatch_lines(
        [
            "scenarios/grid.yml::grid[eager-1-r1]",
            "scenarios/grid.yml::grid[eager-1-r2]",
            "scenarios/grid.yml::grid[eager-2-r1]",
            "scenarios/grid.yml::grid[eager-2-r2]",
            "scenarios/grid.yml::grid[wave-1-r1]",
            "scenarios/grid.yml::grid[wave-1-r2]",
            "scenarios/grid.yml::grid[wave-2-r1]",
            "scenarios/grid.yml::grid[wave-2-r2]",
            "*8 tests collected*",
        ]
    )
    items, _ = pytester.inline_genitems("scenarios")
    assert items[0].reportinfo()[1:] == (0, "scenario grid[eager-1]")


def test_marks_from_the_header_select_skip_and_xfail(pytester: pytest.Pytester, scenarios) -> None:
    scenarios("slow.yml", PASSING.replace("name: passing", "name: slow-one\nmarks: [slow]"))
    scenarios(
        "skipped.yml", PASSING.replace("name: passing", 'name: s\nmarks: [{skip: "not yet"}]')
    )
    scenarios("known.yml", FAILING.replace("name: failing", 'name: k\nmarks: [{xfail: "bug 12"}]'))
    result = run(pytester, "scenarios", "-rsx")
    result.assert_outcomes(passed=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(["*not yet*", "*bug 12*"])
    run(pytester, "scenarios", "-m", "not slow").assert_outcomes(skipped=1, xfailed=1)
    run(pytester, "scenarios", "-m", "scenario and slow").assert_outcomes(passed=1)


def test_unregistered_mark_under_strict_markers_is_a_collection_error(
    pytester: pytest.Pytester, scenarios
) -> None:
    scenarios("odd.yml", PASSING.replace("name: passing", "name: odd\nmarks: [wobbly]"))
    result = run(pytester, "scenarios", "--strict-markers")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["scenarios/odd.yml:2: marks: *wobbly*"])


def test_the_glob_decides_what_is_collected(pytester: pytest.Pytester, scenarios) -> None:
    scenarios("a.yml", PASSING)
    (pytester.path / "other").mkdir()
    (pytester.path / "other" / "b.yml").write_text(PASSING.replace("passing", "other"))
    run(
        pytester,
    ).assert_outcomes(passed=1)
    pytester.makeini("[pytest]\nscenario_glob =\n    scenarios/*.yml\n    other/**/*.yml\n")
    run(
        pytester,
    ).assert_outcomes(passed=2)


def test_external_coordinator_command(pytester: pytest.Pytester, scenarios) -> None:
    scenarios("passing.yml", PASSING)
    command = (
        "python -m coordinator run {hooks_file} --hook {hook} --state-dir {state_dir} "
        "--invocation {invocation} --worktree {worktree}"
    )
    result = run(pytester, "scenarios", "--coordinator-cmd", command)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["scenarios: coordinator python -m coordinator run*"])
    bad = run(pytester, "scenarios", "--coordinator-cmd", "x {nope}")
    bad.stderr.fnmatch_lines(["*--coordinator-cmd: unknown placeholder {nope}*"])


def test_the_summary_line_and_junit_start_with_the_first_failed_check(
    pytester: pytest.Pytester, scenarios, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenarios("failing.yml", FAILING)
    first = (
        "scenarios/failing.yml:9: status of seed: expected completed; "
        "observed failed, exit code 4, reason: exited with code 4"
    )
    # On CI pytest prints the whole message: it must still be that one line.
    monkeypatch.setenv("CI", "true")
    result = run(pytester, "scenarios", "-rf", "--junitxml=junit.xml", "-o", "junit_family=xunit1")
    summary = result.stdout.lines[
        result.stdout.lines.index(
            next(line for line in result.stdout.lines if "short test summary info" in line)
        )
        + 1 :
    ]
    assert summary[0] == f"FAILED scenarios/failing.yml::failing - {first}"
    assert summary[1].startswith("=")
    case = ET.parse(pytester.path / "junit.xml").getroot().find(".//testcase")
    assert case is not None
    assert (case.get("file"), case.get("line")) == ("scenarios/failing.yml", "8")  # 0-based
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == first
    assert (failure.text or "").startswith("scenarios/failing.yml:9: status of seed\n")


def test_a_broken_file_s_junit_error_carries_its_message_and_line(
    pytester: pytest.Pytester, scenarios
) -> None:
    scenarios("passing.yml", PASSING)
    scenarios("broken.yml", "name: broken\njobs:\n  - {name: a, fake: [sleeep: 1]}\nexpect: {}\n")
    for extra in ([], ["-p", "xdist", "-n", "2"]):
        result = run(
            pytester, "scenarios", "--junitxml=junit.xml", "-o", "junit_family=xunit1", *extra
        )
        result.assert_outcomes(passed=1, errors=1)
        root = ET.parse(pytester.path / "junit.xml").getroot()
        (error,) = root.iter("error")
        assert error.get("message", "").startswith(
            "scenarios/broken.yml:3: jobs[a].fake[0]: unknown key 'sleeep' in fake action"
        )
        (case,) = [c for c in root.iter("testcase") if c.find("error") is not None]
        assert (case.get("file"), case.get("line")) == ("scenarios/broken.yml", "2")


def test_every_problem_of_a_file_is_one_line_of_its_collection_error(
    pytester: pytest.Pytester, scenarios
) -> None:
    scenarios(
        "two.yml",
        "name: two\njobs:\n  - {name: a, neds: [b], fake: []}\n"
        "expect:\n  order: ['a < a']\n  max_concurrency: {at_most: 1, at_least: 3}\n",
    )
    lines = run(pytester, "scenarios").stdout.lines
    start = lines.index(next(line for line in lines if "ERROR collecting" in line)) + 1
    assert [line.split(": ", 2)[:2] for line in lines[start : start + 3]] == [
        ["scenarios/two.yml:3", "jobs[a]"],
        ["scenarios/two.yml:5", "expect.order"],
        ["scenarios/two.yml:6", "expect.max_concurrency"],
    ]
    assert "a < a is a cycle" in lines[start + 1]
    assert "at_least 3 is more than at_most 1" in lines[start + 2]


def test_two_files_with_one_name_are_both_rejected_and_the_rest_runs(
    pytester: pytest.Pytester, scenarios
) -> None:
    scenarios("a/one.yml", PASSING)
    scenarios("b/one.yml", PASSING)
    scenarios("c.yml", PASSING.replace("name: passing", "name: unique"))
    result = run(pytester, "scenarios")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        ["scenarios/a/one.yml:1: name: 'passing' is also the name of scenarios/b/one.yml*"]
    )
    # Collecting one of them alone still sees the other.
    run(pytester, "scenarios/a/one.yml").assert_outcomes(errors=1)

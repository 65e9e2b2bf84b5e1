"""Each expectation kind, passing and failing, on synthetic records.

No process runs here: the Observation is built by hand, so every case is
exact and instant.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conftest import synthetic_record
from coordinator.model import Record, SkipCause, Status
from harness.expect import Expectation, ideal_makespan, peak_concurrency
from harness.fakes import Witness
from harness.load import load_scenarios
from harness.model import Scenario
from harness.observe import Observation, wall_ns

MS = 1_000_000
JOBS = """
- {name: a, fake: [sleep: 0.2]}
- {name: b, needs: [a], fake: [sleep: 0.1]}
- {name: c, fake: [sleep: 0.05]}
"""


def scenario(tmp_path: Path, expect: str, jobs: str = JOBS, top: str = "") -> Scenario:
    """A scenario whose `expect:` block is `expect`; its first line is line 7 with JOBS."""
    text = (
        f"name: t\n{top}jobs:\n{textwrap.indent(textwrap.dedent(jobs).strip(), '  ')}\n"
        f"expect:\n{textwrap.indent(textwrap.dedent(expect).strip(), '  ')}\n"
    )
    path = tmp_path / "t.yml"
    path.write_text(text, encoding="utf-8")
    (loaded,) = load_scenarios(path)
    return loaded


record = synthetic_record


def observe(*records: Record, work_dir: Path | None = None, **extra: object) -> Observation:
    obs = Observation(records={r.name: r for r in records}, work_dir=work_dir)
    for key, value in extra.items():
        setattr(obs, key, value)
    return obs


def failures(s: Scenario, obs: Observation) -> list[tuple[Expectation, str]]:
    found = []
    for expectation in s.expectations:
        mismatch = expectation.check(obs, s)
        if mismatch is not None:
            found.append((expectation, mismatch.observed))
    return found


GOOD = (record("a", 0, 200), record("b", 201, 300), record("c", 0, 50))


def test_status_and_wildcard(tmp_path: Path) -> None:
    s = scenario(tmp_path, '  status: {b: failed, "*": completed}\n')
    assert [e.title for e in s.expectations] == ["status of b", "status of a", "status of c"]
    obs = observe(GOOD[0], record("b", 201, 300, Status.FAILED, exit_code=1), GOOD[2])
    assert failures(s, obs) == []
    ((failed, observed),) = failures(s, observe(*GOOD))
    assert failed.title == "status of b" and failed.line == 7
    assert observed == "completed, exit code 0"


def test_status_for_every_job_and_a_missing_record(tmp_path: Path) -> None:
    s = scenario(tmp_path, "  status: completed\n")
    assert failures(s, observe(*GOOD)) == []
    ((failed, observed),) = failures(s, observe(*GOOD[:2]))
    assert failed.title == "status of c" and observed == "no record"


def test_exit_codes(tmp_path: Path) -> None:
    s = scenario(tmp_path, "  exit_code: {a: 3, b: nonzero, c: null}\n")
    ok = observe(
        record("a", 0, 1, Status.FAILED, exit_code=3),
        record("b", 0, 1, Status.TIMED_OUT, exit_code=-15),
        record("c", status=Status.SKIPPED),
    )
    assert failures(s, ok) == []
    bad = observe(record("a", 0, 1), record("b", 0, 1), record("c", 0, 1))
    assert [e.title for e, _ in failures(s, bad)] == [
        "exit code of a",
        "exit code of b",
        "exit code of c",
    ]


def test_skip_cause_and_background(tmp_path: Path) -> None:
    s = scenario(tmp_path, "  skip_cause: {b: needs}\n  background: {c: false}\n")
    skipped = record("b", status=Status.SKIPPED, skip_cause=SkipCause.NEEDS)
    assert failures(s, observe(GOOD[0], skipped, GOOD[2])) == []
    by_condition = record("b", status=Status.SKIPPED, skip_cause=SkipCause.CONDITION)
    background = record("c", 0, 50)
    background.background = True
    found = failures(s, observe(GOOD[0], by_condition, background))
    assert [e.title for e, _ in found] == ["skip_cause of b", "background of c"]
    assert found[0][1].startswith("condition")


def test_order_uses_the_monotonic_clock(tmp_path: Path) -> None:
    s = scenario(tmp_path, '  order: ["a < b"]\n')
    touching = observe(record("a", 0, 200), record("b", 200, 300))
    assert failures(s, touching) == []
    # The upstream bug: b started 67 microseconds after a did.
    racy = observe(record("a", 0, 200), record("b", 0.067, 150, Status.FAILED, exit_code=1))
    ((failed, observed),) = failures(s, racy)
    assert failed.title == "order a < b"
    assert observed == "b started 0.200 s before a finished"
    # A wall-clock step must not matter: only the monotonic fields are compared.
    stepped = record("b", 201, 300)
    stepped.started_at = record("x", -5000).started_at
    assert failures(s, observe(GOOD[0], stepped)) == []
    assert "b never started" in failures(s, observe(GOOD[0]))[0][1]


def test_order_chains_expand_to_pairs(tmp_path: Path) -> None:
    s = scenario(tmp_path, '  order: ["c < a < b"]\n')
    assert [e.title for e in s.expectations] == ["order c < a", "order a < b"]
    obs = observe(record("c", 0, 10), record("a", 10, 200), record("b", 201, 300))
    assert failures(s, obs) == []
    assert len(failures(s, observe(*GOOD))) == 1


def test_overlap(tmp_path: Path) -> None:
    s = scenario(tmp_path, "  overlap: [[a, c]]\n")
    assert failures(s, observe(*GOOD)) == []
    apart = observe(record("a", 0, 200), record("b", 201, 300), record("c", 200, 250))
    ((_, observed),) = failures(s, apart)
    assert observed == "a finished 0.000 s before c started"
    still_running = observe(record("a", 0, None, Status.RUNNING), record("c", 500, 600))
    assert failures(s, still_running) == []


def test_max_concurrency_exact_and_bounds(tmp_path: Path) -> None:
    exact = scenario(tmp_path, "  max_concurrency: 2\n")
    assert failures(exact, observe(*GOOD)) == []
    three = observe(record("a", 0, 200), record("b", 10, 300), record("c", 20, 50))
    ((_, observed),) = failures(exact, three)
    assert observed == "at most 3 at once (at the peak: a, b, c)"
    bounded = scenario(tmp_path, "  max_concurrency: {at_most: 3, at_least: 3}\n")
    assert failures(bounded, three) == []
    assert len(failures(bounded, observe(*GOOD))) == 1


def test_peak_concurrency_treats_touching_intervals_as_sequential() -> None:
    assert peak_concurrency({"a": (0, 10), "b": (10, 20)}) == (1, ["a"])
    assert peak_concurrency({"a": (0, None), "b": (5, 20)}) == (2, ["a", "b"])
    assert peak_concurrency({}) == (0, [])


def test_markers(tmp_path: Path) -> None:
    s = scenario(
        tmp_path,
        "  markers: {present: [p], absent: [gone], content: {c.txt: ok, n.txt: 42}}\n",
    )
    work = tmp_path / "work"
    work.mkdir()
    (work / "p").write_text("")
    (work / "c.txt").write_text("ok")
    (work / "n.txt").write_text("42")
    assert failures(s, observe(work_dir=work)) == []
    (work / "gone").write_text("")
    (work / "c.txt").write_text("ok\n")
    (work / "p").unlink()
    found = failures(s, observe(work_dir=work))
    assert [observed for _, observed in found] == ["no such file", "the file exists", "'ok\\n'"]


def test_reason_and_output_contain_text(tmp_path: Path) -> None:
    s = scenario(tmp_path, "  reason: {b: [need 'a', failed]}\n  output: {a: boom}\n")
    skipped = record("b", status=Status.SKIPPED, reason="need 'a' failed")
    obs = observe(
        record("a", 0, 1, Status.FAILED, exit_code=1), skipped, outputs={"a": "x\nboom\n"}
    )
    assert failures(s, obs) == []
    skipped.reason = "need 'a' timed out"
    obs.outputs = {"a": "fine\n"}
    found = failures(s, obs)
    assert [e.title for e, _ in found] == ["reason of b", "output of a"]
    assert found[1][1] == "fine"


def test_makespan_against_the_ideal(tmp_path: Path) -> None:
    s = scenario(tmp_path, "  makespan: {within: 1.2, plus: 0.05}\n")
    assert ideal_makespan(s) == pytest.approx(0.3)  # a (0.2) then b (0.1); c beside them
    assert (
        failures(s, observe(record("a", 0, 200), record("b", 200, 300), record("c", 0, 50))) == []
    )
    slow = observe(record("a", 0, 200), record("b", 350, 450), record("c", 0, 50))
    ((_, observed),) = failures(s, slow)
    assert observed == "0.450 s"


def test_ideal_makespan_by_strategy_and_phase(tmp_path: Path) -> None:
    jobs = """
      - {name: install, fake: [sleep: 0.2]}
      - {name: lint, background: true, needs: [install], fake: [sleep: 0.8]}
      - {name: migrate, background: true, needs: [install], fake: [sleep: 0.3]}
      - {name: seed, background: true, needs: [migrate], fake: [sleep: 0.1]}
      - {name: gen, background: true, fake: [sleep: 0.05]}
      - {name: check, needs: [gen], fake: [sleep: 0.1]}
    """
    eager = scenario(tmp_path, "  status: completed\n", jobs)
    # foreground: gen is promoted (check needs it): max(0.2, 0.05 + 0.1); then lint's 0.8
    assert ideal_makespan(eager) == pytest.approx(0.2 + 0.8)
    wave = scenario(tmp_path, "  status: completed\n", jobs, top="coordinator: {strategy: wave}\n")
    # foreground levels: [install, gen] 0.2, [check] 0.1; background: [lint, migrate] 0.8, [seed]
    assert ideal_makespan(wave) == pytest.approx(0.2 + 0.1 + 0.8 + 0.1)


def test_input_error(tmp_path: Path) -> None:
    s = scenario(tmp_path, "  input_error: cycle\n")
    assert failures(s, observe(input_error="hooks.yml:3: job 'a': dependency cycle: a -> a")) == []
    assert failures(s, observe(*GOOD))[0][1] == "no input error; 3 job record(s) written"
    wrong = failures(s, observe(input_error="x: unknown key"))
    assert wrong[0][1] == "input error: x: unknown key"
    ran = observe(input_error="cycle", witnesses={"000-a": Witness((1,), (2,), (), ())})
    assert "commands started: ['000-a']" in failures(s, ran)[0][1]


def test_wall_ns_parses_rfc3339() -> None:
    assert wall_ns("1970-01-01T00:00:01.000002Z") == 1_000_002_000

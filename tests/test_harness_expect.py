"""Each expectation kind, passing and failing, on synthetic records.

No process runs here: the Observation is built by hand, so every case is
exact and instant. The records are `harness.records.Record`s, read from
synthetic meta.json data by the harness's own reader (see conftest).
"""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import SYNTHETIC_T0_NS, synthetic_record
from harness import contract
from harness.expect import Expectation, InputErrorIs, Makespan, StartedBefore, ideal_makespan
from harness.load import load_scenarios
from harness.model import Scenario
from harness.observe import Observation, RunFacts
from harness.oracle import peak_concurrency
from harness.records import Record

MS = 1_000_000
JOBS = """
- {name: a, fake: [sleep: 0.2]}
- {name: b, needs: [a], fake: [sleep: 0.1]}
- {name: c, fake: [sleep: 0.05]}
"""
# The harness's own clock window around the synthetic run, and its wall - mono offset.
FACTS = RunFacts(window=(0, 10_000 * MS), wall_minus_mono=SYNTHETIC_T0_NS)


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


def observe(
    *records: Record, work_dir: Path = Path("/nonexistent"), **extra: object
) -> Observation:
    obs = Observation(facts=FACTS, work_dir=work_dir, records={r.name: r for r in records})
    for key, value in extra.items():
        setattr(obs, key, value)
    return obs


def input_error(message: str | None) -> Observation:
    """What a run rejected with `message` (None: accepted) looks like to the expectations."""
    return Observation(facts=replace(FACTS, input_error=message), work_dir=Path("/nonexistent"))


def failures(s: Scenario, obs: Observation) -> list[tuple[Expectation, str]]:
    found = []
    for expectation in s.expectations:
        mismatch = expectation.check(obs)
        if mismatch is not None:
            found.append((expectation, mismatch.observed))
    return found


GOOD = (record("a", 0, 200), record("b", 201, 300, needs=["a"]), record("c", 0, 50))


def test_status_and_wildcard(tmp_path: Path) -> None:
    s = scenario(tmp_path, '  status: {b: failed, "*": completed}\n')
    assert [e.title for e in s.expectations] == ["status of b", "status of a", "status of c"]
    obs = observe(GOOD[0], record("b", 201, 300, "failed", exit_code=1), GOOD[2])
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
        record("a", 0, 1, "failed", exit_code=3),
        record("b", 0, 1, "timed_out", exit_code=-15),
        record("c", status="skipped"),
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
    skipped = record("b", status="skipped", skip_cause="needs")
    assert failures(s, observe(GOOD[0], skipped, GOOD[2])) == []
    by_condition = record("b", status="skipped", skip_cause="condition")
    background = record("c", 0, 50, background=True)
    found = failures(s, observe(GOOD[0], by_condition, background))
    assert [e.title for e, _ in found] == ["skip_cause of b", "background of c"]
    assert found[0][1].startswith("condition")
    assert found[1][1].startswith("true")


def test_order_uses_the_monotonic_clock(tmp_path: Path) -> None:
    s = scenario(tmp_path, '  order: ["a < b"]\n')
    touching = observe(record("a", 0, 200), record("b", 200, 300))
    assert failures(s, touching) == []
    # The upstream bug: b started 67 microseconds after a did.
    racy = observe(record("a", 0, 200), record("b", 0.067, 150, "failed", exit_code=1))
    ((failed, observed),) = failures(s, racy)
    assert failed.title == "order a < b"
    assert observed == "b started 0.200 s before a finished"
    # A wall-clock step must not matter: only the monotonic fields are compared.
    stepped = replace(record("b", 201, 300), started_at=record("x", -5000).started_at)
    assert failures(s, observe(GOOD[0], stepped)) == []
    assert "b never started" in failures(s, observe(GOOD[0]))[0][1]


def test_order_falls_back_to_the_wall_clock_without_monotonic_stamps(tmp_path: Path) -> None:
    s = scenario(tmp_path, '  order: ["a < b"]\n')
    wall_only = {"started_mono_ns": None, "finished_mono_ns": None}
    ordered = observe(record("a", 0, 200, **wall_only), record("b", 200, 300, **wall_only))
    assert failures(s, ordered) == []
    racy = observe(record("a", 0, 200, **wall_only), record("b", 150, 300, **wall_only))
    assert failures(s, racy)[0][1] == "b started 0.050 s before a finished"


def test_order_chains_expand_to_pairs(tmp_path: Path) -> None:
    s = scenario(tmp_path, '  order: ["c < a < b"]\n')
    assert [e.title for e in s.expectations] == ["order c < a", "order a < b"]
    obs = observe(record("c", 0, 10), record("a", 10, 200), record("b", 201, 300))
    assert failures(s, obs) == []
    assert len(failures(s, observe(*GOOD))) == 1


def test_start_order_compares_starts_only(tmp_path: Path) -> None:
    s = scenario(tmp_path, '  start_order: ["c < a < b"]\n')
    assert [e.title for e in s.expectations] == ["start order c < a", "start order a < b"]
    assert all(isinstance(e, StartedBefore) for e in s.expectations)
    # Overlapping is fine: only who started first counts.
    overlapping = observe(record("c", 0, 250), record("a", 10, 200), record("b", 20, 300))
    assert failures(s, overlapping) == []
    late = observe(record("c", 30, 250), record("a", 10, 200), record("b", 20, 300))
    ((failed, observed),) = failures(s, late)
    assert failed.title == "start order c < a" and observed == "a started 0.020 s earlier"
    together = observe(record("c", 0, 250), record("a", 10, 200), record("b", 10, 300))
    assert [o for _, o in failures(s, together)] == ["b started 0.000 s earlier"]
    unstarted = observe(record("c", 0, 50), record("a", 10, 200), record("b", status="skipped"))
    assert [o for _, o in failures(s, unstarted)] == ["b never started"]


def test_overlap(tmp_path: Path) -> None:
    s = scenario(tmp_path, "  overlap: [[a, c]]\n")
    assert failures(s, observe(*GOOD)) == []
    apart = observe(record("a", 0, 200), record("b", 201, 300), record("c", 200, 250))
    ((_, observed),) = failures(s, apart)
    assert observed == "a finished 0.000 s before c started"
    still_running = observe(record("a", 0, None, "running"), record("c", 500, 600))
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
    failed = record("a", 0, 1, "failed", exit_code=1)
    skipped = record("b", status="skipped", skip_cause="needs", reason="need 'a' failed")
    assert failures(s, observe(failed, skipped, outputs={"a": "x\nboom\n"})) == []
    skipped = replace(skipped, reason="need 'a' timed out")
    found = failures(s, observe(failed, skipped, outputs={"a": "fine\n"}))
    assert [e.title for e, _ in found] == ["reason of b", "output of a"]
    assert found[0][1] == "need 'a' timed out"
    assert found[1][1] == "fine"


def ideal(s: Scenario) -> float:
    """The ideal makespan of a scenario's jobs, computed the way the loader does."""
    plans = contract.job_plans([job.spec for job in s.jobs])
    planned = {job.name: float(job.planned or 0.0) for job in s.jobs}
    return ideal_makespan(plans, planned, wave=s.setting("strategy") == "wave")


def makespan_of(s: Scenario) -> Makespan:
    (makespan,) = s.expectations
    assert isinstance(makespan, Makespan)
    return makespan


def test_makespan_against_the_ideal(tmp_path: Path) -> None:
    s = scenario(tmp_path, "  makespan: {within: 1.2, plus: 0.05}\n")
    assert makespan_of(s).ideal == pytest.approx(0.3)  # a (0.2) then b (0.1); c beside them
    assert ideal(s) == pytest.approx(0.3)
    assert (
        failures(s, observe(record("a", 0, 200), record("b", 200, 300), record("c", 0, 50))) == []
    )
    slow = observe(record("a", 0, 200), record("b", 350, 450), record("c", 0, 50))
    ((_, observed),) = failures(s, slow)
    assert observed == "0.450 s"
    assert [o for _, o in failures(s, observe())] == ["no job finished"]


def test_ideal_makespan_by_strategy_and_phase(tmp_path: Path) -> None:
    jobs = """
      - {name: install, fake: [sleep: 0.2]}
      - {name: lint, background: true, needs: [install], fake: [sleep: 0.8]}
      - {name: migrate, background: true, needs: [install], fake: [sleep: 0.3]}
      - {name: seed, background: true, needs: [migrate], fake: [sleep: 0.1]}
      - {name: gen, background: true, fake: [sleep: 0.05]}
      - {name: check, needs: [gen], fake: [sleep: 0.1]}
    """
    expect = "  makespan: {within: 1.5}\n"
    eager = scenario(tmp_path, expect, jobs)
    # foreground: gen is promoted (check needs it): max(0.2, 0.05 + 0.1); then lint's 0.8
    assert ideal(eager) == pytest.approx(0.2 + 0.8)
    assert makespan_of(eager).ideal == pytest.approx(0.2 + 0.8)
    wave = scenario(tmp_path, expect, jobs, top="coordinator: {strategy: wave}\n")
    # foreground levels: [install, gen] 0.2, [check] 0.1; background: [lint, migrate] 0.8, [seed]
    assert ideal(wave) == pytest.approx(0.2 + 0.1 + 0.8 + 0.1)
    assert makespan_of(wave).ideal == pytest.approx(0.2 + 0.1 + 0.8 + 0.1)


def test_input_error_true_takes_any_rejection(tmp_path: Path) -> None:
    s = scenario(tmp_path, "  input_error: true\n")
    assert s.input_error and s.jobs == ()
    assert s.expectations == (InputErrorIs(7),)
    assert failures(s, input_error("hooks.yml:3: anything at all")) == []
    assert failures(s, observe(*GOOD))[0][1] == "no input error; 3 job record(s) written"


def test_input_error_checks_only_the_fixed_parts_of_the_message(tmp_path: Path) -> None:
    s = scenario(tmp_path, "  input_error: {job: seed, suggestion: migrate}\n")
    assert s.expectations == (InputErrorIs(7, "seed", (), "migrate"),)
    # Any wording around the quoted name and the suggestion is fine.
    for message in (
        "hooks.yml:6: job 'seed': needs unknown job 'migrat' (did you mean 'migrate'?)",
        "hooks.yml:6: 'migrat', needed by 'seed', is not a job; did you mean 'migrate'?",
    ):
        assert failures(s, input_error(message)) == [], message
    for message in (
        "hooks.yml:6: job seed: needs unknown job 'migrat' (did you mean 'migrate'?)",
        "hooks.yml:6: job 'seed': needs unknown job 'migrat'",
        "hooks.yml:6: job 'seed': needs unknown job 'migrat' (did you mean migrate?)",
    ):
        assert [o for _, o in failures(s, input_error(message))] == [message], message
    (expectation,) = s.expectations
    mismatch = expectation.check(observe())
    assert mismatch is not None
    assert mismatch.expected == "an input error whose message has 'seed', did you mean 'migrate'?"


def test_input_error_cycle_in_either_direction_from_any_job(tmp_path: Path) -> None:
    s = scenario(tmp_path, "  input_error: {cycle: [a, b, c]}\n")
    for shown in ("a -> b -> c -> a", "b -> c -> a -> b", "c -> b -> a -> c", "a -> c -> b -> a"):
        message = f"hooks.yml:4: job 'a': dependency cycle: {shown}"
        assert failures(s, input_error(message)) == [], shown
    for shown in ("a -> b -> c", "a -> b -> a", "a, b, c"):
        message = f"hooks.yml:4: job 'a': dependency cycle: {shown}"
        assert [o for _, o in failures(s, input_error(message))] == [message], shown
    (expectation,) = s.expectations
    mismatch = expectation.check(observe())
    assert mismatch is not None
    assert mismatch.expected == "an input error whose message has a -> b -> c -> a"

"""Tests for `coordinator.engine.Run`: real processes, real records (spec: scheduling, records).

Every ordering check is causal: it compares one job's recorded end with
another's recorded start on the monotonic clock, or waits on a file a job
writes. Where a job has to wait for something, it polls a marker file with a
bounded loop, so a broken engine fails the test instead of hanging it.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import signal
import threading
from pathlib import Path

import pytest

from conftest import (
    RECORD_FIELDS,
    Runner,
    assert_groups_gone,
    finished,
    job,
    ran_before,
    read_meta,
    started,
    wait_for,
)
from coordinator import (
    InputError,
    JobEvent,
    Record,
    Run,
    RunError,
    Settings,
    SkipCause,
    Status,
    Strategy,
    engine,
    loads_hooks,
    select_hook,
)
from coordinator.store import dir_name

STRATEGIES = pytest.mark.parametrize("strategy", list(Strategy), ids=lambda s: s.value)
FLAG = "COORDINATOR_TEST_FLAG"
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def wait_file(name: str) -> str:
    """Shell that waits (bounded, about 5 s) for `name` to exist, else exits 9."""
    return f"i=0; until [ -f {name} ]; do i=$((i+1)); [ $i -gt 500 ] && exit 9; sleep 0.01; done"


def env_with(**values: str) -> dict[str, str]:
    """The test's environment without FLAG, plus `values`."""
    env = {key: value for key, value in os.environ.items() if key != FLAG}
    env.update(values)
    return env


def assert_never_started(record: Record) -> None:
    assert record.started_at is None and record.started_mono_ns is None, record
    assert record.finished_at is None and record.finished_mono_ns is None, record
    assert record.exit_code is None and record.pid is None, record


def max_overlap(records: list[Record]) -> int:
    """The largest number of jobs running at one moment, from recorded intervals."""
    events = []
    for record in records:
        assert record.started_mono_ns is not None and record.finished_mono_ns is not None
        events += [(record.started_mono_ns, 1), (record.finished_mono_ns, -1)]
    running = peak = 0
    for _, delta in sorted(events):  # an end sorts before a start at the same instant
        running += delta
        peak = max(peak, running)
    return peak


# -- the original bug (README) ---------------------------------------------------


@STRATEGIES
@pytest.mark.parametrize(
    ("a_background", "b_background"),
    [(False, False), (True, True), (False, True)],
    ids=["foreground", "background", "foreground-to-background"],
)
def test_dependent_starts_only_after_its_need_finished(
    runner: Runner, strategy: Strategy, a_background: bool, b_background: bool
) -> None:
    jobs = [
        job("a", "sleep 0.2 && echo 'create table users' > marker", background=a_background),
        job("b", "test -f marker || exit 1; cat marker", "a", background=b_background),
    ]
    result = runner.run(jobs, settings=Settings(strategy=strategy))
    a, b = result.records["a"], result.records["b"]
    assert (a.status, b.status) == (Status.COMPLETED, Status.COMPLETED), (a, b)
    assert started(b) >= finished(a)
    assert ran_before(a, b)
    assert (result.jobs_dir / "b" / "output.log").read_text() == "create table users\n"
    assert result.ok


# -- needs and conditions ------------------------------------------------------------


@STRATEGIES
def test_failure_skips_dependents_transitively(runner: Runner, strategy: Strategy) -> None:
    jobs = [
        job("a", "exit 3"),
        job("b", "touch b-ran", "a"),
        job("c", "touch c-ran", "b"),
        job("d", "true"),
    ]
    result = runner.run(jobs, settings=Settings(strategy=strategy))
    a, b, c, d = (result.records[name] for name in "abcd")
    assert a.status is Status.FAILED and a.exit_code == 3
    for record in (b, c):
        assert record.status is Status.SKIPPED
        assert record.skip_cause is SkipCause.NEEDS
        assert_never_started(record)
    assert "need 'a' failed" in (b.reason or "")
    assert "'b'" in (c.reason or "") and "skip" in (c.reason or "")
    assert d.status is Status.COMPLETED
    assert not (runner.cwd / "b-ran").exists() and not (runner.cwd / "c-ran").exists()
    assert not result.ok


@pytest.mark.parametrize(
    ("condition", "env", "reason_word"),
    [
        ({"skip": True}, {}, "skip"),
        ({"skip": FLAG}, {FLAG: "1"}, FLAG),
        ({"only": False}, {}, "only"),
        ({"only": FLAG}, {}, FLAG),
        ({"skip": True, "only": False}, {}, "skip"),  # skip is checked first
    ],
    ids=["skip-true", "skip-var-set", "only-false", "only-var-unset", "skip-before-only"],
)
def test_condition_skipped_need_counts_as_satisfied(
    runner: Runner, condition: dict[str, object], env: dict[str, str], reason_word: str
) -> None:
    jobs = [job("a", "touch a-ran", **condition), job("b", "touch b-ran", "a")]
    result = runner.run(jobs, env=env_with(**env))
    a, b = result.records["a"], result.records["b"]
    assert a.status is Status.SKIPPED and a.skip_cause is SkipCause.CONDITION
    assert reason_word in (a.reason or "")
    assert_never_started(a)
    assert b.status is Status.COMPLETED and b.skip_cause is None
    assert not (runner.cwd / "a-ran").exists() and (runner.cwd / "b-ran").exists()
    assert result.ok


@pytest.mark.parametrize(
    ("condition", "inherited", "own_env"),
    [
        ({"skip": FLAG}, {FLAG: ""}, {}),  # set but empty counts as unset
        ({"only": FLAG}, {FLAG: "yes"}, {}),
        ({"skip": FLAG}, {}, {FLAG: "1"}),  # the job's own env is not consulted
    ],
    ids=["skip-var-empty", "only-var-set", "skip-var-only-in-job-env"],
)
def test_condition_that_lets_the_job_run(
    runner: Runner,
    condition: dict[str, object],
    inherited: dict[str, str],
    own_env: dict[str, str],
) -> None:
    result = runner.run([job("a", "true", env=own_env, **condition)], env=env_with(**inherited))
    assert result.records["a"].status is Status.COMPLETED


def test_condition_is_read_from_the_inherited_env_not_the_job_env(runner: Runner) -> None:
    result = runner.run([job("a", "true", only=FLAG, env={FLAG: "1"})], env=env_with())
    assert result.records["a"].status is Status.SKIPPED
    assert result.records["a"].skip_cause is SkipCause.CONDITION


def test_failed_need_wins_over_a_condition(runner: Runner) -> None:
    jobs = [job("a", "exit 1"), job("b", "true", "a", skip=True)]
    result = runner.run(jobs)
    b = result.records["b"]
    assert b.status is Status.SKIPPED and b.skip_cause is SkipCause.NEEDS
    assert "need 'a' failed" in (b.reason or "")


# -- timeouts, signals, cancel -------------------------------------------------------


def test_without_pidfds_exits_are_still_seen_and_stops_still_drain(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A kernel older than 5.3 has no pidfd_open: a thread per job waits for its exit
    # (without reaping it) and the loop reaps every job it has not seen end yet.
    def no_pidfd(pid: int, flags: int = 0) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    jobs = [
        job("a", "true"),
        job("b", "exit 3", "a"),
        job("t", "sh -c 'sleep 30' & sleep 30", timeout=0.3),
        job("c", "true", "a"),
    ]
    result = runner.run(jobs, settings=Settings(kill_grace=0.2))
    statuses = {name: record.status for name, record in result.records.items()}
    assert statuses == {
        "a": Status.COMPLETED,
        "b": Status.FAILED,
        "t": Status.TIMED_OUT,
        "c": Status.COMPLETED,
    }
    assert result.records["b"].exit_code == 3
    assert_groups_gone([result.records["t"].pid])


def test_a_stop_ends_when_the_group_dies_after_its_shell(runner: Runner) -> None:
    # The shell dies of the SIGTERM; a process of its group ignores it and lives on
    # until the SIGKILL. No pidfd watches that process: the loop must look again on
    # its own (the drain poll) or it would sleep forever once the SIGKILL is sent.
    jobs = [job("t", "(trap '' TERM; sleep 30) & sleep 30", timeout=0.3)]
    run = runner.prepare(jobs, settings=Settings(kill_grace=0.3))
    results = []
    thread = threading.Thread(target=lambda: results.append(run.run()))
    thread.start()
    thread.join(timeout=20)
    if thread.is_alive():  # a hang is a failure here, not a stuck test session
        run.cancel()
        thread.join()
        pytest.fail("the run did not end after its job's group died")
    t = results[0].records["t"]
    assert t.status is Status.TIMED_OUT
    assert t.finished_mono_ns is not None and t.started_mono_ns is not None
    assert (t.finished_mono_ns - t.started_mono_ns) / 1e9 >= 0.6  # waited for the KILL
    assert_groups_gone([t.pid])


def test_timeout_kills_the_whole_process_group(runner: Runner) -> None:
    jobs = [
        job("t", "sh -c 'sleep 1; echo x > late' & sleep 30", timeout=0.3),
        job("after", "true", "t"),
    ]
    result = runner.run(jobs, settings=Settings(kill_grace=1.0))
    t = result.records["t"]
    assert t.status is Status.TIMED_OUT
    assert t.exit_code is not None and t.exit_code != 0
    assert "timed out" in (t.reason or "")
    # Once the group is empty the grandchild is dead, so `late` can never appear.
    assert_groups_gone([t.pid])
    assert not (runner.cwd / "late").exists()
    after = result.records["after"]
    assert after.status is Status.SKIPPED and "need 't' timed_out" in (after.reason or "")


def test_term_ignoring_job_is_killed_after_the_grace(runner: Runner) -> None:
    # `armed` exists only if the trap was set before the SIGTERM came (a shell
    # still without it would have died of the TERM before touching the file).
    result = runner.run(
        [job("stubborn", "trap '' TERM; touch armed; sleep 30", timeout=1.0)],
        settings=Settings(kill_grace=0.2),
    )
    assert (runner.cwd / "armed").exists(), "the shell did not set its trap within 1 s"
    record = result.records["stubborn"]
    assert record.status is Status.TIMED_OUT
    assert record.exit_code == -9
    assert record.started_mono_ns is not None and record.finished_mono_ns is not None
    assert record.finished_mono_ns - record.started_mono_ns >= 1.2e9  # timeout + grace
    assert_groups_gone([record.pid])


def test_timeout_waits_for_a_term_ignoring_grandchild(runner: Runner) -> None:
    # The shell dies on SIGTERM; its subshell ignores it and must get the SIGKILL.
    result = runner.run(
        [job("t", "(trap '' TERM; sleep 30) & wait", timeout=0.5)],
        settings=Settings(kill_grace=0.3),
    )
    record = result.records["t"]
    assert record.status is Status.TIMED_OUT
    assert record.exit_code is not None and record.exit_code != 0
    assert record.started_mono_ns is not None and record.finished_mono_ns is not None
    assert record.finished_mono_ns - record.started_mono_ns >= 0.8e9  # ended with its group
    assert_groups_gone([record.pid])


def test_cancel_escalates_to_sigkill(runner: Runner) -> None:
    run = runner.prepare(
        [job("stubborn", "trap '' TERM; touch armed; sleep 30")],
        settings=Settings(kill_grace=0.2),
    )

    def cancel_once_armed() -> None:  # only once the trap is set can TERM be ignored
        wait_for(lambda: (runner.cwd / "armed").exists(), what="the trap")
        run.cancel("stubborn")

    canceller = threading.Thread(target=cancel_once_armed)
    canceller.start()
    try:
        record = run.run().records["stubborn"]
    finally:
        canceller.join()
    assert record.status is Status.CANCELLED and record.exit_code == -9
    assert_groups_gone([record.pid])


def test_job_in_its_kill_grace_still_holds_its_slot(runner: Runner) -> None:
    jobs = [job("stubborn", "trap '' TERM; sleep 30", timeout=0.2), job("next", "true")]
    result = runner.run(jobs, settings=Settings(max_parallel=1, kill_grace=0.3))
    assert result.records["stubborn"].status is Status.TIMED_OUT
    assert ran_before(result.records["stubborn"], result.records["next"])


def test_job_killed_by_a_signal_records_the_negative_signal(runner: Runner) -> None:
    jobs = [job("suicide", "kill -9 $$"), job("after", "touch after-ran", "suicide")]
    result = runner.run(jobs)
    suicide, after = result.records["suicide"], result.records["after"]
    assert suicide.status is Status.FAILED and suicide.exit_code == -9
    assert after.status is Status.SKIPPED and "need 'suicide' failed" in (after.reason or "")
    assert not (runner.cwd / "after-ran").exists()


@pytest.mark.parametrize("via", ["on_event", "timer-thread"])
def test_cancel_everything_while_running(runner: Runner, via: str) -> None:
    jobs = [
        job("a", "sleep 30"),
        job("b", "sleep 30"),
        job("c", "touch c-ran", "a"),
        job("bg", "touch bg-ran", background=True),
    ]
    timers: list[threading.Timer] = []

    def on_event(event: JobEvent) -> None:
        if event.kind == "started" and event.record.name == "b":  # a and b both run now
            if via == "on_event":
                run.cancel()
            else:
                timers.append(threading.Timer(0.05, run.cancel))
                timers[-1].start()

    run = runner.prepare(jobs, on_event=on_event)
    result = run.run()
    for timer in timers:
        timer.join()
    assert result.cancelled and not result.ok
    for name in ("a", "b"):
        record = result.records[name]
        assert record.status is Status.CANCELLED
        assert record.started_at is not None and record.finished_at is not None
        assert record.exit_code is not None and record.exit_code != 0
        assert "cancel" in (record.reason or "")
    for name in ("c", "bg"):
        record = result.records[name]
        assert record.status is Status.CANCELLED and record.skip_cause is None
        assert_never_started(record)
    assert_groups_gone([result.records[n].pid for n in ("a", "b")])
    assert not (runner.cwd / "c-ran").exists() and not (runner.cwd / "bg-ran").exists()


def test_cancel_one_running_job(runner: Runner) -> None:
    jobs = [
        job("slow", "sleep 30"),
        job("after", "touch after-ran", "slow"),
        job("other", "sleep 0.1"),
        job("other-next", "true", "other"),
    ]

    def on_event(event: JobEvent) -> None:
        if event.kind == "started" and event.record.name == "slow":
            run.cancel("slow")

    run = runner.prepare(jobs, on_event=on_event)
    result = run.run()
    slow, after = result.records["slow"], result.records["after"]
    assert slow.status is Status.CANCELLED and slow.started_at is not None
    assert_groups_gone([slow.pid])
    assert after.status is Status.SKIPPED and after.skip_cause is SkipCause.NEEDS
    assert "'slow'" in (after.reason or "") and "cancel" in (after.reason or "")
    assert result.records["other"].status is Status.COMPLETED
    assert result.records["other-next"].status is Status.COMPLETED
    assert not result.ok


def test_cancel_one_job_before_it_starts(runner: Runner) -> None:
    # `first` waits for `go`, which is written once `second` is recorded cancelled.
    jobs = [
        job("first", wait_file("go")),
        job("second", "touch second-ran", "first"),
        job("third", "true", "second"),
        job("fourth", "true", "first"),
    ]

    def on_event(event: JobEvent) -> None:
        if event.kind == "started" and event.record.name == "first":
            run.cancel("second")
        if event.kind == "ended" and event.record.name == "second":
            (runner.cwd / "go").touch()

    run = runner.prepare(jobs, on_event=on_event)
    result = run.run()
    second, third = result.records["second"], result.records["third"]
    assert result.records["first"].status is Status.COMPLETED
    assert second.status is Status.CANCELLED and second.skip_cause is None
    assert_never_started(second)
    assert third.status is Status.SKIPPED
    assert "'second'" in (third.reason or "") and "cancel" in (third.reason or "")
    assert result.records["fourth"].status is Status.COMPLETED
    assert not (runner.cwd / "second-ran").exists()


def test_cancel_before_run_starts_nothing(runner: Runner) -> None:
    run = runner.prepare([job("a", "touch a-ran"), job("b", "true", "a")])
    run.cancel()
    result = run.run()
    for record in result.records.values():
        assert record.status is Status.CANCELLED
        assert_never_started(record)


def test_cancel_of_an_unknown_job_is_an_error(runner: Runner) -> None:
    run = runner.prepare([job("a", "true")])
    with pytest.raises(KeyError):
        run.cancel("nope")


def test_a_cancel_reason_always_says_cancel(runner: Runner) -> None:
    # the spec (records): "a cancel says `cancel`", whatever words the caller chose.
    def on_event(event: JobEvent) -> None:
        if event.kind == "started" and event.record.name == "a":
            run.cancel(reason="stopped by the user")

    run = runner.prepare([job("a", "sleep 30"), job("b", "true", "a")], on_event=on_event)
    result = run.run()
    a = result.records["a"]
    assert a.status is Status.CANCELLED
    assert "cancel" in (a.reason or "") and "stopped by the user" in (a.reason or "")
    assert result.records["b"].status is Status.CANCELLED
    assert_groups_gone([a.pid])


def test_jobs_left_when_run_is_interrupted_are_recorded_cancelled(runner: Runner) -> None:
    # An on_event callback that raises ends run(): what was running or pending is
    # recorded cancelled, with a reason that says so, and nothing is left running.
    class Interrupted(Exception):
        pass

    def on_event(event: JobEvent) -> None:
        if event.kind == "started" and event.record.name == "a":
            raise Interrupted

    run = runner.prepare([job("a", "sleep 30"), job("b", "true", "a")], on_event=on_event)
    with pytest.raises(Interrupted):
        run.run()
    records = {
        name: Record.from_json(read_meta(run.jobs_dir / name / "meta.json")) for name in "ab"
    }
    for record in records.values():
        assert record.status is Status.CANCELLED, record
        assert "cancel" in (record.reason or ""), record
    assert records["a"].finished_mono_ns is not None and records["b"].started_at is None
    assert_groups_gone([records["a"].pid])


def test_kill_grace_0_sends_sigkill_at_once(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the spec (scheduling): "SIGKILL after kill_grace (0 means at once)": in the same step as
    # the SIGTERM, not on a later turn of the loop after the job had time to react.
    sent: list[int] = []
    real_signal_group = engine.signal_group

    def spy(pgid: int, sig: int) -> None:
        sent.append(sig)
        real_signal_group(pgid, sig)

    real_signal = engine.Run._signal
    after_signals: list[list[int]] = []

    def signal_spy(self: Run, proc: object, signals: list[str]) -> None:
        real_signal(self, proc, signals)  # type: ignore[arg-type]
        if signals:
            after_signals.append(list(sent))

    monkeypatch.setattr(engine, "signal_group", spy)
    monkeypatch.setattr(engine.Run, "_signal", signal_spy)
    result = runner.run([job("t", "sleep 30", timeout=0.2)], settings=Settings(kill_grace=0))
    assert result.records["t"].status is Status.TIMED_OUT
    assert after_signals == [[signal.SIGTERM, signal.SIGKILL]]
    assert_groups_gone([result.records["t"].pid])


def test_an_infinite_timeout_and_grace_are_accepted(runner: Runner) -> None:
    # `timeout` a number > 0, `kill_grace` a number >= 0: infinity is one (it means never).
    jobs = [job("quick", "true", timeout=math.inf), job("slow", "sleep 30")]

    def on_event(event: JobEvent) -> None:
        if event.kind == "ended" and event.record.name == "quick":
            run.cancel()

    run = runner.prepare(jobs, settings=Settings(kill_grace=math.inf), on_event=on_event)
    result = run.run()
    assert result.records["quick"].status is Status.COMPLETED
    assert result.records["slow"].status is Status.CANCELLED  # `sleep` dies of the SIGTERM
    assert_groups_gone([result.records["slow"].pid])


# -- concurrency and phases ------------------------------------------------------------


@STRATEGIES
def test_max_parallel_bounds_the_running_jobs(runner: Runner, strategy: Strategy) -> None:
    jobs = [job(f"j{i}", "sleep 0.2") for i in range(8)]
    result = runner.run(jobs, settings=Settings(strategy=strategy, max_parallel=3))
    assert all(r.status is Status.COMPLETED for r in result.records.values())
    assert max_overlap(list(result.records.values())) == 3


def test_ties_start_in_file_order(runner: Runner) -> None:
    names = ["zeta", "alpha", "mid", "beta", "omega"]
    jobs = [job("root", "true"), *(job(name, "true", "root") for name in names)]
    result = runner.run(jobs, settings=Settings(max_parallel=1))
    records = list(result.records.values())
    by_start = sorted(records, key=lambda r: r.started_mono_ns or 0)
    assert [r.name for r in by_start] == ["root", *names]
    for earlier, later in itertools.pairwise(by_start):
        assert ran_before(earlier, later)


@STRATEGIES
def test_background_jobs_start_after_every_foreground_job(
    runner: Runner, strategy: Strategy
) -> None:
    jobs = [
        job("fg-slow", "sleep 0.3"),
        job("bg1", "true", background=True),
        job("fg-fast", "true"),
        job("bg2", "true", background=True),
        job("bg3", "true", "bg1", background=True),
    ]
    result = runner.run(jobs, settings=Settings(strategy=strategy))
    foreground = [r for r in result.records.values() if not r.background]
    background = [r for r in result.records.values() if r.background]
    assert [r.name for r in background] == ["bg1", "bg2", "bg3"]
    for fg in foreground:
        for bg in background:
            assert ran_before(fg, bg), (fg.name, bg.name)


def test_background_need_of_a_foreground_job_is_promoted(runner: Runner) -> None:
    jobs = [
        job("base", "echo base > base-marker", background=True),
        job("mid", "test -f base-marker && echo mid > mid-marker", "base", background=True),
        job("app", "test -f mid-marker", "mid"),
        job("later", "true", background=True),
    ]
    result = runner.run(jobs)
    base, mid, app, later = (result.records[n] for n in ("base", "mid", "app", "later"))
    assert all(r.status is Status.COMPLETED for r in (base, mid, app, later))
    for promoted in (base, mid):
        assert promoted.background is False
        assert "promoted" in (promoted.reason or "")
    assert ran_before(base, mid) and ran_before(mid, app)
    assert later.background is True and later.reason is None
    assert ran_before(app, later)


def test_background_job_whose_foreground_need_failed_is_skipped(runner: Runner) -> None:
    jobs = [job("setup", "exit 1"), job("serve", "touch served", "setup", background=True)]
    result = runner.run(jobs)
    serve = result.records["serve"]
    assert serve.status is Status.SKIPPED and serve.background is True
    assert "need 'setup' failed" in (serve.reason or "")
    assert not (runner.cwd / "served").exists()


# -- records -------------------------------------------------------------------------


def test_running_record_is_on_disk_when_the_job_starts(runner: Runner) -> None:
    seen: dict[str, dict[str, object]] = {}

    def on_event(event: JobEvent) -> None:
        # Each job waits for its go-file, so what is on disk now is its running record.
        if event.kind == "started":
            path = run.jobs_dir / dir_name(event.record.name) / "meta.json"
            seen[event.record.name] = read_meta(path)
            (runner.cwd / f"go-{event.record.name}").touch()

    wait = "i=0; while [ ! -f go-{0} ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done"
    run = runner.prepare(
        [
            job("a", wait.format("a"), timeout=10),
            job("b", wait.format("b"), "a", background=True, timeout=10),
        ],
        on_event=on_event,
    )
    result = run.run()
    assert set(seen) == {"a", "b"}
    for name, data in seen.items():
        assert data["status"] == "running"
        assert data["started_at"] is not None and data["started_mono_ns"] is not None
        assert data["finished_at"] is None and data["finished_mono_ns"] is None
        assert data["exit_code"] is None
        assert data["pid"] == result.records[name].pid
        assert result.records[name].status is Status.COMPLETED  # released by its go-file


def test_every_job_gets_a_well_formed_record(runner: Runner) -> None:
    jobs = [
        job("ok", "true", timeout=30),
        job("bad", "exit 4"),
        job("slow", "sleep 30", timeout=0.2),
        job("dep", "true", "bad"),
        job("cond", "true", skip=True),
        job("lost", "true", cwd="missing-dir"),
        job("bg", "true", "ok", background=True),
    ]
    result = runner.run(jobs, settings=Settings(kill_grace=0.5))
    assert list(result.records) == [j.name for j in jobs]  # file order
    on_disk = {}
    for meta in result.jobs_dir.glob("*/meta.json"):
        data = read_meta(meta)
        assert set(data) == RECORD_FIELDS, meta
        on_disk[data["name"]] = data
    assert set(on_disk) == set(result.records)
    for name, data in on_disk.items():
        assert Record.from_json(data) == result.records[name]
        assert data["status"] in {"completed", "failed", "timed_out", "cancelled", "skipped"}
        for stamp, mono in (("started_at", "started_mono_ns"), ("finished_at", "finished_mono_ns")):
            assert (data[stamp] is None) == (data[mono] is None), (name, stamp)
            assert data[stamp] is None or RFC3339.fullmatch(data[stamp]), (name, data[stamp])
            assert data[mono] is None or type(data[mono]) is int
        assert (data["pid"] is None) == (data["started_at"] is None), name
        assert data["exit_code"] is None or type(data["exit_code"]) is int
        assert isinstance(data["needs"], list) and all(isinstance(n, str) for n in data["needs"])
        assert type(data["background"]) is bool
        assert data["command"] == next(j.run for j in jobs if j.name == name)
        assert data["reason"] is None or isinstance(data["reason"], str)
        assert (data["skip_cause"] is not None) == (data["status"] == "skipped"), name
        if data["started_mono_ns"] is not None and data["finished_mono_ns"] is not None:
            assert data["finished_mono_ns"] >= data["started_mono_ns"]
    statuses = {name: data["status"] for name, data in on_disk.items()}
    assert statuses == {
        "ok": "completed",
        "bad": "failed",
        "slow": "timed_out",
        "dep": "skipped",
        "cond": "skipped",
        "lost": "failed",
        "bg": "completed",
    }


ODD_NAMES = ["a/b", "..", ".", "é x", "x" * 300, "x" * 301, "a%2Fb", "%61", "-", "plain"]


def test_odd_job_names_get_distinct_safe_directories(runner: Runner) -> None:
    result = runner.run([job(name, "true") for name in ODD_NAMES])
    jobs_dir = result.jobs_dir.resolve()
    directories = [path for path in jobs_dir.iterdir() if path.is_dir()]
    assert len(directories) == len(ODD_NAMES)
    names = set()
    for directory in directories:
        assert directory.resolve().parent == jobs_dir
        names.add(read_meta(directory / "meta.json")["name"])
    assert names == set(ODD_NAMES)
    assert all(r.status is Status.COMPLETED for r in result.records.values())
    # Nothing escaped the run directory: every file lies under it, the work dir is untouched.
    outside = [
        p
        for p in runner.state_dir.rglob("*")
        if p.is_file() and jobs_dir not in p.resolve().parents
    ]
    assert outside == []
    assert list(runner.cwd.iterdir()) == []


def test_a_concurrent_reader_never_sees_a_partial_record(runner: Runner) -> None:
    # Job k ends only once the reader has read (k + 1) * PER_JOB records, so thousands of
    # reads are spread over the whole stream of writes, however loaded the machine is.
    count, per_job = 40, 100
    jobs = [job(f"j{k:02d}", wait_file(f"read-{k}")) for k in range(count)]
    run = runner.prepare(jobs, settings=Settings(max_parallel=4))
    stop = threading.Event()
    bad: list[str] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            for meta in run.jobs_dir.glob("*/meta.json"):
                text = meta.read_text(encoding="utf-8")
                try:
                    if set(json.loads(text)) != RECORD_FIELDS:
                        bad.append(text)
                except ValueError:
                    bad.append(text)
                reads += 1
                if reads % per_job == 0 and reads // per_job <= count:
                    (runner.cwd / f"read-{reads // per_job - 1}").touch()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        result = run.run()
    finally:
        stop.set()
        thread.join()
    assert all(r.status is Status.COMPLETED for r in result.records.values())
    assert bad == []
    assert reads >= count * per_job
    assert not list(run.jobs_dir.rglob("*.tmp"))


# -- process environment -----------------------------------------------------------------


def test_job_whose_cwd_is_missing_fails_without_an_exit_code(runner: Runner) -> None:
    result = runner.run([job("lost", "touch x", cwd="no/such/dir"), job("after", "true", "lost")])
    lost, after = result.records["lost"], result.records["after"]
    assert lost.status is Status.FAILED
    assert lost.exit_code is None and lost.pid is None and lost.started_at is None
    assert "no/such/dir" in (lost.reason or "")
    assert after.status is Status.SKIPPED and "need 'lost' failed" in (after.reason or "")


def test_a_missing_run_cwd_is_named_for_a_job_without_its_own(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    run = Run([job("a", "true")], state_dir=tmp_path / "state", cwd=gone, worktree="wt")
    record = run.run().records["a"]
    assert record.status is Status.FAILED and record.exit_code is None
    assert str(gone) in (record.reason or ""), record.reason


def test_a_cwd_that_vanishes_just_before_the_spawn_is_named(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The directory is checked, then removed before the child's chdir: the
    # spawn's own error must still name it.
    (runner.cwd / "sub").mkdir()
    real_spawn = engine.spawn

    def remove_then_spawn(command: str, **options: object) -> object:
        (runner.cwd / "sub").rmdir()
        return real_spawn(command, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "spawn", remove_then_spawn)
    record = runner.run([job("a", "true", cwd="sub")]).records["a"]
    assert record.status is Status.FAILED and record.exit_code is None
    assert "cwd 'sub'" in (record.reason or ""), record.reason


def test_a_job_inherits_no_fd_beyond_its_three_streams(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # posix_spawn closes nothing in the child: a fd this process inherited (here one
    # made inheritable on purpose) must still not reach a job, with or without a cwd.
    # Run from the run's cwd, as the CLI is, so that jobs without `cwd` are posix_spawned.
    monkeypatch.chdir(runner.cwd)
    (runner.cwd / "sub").mkdir()
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, True)
    try:
        probe = f"if test -e /proc/$$/fd/{write_end}; then echo leaked; else echo sealed; fi > "
        jobs = [job("here", probe + "here.txt"), job("there", probe + "there.txt", cwd="sub")]
        result = runner.run(jobs)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert all(r.status is Status.COMPLETED for r in result.records.values())
    assert (runner.cwd / "here.txt").read_text() == "sealed\n"
    assert (runner.cwd / "sub" / "there.txt").read_text() == "sealed\n"


def test_job_env_is_added_to_the_inherited_env_and_cwd_is_relative(runner: Runner) -> None:
    (runner.cwd / "sub" / "dir").mkdir(parents=True)
    env = env_with(INHERITED="from-parent", OVERRIDDEN="parent")
    command = 'printf "%s|%s|%s" "$INHERITED" "$OWN" "$OVERRIDDEN" > env.txt; pwd -P > where.txt'
    jobs = [job("show", command, env={"OWN": "mine", "OVERRIDDEN": "job"}, cwd="sub/dir")]
    result = runner.run(jobs, env=env)
    assert result.records["show"].status is Status.COMPLETED
    here = runner.cwd / "sub" / "dir"
    assert (here / "env.txt").read_text() == "from-parent|mine|job"
    assert Path((here / "where.txt").read_text().strip()) == here.resolve()


def test_numbers_in_env_reach_the_job_as_text(runner: Runner) -> None:
    text = (
        "hooks:\n"
        "  h:\n"
        "    jobs:\n"
        "      - name: n\n"
        '        run: printf \'%s,%s\' "$COUNT" "$RATIO" > env.txt\n'
        "        env: {COUNT: 3, RATIO: 1.5}\n"
    )
    jobs = select_hook(loads_hooks(text, "hooks.yml"), "h")
    result = runner.run(jobs)
    assert result.records["n"].status is Status.COMPLETED
    assert (runner.cwd / "env.txt").read_text() == "3,1.5"


def test_stdout_and_stderr_go_to_output_log(runner: Runner) -> None:
    result = runner.run([job("talk", "echo to-stdout; echo to-stderr >&2")])
    log = (result.jobs_dir / "talk" / "output.log").read_text()
    assert "to-stdout" in log and "to-stderr" in log


# -- the Run object itself -----------------------------------------------------------------


def test_invalid_graph_is_rejected_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown"):
        Run([job("a", "touch a-ran", "missing")], state_dir=tmp_path / "state", cwd=tmp_path)
    assert not (tmp_path / "state").exists() and not (tmp_path / "a-ran").exists()


def test_empty_job_list_succeeds(runner: Runner) -> None:
    result = runner.run([])
    assert result.records == {} and result.ok and not result.cancelled


def test_a_run_runs_once(runner: Runner) -> None:
    run = runner.prepare([job("a", "true")])
    run.run()
    with pytest.raises(RuntimeError):
        run.run()


def test_unwritable_state_dir_is_a_run_error(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("not a directory")
    run = Run([job("a", "touch a-ran")], state_dir=tmp_path / "state", cwd=tmp_path)
    with pytest.raises(RunError):
        run.run()
    assert not (tmp_path / "a-ran").exists()

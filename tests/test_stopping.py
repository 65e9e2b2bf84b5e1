"""The stop escalation of one job (coordinator/stopping.py), driven without a process.

Every path of timeout, cancel, kill grace and drain, with the clock given by
hand: what a job's timers answer is exact here, where the engine tests can
only see it through real processes and a real clock.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.model import Status
from coordinator.stopping import DRAIN_LIMIT, DRAIN_POLL, JobStop, describe_exit


def test_a_job_that_exits_on_its_own_is_over_with_its_exit_code() -> None:
    stop = JobStop(started=10.0, timeout=5.0, grace=1.0)
    assert stop.wake_at(10.0) == 15.0
    assert stop.tick(14.9) == []
    assert not stop.over(14.9, leftovers=False)  # not reaped yet
    stop.shell_exited(3)
    assert stop.tick(20.0) == []  # a deadline after the exit is nothing
    assert stop.wake_at(20.0) is None
    assert stop.over(20.0, leftovers=True)  # a daemon it left behind is not waited for
    assert stop.outcome() == (Status.FAILED, "exited with code 3")


def test_exit_code_zero_is_completed_and_a_signal_is_named() -> None:
    stop = JobStop(started=0.0, timeout=None, grace=1.0)
    stop.shell_exited(0)
    assert stop.outcome() == (Status.COMPLETED, None)
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(-200) == "killed by signal 200"


def test_timeout_sends_term_at_the_deadline_then_kill_after_the_grace() -> None:
    stop = JobStop(started=100.0, timeout=0.5, grace=2.0)
    assert stop.tick(100.49) == []
    assert stop.tick(100.5) == ["TERM"]
    assert stop.tick(100.6) == []  # TERM once
    assert stop.wake_at(100.6) == 102.5
    assert stop.tick(102.49) == []
    assert stop.tick(102.5) == ["KILL"]
    assert stop.killed_at == 102.5
    assert stop.tick(103.0) == []  # KILL once
    stop.shell_exited(-9)
    assert stop.outcome() == (Status.TIMED_OUT, "timed out after 0.5s")


def test_a_grace_of_zero_kills_in_the_same_step_as_the_term() -> None:
    stop = JobStop(started=0.0, timeout=1.0, grace=0.0)
    assert stop.tick(1.0) == ["TERM", "KILL"]
    assert stop.killed_at == 1.0


def test_cancel_begins_the_stop_once_and_wins_over_a_later_timeout() -> None:
    stop = JobStop(started=0.0, timeout=1.0, grace=5.0)
    assert stop.cancel(0.2, "cancelled: by test") == ["TERM"]
    assert stop.cancel(0.3, "again") == []
    assert stop.tick(1.5) == []  # the timeout passes during the grace: still a cancel
    stop.shell_exited(-15)
    assert stop.over(1.5, leftovers=False)
    assert stop.outcome() == (Status.CANCELLED, "cancelled: by test")


def test_a_stopped_job_drains_until_its_leftovers_are_gone() -> None:
    stop = JobStop(started=0.0, timeout=None, grace=1.0)
    stop.cancel(0.0, "cancelled")
    stop.shell_exited(-15)
    assert not stop.over(0.1, leftovers=True)  # its group still has a live member
    assert stop.wake_at(0.1) == pytest.approx(0.1 + DRAIN_POLL)  # looks again soon
    assert stop.tick(1.0) == ["KILL"]
    assert not stop.over(1.0 + DRAIN_LIMIT - 0.01, leftovers=True)
    assert stop.over(1.0 + DRAIN_LIMIT - 0.01, leftovers=False)


def test_a_stop_gives_up_on_leftovers_that_survive_kill() -> None:
    stop = JobStop(started=0.0, timeout=None, grace=0.0)
    assert stop.cancel(5.0, "cancelled") == ["TERM", "KILL"]
    stop.shell_exited(-9)
    assert not stop.over(5.0, leftovers=True)
    assert stop.over(5.0 + DRAIN_LIMIT, leftovers=True)


def test_an_infinite_timeout_or_grace_never_comes() -> None:
    stop = JobStop(started=0.0, timeout=math.inf, grace=math.inf)
    assert stop.tick(1e12) == []
    assert stop.cancel(1.0, "cancelled") == ["TERM"]
    assert stop.tick(1e12) == []
    assert stop.wake_at(2.0) == math.inf  # the loop caps a wait; it never spins


@given(
    timeout=st.one_of(st.none(), st.floats(0.001, 100)),
    grace=st.floats(0, 100),
    moments=st.lists(st.floats(0, 300), min_size=1, max_size=20),
)
def test_signals_come_in_order_each_at_most_once_and_never_early(
    timeout: float | None, grace: float, moments: list[float]
) -> None:
    stop = JobStop(started=0.0, timeout=timeout, grace=grace)
    sent: list[tuple[str, float]] = []
    for moment in sorted(moments):
        sent += [(sig, moment) for sig in stop.tick(moment)]
    names = [sig for sig, _ in sent]
    assert names in ([], ["TERM"], ["TERM", "KILL"])
    if sent:
        assert timeout is not None and sent[0][1] >= timeout
    if len(sent) == 2:
        assert sent[1][1] >= sent[0][1] + grace

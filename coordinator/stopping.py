"""Stopping one running job: timeout, cancel, kill grace and drain, as a pure state machine.

Like the scheduler (and h11), it does no IO: the run loop feeds it the clock
and what it saw (a cancel request, the shell's exit, whether anything of the
job is still alive) and carries out what it answers (which signal to send
now, when to wake it next). So every path of the escalation (spec:
scheduling: `timeout.status`, `cancel.running`, `cancel.grace`) can be tested
without a process, and the loop keeps one job's timers in one place.

The escalation: at the timeout or on a cancel, TERM; `grace` seconds later,
KILL (at once when the grace is 0). A job is over when its shell has been
reaped and, if it was being stopped, nothing of it is left; if something
survives SIGKILL (a process stuck in the kernel), the stop gives up waiting
`DRAIN_LIMIT` seconds after the KILL rather than hang the run.
"""

from __future__ import annotations

import signal
from typing import Literal

from coordinator.model import Status

DRAIN_POLL = 0.01  # seconds between looks at a stopped job's leftovers
DRAIN_LIMIT = 2.0  # seconds after KILL before a stop stops waiting for them

Signal = Literal["TERM", "KILL"]


class JobStop:
    """Where one running job is in its stop escalation. Times are monotonic seconds."""

    def __init__(self, *, started: float, timeout: float | None, grace: float) -> None:
        self._timeout = timeout
        self.deadline = None if timeout is None else started + timeout
        self._grace = grace
        self.status: Status | None = None  # TIMED_OUT or CANCELLED once a stop began
        self.reason: str | None = None
        self._kill_at: float | None = None
        self.killed_at: float | None = None  # when KILL was sent, if it was
        self.exit_code: int | None = None
        self._exited = False
        self._draining = False  # exited while stopping, with something of it still alive

    @property
    def stopping(self) -> bool:
        return self.status is not None

    @property
    def exited(self) -> bool:
        return self._exited

    def cancel(self, now: float, reason: str) -> list[Signal]:
        """A cancel request: begin the stop (a second request changes nothing)."""
        return self._begin(now, Status.CANCELLED, reason)

    def tick(self, now: float) -> list[Signal]:
        """The clock moved on: the signals whose moment has come."""
        if self.status is None:
            if self.deadline is not None and now >= self.deadline and not self._exited:
                return self._begin(now, Status.TIMED_OUT, f"timed out after {self._timeout:g}s")
            return []
        if self._kill_at is not None and self.killed_at is None and now >= self._kill_at:
            self.killed_at = now
            return ["KILL"]
        return []

    def shell_exited(self, code: int) -> None:
        """The job's shell was reaped with `code` (negative: killed by that signal)."""
        self._exited = True
        self.exit_code = code

    def over(self, now: float, *, leftovers: bool) -> bool:
        """Whether the job has ended, given whether anything of it is still alive."""
        if not self._exited:
            return False
        if self.status is None or not leftovers:
            return True
        self._draining = True
        return self.killed_at is not None and now - self.killed_at >= DRAIN_LIMIT

    def wake_at(self, now: float) -> float | None:
        """The next moment this job needs the loop to look at it again, if any."""
        if self.status is None:
            return None if self._exited else self.deadline
        moments = [now + DRAIN_POLL] if self._draining else []
        if self._kill_at is not None and self.killed_at is None:
            moments.append(self._kill_at)
        return min(moments, default=None)

    def outcome(self) -> tuple[Status, str | None]:
        """The job's final status and reason, once `over`."""
        if self.status is not None:
            return self.status, self.reason
        if self.exit_code == 0:
            return Status.COMPLETED, None
        return Status.FAILED, describe_exit(self.exit_code)

    def _begin(self, now: float, status: Status, reason: str) -> list[Signal]:
        if self.status is not None:
            return []
        self.status, self.reason = status, reason
        self._kill_at = now + self._grace
        if self._grace <= 0:  # spec: a grace of 0 means KILL at once, right after TERM
            self.killed_at = now
            return ["TERM", "KILL"]
        return ["TERM"]


def describe_exit(code: int | None) -> str | None:
    """`exited with code 3`, or `killed by SIGKILL` for a negative code."""
    if code is None:
        return None
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"

"""Starting job processes and stopping their whole process group.

Each job runs as `sh -c RUN` in a new session, hence its own process group
whose id is the shell's pid. Signals for timeout and cancel go to the group,
so a grandchild the shell started dies with it (the upstream tool signalled
only the shell). Output goes straight to the job's `output.log` file
descriptor: the coordinator never holds it in memory, however much a job
prints, and no pipe can fill up or be held open by a lingering child.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from coordinator import proctree
from coordinator.model import Status

_PROC = Path("/proc")


@dataclass
class JobProcess:
    """A started job and where it is in its stop escalation."""

    name: str
    popen: subprocess.Popen[bytes]
    deadline: float | None  # monotonic seconds at which it times out
    started_at: str
    started_mono_ns: int
    stopping: Status | None = None  # TIMED_OUT or CANCELLED once a stop began
    stop_reason: str | None = None
    kill_at: float | None = None  # monotonic seconds at which SIGKILL follows SIGTERM
    kill_sent_at: float | None = None
    exit_code: int | None = None  # set once the shell has been reaped
    watch_fd: int | None = field(default=None, repr=False)
    log: str = ""  # the real path of its output.log, as /proc shows it
    token: str = ""  # what the watchdog knows it by
    escaped: dict[int, int] = field(default_factory=dict)  # left its group: pid -> start tick

    @property
    def pgid(self) -> int:
        return self.popen.pid


def spawn(command: str, *, cwd: Path, env: Mapping[str, str], log_path: Path) -> subprocess.Popen:
    """Start `sh -c command` in its own session, stdin closed, output to `log_path`.

    Raises OSError when the process cannot be started (for example `cwd` is
    missing); the caller records the job `failed` with no exit code.
    """
    with log_path.open("ab") as log:
        return subprocess.Popen(
            ["/bin/sh", "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
            close_fds=True,
        )


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send `sig` to every process of the group; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is left in the group.

    `killpg(pgid, 0)` alone also counts zombies, and an orphaned grandchild
    stays a zombie until init reaps it, which in a container may be never.
    Where /proc exists we therefore look for a member that is not a zombie.
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not _PROC.is_dir():
        return True
    return any(_live_member(name, pgid) for name in os.listdir(_PROC) if name.isdigit())


def _live_member(name: str, pgid: int) -> bool:
    proc = proctree.read(int(name))
    return proc is not None and proc.pgid == pgid and proc.live


def describe_exit(code: int) -> str:
    """`exited with code 3`, or `killed by SIGKILL` for a negative code."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"

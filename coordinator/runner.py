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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from coordinator import proctree
from coordinator.stopping import JobStop
from coordinator.store import LOG_FLAGS

if TYPE_CHECKING:
    import subprocess

_PROC = "/proc"
_SHELL = "/bin/sh"


@dataclass
class JobProcess:
    """A started job: its shell, its stop escalation, what it left outside its group."""

    name: str
    child: Child
    stop: JobStop
    started_at: str
    started_mono_ns: int
    watch_fd: int | None = field(default=None, repr=False)
    log: str = ""  # the real path of its output.log, as /proc shows it
    token: str = ""  # what the watchdog knows it by
    escaped: dict[int, int] = field(default_factory=dict)  # left its group: pid -> start tick

    @property
    def pid(self) -> int:
        return self.child.pid

    @property
    def pgid(self) -> int:
        return self.child.pid


@dataclass
class Child:
    """A job's shell, reaped by the run loop (`reap`), however it was started.

    `popen` is set when `subprocess` started it: the object is kept until the
    shell is reaped, or subprocess's own clean-up of dropped Popen objects
    could reap it first and take its exit status.
    """

    pid: int
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def reap(self) -> int | None:
        """The exit code if the shell has exited (reaping it), else None.

        Negative for a signal, as subprocess reports it: -9 is killed by SIGKILL.
        """
        done, status = os.waitpid(self.pid, os.WNOHANG)
        if done == 0:
            return None
        code = os.waitstatus_to_exitcode(status)
        if self.popen is not None:
            self.popen.returncode = code
            self.popen = None
        return code


def spawn(command: str, *, cwd: str | None, env: Mapping[str, str], log_path: str) -> Child:
    """Start `sh -c command` in its own session, stdin /dev/null, output to `log_path`.

    `cwd` None runs it in the coordinator's current directory, with
    `os.posix_spawn` (a vfork in glibc): cheaper than `subprocess.Popen`.
    posix_spawn cannot change directory, so a job with a `cwd` of its own is
    started by `subprocess`, whose chdir error names the directory when it
    went away after the engine checked it. Raises OSError when the process
    cannot be started; the caller records the job `failed`.
    """
    argv = [_SHELL, "-c", command]
    if cwd is None:
        pid = start_shell(argv, env=env, stdin=os.devnull, stdout=log_path, stderr_to_stdout=True)
        return Child(pid)
    import subprocess  # only for jobs with a cwd: it costs milliseconds to import

    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    return Child(popen.pid, popen)


def start_shell(
    argv: list[str],
    *,
    env: Mapping[str, str],
    stdin: str | int,
    stdout: str,
    stderr_to_stdout: bool,
) -> int:
    """posix_spawn `/bin/sh` with `argv` in a new session; stdin a path or an fd to dup.

    Only fds 0-2 reach the child: every fd Python opens is close-on-exec, and
    `seal_inherited_fds` makes the ones this process inherited so too.
    """
    actions: list[tuple] = [
        (os.POSIX_SPAWN_OPEN, 0, stdin, os.O_RDONLY, 0)
        if isinstance(stdin, str)
        else (os.POSIX_SPAWN_DUP2, stdin, 0),
        (os.POSIX_SPAWN_OPEN, 1, stdout, LOG_FLAGS, 0o666),
        (os.POSIX_SPAWN_DUP2, 1, 2)
        if stderr_to_stdout
        else (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    return os.posix_spawn(_SHELL, argv, env, file_actions=actions, setsid=True)


def seal_inherited_fds() -> None:
    """Make every fd above 2 close-on-exec, so no job inherits one this process got.

    `subprocess` closes them in each child (close_fds); posix_spawn cannot,
    so it is done once per run here instead. Python's own fds already are.
    """
    try:
        fds = [int(name) for name in os.listdir(f"{_PROC}/self/fd")]
    except OSError:
        return
    for fd in fds:
        if fd > 2:
            with contextlib.suppress(OSError):  # the listing's own fd is gone by now
                if os.get_inheritable(fd):
                    os.set_inheritable(fd, False)


def wait_exited(pid: int) -> None:
    """Block until child `pid` has exited, without reaping it (the loop reaps)."""
    with contextlib.suppress(ChildProcessError):
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


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
    try:
        names = os.listdir(_PROC)
    except OSError:
        return True
    return any(_live_member(name, pgid) for name in names if name.isdigit())


def _live_member(name: str, pgid: int) -> bool:
    proc = proctree.read(int(name))
    return proc is not None and proc.pgid == pgid and proc.live

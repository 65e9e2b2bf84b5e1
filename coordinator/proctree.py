"""The process table: which processes a job started, wherever they moved to.

A job's process group (runner.signal_group) holds most of what it starts,
but a process can leave the group: `setsid cmd &` starts a new session, and
a double fork (`setsid -f`, daemon(3), `(cmd &)`) also leaves it an orphan
that init adopts. This module finds such processes in /proc and stops them.
A process counts as the job's when it is, or descends from (by parent pid):

- the job's shell, or a process in the job's session or process group;
- a process found to be the job's earlier (known by pid and start time,
  so a reused pid is never taken for it);
- a process whose stdout or stderr is the job's `output.log`;
- in a coordinator that is a child subreaper, an orphan the coordinator
  adopted while this job, and no other job of the run, was running
  (the caller decides that: see Run._adopted).

Why this and not a cgroup per job, which would hold every descendant
exactly: creating cgroups needs a writable cgroup2 tree (root, or systemd
delegation), which a git hook rarely has (a container mounts it read-only),
and a job can enter one race-free only through clone3(CLONE_INTO_CGROUP)
or by moving the coordinator itself in and out around each spawn, neither
of which `subprocess` offers. Making each job's shell a subreaper would
tie orphans to their job exactly, but needs prctl between fork and exec: a
preexec_fn, which costs a full fork instead of vfork, 8-18 ms per job on
the CI machine against 0.2 ms. So the coordinator is the subreaper (the
CLI only, see Run), and orphans are matched to jobs by what they carry.

Linux only: without /proc every table is empty and only process groups
count. Standard library only, with no coordinator import: the watchdog runs
`coordinator/watchdog.py` with `python -I -S` after the coordinator died,
and that script imports this file by path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

PROC = "/proc"
try:
    TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")  # /proc counts start times in ticks
except (ValueError, OSError, AttributeError):  # pragma: no cover - every Linux has it
    TICK_NS = 10_000_000
FREEZE_LIMIT = 0.5  # seconds to wait for stopped processes to show as stopped
PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37


@dataclass(frozen=True)
class Proc:
    """One line of the process table: /proc/PID/stat, the fields we use."""

    pid: int
    ppid: int
    pgid: int
    sid: int
    state: str
    start: int  # clock ticks since boot (CLOCK_BOOTTIME), as /proc gives it

    @property
    def live(self) -> bool:
        """A zombie can do nothing any more; it only waits for its parent to reap it."""
        return self.state not in ("Z", "X", "x")


class Table(dict[int, Proc]):
    """A snapshot of the process table: pid -> Proc, and each one's output, read once."""

    def __init__(self, procs: Iterable[Proc] = ()) -> None:
        super().__init__((proc.pid, proc) for proc in procs)
        self._outputs: dict[int, tuple[str, ...]] = {}

    def outputs(self, pid: int) -> tuple[str, ...]:
        """Where the stdout and stderr of `pid` go (paths as /proc shows them)."""
        found = self._outputs.get(pid)
        if found is None:
            found = self._outputs[pid] = tuple(_output(pid, fd) for fd in (1, 2))
        return found


def _output(pid: int, fd: int) -> str:
    try:
        return os.readlink(f"{PROC}/{pid}/fd/{fd}")
    except OSError:
        return ""


def read(pid: int) -> Proc | None:
    """The table line of `pid`, or None when it is gone (or /proc is missing)."""
    try:  # os.open and os.read: 2-3x faster than open() over a whole /proc
        fd = os.open(f"{PROC}/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        text = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    fields = text[text.rfind(b")") + 2 :].split()  # the command name may hold anything
    try:
        return Proc(
            pid, int(fields[1]), int(fields[2]), int(fields[3]), fields[0].decode(), int(fields[19])
        )
    except (IndexError, ValueError):
        return None


def snapshot() -> Table:
    """Every process /proc lists right now; empty where there is no /proc."""
    try:
        names = os.listdir(PROC)
    except OSError:
        return Table()
    procs = (read(int(name)) for name in names if name.isdigit())
    return Table(proc for proc in procs if proc is not None)


def boot_ticks() -> int:
    """Now, on the clock and in the unit of /proc's process start times."""
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    moment = time.clock_gettime_ns(clock) if clock is not None else time.monotonic_ns()
    return moment // TICK_NS


def same(pid: int, start: int) -> bool:
    """Whether the process that started at `start` as `pid` is still alive."""
    proc = read(pid)
    return proc is not None and proc.live and proc.start == start


def descendants(table: Table, roots: Iterable[int]) -> set[int]:
    """Every process below `roots` by parent pid (not `roots` themselves)."""
    children: dict[int, list[int]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    found: set[int] = set()
    stack = list(roots)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def members(
    table: Table,
    shell: int,
    *,
    known: Mapping[int, int] | None = None,
    logs: Iterable[str] = (),
) -> set[int]:
    """The live processes of the job whose shell (and group and session id) is `shell`.

    `known` maps pids found earlier to their start times; `logs` are the paths
    of the job's output (absolute, as /proc shows them). See the module doc.
    Only a process that left every session it could have come from (it leads
    its own, or its session's leader is gone) has its output looked at: a
    double fork leaves such a process, and the readlinks stay few.
    """
    seeds = {p.pid for p in table.values() if shell in (p.pid, p.pgid, p.sid)}
    seeds.update(pid for pid, start in (known or {}).items() if _started(table, pid, start))
    paths = frozenset(logs)
    if paths:
        seeds.update(
            p.pid
            for p in table.values()
            if p.pid not in seeds
            and p.live
            and (p.sid == p.pid or not _alive(table, p.sid))
            and not paths.isdisjoint(table.outputs(p.pid))
        )
    found = seeds | descendants(table, seeds)
    return {pid for pid in found if pid in table and table[pid].live and pid != os.getpid()}


def _alive(table: Table, pid: int) -> bool:
    proc = table.get(pid)
    return proc is not None and proc.live


def _started(table: Table, pid: int, start: int) -> bool:
    proc = table.get(pid)
    return proc is not None and proc.start == start


def send(pids: Iterable[int], sig: signal.Signals) -> None:
    """Signal each of `pids`; one that is gone, or not ours, is skipped."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def freeze_and_kill(find: Callable[[Table], set[int]]) -> dict[int, int]:
    """SIGSTOP what `find(table)` returns until it finds nothing new, then SIGKILL it all.

    A stopped process cannot fork, so a child started just before the stop is
    found on the next look, still under its parent; killing at once instead
    could orphan it between two looks and lose it. Returns pid -> start time
    of every process killed.
    """
    stopped: dict[int, int] = {}
    give_up = time.monotonic() + FREEZE_LIMIT
    while True:
        table = snapshot()
        new = {pid for pid in find(table) if pid not in stopped and pid != os.getpid()}
        send(new, signal.SIGSTOP)
        stopped.update((pid, table[pid].start) for pid in new if pid in table)
        settling = any(
            table[pid].live and table[pid].state not in ("T", "t")
            for pid in stopped
            if pid in table and pid not in new
        )
        if (not new and not settling) or time.monotonic() >= give_up:
            break
        if not new:
            time.sleep(0.001)  # a SIGSTOP lands when the process next runs
    send(stopped, signal.SIGKILL)
    return stopped


def set_subreaper(on: bool) -> bool | None:
    """Make this process a child subreaper (Linux) or not; returns the previous setting.

    None where prctl is not available: then orphans go to init as usual.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        previous = ctypes.c_int(0)
        if libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(previous), 0, 0, 0) != 0:
            return None
        if libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
            return None
        return bool(previous.value)
    except (OSError, AttributeError, ImportError):
        return None

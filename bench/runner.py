"""Time one command and measure the peak RSS of its process tree.

Peak RSS is `ru_maxrss` from wait4: the largest peak resident set of the
process and of every descendant it waited for (the kernel keeps a maximum, not
a sum), which for a coordinator is its own process, as its jobs are small.
The catch: at exec, Linux seeds a process's `maxrss` with the peak RSS of the
memory image it replaces, i.e. of the forking parent, so a child of this
(Python, tens of MB) benchmark reports at least the benchmark's own size, and
`true` shows up as 25 MB. GNU time forks the command from its own ~1 MB image
and reports that child's wait4 `ru_maxrss` (`%M`), so when /usr/bin/time is GNU
time it is the launcher; otherwise we wait4 the command directly and say the
figures are a floor-polluted upper bound. Using wait4 per run (instead of
RUSAGE_CHILDREN on ourselves) keeps each run separate: RUSAGE_CHILDREN only grows.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Timing:
    """The outcome of one timed command."""

    wall_s: float
    max_rss_kb: int
    exit_code: int
    timed_out: bool


RSS_BY_GNU_TIME = "GNU time `%M` (wait4 ru_maxrss of the command, forked from a ~1 MB launcher)"
RSS_BY_WAIT4 = (
    "os.wait4 ru_maxrss of the command forked from this Python process "
    "(an upper bound: it includes the benchmark's own peak RSS as a floor)"
)


@functools.lru_cache(maxsize=1)
def gnu_time() -> str | None:
    """The GNU time binary, if there is one (a `time` from elsewhere lacks -f/-o)."""
    path = shutil.which("time")
    if path is None:
        return None
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if "GNU" in done.stdout + done.stderr else None


def rss_method() -> str:
    return RSS_BY_GNU_TIME if gnu_time() else RSS_BY_WAIT4


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def run_timed(
    argv: Sequence[str],
    *,
    cwd: Path,
    log: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 600.0,
) -> Timing:
    """Run `argv` in its own process group, output to `log`; wall time from spawn to reap.

    On timeout the whole group is killed. Whatever the outcome, the group is
    killed after the leader is reaped, so no process of a run outlives it.
    """
    launcher = gnu_time()
    rss_file = log.with_name(log.name + ".rss")
    rss_file.unlink(missing_ok=True)
    full = [launcher, "-f", "%M", "-o", str(rss_file), *argv] if launcher else list(argv)
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            full,
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            _kill_group(proc.pid)

        timer = threading.Timer(timeout, expire)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C: our own session does not get the signal
            _kill_group(proc.pid)
            proc.wait()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
    # Popen must not wait for a pid we already reaped (it could be reused).
    proc.returncode = os.waitstatus_to_exitcode(status)
    _kill_group(proc.pid)
    max_rss = _read_rss(rss_file) if launcher else usage.ru_maxrss
    return Timing(wall, max_rss, proc.returncode, expired.is_set())


def _read_rss(rss_file: Path) -> int:
    """GNU time's `%M` is the last line of its -o file (a status line may come before)."""
    try:
        return int(rss_file.read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return 0


def log_tail(log: Path, lines: int = 10) -> str:
    """The end of a run's output, for an error message."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])

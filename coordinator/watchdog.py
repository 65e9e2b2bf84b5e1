"""The watchdog: when the coordinator dies outright, its running jobs die with it.

A coordinator killed with SIGKILL (or by the OOM killer) runs no handler
and no `finally`, and every job sits in a session of its own, so nothing
would stop them. Each run therefore starts a watchdog: a small `sh` loop,
in a session of its own (so a terminal's signals do not reach it), reading
a pipe whose only write end the coordinator holds. That end is
close-on-exec, so no job inherits it: the pipe reaches end of file exactly
when the coordinator is gone. The coordinator writes one short line per
job, `+PID:TICK` as it starts (its shell's pid, and the boot-clock tick
just before the spawn: a later process that got the same pid is not it),
and two more only for a job that is stopped: `!PID:TICK` as its stop
begins and `-PID:TICK` once its processes are gone.

At end of file the loop runs this file, `python -I -S watchdog.py RUN_DIR
LINE...`. It kills every process (proctree.members: group, session, tree,
and whatever writes to the job's output.log) of each job whose shell is
still alive, and of each job whose stop had begun and not ended: frozen
first, then killed, within a second (~0.2 s on the 2-core CI machine). A
job whose shell had exited had ended (spec: the job ends when its shell
exits), so whatever it left behind on purpose, a daemon, is not touched
(`stop.daemon-kept`); that is why a normal end needs no line. When a run
ends normally the coordinator SIGKILLs the loop's process group (the `sh`
and the `cat` that reads the pipe for it) instead. If Python cannot be
started, the loop kills the process groups of the shells still alive.

The loop is `sh` so that a run pays a millisecond or two for its watchdog,
not the 30 ms a Python start costs on a small machine, and each job one
line of 15 bytes or so; Python starts only when there is work to do.
docs/performance.md has the figures.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

if __package__:
    from coordinator import proctree
else:  # run as a script by the loop: the standard library and the file beside this one
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import proctree  # type: ignore[no-redef]

# $0: the Python to run, $1: this file, $2: the run directory. Lines are `+`, `!` or `-`
# and digits and a colon, so `$live` splits cleanly into them. `cat` reads the pipe in
# big chunks: dash's `read` takes a byte per syscall, and appending each line to a
# variable grows with the square of their number (1 s of CPU for 10,000 lines).
LOOP = r"""
set -f
live=$(cat)
test -n "$live" || exit 0
"$0" -I -S "$1" "$2" $live && exit 0
for line in $live; do
  case $line in +*) pid=${line#+}; pid=${pid%%:*}; kill -0 "$pid" && kill -s KILL -- "-$pid" ;; esac
done 2>/dev/null
exit 0
"""
SCRIPT = os.path.abspath(__file__)
SPAWN_TICKS = 100  # a shell starts within this many ticks (1 s) of the tick it is sent with


class Watchdog:
    """The coordinator's end of the watchdog of one run (see the module doc)."""

    def __init__(self) -> None:
        self._pid: int | None = None
        self._fd: int | None = None
        self._backlog = bytearray()

    @property
    def pid(self) -> int | None:
        return self._pid

    def start(self, run_dir: str) -> None:
        """Start the loop for the run in `run_dir` (a real path, as /proc shows paths).

        If it cannot be started the run goes on without it.
        """
        from coordinator.runner import start_shell  # the script run after a death does without

        read_end, write_end = os.pipe()  # both close-on-exec
        try:
            self._pid = start_shell(
                ["/bin/sh", "-c", LOOP, sys.executable or "python3", SCRIPT, run_dir],
                env=os.environ,
                stdin=read_end,
                stdout=os.devnull,
                stderr_to_stdout=True,
            )
        except OSError:
            os.close(write_end)
            return
        finally:
            os.close(read_end)
        os.set_blocking(write_end, False)  # a stalled watchdog must never stall the run
        self._fd = write_end

    @staticmethod
    def token(pid: int, tick: int) -> str:
        return f"{pid}:{tick}"

    def started(self, token: str) -> None:
        """A job started: kill it if the coordinator dies while its shell lives."""
        self._send(f"+{token}\n")

    def stopping(self, token: str) -> None:
        """A job's stop began: kill all of it, even once its shell is gone."""
        self._send(f"!{token}\n")

    def stopped(self, token: str) -> None:
        """A stopped job's processes are gone: nothing of it is left to kill."""
        self._send(f"-{token}\n")

    def _send(self, line: str) -> None:
        if self._fd is None:
            return
        self._backlog += line.encode()
        try:
            del self._backlog[: os.write(self._fd, self._backlog)]
        except BlockingIOError:  # the pipe is full: the rest goes with the next line
            pass
        except OSError:  # the watchdog is gone (killed from outside): go on without it
            self._close()

    def stop(self) -> None:
        """The run is over and has stopped its jobs itself: end the loop, and reap it."""
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._pid, signal.SIGKILL)  # the loop and its `cat`
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._pid, 0)
            # A subreaper adopts the `cat` as the loop dies (before the loop can be
            # reaped): reap it too, or it stays a zombie child of the coordinator.
            with contextlib.suppress(ChildProcessError):
                while True:
                    os.waitpid(-self._pid, 0)
            self._pid = None
        self._close()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._backlog.clear()


def doomed(run_dir: str, lines: list[str], table: proctree.Table) -> dict[int, list[str]]:
    """The jobs to kill, from what the coordinator wrote: shell pid -> its log, if known.

    A job counts if its shell is alive and is the process that was started
    (its start within SPAWN_TICKS of the tick sent), or if its stop began
    and did not end. A log is used only if the shell's stdout is an
    `output.log` of this run: a job may have sent its own stdout anywhere.
    """
    state: dict[int, tuple[int, set[str]]] = {}
    for line in lines:
        with contextlib.suppress(ValueError):
            pid_text, tick_text = line[1:].split(":")
            pid, tick = int(pid_text), int(tick_text)
            _, marks = state.setdefault(pid, (tick, set()))
            marks.add(line[0])
    jobs: dict[int, list[str]] = {}
    for pid, (tick, marks) in state.items():
        shell = table.get(pid)
        alive = shell is not None and shell.live and tick <= shell.start <= tick + SPAWN_TICKS
        if alive or ("!" in marks and "-" not in marks):
            log = table.outputs(pid)[0] if alive else ""
            ours = os.path.dirname(os.path.dirname(log)) == run_dir and log.endswith("/output.log")
            jobs[pid] = [log] if ours else []
    return jobs


def stop_jobs(run_dir: str, lines: list[str]) -> set[int]:
    """Stop and kill every process of the jobs the lines name (see `doomed`); the pids."""
    jobs = doomed(run_dir, lines, proctree.snapshot())

    def find(table: proctree.Table) -> set[int]:
        found: set[int] = set()
        for pid, logs in jobs.items():
            found |= proctree.members(table, pid, logs=logs)
        return found

    killed = proctree.freeze_and_kill(find)
    for pid in jobs:  # whatever /proc could not show
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    return set(killed)


if __name__ == "__main__":
    stop_jobs(sys.argv[1], sys.argv[2:])

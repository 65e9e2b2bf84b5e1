"""Nothing a run started outlives it, and no listing claims a dead job runs (issue 11).

- A stopped job (timeout, cancel) takes with it the processes it started
  that left its process group: a `setsid` child, a double fork, one that
  ignores SIGTERM (coordinator/proctree.py). A job that ended normally keeps
  its daemons (spec: `stop.daemon-kept`).
- A coordinator killed outright (SIGKILL) takes its running jobs with it
  through its watchdog (coordinator/watchdog.py), within about a second,
  and `jobs` then shows them `running (coordinator gone)`, never `running`.
- Closing the terminal (a real pty hang-up) cancels the run and exits 129.

Every process a test starts carries a token in its environment, so the
test finds them all in /proc however they were grouped, and kills any that
a broken coordinator left at teardown. Each step waits for a marker or a
record, never for a guessed delay; the one bound that is a property (dead
within WATCHDOG_LIMIT of the coordinator's death) is asserted as such.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_cli import TIMEOUT, cli, cli_env, hooks_file, records, run_args
from test_faults import alongside

from conftest import Runner, job, live_members, wait_for
from coordinator import Settings, Status

TOKEN_VAR = "ORPHANS_TEST_TOKEN"
WATCHDOG_LIMIT = 2.0  # seconds: "about a second" (~0.2 s measured), with room for a busy CI box

# Each starts a process that leaves the job's process group; it writes its /proc stat
# line to esc.stat (pid and start time: a later process with the same pid is not it).
ESCAPES = {
    # a child of the job's shell in a session of its own
    "setsid": "setsid sh -c 'cat /proc/$$/stat > esc.stat; exec sleep 30' &",
    # a double fork: an orphan at once, adopted by init (or by the CLI, a subreaper)
    "double-fork": "(setsid sh -c 'cat /proc/$$/stat > esc.stat; exec sleep 30' &)",
    # in a session of its own, ignoring SIGTERM, with a child: killed after the grace
    "ignores-term": "setsid sh -c 'trap \"\" TERM; cat /proc/$$/stat > esc.stat; sleep 30; :' &",
}
# A double fork that also leaves the job's output: only a subreaper (the CLI) still finds it.
QUIET = "(setsid sh -c 'cat /proc/$$/stat > esc.stat; exec sleep 30' >/dev/null 2>&1 &)"
ARMED = "until [ -s esc.stat ]; do sleep 0.01; done; touch armed"


@dataclass(frozen=True)
class Proc:
    pid: int
    start: int  # /proc start time: tells this process from a later one with the same pid


def proc_of(pid: int) -> Proc | None:
    """The live (non-zombie) process `pid`, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else Proc(pid, int(fields[19]))


def alive(proc: Proc) -> bool:
    return proc_of(proc.pid) == proc


def written_pid(path: Path) -> Proc:
    """The process whose /proc stat line a job wrote to `path` (`cat /proc/$$/stat`)."""
    text = path.read_text()
    return Proc(int(text.split()[0]), int(text[text.rfind(")") + 2 :].split()[19]))


class Tokened:
    """A token for the environment of everything a test starts; finds and kills its processes."""

    def __init__(self) -> None:
        self.value = secrets.token_hex(8)
        self.needle = f"{TOKEN_VAR}={self.value}".encode()

    def env(self) -> dict[str, str]:
        return {**os.environ, TOKEN_VAR: self.value}

    def processes(self) -> list[int]:
        """Live processes carrying the token."""
        found = []
        for entry in Path("/proc").glob("[0-9]*"):
            with contextlib.suppress(OSError):
                ours = self.needle in (entry / "environ").read_bytes().split(b"\0")
                if ours and proc_of(int(entry.name)) is not None:
                    found.append(int(entry.name))
        return found

    def kill_all(self) -> None:
        deadline = time.monotonic() + 5
        while (left := self.processes()) and time.monotonic() < deadline:
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)


@pytest.fixture
def token() -> Iterator[Tokened]:
    found = Tokened()
    yield found
    found.kill_all()


def start_cli(tmp_path: Path, token: Tokened) -> subprocess.Popen[bytes]:
    with (tmp_path / "err.txt").open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "coordinator", *run_args()],
            cwd=tmp_path,
            env=cli_env(**{TOKEN_VAR: token.value}),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def running_record(tmp_path: Path, name: str) -> bool:
    meta = tmp_path / "state" / "jobs" / "inv" / "wt" / name / "meta.json"
    with contextlib.suppress(OSError, ValueError):
        return json.loads(meta.read_text())["status"] == "running"
    return False


def listed(tmp_path: Path) -> dict[str, dict[str, object]]:
    """`coordinator jobs --format json`, by job name."""
    done = cli(tmp_path, "jobs", "--state-dir", "state", "--format", "json")
    assert done.returncode == 0, done.stderr
    return {item["name"]: item for item in json.loads(done.stdout)}


# -- item 3: a stopped job's escaped descendants die with it -------------------------------


@pytest.mark.parametrize("stop", ["timeout", "cancel"])
@pytest.mark.parametrize("how", sorted(ESCAPES))
def test_a_stopped_jobs_escaped_processes_die_with_it(
    runner: Runner, token: Tokened, how: str, stop: str
) -> None:
    command = f"{ESCAPES[how]}\n{ARMED}\nsleep 30"
    run = runner.prepare(
        [job("leaver", command, timeout=2.0 if stop == "timeout" else None)],
        settings=Settings(kill_grace=0.3),
        env=token.env(),
    )

    def cancel_once_armed() -> None:
        wait_for(lambda: (runner.cwd / "armed").exists(), what="the escaped process")
        run.cancel()

    with alongside(cancel_once_armed) if stop == "cancel" else contextlib.nullcontext():
        record = run.run().records["leaver"]
    assert (runner.cwd / "armed").exists(), "stopped before the process escaped"
    escaped = written_pid(runner.cwd / "esc.stat")
    assert record.status is (Status.TIMED_OUT if stop == "timeout" else Status.CANCELLED)
    assert record.pid is not None and live_members(record.pid) == []
    # Gone when the record says the job ended: no waiting afterwards.
    assert not alive(escaped), f"{how}: pid {escaped.pid} outlived its stopped job"
    assert token.processes() == []


@pytest.mark.parametrize("how", [*sorted(ESCAPES), "quiet-double-fork"])
def test_a_stopped_jobs_escaped_processes_die_with_it_under_the_cli(
    tmp_path: Path, token: Tokened, how: str
) -> None:
    escape = QUIET if how == "quiet-double-fork" else ESCAPES[how]
    (tmp_path / "leaver.sh").write_text(f"{escape}\n{ARMED}\nsleep 30\n")
    hooks_file(
        tmp_path,
        """
        coordinator: {kill_grace: 0.3}
        hooks:
          h:
            jobs:
              - {name: leaver, timeout: 2.0, run: . ./leaver.sh}
        """,
    )
    assert start_cli(tmp_path, token).wait(timeout=TIMEOUT) == 1
    assert (tmp_path / "armed").exists(), "stopped before the process escaped"
    assert records(tmp_path)["leaver"].status is Status.TIMED_OUT
    # The escapee carries the token too: nothing at all is left once the CLI has exited.
    assert token.processes() == [], (tmp_path / "err.txt").read_text()


DAEMONS = {
    "double-fork": "(setsid sh -c 'cat /proc/$$/stat > daemon.stat; exec sleep 30' >&- 2>&- &)",
    "setsid": "setsid sh -c 'cat /proc/$$/stat > daemon.stat; exec sleep 30' >/dev/null 2>&1 &",
    "in-group": "sh -c 'cat /proc/$$/stat > daemon.stat; exec sleep 30' >/dev/null 2>&1 &",
}


@pytest.mark.parametrize("driver", ["api", "cli"])
@pytest.mark.parametrize("how", sorted(DAEMONS))
def test_a_daemon_left_by_a_job_that_ended_normally_is_kept(
    tmp_path: Path, runner: Runner, token: Tokened, how: str, driver: str
) -> None:
    # `server` exits normally leaving a daemon; `stuck` then times out with an escapee.
    # The stop takes the escapee, not the daemon (spec: stop.daemon-kept).
    server = f"{DAEMONS[how]}\nuntil [ -s daemon.stat ]; do sleep 0.01; done\n"
    stuck = f"{ESCAPES['double-fork']}\n{ARMED}\nsleep 30\n"
    if driver == "api":
        cwd = runner.cwd
        result = runner.run(
            [job("server", server), job("stuck", stuck, "server", timeout=2.0)],
            settings=Settings(kill_grace=0.3),
            env=token.env(),
        )
        statuses = {name: record.status for name, record in result.records.items()}
    else:
        cwd = tmp_path
        (tmp_path / "server.sh").write_text(server)
        (tmp_path / "stuck.sh").write_text(stuck)
        hooks_file(
            tmp_path,
            """
            coordinator: {kill_grace: 0.3}
            hooks:
              h:
                jobs:
                  - {name: server, run: . ./server.sh}
                  - {name: stuck, needs: [server], timeout: 2.0, run: . ./stuck.sh}
            """,
        )
        assert start_cli(tmp_path, token).wait(timeout=TIMEOUT) == 1
        statuses = {name: record.status for name, record in records(tmp_path).items()}
    assert statuses == {"server": Status.COMPLETED, "stuck": Status.TIMED_OUT}
    assert (cwd / "armed").exists(), "stopped before the process escaped"
    daemon = written_pid(cwd / "daemon.stat")
    assert not alive(written_pid(cwd / "esc.stat"))
    assert token.processes() == [daemon.pid]


# -- item 2: the coordinator killed outright -------------------------------------------------


def test_a_coordinator_killed_outright_takes_its_running_jobs_with_it(
    tmp_path: Path, token: Tokened
) -> None:
    (tmp_path / "server.sh").write_text(
        "(setsid sh -c 'cat /proc/$$/stat > daemon.stat; exec sleep 30' >/dev/null 2>&1 &)\n"
        "until [ -s daemon.stat ]; do sleep 0.01; done\n"
    )
    (tmp_path / "long.sh").write_text(f"sleep 30 &\n{ESCAPES['setsid']}\n{ARMED}\nwait\n")
    hooks_file(
        tmp_path,
        """
        hooks:
          h:
            jobs:
              - {name: server, run: . ./server.sh}
              - {name: long, needs: [server], run: . ./long.sh}
              - {name: later, needs: [long], run: touch later-ran}
        """,
    )
    process = start_cli(tmp_path, token)
    wait_for(
        lambda: (tmp_path / "armed").exists() and running_record(tmp_path, "long"),
        limit=TIMEOUT,
        what="long to run with its escaped process",
    )
    daemon, escaped = written_pid(tmp_path / "daemon.stat"), written_pid(tmp_path / "esc.stat")
    assert listed(tmp_path)["long"]["status"] == "running"  # its coordinator is there
    long_pid = records(tmp_path)["long"].pid
    assert long_pid is not None

    process.kill()  # SIGKILL: no handler, no finally
    process.wait()
    killed_at = time.monotonic()
    wait_for(
        lambda: token.processes() == [daemon.pid],
        limit=WATCHDOG_LIMIT + 3,
        what="every job process (and the watchdog) but the daemon to be gone",
    )
    took = time.monotonic() - killed_at
    assert took <= WATCHDOG_LIMIT, f"job processes outlived the coordinator by {took:.2f} s"
    assert live_members(long_pid) == [] and not alive(escaped)
    assert alive(daemon), "the daemon of a job that had ended normally was killed"
    assert not (tmp_path / "later-ran").exists()
    shown = listed(tmp_path)
    assert shown["server"]["status"] == "completed"
    assert shown["long"]["status"] == "running (coordinator gone)"
    assert shown["long"]["coordinator"] == "gone" and shown["long"]["duration_seconds"] is None
    table = cli(tmp_path, "jobs", "--state-dir", "state").stdout
    assert "running (coordinator gone)" in table
    assert [line for line in table.splitlines() if line.split()[-4:-3] == ["running"]] == []


def test_the_watchdog_kills_the_running_and_the_stopping_and_keeps_what_ended(
    tmp_path: Path, token: Tokened
) -> None:
    # The protocol alone, then the pipe closes as if the coordinator had died:
    # `running` is a job whose shell lives; `ended` exited normally leaving a daemon in its
    # group; `stopping` had its stop begun when its shell died, a child left; `reused` is a
    # live process registered with a tick long before its start (its pid came back).
    from coordinator.proctree import boot_ticks, read
    from coordinator.watchdog import Watchdog

    watchdog = Watchdog()
    watchdog.start(os.path.realpath(tmp_path))
    daemons: dict[str, Proc] = {}
    shells: dict[str, subprocess.Popen[bytes]] = {}
    for name in ("running", "ended", "stopping", "reused"):
        first = boot_ticks()
        command = "sleep 30" if name in ("running", "reused") else f"sleep 30 & echo $! > {name}"
        shells[name] = subprocess.Popen(
            ["sh", "-c", command], cwd=tmp_path, start_new_session=True, env=token.env()
        )
        tick = first if name != "reused" else first - 10_000
        watchdog.started(Watchdog.token(shells[name].pid, tick))
        if name == "stopping":
            watchdog.stopping(Watchdog.token(shells[name].pid, tick))
    for name in ("ended", "stopping"):
        assert shells[name].wait(timeout=TIMEOUT) == 0
        found = read(int((tmp_path / name).read_text()))
        assert found is not None
        daemons[name] = Proc(found.pid, found.start)
    watchdog_pid = watchdog.pid
    assert watchdog_pid is not None
    watchdog._close()  # the write end closes, as when the coordinator dies
    assert shells["running"].wait(timeout=WATCHDOG_LIMIT) == -signal.SIGKILL
    assert _exit_code(watchdog_pid, timeout=WATCHDOG_LIMIT) == 0
    assert not alive(daemons["stopping"]), "the rest of a job being stopped survived"
    assert alive(daemons["ended"]), "a daemon of a job that had ended was killed"
    assert shells["reused"].poll() is None, "a process that only got a job's pid was killed"
    shells["reused"].kill()
    shells["reused"].wait()


def _exit_code(pid: int, *, timeout: float) -> int:
    """Reap child `pid` (not a Popen: the watchdog is spawned bare) within `timeout`."""
    give_up = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        assert time.monotonic() < give_up, f"process {pid} still running after {timeout} s"
        time.sleep(0.01)


# -- item 1: closing the terminal --------------------------------------------------------------


def test_closing_the_terminal_cancels_the_run_and_exits_129(tmp_path: Path, token: Tokened) -> None:
    # The coordinator leads a session whose controlling terminal is a pty: closing the
    # master end is a terminal going away. The kernel sends SIGHUP, and writes to the
    # terminal fail from then on.
    hooks_file(
        tmp_path,
        """
        hooks:
          h:
            jobs:
              - {name: quick, run: "true"}
              - {name: long, run: touch long-up; sleep 30}
              - {name: after, needs: [long], run: touch after-ran}
        """,
    )
    master, slave = os.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "coordinator", *run_args()],
            cwd=tmp_path,
            env=cli_env(**{TOKEN_VAR: token.value}),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),  # its controlling tty
        )
    finally:
        os.close(slave)
    try:
        wait_for(
            lambda: (tmp_path / "long-up").exists() and running_record(tmp_path, "long"),
            limit=TIMEOUT,
            what="long to run",
        )
    finally:
        os.close(master)  # the terminal goes away
    assert process.wait(timeout=TIMEOUT) == 129
    found = records(tmp_path)
    assert found["quick"].status is Status.COMPLETED
    assert found["long"].status is Status.CANCELLED and "SIGHUP" in (found["long"].reason or "")
    assert found["after"].status is Status.CANCELLED and not (tmp_path / "after-ran").exists()
    assert token.processes() == []


# -- a stop waits without spinning -------------------------------------------------------------


def test_the_loop_sleeps_through_a_kill_grace(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found while measuring the stops above: once a timeout's stop began, its spent
    # deadline kept the loop's select timeout at 0, so the coordinator spun through the
    # whole grace (tens of thousands of turns), starving the jobs on a small machine.
    from coordinator import engine

    turns = 0
    tick = engine.Run._tick

    def counted(self: engine.Run, wake_r: int) -> None:
        nonlocal turns
        turns += 1
        tick(self, wake_r)

    monkeypatch.setattr(engine.Run, "_tick", counted)
    command = "trap '' TERM; touch armed; sleep 30"
    record = runner.run(
        [job("stubborn", command, timeout=0.3)], settings=Settings(kill_grace=1.0)
    ).records["stubborn"]
    assert (runner.cwd / "armed").exists() and record.status is Status.TIMED_OUT
    # A turn per event and per 10 ms drain poll at most: not one per microsecond.
    assert turns < 300, f"{turns} loop turns for one stop"

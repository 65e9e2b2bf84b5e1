"""Fault injection: jobs and environments that misbehave, checked in the records and in /proc.

Each fault is asserted twice: from what the coordinator recorded (status,
exit code, reason) and from the process table (no process of a stopped job
is left, the grandchild the job hid is dead). Jobs that must be caught in a
state (armed, detached) write a marker first and the test acts on the
marker, never on a guessed delay.

Existing tests this file does not repeat: SIGTERM-ignoring jobs under
timeout and cancel (test_engine.py), SIGINT/SIGTERM to the CLI and a closed
CLI stdout (test_cli.py), the concurrent meta.json reader (test_engine.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_cli import TIMEOUT, cli_env, hooks_file, records, run_args, wait_file

from conftest import Runner, assert_groups_gone, job, live_members, read_meta, wait_for
from coordinator import JobEvent, RunError, Settings, Status

MB = 1024 * 1024


def proc_state(pid: int) -> str | None:
    """The state letter of process `pid` in /proc (R, S, Z...), or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()[0]


def stat_fields(text: str) -> tuple[int, int]:
    """(ppid, pgrp) from the text of a /proc/PID/stat file."""
    fields = text[text.rfind(")") + 2 :].split()
    return int(fields[1]), int(fields[2])


@contextlib.contextmanager
def alongside(action: Callable[[], None]) -> Iterator[None]:
    """Run `action` in a thread during the block; if it failed, fail the test after it."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            action()
        except BaseException as error:  # pytest.fail raises a BaseException
            errors.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(timeout=TIMEOUT)
    if errors:
        raise errors[0]


def pid_once_up(runner: Runner, name: str, marker: str) -> int:
    """Wait until job `name` has written `marker` and its start was announced; its pid."""

    def announced() -> int | None:
        for event in list(runner.events):
            if event.kind == "started" and event.record.name == name:
                return event.record.pid
        return None

    wait_for(
        lambda: (runner.cwd / marker).exists() and announced() is not None,
        what=f"{name} to be up",
    )
    pid = announced()
    assert pid is not None
    return pid


# -- a job killed from outside -------------------------------------------------------------


@pytest.mark.parametrize("target", ["shell", "group"])
def test_job_killed_by_sigkill_from_outside(runner: Runner, target: str) -> None:
    # `shell`: the job is one process (exec), killed like the OOM killer would.
    # `group`: the job has a child and its whole group is killed (kill -9 -PGID).
    command = "touch up; exec sleep 30" if target == "shell" else "touch up; sleep 30 & wait"
    jobs = [job("victim", command), job("after", "touch after-ran", "victim"), job("other", "true")]
    run = runner.prepare(jobs)

    def kill_once_up() -> None:
        pid = pid_once_up(runner, "victim", "up")
        (os.kill if target == "shell" else os.killpg)(pid, signal.SIGKILL)

    with alongside(kill_once_up):
        result = run.run()
    victim, after = result.records["victim"], result.records["after"]
    assert victim.status is Status.FAILED and victim.exit_code == -9
    assert "killed by SIGKILL" in (victim.reason or "")
    assert after.status is Status.SKIPPED and "need 'victim' failed" in (after.reason or "")
    assert after.started_at is None and not (runner.cwd / "after-ran").exists()
    assert result.records["other"].status is Status.COMPLETED
    assert victim.pid is not None
    assert proc_state(victim.pid) is None  # reaped by the coordinator, not left a zombie
    assert live_members(victim.pid) == []


# -- a grandchild that detaches but stays in the group -------------------------------------

# Each starts `sleep 30` whose parent exits at once (so init adopts it), writes its pid
# to gc.pid and its /proc stat to gc.stat; the job then waits in the foreground.
DETACHED = {
    "subshell": "(sleep 30 & echo $! > gc.pid)",
    "double-fork": "sh -c 'sleep 30 & echo $! > gc.pid'",
    "nohup": "(nohup sleep 30 > /dev/null 2>&1 & echo $! > gc.pid)",
    "ignores-term": "((trap '' TERM; exec sleep 30) & echo $! > gc.pid)",
}


@pytest.mark.parametrize("stop", ["timeout", "cancel"])
@pytest.mark.parametrize("how", sorted(DETACHED))
def test_detached_grandchild_dies_with_its_group(runner: Runner, how: str, stop: str) -> None:
    command = f'{DETACHED[how]}; cat "/proc/$(cat gc.pid)/stat" > gc.stat; touch armed; sleep 30'
    timeout = 1.0 if stop == "timeout" else None
    run = runner.prepare(
        [job("hider", command, timeout=timeout)], settings=Settings(kill_grace=0.3)
    )

    def cancel_once_armed() -> None:
        wait_for(lambda: (runner.cwd / "armed").exists(), what="the grandchild")
        run.cancel()

    with alongside(cancel_once_armed) if stop == "cancel" else contextlib.nullcontext():
        record = run.run().records["hider"]
    assert record.pid is not None
    # The scenario really happened: the grandchild ran, adopted by another parent, in the group.
    assert (runner.cwd / "armed").exists(), "stopped before the grandchild was started"
    grandchild = int((runner.cwd / "gc.pid").read_text())
    parent, group = stat_fields((runner.cwd / "gc.stat").read_text())
    assert group == record.pid and parent != record.pid
    expected = Status.TIMED_OUT if stop == "timeout" else Status.CANCELLED
    assert record.status is expected
    assert record.exit_code is not None and record.exit_code != 0
    # The record is written once the group is empty: nothing of it is alive right now.
    assert live_members(record.pid) == []
    assert proc_state(grandchild) in (None, "Z", "X")


# -- output: large, closed early, held open by a child -----------------------------------


def cli_peak_rss(cwd: Path, *args: str) -> tuple[int, int]:
    """Run the CLI; return its exit code and peak RSS in bytes (itself or any job)."""
    with (cwd / "cli-out.txt").open("wb") as out, (cwd / "cli-err.txt").open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "coordinator", *args],
            cwd=cwd,
            env=cli_env(),
            stdout=out,
            stderr=err,
        )
    deadline = time.monotonic() + TIMEOUT
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            pytest.fail("the CLI did not exit")
        time.sleep(0.01)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return process.returncode, usage.ru_maxrss * 1024  # Linux reports KiB


def test_100_mb_of_output_goes_to_the_log_not_to_memory(tmp_path: Path) -> None:
    size = 100_000_000
    hooks_file(
        tmp_path,
        f"""
        hooks:
          trivial:
            jobs:
              - {{name: quiet, run: "true"}}
          h:
            jobs:
              - {{name: loud, run: head -c {size} /dev/zero}}
        """,
    )
    base_code, baseline = cli_peak_rss(tmp_path, *run_args("--invocation", "base", hook="trivial"))
    code, peak = cli_peak_rss(tmp_path, *run_args())
    assert (base_code, code) == (0, 0), (tmp_path / "cli-err.txt").read_text()
    log = tmp_path / "state" / "jobs" / "inv" / "wt" / "loud" / "output.log"
    assert log.stat().st_size == size
    log.unlink()  # 100 MB is too much to leave in the kept temp dirs
    print(f"peak RSS: {peak / MB:.1f} MiB with 100 MB of output, {baseline / MB:.1f} MiB baseline")
    assert peak - baseline < 100 * MB


def test_job_that_closes_its_stdout_early_completes(runner: Runner) -> None:
    result = runner.run([job("closer", "exec >&-; sleep 0.2; echo done >&2"), job("next", "true")])
    closer = result.records["closer"]
    assert closer.status is Status.COMPLETED and closer.exit_code == 0
    assert (result.jobs_dir / "closer" / "output.log").read_text() == "done\n"
    assert result.records["next"].status is Status.COMPLETED
    assert_groups_gone([closer.pid])


def test_job_end_is_recorded_while_its_child_still_holds_the_output(runner: Runner) -> None:
    # The child waits (about 5 s at most) for `release`, which the test writes only once
    # the job's final record is on disk, then writes `child-done`: a coordinator that
    # waited for the output to close would record the end only after that.
    wait = "i=0; until [ -f release ] || [ $i -gt 500 ]; do i=$((i+1)); sleep 0.01; done"
    child = f"({wait}; echo child-out; touch child-done) &"
    jobs = [job("parent", f"{child} echo parent-done"), job("dependent", "true", "parent")]
    child_done = runner.cwd / "child-done"
    on_disk: list[dict[str, object]] = []  # the parent's record as its end was announced
    child_done_by_then: list[bool] = []

    def on_event(event: JobEvent) -> None:
        if event.kind == "ended" and event.record.name == "parent":
            on_disk.append(read_meta(run.jobs_dir / "parent" / "meta.json"))
            child_done_by_then.append(child_done.exists())
            (runner.cwd / "release").touch()

    run = runner.prepare(jobs, on_event=on_event)
    result = run.run()
    [final] = on_disk
    assert final["status"] == "completed" and final["exit_code"] == 0
    assert final["finished_mono_ns"] is not None
    assert child_done_by_then == [False]
    assert result.records["dependent"].status is Status.COMPLETED
    # The child was left to finish (a job that exits normally may leave one); then it is gone.
    wait_for(child_done.exists, what="the child to finish")
    parent = result.records["parent"]
    assert_groups_gone([parent.pid])
    log = (result.jobs_dir / "parent" / "output.log").read_text()
    assert log.splitlines() == ["parent-done", "child-out"]


# -- the state dir becomes unwritable mid-run ----------------------------------------------


def chattr(flag: str, path: Path) -> bool:
    """Set or clear an attribute with chattr; False where the tool or the file system cannot."""
    if shutil.which("chattr") is None:
        return False
    done = subprocess.run(["chattr", flag, str(path)], capture_output=True, check=False)
    return done.returncode == 0


@pytest.fixture
def immutable() -> Iterator[Callable[[Path], None]]:
    """Makes directories immutable (writes fail even for root); undone at teardown."""
    made: list[Path] = []

    def make(path: Path) -> None:
        if not chattr("+i", path):
            pytest.skip("chattr +i is not available here")
        made.append(path)

    yield make
    for path in made:
        chattr("-i", path)


def sabotage(how: str, run_dir: Path, job_dir: Path, immutable: Callable[[Path], None]) -> None:
    """Make the records of one job, or of the whole run, impossible to write.

    Not the run dir made immutable: its job dirs may all exist already (they can be
    created ahead of time), and files inside them could still be written.
    """
    if how == "immutable-job-dir":
        immutable(job_dir)
    else:  # replaced by a file: every write and mkdir below it fails
        shutil.rmtree(run_dir)
        run_dir.write_text("not a directory any more")


# `quick` ends once released, `long` runs until stopped, `after` needs `quick`.
SABOTAGE_JOBS = [
    job("quick", f"touch quick-up; {wait_file('release')}"),
    job("long", "touch long-up; sleep 30"),
    job("after", "sleep 30", "quick"),
]


@pytest.mark.parametrize("how", ["immutable-job-dir", "replaced-by-file"])
def test_unwritable_state_dir_mid_run_stops_everything(
    runner: Runner, immutable: Callable[[Path], None], how: str
) -> None:
    run = runner.prepare(SABOTAGE_JOBS)

    def break_the_store() -> None:
        for name in ("quick", "long"):  # both running, and their running records written
            pid_once_up(runner, name, f"{name}-up")
        sabotage(how, run.jobs_dir, run.jobs_dir / "quick", immutable)
        (runner.cwd / "release").touch()

    with alongside(break_the_store), pytest.raises(RunError) as raised:
        run.run()
    assert "cannot write job records" in str(raised.value)
    assert str(run.jobs_dir) in str(raised.value)
    # Every job ended (in the events, since the disk refused), the running ones were stopped.
    last = {event.record.name: event.record for event in runner.events}
    assert set(last) == {"quick", "long", "after"}
    assert all(record.status.terminal for record in last.values()), last
    assert last["quick"].status is Status.COMPLETED
    assert last["long"].status is Status.CANCELLED
    assert "cannot write records" in (last["long"].reason or "")
    assert last["after"].status in (Status.CANCELLED, Status.FAILED), last["after"]
    assert runner.pgids, "no job started"
    assert all(live_members(pgid) == [] for pgid in runner.pgids)


def test_unwritable_state_dir_mid_run_through_the_cli(
    tmp_path: Path, immutable: Callable[[Path], None]
) -> None:
    hooks_file(
        tmp_path,
        f"""
        hooks:
          h:
            jobs:
              - {{name: quick, run: "touch quick-up; {wait_file("release")}"}}
              - {{name: long, run: "touch long-up; sleep 30"}}
              - {{name: after, needs: [quick], run: sleep 30}}
        """,
    )
    # Clearing a flag that is not set changes nothing, and tells whether chattr works here.
    how = "immutable-job-dir" if chattr("-i", tmp_path) else "replaced-by-file"
    with (tmp_path / "err.txt").open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "coordinator", *run_args()],
            cwd=tmp_path,
            env=cli_env(),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    pids: dict[str, int | None] = {}
    try:
        wait_for(
            lambda: (
                (tmp_path / "quick-up").exists()
                and (tmp_path / "long-up").exists()
                and {"quick", "long"} <= set(records(tmp_path))
            ),
            what="both jobs to run",
        )
        pids.update((name, record.pid) for name, record in records(tmp_path).items())
        run_dir = tmp_path / "state" / "jobs" / "inv" / "wt"
        sabotage(how, run_dir, run_dir / "quick", immutable)
        (tmp_path / "release").touch()
        code = process.wait(timeout=TIMEOUT)
    finally:
        if process.poll() is None:  # the test failed: leave no process behind
            process.kill()
            process.wait()
            for pid in filter(None, pids.values()):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
    stderr = (tmp_path / "err.txt").read_text()
    assert code == 1, stderr
    assert stderr.startswith("coordinator: error: cannot write job records under")
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert {"quick", "long"} <= set(pids)
    assert_groups_gone(pids.values())


# -- secrets -------------------------------------------------------------------------------

SECRET, INHERITED_SECRET = "hunter2-xyz", "inherited-hunter2-abc"
# Succeeds only if both values reached the job. The command is recorded, so it must not
# spell the values: it compares them with files in the job's cwd.
CHECK = 'test "$SECRET" = "$(cat secret-1)" && test "$INHERITED_SECRET" = "$(cat secret-2)"'


def write_expected_secrets(cwd: Path) -> None:
    (cwd / "secret-1").write_text(SECRET)
    (cwd / "secret-2").write_text(INHERITED_SECRET)


def files_containing(root: Path, *needles: str) -> list[str]:
    """Every file under `root` whose content or name contains one of `needles`."""
    found = []
    for path in root.rglob("*"):
        data = path.read_bytes() if path.is_file() else b""
        if any(needle.encode() in data or needle in path.name for needle in needles):
            found.append(str(path))
    return found


def test_environment_values_are_never_recorded(runner: Runner) -> None:
    write_expected_secrets(runner.cwd)
    env = {**os.environ, "INHERITED_SECRET": INHERITED_SECRET}
    own = {"SECRET": SECRET}
    jobs = [
        job("uses", CHECK, env=own),
        job("fails", f"{CHECK} && exit 3", env=own),
        job("times-out", f"{CHECK} && sleep 30", env=own, timeout=0.5),
        job("skipped-by-need", "true", "fails", env=own),
        job("skipped-by-condition", "true", env=own, skip="INHERITED_SECRET"),
        job("cannot-start", "true", env=own, cwd="missing"),
    ]
    result = runner.run(jobs, env=env, settings=Settings(kill_grace=0.2))
    assert {name: record.status for name, record in result.records.items()} == {
        "uses": Status.COMPLETED,
        "fails": Status.FAILED,
        "times-out": Status.TIMED_OUT,
        "skipped-by-need": Status.SKIPPED,
        "skipped-by-condition": Status.SKIPPED,
        "cannot-start": Status.FAILED,
    }
    assert result.records["fails"].exit_code == 3  # not 1: the values did reach it
    assert files_containing(runner.state_dir, SECRET, INHERITED_SECRET) == []


def test_environment_values_are_never_recorded_by_the_cli(tmp_path: Path) -> None:
    write_expected_secrets(tmp_path)
    hooks_file(
        tmp_path,
        f"""
        hooks:
          h:
            jobs:
              - name: uses
                run: '{CHECK}'
                env: {{SECRET: {SECRET}}}
        """,
    )
    outputs = []
    for args in (run_args(), ["jobs", "--state-dir", "state", "--format", "json"]):
        done = subprocess.run(
            [sys.executable, "-m", "coordinator", *args],
            cwd=tmp_path,
            env=cli_env(INHERITED_SECRET=INHERITED_SECRET),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        outputs += [done.stdout, done.stderr]
    assert records(tmp_path)["uses"].status is Status.COMPLETED
    assert [item["name"] for item in json.loads(outputs[2])] == ["uses"]
    assert [text for text in outputs if SECRET in text or INHERITED_SECRET in text] == []
    assert files_containing(tmp_path / "state", SECRET, INHERITED_SECRET) == []

"""Fake actions compile to sh commands that do what they say and witness themselves.

These run the compiled commands for real with `sh -c` in a temp dir, the
way any coordinator would (spec: protocol).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.fakes import (
    Daemon,
    Exit,
    Grandchild,
    Hang,
    IgnoreTerm,
    Print,
    Require,
    Sleep,
    Write,
    check_marker_path,
    compile_actions,
    parse_action,
    parse_witness,
    planned_seconds,
)

WITNESS = ".witness/job"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / ".witness").mkdir()
    return tmp_path


def run(work: Path, actions: list, *, job_cwd: str | None = None) -> Done:
    """Run the compiled command as a coordinator would, in its own process group.

    The group is killed at teardown, so a grandchild never outlives the test.
    """
    command = compile_actions(actions, witness=WITNESS, cwd=job_cwd)
    process = subprocess.Popen(
        ["/bin/sh", "-c", command],
        cwd=work / (job_cwd or "."),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=10)
    finally:
        LEFT_BEHIND.append(process.pid)
    return Done(process.returncode, stdout, stderr)


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


LEFT_BEHIND: list[int] = []


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    yield
    while LEFT_BEHIND:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(LEFT_BEHIND.pop(), signal.SIGKILL)


def test_write_and_require_markers(work: Path) -> None:
    done = run(work, [Write("out/a.txt", "it's ok"), Require("out/a.txt"), Write("b")])
    assert done.returncode == 0, done.stderr
    assert (work / "out/a.txt").read_text() == "it's ok"
    assert (work / "b").read_text() == ""


def test_missing_marker_fails_with_a_clear_message_and_an_end_witness(work: Path) -> None:
    done = run(work, [Require("schema.sql"), Write("seeded")])
    assert done.returncode == 1
    assert done.stderr.strip() == 'fake: required marker "schema.sql" is missing'
    assert not (work / "seeded").exists()
    witness = parse_witness((work / WITNESS).read_text())
    assert len(witness.starts) == 1 and len(witness.ends) == 1


def test_exit_code_and_output(work: Path) -> None:
    done = run(work, [Print("to out", "stdout"), Print("to err $HOME", "stderr"), Exit(3)])
    assert done.returncode == 3
    assert done.stdout == "to out\n"
    assert done.stderr == "to err $HOME\n"


def test_witness_brackets_the_work(work: Path) -> None:
    before = time.time_ns()
    assert run(work, [Sleep(0.05)]).returncode == 0
    after = time.time_ns()
    witness = parse_witness((work / WITNESS).read_text())
    (start,), (end,) = witness.starts, witness.ends
    assert before <= start and end <= after
    assert end - start >= 50_000_000
    assert witness.garbage == ()


def test_parse_witness_sorts_lines_by_kind() -> None:
    text = "start 5\ngrandchild 42\ndaemon 43\nend 9\ndaemon x\nnoise\n"
    witness = parse_witness(text)
    assert (witness.starts, witness.ends) == ((5,), (9,))
    assert (witness.grandchildren, witness.daemons) == ((42,), (43,))
    assert witness.garbage == ("daemon x", "noise")


def test_job_cwd_is_undone_for_markers_and_witness(work: Path) -> None:
    (work / "sub/dir").mkdir(parents=True)
    assert run(work, [Write("m")], job_cwd="sub/dir").returncode == 0
    assert (work / "m").exists() and (work / WITNESS).exists()


def test_grandchild_records_its_pid_and_writes_later(work: Path) -> None:
    done = run(work, [Grandchild(0.5, "late.txt")])
    assert done.returncode == 0
    assert not (work / "late.txt").exists()  # it is still sleeping
    (pid,) = parse_witness((work / WITNESS).read_text()).grandchildren
    assert Path(f"/proc/{pid}").exists()
    deadline = time.monotonic() + 5
    while not (work / "late.txt").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (work / "late.txt").exists()


def test_a_grandchild_that_ignores_term_survives_it_and_not_kill(work: Path) -> None:
    assert run(work, [Grandchild(5, "late.txt", ignore_term=True)]).returncode == 0
    (pid,) = parse_witness((work / WITNESS).read_text()).grandchildren
    try:
        os.kill(pid, signal.SIGTERM)
        time.sleep(0.2)  # time for the signal to land; a grandchild that obeyed is gone by then
        stat = Path(f"/proc/{pid}/stat").read_text()
        assert stat.rpartition(")")[2].split()[0] != "Z", "the grandchild died of SIGTERM"
    finally:
        os.kill(pid, signal.SIGKILL)


def test_daemon_records_its_pid_and_outlives_the_job(work: Path) -> None:
    done = run(work, [Daemon(), Write("after")])
    assert done.returncode == 0, done.stderr  # the job does not wait for its daemon
    assert (work / "after").exists()
    witness = parse_witness((work / WITNESS).read_text())
    (pid,) = witness.daemons
    assert witness.grandchildren == () and witness.garbage == ()
    assert len(witness.starts) == 1 and len(witness.ends) == 1
    stat = Path(f"/proc/{pid}/stat").read_text()
    assert stat[stat.rfind(")") + 2] not in "ZX"  # alive, not a zombie


def test_ignore_term_survives_sigterm_until_sigkill(work: Path) -> None:
    command = compile_actions([IgnoreTerm(), Write("trapped"), Hang()], witness=WITNESS)
    process = subprocess.Popen(["/bin/sh", "-c", command], cwd=work, start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        while not (work / "trapped").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.killpg(process.pid, signal.SIGTERM)
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=0.3)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        assert process.wait(timeout=5) == -signal.SIGKILL


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("a.txt", None),
        ("dir/a.txt", None),
        ("./a", None),
        ("", "must not be empty"),
        ("/abs", "must be relative"),
        ("a/../../b", "must not contain '..'"),
        ("..", "must not contain '..'"),
        (".", "names the work dir itself"),
        (".witness/x", ".witness"),
    ],
)
def test_check_marker_path(path: str, problem: str | None) -> None:
    found = check_marker_path(path)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_parse_action_forms() -> None:
    assert parse_action("hang") == Hang()
    assert parse_action("daemon") == Daemon()
    assert parse_action({"sleep": 1}) == Sleep(1.0)
    assert parse_action({"write": {"path": "a", "content": 3}}) == Write("a", "3")
    assert parse_action({"grandchild": {"after": 0.5, "write": "g"}}) == Grandchild(0.5, "g")
    ignoring = {"grandchild": {"after": 0.5, "write": "g", "ignore_term": True}}
    assert parse_action(ignoring) == Grandchild(0.5, "g", ignore_term=True)
    with pytest.raises(ValueError, match="must be relative"):
        parse_action({"require": "/etc/passwd"})


def test_planned_seconds() -> None:
    assert planned_seconds([Sleep(0.2), Write("a"), Sleep(0.1)]) == pytest.approx(0.3)
    assert planned_seconds([Sleep(0.2), Hang()]) is None


def test_sleep_never_uses_an_exponent() -> None:
    assert "sleep 0.00001;" in compile_actions([Sleep(1e-5)], witness=WITNESS)

"""The state dir fills up or becomes unwritable in the middle of a run (issue 11, item 6).

The run must stop cleanly: it exits non-zero with one line naming the
directory and the error, keeps every record it could write whole (a write
cut short by a full disk never replaces a good record), leaves no process
behind (jobs, their escapees, the watchdog), and the listing afterwards
never claims `running` for a job whose end could not be recorded.

`full` needs a small file system of its own: a 1 MiB tmpfs, mounted for the
test when it runs as root and the machine allows mounts, skipped with the
reason otherwise. `unwritable` makes a job dir immutable (chattr +i, which
stops root too), skipped where chattr cannot.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_cli import TIMEOUT, cli, cli_env, hooks_file
from test_faults import chattr
from test_orphans import TOKEN_VAR, Tokened

from conftest import wait_for
from coordinator.store import read_run

PAGE = 4096
RUN_DIR = ("jobs", "inv", "wt")


@pytest.fixture
def token() -> Iterator[Tokened]:
    found = Tokened()
    yield found
    found.kill_all()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs of the test's own; skipped, with the reason, where none can be mounted."""
    if not sys.platform.startswith("linux"):
        pytest.skip("a tmpfs is mounted only on Linux")
    if os.geteuid() != 0:
        pytest.skip(f"mounting a tmpfs needs root; this test runs as uid {os.geteuid()}")
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if mount is None or umount is None:
        pytest.skip("no mount/umount command here")
    point = tmp_path / "disk"
    point.mkdir()
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=1m,mode=0755", "hookcoord-test", str(point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield point
    finally:
        subprocess.run([umount, "-l", str(point)], capture_output=True, check=False)


@pytest.fixture
def immutable() -> Iterator[Callable[[Path], None]]:
    made: list[Path] = []

    def make(path: Path) -> None:
        if not chattr("+i", path):
            pytest.skip("chattr +i is not available on this file system")
        made.append(path)

    yield make
    for path in made:
        chattr("-i", path)


def fill(point: Path, pages_left: int) -> None:
    """Fill the file system at `point` until it refuses a write, then free `pages_left` pages."""
    filler = point / "filler"
    with filler.open("wb", buffering=0) as out:
        with contextlib.suppress(OSError):
            while True:
                out.write(b"\0" * 65536)  # a short write returns; the next one raises ENOSPC
        try:
            out.write(b"\0")
        except OSError as error:
            assert error.errno == errno.ENOSPC
        else:
            pytest.fail("the file system did not fill up")
    size = filler.stat().st_size
    os.truncate(filler, max(0, (size // PAGE - pages_left) * PAGE))


def start_cli(cwd: Path, state: Path, token: Tokened) -> subprocess.Popen[bytes]:
    args = ["run", "hooks.yml", "--hook", "h", "--state-dir", str(state)]
    with (cwd / "err.txt").open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "coordinator", *args, "--invocation", "inv", "--worktree", "wt"],
            cwd=cwd,
            env=cli_env(**{TOKEN_VAR: token.value}),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


# `big` has a long command, so its record spans several pages; it ends once released.
# `long` runs until stopped. `after` starts once `big` completed, which is decided
# before big's record is written (records follow the starts they unblock), and is
# then stopped by the cancel the failed write causes.
HOOKS = f"""
hooks:
  h:
    jobs:
      - name: big
        run: "touch big-up; until [ -e release ]; do sleep 0.01; done  # {"x" * 6 * PAGE}"
      - {{name: long, run: touch long-up; sleep 30}}
      - {{name: after, needs: [big], run: sleep 30}}
"""


@pytest.mark.parametrize("trouble", ["full", "unwritable"])
def test_the_state_dir_failing_mid_run_stops_the_run_cleanly(
    tmp_path: Path, request: pytest.FixtureRequest, token: Tokened, trouble: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    if trouble == "full":
        disk = request.getfixturevalue("small_disk")
        state = disk / "state"
    else:
        make_immutable = request.getfixturevalue("immutable")
        state = tmp_path / "state"
    run_dir = state.joinpath(*RUN_DIR)
    hooks_file(work, HOOKS)
    process = start_cli(work, state, token)
    try:
        wait_for(
            lambda: (
                all((work / f"{name}-up").exists() for name in ("big", "long"))
                and all(running_record_at(run_dir, name) for name in ("big", "long"))
            ),
            limit=TIMEOUT,
            what="big and long to run, their running records written",
        )
        if trouble == "full":
            fill(disk, pages_left=1)  # some room, not enough for big's whole record
        else:
            make_immutable(run_dir / "big")
        (work / "release").touch()
        code = process.wait(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = (work / "err.txt").read_text()
    error = "No space left on device" if trouble == "full" else "Operation not permitted"
    assert code == 1, stderr
    assert stderr == (
        f"coordinator: error: cannot write job records under {run_dir}: {error}; "
        "the run was cancelled\n"
    )
    # Every record on disk is whole: the end of `big` did not fit, its `running` record stays.
    records, unreadable = read_run(run_dir)
    assert unreadable == {}, unreadable
    assert records["big"].status.value == "running"
    for name in ("long", "after"):
        assert records.get(name) is None or records[name].status.value in ("cancelled", "running")
    assert list(state.rglob("*.tmp")) == []
    assert token.processes() == [], "a process outlived the run"
    # ... and the listing says what happened to the jobs whose end is not on disk.
    listed = cli(work, "jobs", "--state-dir", str(state)).stdout
    shown = {line.split()[2]: line for line in listed.splitlines()[1:]}
    assert "running (coordinator gone)" in shown["big"]
    assert all("running (" in line for line in shown.values() if " running" in line), listed


def running_record_at(run_dir: Path, name: str) -> bool:
    with contextlib.suppress(OSError, ValueError):
        return json.loads((run_dir / name / "meta.json").read_text())["status"] == "running"
    return False

"""Tests for `python -m coordinator` (spec: CLI), run as a real subprocess.

Each test runs the CLI with its own temp dir as cwd. Ordering checks read the
recorded meta (monotonic fields); jobs that must overlap wait for each
other's marker files with a bounded loop, so nothing depends on a guessed
delay.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import assert_groups_gone, live_members, ran_before, wait_for
from coordinator import JobEvent, Record, Status
from coordinator import cli as cli_module
from coordinator.store import read_records

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "tax-analyzer.yml"
TIMEOUT = 60  # seconds: a hung CLI fails the test instead of the whole suite


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "COORDINATOR_STATE_DIR"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def cli(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coordinator", *args],
        cwd=cwd,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def hooks_file(directory: Path, body: str, name: str = "hooks.yml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def run_args(*extra: str, hook: str = "h") -> list[str]:
    """`run hooks.yml --hook HOOK` into ./state, invocation `inv`, worktree `wt`, then `extra`."""
    common = ["--state-dir", "state", "--invocation", "inv", "--worktree", "wt"]
    return ["run", "hooks.yml", "--hook", hook, *common, *extra]


def records(tmp_path: Path, invocation: str = "inv", worktree: str = "wt") -> dict[str, Record]:
    return read_records(tmp_path / "state" / "jobs" / invocation / worktree)


def job_lines(stdout: str) -> dict[str, str]:
    """The per-job lines of `run` output, by job name (the word after the glyph)."""
    lines = {}
    for line in stdout.splitlines():
        cells = line.split()
        if len(cells) >= 3 and "job(s):" not in line:
            lines[cells[1]] = line
    return lines


def wait_file(name: str) -> str:
    """Shell that waits (bounded, about 5 s) for `name` to exist, else exits 9."""
    return f"i=0; until [ -f {name} ]; do i=$((i+1)); [ $i -gt 500 ] && exit 9; sleep 0.01; done"


# -- run: output and exit codes ---------------------------------------------------------


def test_run_prints_a_line_per_job_as_it_ends_and_a_summary(tmp_path: Path) -> None:
    hooks_file(
        tmp_path,
        """
        hooks:
          h:
            jobs:
              - name: first
                run: sleep 0.1
              - name: second
                needs: [first]
                run: echo done
              - name: optional
                skip: true
                run: touch optional-ran
        """,
    )
    result = cli(tmp_path, *run_args())
    assert result.returncode == 0, result.stderr
    lines = job_lines(result.stdout)
    assert set(lines) == {"first", "second", "optional"}
    out = result.stdout.splitlines()
    assert out.index(lines["first"]) < out.index(lines["second"])  # in the order they ended
    assert "skipped" in lines["optional"]
    summary = out[-1]
    assert "3 job(s)" in summary and "2 completed" in summary and "1 skipped" in summary
    assert all(r.status is not Status.RUNNING for r in records(tmp_path).values())


def test_run_exits_1_when_a_job_fails(tmp_path: Path) -> None:
    hooks_file(
        tmp_path,
        """
        hooks:
          h:
            jobs:
              - name: broken
                run: exit 5
              - name: after
                needs: [broken]
                run: "true"
        """,
    )
    result = cli(tmp_path, *run_args())
    assert result.returncode == 1
    lines = job_lines(result.stdout)
    assert "failed" in lines["broken"]
    assert "skipped" in lines["after"] and "need 'broken' failed" in lines["after"]
    assert records(tmp_path)["broken"].exit_code == 5


def test_empty_hook_runs_nothing_and_succeeds(tmp_path: Path) -> None:
    hooks_file(tmp_path, "hooks:\n  h:\n    jobs: []\n")
    result = cli(tmp_path, *run_args())
    assert result.returncode == 0, result.stderr
    assert "0 job(s)" in result.stdout
    assert not (tmp_path / "state").exists(), "an empty hook wrote to the state dir"


INVALID_FILES = {
    "unknown-key": (
        "hooks:\n  h:\n    jobs:\n      - name: a\n        run: echo hi\n        runn: oops\n",
        r"hooks\.yml:6: .*runn",
    ),
    "yaml-syntax": (
        "hooks:\n  h:\n    jobs:\n      - name: a\n        run: [echo\n",
        r"hooks\.yml:\d+: ",
    ),
    "cycle": (
        "hooks:\n  h:\n    jobs:\n"
        "      - {name: a, run: 'true', needs: [b]}\n"
        "      - {name: b, run: 'true', needs: [a]}\n",
        r"hooks\.yml:4: .*a -> b -> a",
    ),
    "self-need": (
        "hooks:\n  h:\n    jobs:\n      - {name: a, run: 'true', needs: [a]}\n",
        r"hooks\.yml:4: .*'a'.*a -> a",
    ),
    "unknown-need": (
        "hooks:\n  h:\n    jobs:\n"
        "      - {name: install, run: 'true'}\n"
        "      - {name: build, run: 'true', needs: [instal]}\n",
        r"hooks\.yml:5: .*'build'.*did you mean 'install'\?",
    ),
    "quote-in-name": (
        "hooks:\n  h:\n    jobs:\n      - {name: \"it's\", run: 'true', needs: [nope]}\n",
        r"hooks\.yml:4: .*'it's'.*'nope'",
    ),
    "other-hook": (  # every hook of the file is checked, not only the one run
        "hooks:\n  h:\n    jobs: []\n  other:\n    jobs:\n      - {name: b}\n",
        r"hooks\.yml:6: .*'b'",
    ),
    "unknown-hook": (
        "hooks:\n  pre-commit:\n    jobs: []\n",
        r"hooks\.yml:1: .*'h'",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID_FILES))
def test_invalid_file_exits_2_with_file_and_line(tmp_path: Path, case: str) -> None:
    text, message = INVALID_FILES[case]
    (tmp_path / "hooks.yml").write_text(text)
    result = cli(tmp_path, "run", "hooks.yml", "--hook", "h")
    assert result.returncode == 2
    # the spec (scheduling): one line on stderr that *starts* with FILE:LINE.
    assert re.fullmatch(rf"{message}[^\n]*\n", result.stderr), result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".coordinator-state").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "hooks.yml", "--hook", "nope", "--state-dir", "state"], "'nope'"),
        (["run", "missing.yml", "--hook", "h", "--state-dir", "state"], "missing.yml"),
        (
            ["run", "hooks.yml", "--hook", "h", "--state-dir", "state", "--max-parallel", "0"],
            ">= 1",
        ),
        (["run", "hooks.yml", "--hook", "h", "--state-dir", "state", "--strategy", "fast"], "fast"),
    ],
    ids=["unknown-hook", "missing-file", "zero-parallel", "unknown-strategy"],
)
def test_bad_invocation_exits_2_without_running(
    tmp_path: Path, args: list[str], message: str
) -> None:
    hooks_file(tmp_path, "hooks:\n  h:\n    jobs:\n      - {name: a, run: touch a-ran}\n")
    result = cli(tmp_path, *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "state").exists() and not (tmp_path / "a-ran").exists()


def test_unwritable_state_dir_is_reported_without_a_traceback(tmp_path: Path) -> None:
    hooks_file(tmp_path, "hooks:\n  h:\n    jobs:\n      - {name: a, run: touch a-ran}\n")
    (tmp_path / "state").write_text("a file, not a directory")
    result = cli(tmp_path, *run_args())
    assert result.returncode == 1
    assert "error" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "a-ran").exists()


# -- run: overrides and defaults -----------------------------------------------------------


def test_strategy_flag_overrides_the_file_to_wave(tmp_path: Path) -> None:
    hooks_file(
        tmp_path,
        """
        coordinator:
          strategy: eager
        hooks:
          h:
            jobs:
              - {name: quick, run: "true"}
              - {name: slow, run: sleep 0.3}
              - {name: after, needs: [quick], run: "true"}
        """,
    )
    result = cli(tmp_path, *run_args("--strategy", "wave"))
    assert result.returncode == 0, result.stderr
    found = records(tmp_path)
    assert ran_before(found["slow"], found["after"])  # the level barrier


def test_strategy_flag_overrides_the_file_to_eager(tmp_path: Path) -> None:
    # `slow` waits until `after` ran: only possible without a level barrier.
    hooks_file(
        tmp_path,
        f"""
        coordinator:
          strategy: wave
        hooks:
          h:
            jobs:
              - {{name: quick, run: "true"}}
              - {{name: slow, run: "{wait_file("after-ran")}"}}
              - {{name: after, needs: [quick], run: touch after-ran}}
        """,
    )
    result = cli(tmp_path, *run_args("--strategy", "eager"))
    assert result.returncode == 0, result.stdout
    found = records(tmp_path)
    assert all(r.status is Status.COMPLETED for r in found.values()), found
    # `after` wrote the marker `slow` waited for, so it started before `slow` ended.
    assert not ran_before(found["slow"], found["after"])


def test_max_parallel_flag_raises_the_file_limit(tmp_path: Path) -> None:
    # Each job waits for the other to be running: both must run at once.
    hooks_file(
        tmp_path,
        f"""
        coordinator:
          max_parallel: 1
        hooks:
          h:
            jobs:
              - {{name: left, run: "touch left-up; {wait_file("right-up")}"}}
              - {{name: right, run: "touch right-up; {wait_file("left-up")}"}}
        """,
    )
    result = cli(tmp_path, *run_args("--max-parallel", "2"))
    assert result.returncode == 0, result.stdout
    assert all(r.status is Status.COMPLETED for r in records(tmp_path).values())


def test_max_parallel_flag_lowers_the_file_limit(tmp_path: Path) -> None:
    hooks_file(
        tmp_path,
        """
        coordinator:
          max_parallel: 3
        hooks:
          h:
            jobs:
              - {name: one, run: "true"}
              - {name: two, run: "true"}
              - {name: three, run: "true"}
        """,
    )
    result = cli(tmp_path, *run_args("--max-parallel", "1"))
    assert result.returncode == 0, result.stderr
    found = records(tmp_path)
    assert ran_before(found["one"], found["two"]) and ran_before(found["two"], found["three"])


def test_state_dir_defaults_to_the_environment_variable(tmp_path: Path) -> None:
    hooks_file(tmp_path, "hooks:\n  h:\n    jobs:\n      - {name: a, run: 'true'}\n")
    custom = tmp_path / "custom-state"
    result = cli(tmp_path, "run", "hooks.yml", "--hook", "h", COORDINATOR_STATE_DIR=str(custom))
    assert result.returncode == 0, result.stderr
    assert len(list(custom.glob("jobs/*/*/a/meta.json"))) == 1
    assert not (tmp_path / ".coordinator-state").exists()


def test_default_state_dir_invocation_and_worktree(tmp_path: Path) -> None:
    work = tmp_path / "my-tree"
    work.mkdir()
    hooks_file(work, "hooks:\n  h:\n    jobs:\n      - {name: a, run: 'true'}\n")
    for _ in range(2):
        result = cli(work, "run", "hooks.yml", "--hook", "h")
        assert result.returncode == 0, result.stderr
    metas = sorted((work / ".coordinator-state").glob("jobs/*/*/a/meta.json"))
    assert len(metas) == 2  # a fresh random invocation per run
    for meta in metas:
        worktree_dir = meta.parent.parent
        assert re.fullmatch(r"[0-9a-f]{16}", worktree_dir.parent.name)
        assert worktree_dir.name == "my-tree"


# -- run: signals --------------------------------------------------------------------------

SIGNAL_HOOKS = """
hooks:
  h:
    jobs:
      - {name: long, run: sleep 30}
      - {name: after, needs: [long], run: touch after-ran}
      - {name: later, background: true, run: touch later-ran}
"""


@pytest.fixture
def cli_process(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Holds a started CLI; kills it (and any job group it left) if the test did not end it."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()
    for record in records(tmp_path).values() if (tmp_path / "state").exists() else []:
        if record.pid is not None and live_members(record.pid):
            os.killpg(record.pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("sig", "code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
    ids=["SIGINT", "SIGTERM", "SIGHUP"],
)
def test_signal_cancels_the_run(
    tmp_path: Path, cli_process: list[subprocess.Popen[bytes]], sig: signal.Signals, code: int
) -> None:
    hooks_file(tmp_path, SIGNAL_HOOKS)
    with (tmp_path / "out.txt").open("wb") as out, (tmp_path / "err.txt").open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "coordinator", *run_args()],
            cwd=tmp_path,
            env=cli_env(),
            stdout=out,
            stderr=err,
        )
    cli_process.append(process)
    meta = tmp_path / "state" / "jobs" / "inv" / "wt" / "long" / "meta.json"
    wait_for(
        lambda: meta.exists() and json.loads(meta.read_text())["status"] == "running",
        what="the running record of `long`",
    )
    process.send_signal(sig)
    assert process.wait(timeout=TIMEOUT) == code
    found = records(tmp_path)
    assert set(found) == {"long", "after", "later"}
    assert all(r.status is Status.CANCELLED for r in found.values()), found
    assert all("cancel" in (r.reason or "") for r in found.values()), found
    assert found["after"].started_at is None and found["later"].started_at is None
    assert_groups_gone([found["long"].pid])
    assert "Traceback" not in (tmp_path / "err.txt").read_text()
    assert not (tmp_path / "after-ran").exists() and not (tmp_path / "later-ran").exists()


def test_signal_while_the_file_is_loading_cancels_every_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process: the SIGTERM is raised from inside prepare_hook, i.e. while the
    # hooks file is read, before any Run exists. It must still cancel the run.
    hooks_file(tmp_path, SIGNAL_HOOKS)
    monkeypatch.chdir(tmp_path)
    real_prepare = cli_module.prepare_hook

    def prepare_then_signal(*args: object, **kwargs: object) -> object:
        signal.raise_signal(signal.SIGTERM)  # runs the Python handler before returning
        return real_prepare(*args, **kwargs)  # type: ignore[arg-type]

    def not_the_cli(signum: int, _frame: object) -> None:
        raise AssertionError("the CLI had no handler for SIGTERM while loading the file")

    monkeypatch.setattr(cli_module, "prepare_hook", prepare_then_signal)
    previous = signal.signal(signal.SIGTERM, not_the_cli)
    try:
        code = cli_module.main(run_args())
        restored = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 143
    assert restored is not_the_cli  # the CLI put back the handler it found
    found = records(tmp_path)
    assert set(found) == {"long", "after", "later"}
    assert all(r.status is Status.CANCELLED and r.started_at is None for r in found.values())
    assert all("cancel" in (r.reason or "") for r in found.values())


def test_a_hung_up_terminal_does_not_stop_the_jobs() -> None:
    # After SIGHUP a terminal write fails with EIO, not EPIPE: the console must go quiet.
    class HungUp(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.EIO, "Input/output error")

        def fileno(self) -> int:
            raise io.UnsupportedOperation("no fd")

    console = cli_module.Console(HungUp())
    record = Record(name="a", status=Status.COMPLETED, command="true", needs=[], background=False)
    console.job_ended(JobEvent("ended", record))  # must not raise
    console.summary([record], Path("state"))


def test_closed_stdout_does_not_stop_the_jobs(
    tmp_path: Path, cli_process: list[subprocess.Popen[bytes]]
) -> None:
    hooks_file(
        tmp_path,
        """
        hooks:
          h:
            jobs:
              - {name: first, run: "true"}
              - {name: second, needs: [first], run: sleep 0.2; touch second-done}
        """,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "coordinator", *run_args()],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    cli_process.append(process)
    assert process.stdout is not None
    process.stdout.close()  # like `coordinator run ... | head -1` once head has exited
    _, err = process.communicate(timeout=TIMEOUT)
    assert "Traceback" not in err.decode()
    assert all(r.status is Status.COMPLETED for r in records(tmp_path).values())
    assert (tmp_path / "second-done").exists()


# -- jobs ----------------------------------------------------------------------------------

LISTED_HOOKS = """
hooks:
  h:
    jobs:
      - {name: build, run: "true"}
      - {name: test, needs: [build], run: exit 1}
      - {name: ship, needs: [test], run: "true"}
"""


def test_jobs_json_lists_the_records(tmp_path: Path) -> None:
    hooks_file(tmp_path, LISTED_HOOKS)
    cli(tmp_path, *run_args("--invocation", "inv1", "--worktree", "wt1"))
    result = cli(tmp_path, "jobs", "--state-dir", "state", "--format", "json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert {(item["invocation"], item["worktree"]) for item in listed} == {("inv1", "wt1")}
    assert {item["name"]: item["status"] for item in listed} == {
        "build": "completed",
        "test": "failed",
        "ship": "skipped",
    }


def test_jobs_table_shows_names_and_statuses(tmp_path: Path) -> None:
    hooks_file(tmp_path, LISTED_HOOKS)
    cli(tmp_path, *run_args())
    result = cli(tmp_path, "jobs", "--state-dir", "state")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[2]: line.split()[3] for line in result.stdout.splitlines()[1:]}
    assert rows == {"build": "completed", "test": "failed", "ship": "skipped"}
    assert result.stdout.splitlines()[0].split()[:4] == ["INVOCATION", "WORKTREE", "JOB", "STATUS"]


def test_jobs_shows_worktree_names_as_given(tmp_path: Path) -> None:
    hooks_file(tmp_path, LISTED_HOOKS)
    cli(tmp_path, *run_args("--worktree", "my tree"))
    result = cli(tmp_path, "jobs", "--state-dir", "state", "--format", "json")
    assert {item["worktree"] for item in json.loads(result.stdout)} == {"my tree"}


# -- the example from the original bug report ----------------------------------------------


@pytest.mark.parametrize("strategy", ["eager", "wave"])
def test_tax_analyzer_example_completes(tmp_path: Path, strategy: str) -> None:
    shutil.copy(EXAMPLE, tmp_path / "hooks.yml")
    result = cli(tmp_path, *run_args("--strategy", strategy, hook="worktree-post-create"))
    assert result.returncode == 0, result.stdout + result.stderr
    found = records(tmp_path)
    assert all(r.status is Status.COMPLETED for r in found.values()), found
    assert ran_before(found["db-migrate"], found["db-seed"])
    log = tmp_path / "state" / "jobs" / "inv" / "wt" / "db-seed" / "output.log"
    assert "seeded" in log.read_text()

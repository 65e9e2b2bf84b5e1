"""A coordinator that misbehaves is a clean test failure, never a harness traceback.

Each case drives one small scenario through `ExternalDriver` with a broken
coordinator command: one that cannot start, crashes, hangs, writes garbage
or partial records, or writes none. The outcome must fail with a message
naming what was wrong, and no process of the run may be left behind.
"""

from __future__ import annotations

import shlex
import sys
import textwrap
from pathlib import Path

import pytest

from harness import ExternalDriver, format_outcome, load_scenarios, run_scenario
from harness.procs import TOKEN_VAR

SCENARIO = """\
name: tiny
timeout: 3
jobs:
  - name: a
    fake: [sleep: 0.05, write: a.done]
  - name: b
    needs: [a]
    fake: [require: a.done]
expect:
  status: completed
"""

PROTOCOL = "{hooks_file} {state_dir} {invocation} {worktree}"

# Each fake coordinator gets: hooks_file state_dir invocation worktree.
FAKES = {
    "crashes": "raise SystemExit(3)",
    "traceback": "raise RuntimeError('boom')",
    "writes-garbage": textwrap.dedent(
        """
        import sys, pathlib
        _, hooks, state, inv, wt = sys.argv
        for name in ("a", "b"):
            d = pathlib.Path(state, "jobs", inv, wt, name)
            d.mkdir(parents=True)
            (d / "meta.json").write_text('{"name": "' + name + '", "status": "compl')
        """
    ),
    "writes-wrong-types": textwrap.dedent(
        """
        import sys, pathlib, json
        _, hooks, state, inv, wt = sys.argv
        for name in ("a", "b"):
            d = pathlib.Path(state, "jobs", inv, wt, name)
            d.mkdir(parents=True)
            (d / "output.log").write_text("")
            (d / "meta.json").write_text(json.dumps({"name": name, "status": "completed",
                "started_at": 5, "exit_code": "0", "needs": "a"}))
        """
    ),
    "writes-nothing": "pass",
    "hangs": "import time\nwhile True: time.sleep(1)",
    "ignores-sigterm": textwrap.dedent(
        """
        import signal, time, subprocess
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        subprocess.Popen(["sleep", "300"])
        while True: time.sleep(1)
        """
    ),
}

EXPECTED = {
    "crashes": "exit code 3",
    "traceback": "RuntimeError: boom",
    "writes-garbage": "not readable JSON",
    "writes-wrong-types": "[record.fields]",
    "writes-nothing": "[record.every-job] record of a",
    "hangs": "scenario timeout",
    "ignores-sigterm": "did not exit after SIGTERM",
}


@pytest.fixture
def scenario(tmp_path: Path):
    path = tmp_path / "tiny.yml"
    path.write_text(SCENARIO, encoding="utf-8")
    return load_scenarios(path)[0]


@pytest.mark.parametrize("kind", sorted(FAKES))
def test_a_broken_coordinator_is_a_clean_failure(kind: str, scenario, tmp_path: Path) -> None:
    script = tmp_path / f"{kind}.py"
    script.write_text(FAKES[kind], encoding="utf-8")
    template = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {PROTOCOL}"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    outcome = run_scenario(scenario, run_dir, ExternalDriver(template))

    assert not outcome.ok
    report = format_outcome(outcome)  # must not raise, whatever was recorded
    assert EXPECTED[kind] in report, report
    assert not _processes_left(run_dir)


def test_a_command_that_cannot_start_is_a_clean_failure(scenario, tmp_path: Path) -> None:
    outcome = run_scenario(scenario, tmp_path, ExternalDriver(f"/nonexistent/coord {PROTOCOL}"))

    assert not outcome.ok
    assert "cannot start the coordinator command" in format_outcome(outcome)


def _processes_left(run_dir: Path) -> list[str]:
    """Processes whose environment points into this run (the token is per run)."""
    left = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            environ = (entry / "environ").read_bytes()
            cwd = str((entry / "cwd").resolve())
        except OSError:
            continue
        if TOKEN_VAR.encode() in environ and cwd.startswith(str(run_dir)):
            left.append(entry.name)
    return left

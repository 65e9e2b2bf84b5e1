"""Many invocations in one process leave nothing behind: the CI-sized run of scripts/leak-check.

The script runs the invocations in its own process and compares threads,
open file descriptors and child processes before and after; here it runs
100 of them (every kind of ending: completed, failed, timed out with a
detached grandchild, cancelled, through the CLI, bad input, run error) and
the test reads its JSON figures. `scripts/leak-check` alone runs 1000.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "leak-check"
COUNT = 105  # 15 of each of the 7 kinds
TIMEOUT = 120  # seconds: a hung run fails the test instead of the suite


def test_invocations_leak_no_threads_fds_or_processes() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--count", str(COUNT), "--json"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["invocations"] == COUNT
    assert set(result["kinds"].values()) == {COUNT // 7}
    # The mix really took every way a job can end.
    assert set(result["statuses"]) == {"completed", "failed", "timed_out", "cancelled", "skipped"}
    assert result["after"] == result["before"], result
    assert result["job_processes_left"] == 0
    assert result["signal_handlers_restored"] is True
    assert result["leaked"] is False and done.returncode == 0


def test_leak_check_documents_itself() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0
    assert "--count" in done.stdout and "Exit status" in done.stdout
    assert SCRIPT.stat().st_mode & 0o111, "scripts/leak-check must be executable"

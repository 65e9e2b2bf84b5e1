"""Tests for `coordinator.history` and the `jobs` / `prune` commands, under a frozen clock.

State dirs are built by writing meta.json files by hand with chosen
timestamps, as any coordinator honouring the spec (records) would leave them, so
these tests do not depend on the engine.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

from coordinator.cli import main
from coordinator.history import invocations, job_rows, select_prunable
from coordinator.store import RunDir
from coordinator.timefmt import rfc3339

NOW = datetime(2026, 5, 2, 12, 0, 0, tzinfo=timezone.utc)
MONO_BASE = 10**12


def write_record(
    state: Path,
    invocation: str,
    worktree: str,
    name: str,
    *,
    start: datetime | None,
    seconds: float | None = None,
    status: str = "completed",
    exit_code: int | None = 0,
) -> None:
    """A meta.json for a job that started at `start` and ran `seconds` (None: still running)."""
    end = mono_end = None
    if start is not None and seconds is not None:
        end, mono_end = start + timedelta(seconds=seconds), MONO_BASE + int(seconds * 1e9)
    data: dict[str, Any] = {
        "name": name,
        "status": status,
        "started_at": None if start is None else rfc3339(start),
        "finished_at": None if end is None else rfc3339(end),
        "started_mono_ns": None if start is None else MONO_BASE,
        "finished_mono_ns": mono_end,
        "exit_code": exit_code,
        "needs": [],
        "background": False,
        "skip_cause": "needs" if status == "skipped" else None,
        "reason": None,
        "command": "true",
        "pid": None if start is None else 4242,
    }
    directory = state / "jobs" / invocation / worktree / name
    directory.mkdir(parents=True)
    (directory / "meta.json").write_text(json.dumps(data))


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


@pytest.fixture
def listing_state(tmp_path: Path) -> Path:
    """An older finished invocation and a newer one still running."""
    state = tmp_path / "state"
    write_record(state, "old", "wt", "build", start=ago(minutes=3), seconds=4.5)
    write_record(
        state, "old", "wt", "lint", start=ago(minutes=2), seconds=61, status="failed", exit_code=2
    )
    write_record(state, "old", "wt", "deploy", start=None, status="skipped", exit_code=None)
    write_record(
        state, "new", "wt", "serve", start=ago(seconds=42), status="running", exit_code=None
    )
    return state


def table(text: str) -> list[list[str]]:
    """Rows of the `jobs` table (cells are separated by at least two spaces)."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]


def test_jobs_table_under_a_frozen_clock(
    listing_state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with freeze_time(NOW):
        assert main(["jobs", "--state-dir", str(listing_state)]) == 0
    rows = table(capsys.readouterr().out)
    assert rows[0] == ["INVOCATION", "WORKTREE", "JOB", "STATUS", "STARTED", "DURATION", "EXIT"]
    assert rows[1:] == [
        ["new", "wt", "serve", "running", "42s ago", "42.0s", "-"],
        ["old", "wt", "build", "completed", "3m ago", "4.50s", "0"],
        ["old", "wt", "lint", "failed", "2m ago", "1m01s", "2"],
        ["old", "wt", "deploy", "skipped", "-", "-", "-"],
    ]


def test_jobs_json_lists_records_with_invocation_and_worktree(
    listing_state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with freeze_time(NOW):
        assert main(["jobs", "--state-dir", str(listing_state), "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(item["invocation"], item["worktree"], item["name"]) for item in listed] == [
        ("new", "wt", "serve"),
        ("old", "wt", "build"),
        ("old", "wt", "lint"),
        ("old", "wt", "deploy"),
    ]
    durations = {item["name"]: item["duration_seconds"] for item in listed}
    assert durations == {"serve": 42.0, "build": 4.5, "lint": 61.0, "deploy": None}


def test_jobs_on_an_empty_state_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "--state-dir", str(tmp_path / "none")]) == 0
    assert "no jobs recorded" in capsys.readouterr().out


def test_job_rows_newest_invocation_first(listing_state: Path) -> None:
    assert [row.invocation for row in job_rows(listing_state)] == ["new", "old", "old", "old"]


@pytest.fixture
def prune_state(tmp_path: Path) -> Path:
    """Invocations whose latest activity is 10 days, 8 days, 2 days and 1 hour old."""
    state = tmp_path / "state"
    write_record(state, "inv-10d", "wt", "a", start=ago(days=10, seconds=5), seconds=5)
    write_record(state, "inv-8d", "wt", "a", start=ago(days=8, seconds=5), seconds=5)
    write_record(state, "inv-2d", "wt", "a", start=ago(days=2, seconds=5), seconds=5)
    write_record(state, "inv-1h", "wt", "a", start=ago(hours=1, seconds=5), seconds=5)
    # Old in one worktree, recent in another: the recent activity counts.
    write_record(state, "inv-mixed", "wt1", "a", start=ago(days=30), seconds=1)
    write_record(state, "inv-mixed", "wt2", "a", start=ago(minutes=30), seconds=1)
    return state


def remaining(state: Path) -> set[str]:
    return {path.name for path in (state / "jobs").iterdir()}


ALL = {"inv-10d", "inv-8d", "inv-2d", "inv-1h", "inv-mixed"}


@pytest.mark.parametrize(
    ("options", "removed"),
    [
        (["--older-than", "7d"], {"inv-10d", "inv-8d"}),
        (["--older-than", "1d"], {"inv-10d", "inv-8d", "inv-2d"}),
        (["--older-than", "1d", "--keep-last", "4"], {"inv-10d"}),
        (["--older-than", "1h", "--keep-last", "2"], {"inv-10d", "inv-8d", "inv-2d"}),
        (["--older-than", "1d", "--keep-last", "10"], set()),
        (["--older-than", "30d"], set()),
        (["--older-than", "90m"], {"inv-10d", "inv-8d", "inv-2d"}),
    ],
)
def test_prune_chooses_the_right_invocations(
    prune_state: Path,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    removed: set[str],
) -> None:
    with freeze_time(NOW):
        assert main(["prune", "--state-dir", str(prune_state), *options]) == 0
    assert remaining(prune_state) == ALL - removed
    out = capsys.readouterr().out
    for name in removed:
        assert f"removed {name} " in out
    assert f"removed {len(removed)} invocation(s), kept {len(ALL) - len(removed)}" in out


def test_prune_dry_run_lists_without_removing(
    prune_state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with freeze_time(NOW):
        assert (
            main(["prune", "--state-dir", str(prune_state), "--older-than", "7d", "--dry-run"]) == 0
        )
    assert remaining(prune_state) == ALL
    out = capsys.readouterr().out
    assert "would remove inv-10d (last activity 10d ago)" in out
    assert "would remove inv-8d (last activity 8d ago)" in out
    assert "would remove 2 invocation(s), kept 3" in out


def test_prune_uses_the_directory_time_when_no_job_ever_started(tmp_path: Path) -> None:
    state = tmp_path / "state"
    write_record(state, "never", "wt", "a", start=None, status="cancelled", exit_code=None)
    stamp = (NOW - timedelta(days=10)).timestamp()
    os.utime(state / "jobs" / "never", (stamp, stamp))
    with freeze_time(NOW):
        found = invocations(state)
        assert [inv.name for inv in found] == ["never"]
        doomed = select_prunable(found, older_than=7 * 86400, keep_last=0, reference=NOW)
    assert [inv.name for inv in doomed] == ["never"]


def test_prune_rejects_a_bad_duration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["prune", "--state-dir", str(tmp_path), "--older-than", "7 days"])
    assert exit_info.value.code == 2
    assert "not a duration" in capsys.readouterr().err


def test_prune_spares_an_invocation_with_a_job_still_running(tmp_path: Path) -> None:
    write_record(tmp_path, "long", "wt", "deploy", start=ago(days=9), status="running")
    write_record(tmp_path, "done", "wt", "build", start=ago(days=9), seconds=5)
    with freeze_time(NOW):
        found = invocations(tmp_path)
        doomed = select_prunable(found, older_than=7 * 86400, keep_last=0, reference=NOW)
    assert [inv.name for inv in doomed] == ["done"]


# -- records from another coordinator: any RFC 3339 UTC time, odd records ------------------


def write_raw(state: Path, invocation: str, name: str, data: object) -> None:
    directory = state / "jobs" / invocation / "wt" / name
    directory.mkdir(parents=True)
    (directory / "meta.json").write_text(json.dumps(data))


def foreign_record(name: str, started_at: str | None, finished_at: str | None) -> dict[str, Any]:
    """A record as another coordinator may write it: no monotonic fields, other time forms."""
    return {
        "name": name,
        "status": "completed" if finished_at else "running",
        "started_at": started_at,
        "finished_at": finished_at,
        "started_mono_ns": None,
        "finished_mono_ns": None,
        "exit_code": 0 if finished_at else None,
        "needs": [],
        "background": False,
        "skip_cause": None,
        "reason": None,
        "command": "true",
        "pid": 1,
    }


def test_jobs_reads_times_without_a_fraction_and_orders_them_as_times(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    # As strings "…:00Z" sorts after "…:00.5Z"; as times it is half a second earlier.
    write_raw(state, "whole", "a", foreign_record("a", "2026-05-02T11:00:00Z", None))
    write_raw(
        state,
        "fraction",
        "b",
        foreign_record("b", "2026-05-02T11:00:00.5Z", "2026-05-02T11:00:02.123456789Z"),
    )
    with freeze_time(NOW):
        assert main(["jobs", "--state-dir", str(state)]) == 0
        rows = table(capsys.readouterr().out)
        assert rows[1:] == [
            ["fraction", "wt", "b", "completed", "59m ago", "1.62s", "0"],
            ["whole", "wt", "a", "running", "1h ago", "1h00m", "-"],
        ]
        assert [inv.name for inv in invocations(state)] == ["fraction", "whole"]


def test_prune_reads_times_without_a_fraction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    write_raw(
        state, "old", "a", foreign_record("a", "2026-04-20T09:46:14Z", "2026-04-20T09:46:15Z")
    )
    with freeze_time(NOW):
        assert main(["prune", "--state-dir", str(state), "--older-than", "7d"]) == 0
    assert "removed old (last activity 12d ago)" in capsys.readouterr().out
    assert not (state / "jobs" / "old").exists()


ODD_RECORDS = {
    "time-is-a-number": {**foreign_record("t", None, None), "started_at": 1714643174},
    "time-is-not-a-time": {**foreign_record("t", "yesterday", None)},
    "unknown-status": {**foreign_record("t", None, None), "status": "exploded"},
    "exit-code-is-text": {**foreign_record("t", None, None), "exit_code": "1"},
    "mono-is-text": {
        **foreign_record("t", "2026-05-02T11:00:00Z", "2026-05-02T11:00:01Z"),
        "started_mono_ns": "5",
        "finished_mono_ns": 7,
    },
    "name-is-a-number": {**foreign_record("t", None, None), "name": 7},
    "no-name": {k: v for k, v in foreign_record("t", None, None).items() if k != "name"},
    "a-list": [1, 2, 3],
    "needs-not-strings": {**foreign_record("t", None, None), "needs": [1]},
}


@pytest.mark.parametrize("odd", sorted(ODD_RECORDS))
@pytest.mark.parametrize("form", ["table", "json"])
def test_an_odd_record_is_listed_as_unreadable_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], odd: str, form: str
) -> None:
    state = tmp_path / "state"
    write_raw(state, "inv", "good", foreign_record("good", "2026-05-02T11:00:00Z", None))
    write_raw(state, "inv", "odd", ODD_RECORDS[odd])
    with freeze_time(NOW):
        assert main(["jobs", "--state-dir", str(state), "--format", form]) == 0
    captured = capsys.readouterr()
    if form == "json":
        listed = json.loads(captured.out)
        assert [(item.get("name"), item["status"]) for item in listed] == [
            ("good", "running"),
            (None, "unreadable"),
        ]
        assert listed[1]["job_dir"] == "odd" and listed[1]["problem"]
    else:
        rows = table(captured.out)
        assert [row[2:4] for row in rows[1:]] == [["good", "running"], ["odd", "unreadable"]]
        assert "unreadable record inv/wt/odd" in captured.err


def test_a_record_nested_too_deep_for_json_is_unreadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "state" / "jobs" / "inv" / "wt" / "deep"
    directory.mkdir(parents=True)
    (directory / "meta.json").write_text("[" * 100_000 + "]" * 100_000)
    assert main(["jobs", "--state-dir", str(tmp_path / "state")]) == 0
    assert [row[2:4] for row in table(capsys.readouterr().out)[1:]] == [["deep", "unreadable"]]


def test_prune_counts_an_unreadable_record_as_recent_activity(tmp_path: Path) -> None:
    # It may be another coordinator's record of a job still at work: its file time counts.
    state = tmp_path / "state"
    write_record(state, "inv", "wt", "old", start=ago(days=9), seconds=1)
    (state / "jobs" / "inv" / "wt" / "odd").mkdir()
    (state / "jobs" / "inv" / "wt" / "odd" / "meta.json").write_text("{half a rec")
    stamp = (NOW - timedelta(hours=1)).timestamp()
    os.utime(state / "jobs" / "inv" / "wt" / "odd" / "meta.json", (stamp, stamp))
    with freeze_time(NOW):
        found = invocations(state)
        assert select_prunable(found, older_than=7 * 86400, keep_last=0, reference=NOW) == []


# -- a running record whose coordinator is gone (issue 11) -------------------------------


def test_a_running_record_is_shown_as_such_only_while_its_coordinator_holds_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The owner file's lock is the coordinator's: held here, then released as the kernel
    # releases it when the coordinator dies (kill -9 included).
    state = tmp_path / "state"
    write_record(state, "inv", "wt", "serve", start=ago(seconds=42), status="running")
    write_record(state, "inv", "wt", "build", start=ago(minutes=1), seconds=2)
    owner = RunDir(state / "jobs" / "inv" / "wt").claim()
    try:
        with freeze_time(NOW):
            assert main(["jobs", "--state-dir", str(state)]) == 0
            assert [row[2:6] for row in table(capsys.readouterr().out)[1:]] == [
                ["build", "completed", "1m ago", "2.00s"],
                ["serve", "running", "42s ago", "42.0s"],
            ]
            assert [inv.running for inv in invocations(state)] == [True]
    finally:
        os.close(owner)
    with freeze_time(NOW):
        assert main(["jobs", "--state-dir", str(state)]) == 0
        rows = table(capsys.readouterr().out)
        assert main(["jobs", "--state-dir", str(state), "--format", "json"]) == 0
        listed = {item["name"]: item for item in json.loads(capsys.readouterr().out)}
        assert [inv.running for inv in invocations(state)] == [False]
    assert [row[2:6] for row in rows[1:]] == [
        ["build", "completed", "1m ago", "2.00s"],
        ["serve", "running (coordinator gone)", "42s ago", "-"],
    ]
    assert listed["serve"]["status"] == "running (coordinator gone)"
    assert listed["serve"]["coordinator"] == "gone"
    assert listed["serve"]["duration_seconds"] is None
    assert listed["build"]["status"] == "completed" and listed["build"]["coordinator"] == "gone"


def test_prune_removes_a_run_whose_coordinator_is_gone_and_spares_a_live_one(
    tmp_path: Path,
) -> None:
    for invocation in ("dead", "live", "foreign"):
        write_record(tmp_path, invocation, "wt", "deploy", start=ago(days=9), status="running")
    os.close(RunDir(tmp_path / "jobs" / "dead" / "wt").claim())  # claimed, then gone
    owner = RunDir(tmp_path / "jobs" / "live" / "wt").claim()
    try:
        with freeze_time(NOW):
            found = invocations(tmp_path)
            doomed = select_prunable(found, older_than=7 * 86400, keep_last=0, reference=NOW)
    finally:
        os.close(owner)
    # `foreign` has no owner file (another coordinator's run): nothing is known, it stays.
    assert [inv.name for inv in doomed] == ["dead"]

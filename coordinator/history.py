"""What earlier runs recorded: the `jobs` listing and `prune`.

Both read only meta.json records (spec: records), so they work on state written
by any coordinator that honours the contract, not just this one: times are
read with the one lenient RFC 3339 parser, and a record that cannot be read
is listed as unreadable rather than stopping the listing.

A record says `running` until its coordinator writes the job's end, and a
coordinator killed outright never does. So a listing never shows such a
record as plainly `running`: where the run's owner file shows its
coordinator gone (store.coordinator_state, a lock the kernel drops when the
coordinator dies), the job is shown `running (coordinator gone)`, and prune
no longer spares its invocation. A run without an owner file (another
coordinator's) is shown as recorded.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from coordinator.model import Record, Status
from coordinator.store import META, iter_runs
from coordinator.timefmt import parse_rfc3339

UNREADABLE = "unreadable"  # the status the listing shows for a record it cannot read
ORPHANED = "running (coordinator gone)"  # ... for a `running` record nobody will finish


@dataclass(frozen=True)
class JobRow:
    """One recorded job, as the `jobs` command lists it."""

    invocation: str
    worktree: str
    record: Record
    coordinator: str | None = None  # of its run: `alive`, `gone`, or None (unknown)

    @property
    def orphaned(self) -> bool:
        """Recorded `running`, but the coordinator that would record its end is gone."""
        return self.record.status is Status.RUNNING and self.coordinator == "gone"

    @property
    def status(self) -> str:
        """The status to show: the recorded one, unless that would claim a dead job runs."""
        return ORPHANED if self.orphaned else self.record.status.value

    @property
    def started(self) -> datetime | None:
        return _parse(self.record.started_at)

    def duration(self, reference: datetime) -> float | None:
        """Seconds it ran (so far, when still running); None if it never started.

        None too for an orphaned job: how long it ran is not known.
        """
        record = self.record
        if record.started_mono_ns is not None and record.finished_mono_ns is not None:
            return (record.finished_mono_ns - record.started_mono_ns) / 1e9
        started = self.started
        if started is None or self.orphaned:
            return None
        finished = _parse(record.finished_at) or reference
        return max(0.0, (finished - started).total_seconds())

    def to_json(self, reference: datetime) -> dict[str, Any]:
        return {
            "invocation": self.invocation,
            "worktree": self.worktree,
            **self.record.to_json(),
            "status": self.status,
            "coordinator": self.coordinator,
            "duration_seconds": self.duration(reference),
        }


@dataclass(frozen=True)
class UnreadableRow:
    """A meta.json that is not a valid record: listed, with what is wrong, not skipped."""

    invocation: str
    worktree: str
    job_dir: str  # the job's directory name: the record's own name could not be read
    problem: str

    def to_json(self, reference: datetime) -> dict[str, Any]:
        return {
            "invocation": self.invocation,
            "worktree": self.worktree,
            "job_dir": self.job_dir,
            "status": UNREADABLE,
            "problem": self.problem,
        }


def job_rows(state_dir: Path) -> list[JobRow | UnreadableRow]:
    """Every recorded job, newest invocation first, jobs in start order within one.

    The unreadable records of a run come after its readable ones.
    """
    runs: list[tuple[datetime, list[JobRow | UnreadableRow]]] = []
    for listing in iter_runs(state_dir):
        readable = [
            JobRow(listing.invocation, listing.worktree, r, listing.coordinator)
            for r in listing.records.values()
        ]
        readable.sort(key=lambda row: (_start_key(row.record), row.record.name))
        rows: list[JobRow | UnreadableRow] = [*readable]
        rows += [
            UnreadableRow(listing.invocation, listing.worktree, job_dir, problem)
            for job_dir, problem in sorted(listing.unreadable.items())
        ]
        runs.append((_newest(listing.records.values()) or _NEVER, rows))
    runs.sort(key=lambda item: item[0], reverse=True)
    return [row for _, rows in runs for row in rows]


@dataclass(frozen=True)
class Invocation:
    """An invocation directory and the moment of its latest recorded activity."""

    name: str
    path: Path
    last_activity: datetime
    running: bool  # a job is recorded `running` and its coordinator is not known gone


def invocations(state_dir: Path) -> list[Invocation]:
    """Every invocation under `state_dir`, newest first.

    An unreadable record counts as activity at its file's modification time:
    it may be another coordinator's record of a job still running.
    """
    found: dict[str, list[Record]] = {}
    paths: dict[str, Path] = {}
    touched: dict[str, list[datetime]] = {}
    running: set[str] = set()
    for listing in iter_runs(state_dir):
        found.setdefault(listing.invocation, []).extend(listing.records.values())
        if listing.coordinator != "gone" and any(
            r.status is Status.RUNNING for r in listing.records.values()
        ):
            running.add(listing.invocation)
        paths[listing.invocation] = listing.path.parent
        touched.setdefault(listing.invocation, []).extend(
            moment
            for job_dir in listing.unreadable
            if (moment := _mtime(listing.path / job_dir / META)) is not None
        )
    result = []
    for name, records in found.items():
        moments = [m for m in [_newest(records), *touched[name]] if m is not None]
        moment = max(moments) if moments else _mtime(paths[name]) or _NEVER
        result.append(Invocation(name, paths[name], moment, name in running))
    result.sort(key=lambda inv: inv.last_activity, reverse=True)
    return result


def select_prunable(
    found: list[Invocation], *, older_than: float, keep_last: int, reference: datetime
) -> list[Invocation]:
    """Invocations older than `older_than` seconds, sparing the `keep_last` newest.

    An invocation with a job still recorded `running` is never chosen (a long
    job started long ago may still be writing there) unless its coordinator
    is known to be gone.
    """
    return [
        inv
        for inv in found[keep_last:]
        if not inv.running and (reference - inv.last_activity).total_seconds() > older_than
    ]


def remove(invocation: Invocation) -> None:
    shutil.rmtree(invocation.path)


_NEVER = datetime.min.replace(tzinfo=timezone.utc)


def _newest(records: Iterable[Record]) -> datetime | None:
    """The latest start or end among `records`, compared as times (not as strings)."""
    return max(
        (parse_rfc3339(s) for r in records for s in (r.started_at, r.finished_at) if s),
        default=None,
    )


def _start_key(record: Record) -> tuple[bool, datetime]:
    """Sort key: started jobs by start time, then those that never started."""
    started = _parse(record.started_at)
    return (started is None, started or _NEVER)


def _parse(text: str | None) -> datetime | None:
    return parse_rfc3339(text) if text else None


def _mtime(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
    except OSError:  # gone since it was listed
        return None

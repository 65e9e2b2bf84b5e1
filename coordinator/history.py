"""What earlier runs recorded: the `jobs` listing and `prune`.

Both read only meta.json records (DESIGN 4.3), so they work on state written
by any coordinator that honours the contract, not just this one.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from coordinator.model import Record, Status
from coordinator.store import iter_runs
from coordinator.timefmt import parse_rfc3339


@dataclass(frozen=True)
class JobRow:
    """One recorded job, as the `jobs` command lists it."""

    invocation: str
    worktree: str
    record: Record

    @property
    def started(self) -> datetime | None:
        return _parse(self.record.started_at)

    def duration(self, reference: datetime) -> float | None:
        """Seconds it ran (so far, when still running); None if it never started."""
        record = self.record
        if record.started_mono_ns is not None and record.finished_mono_ns is not None:
            return (record.finished_mono_ns - record.started_mono_ns) / 1e9
        started = self.started
        if started is None:
            return None
        finished = _parse(record.finished_at) or reference
        return max(0.0, (finished - started).total_seconds())

    def to_json(self, reference: datetime) -> dict[str, Any]:
        return {
            "invocation": self.invocation,
            "worktree": self.worktree,
            **self.record.to_json(),
            "duration_seconds": self.duration(reference),
        }


def job_rows(state_dir: Path) -> list[JobRow]:
    """Every recorded job, newest invocation first, jobs in start order within one."""
    runs = []
    for listing in iter_runs(state_dir):
        rows = [JobRow(listing.invocation, listing.worktree, r) for r in listing.records.values()]
        rows.sort(key=lambda row: (row.record.started_at or "~", row.record.name))
        runs.append((_newest(listing.records.values()) or "", rows))
    runs.sort(key=lambda item: item[0], reverse=True)
    return [row for _, rows in runs for row in rows]


@dataclass(frozen=True)
class Invocation:
    """An invocation directory and the moment of its latest recorded activity."""

    name: str
    path: Path
    last_activity: datetime
    running: bool


def invocations(state_dir: Path) -> list[Invocation]:
    """Every invocation under `state_dir`, newest first."""
    found: dict[str, list[Record]] = {}
    paths: dict[str, Path] = {}
    for listing in iter_runs(state_dir):
        found.setdefault(listing.invocation, []).extend(listing.records.values())
        paths[listing.invocation] = listing.path.parent
    result = []
    for name, records in found.items():
        newest = _newest(records)
        moment = _parse(newest) if newest else _mtime(paths[name])
        running = any(r.status is Status.RUNNING for r in records)
        result.append(Invocation(name, paths[name], moment, running))
    result.sort(key=lambda inv: inv.last_activity, reverse=True)
    return result


def select_prunable(
    found: list[Invocation], *, older_than: float, keep_last: int, reference: datetime
) -> list[Invocation]:
    """Invocations older than `older_than` seconds, sparing the `keep_last` newest.

    An invocation with a job still recorded `running` is never chosen: a long
    job started long ago may still be writing there.
    """
    return [
        inv
        for inv in found[keep_last:]
        if not inv.running and (reference - inv.last_activity).total_seconds() > older_than
    ]


def remove(invocation: Invocation) -> None:
    shutil.rmtree(invocation.path)


def _newest(records: Any) -> str | None:
    stamps = [s for r in records for s in (r.started_at, r.finished_at) if s]
    return max(stamps) if stamps else None


def _parse(text: str | None) -> datetime | None:
    return parse_rfc3339(text) if text else None


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)

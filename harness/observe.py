"""What a run left behind: the recorded meta, job outputs, witnesses and markers.

Both drivers end here: the in-process one too reads the records back from
disk, so every scenario is checked against exactly what DESIGN 4.3 promises
(files any other tool could read), not against in-memory objects.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from coordinator.model import Record
from harness.fakes import WITNESS_DIR, Witness, parse_witness
from harness.model import Scenario

OUTPUT_LIMIT = 1 << 20  # bytes of a job's output.log kept for expectations and reports
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class Observation:
    """Everything the expectations and the report look at."""

    records: dict[str, Record] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    witnesses: dict[str, Witness] = field(default_factory=dict)
    work_dir: Path | None = None
    input_error: str | None = None  # the coordinator's message when it rejected the input
    problems: list[str] = field(default_factory=list)  # unreadable or duplicate records
    timed_out: bool = False  # the harness stopped the run at the scenario timeout
    coordinator_exit: int | None = None  # exit code of an external coordinator
    coordinator_stderr: str = ""

    @property
    def uses_mono(self) -> bool:
        """Order by CLOCK_MONOTONIC when every started record has it (DESIGN 4.3)."""
        started = [r for r in self.records.values() if r.started_at is not None]
        return all(r.started_mono_ns is not None for r in started)

    def interval(self, name: str) -> tuple[int, int | None] | None:
        """(start, end) in ns on one clock; None if the job never started, end None if running."""
        record = self.records.get(name)
        if record is None or record.started_at is None:
            return None
        if self.uses_mono:
            return record.started_mono_ns, record.finished_mono_ns  # type: ignore[return-value]
        end = None if record.finished_at is None else wall_ns(record.finished_at)
        return wall_ns(record.started_at), end

    def intervals(self) -> dict[str, tuple[int, int | None]]:
        found = {name: self.interval(name) for name in self.records}
        return {name: span for name, span in found.items() if span is not None}


_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)"
)


def wall_ns(stamp: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time such as `...T09:46:14.588257Z`.

    Any precision up to nanoseconds and any offset: an external coordinator
    need not write exactly what ours does. Raises ValueError for anything else.
    """
    match = _RFC3339.fullmatch(stamp)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {stamp!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    zone = timezone.utc
    if offset not in ("Z", "z"):
        sign = -1 if offset[0] == "-" else 1
        zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    moment = datetime(*map(int, (year, month, day, hour, minute, second)), tzinfo=zone)
    whole = (moment - _EPOCH) // timedelta(seconds=1)
    return whole * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


def _record_problem(record: Record) -> str | None:
    """Why a record cannot be used (wrong field types, bad times), or None."""
    for name in ("started_mono_ns", "finished_mono_ns", "exit_code", "pid"):
        value = getattr(record, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return f"{name} must be an integer or null, got {value!r}"
    for name in ("started_at", "finished_at"):
        value = getattr(record, name)
        if value is None:
            continue
        try:
            wall_ns(value)
        except (TypeError, ValueError):
            return f"{name} is not an RFC 3339 time: {value!r}"
    return None


def observe(scenario: Scenario, *, work_dir: Path, run_dir: Path) -> Observation:
    """Read every `meta.json` under `run_dir`, each job's output, and the witnesses."""
    observation = Observation(work_dir=work_dir)
    metas = sorted(run_dir.glob("*/meta.json")) if run_dir.is_dir() else []
    for meta in metas:
        try:
            record = Record.from_json(json.loads(meta.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as error:
            observation.problems.append(f"unreadable record {meta}: {error}")
            continue
        problem = _record_problem(record)
        if problem is not None:
            observation.problems.append(f"record of {record.name!r} in {meta}: {problem}")
            continue
        if record.name in observation.records:
            observation.problems.append(f"two records for job {record.name!r} ({meta})")
            continue
        observation.records[record.name] = record
        observation.outputs[record.name] = _read_tail(meta.parent / "output.log")
    for job in scenario.jobs:
        if job.witness is not None:
            path = work_dir / job.witness
            text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
            observation.witnesses[job.name] = parse_witness(text)
    if scenario.input_error:  # no checked jobs: any witness at all means something ran
        for path in sorted((work_dir / WITNESS_DIR).glob("*")):
            text = path.read_text(encoding="utf-8", errors="replace")
            observation.witnesses[path.name] = parse_witness(text)
    return observation


def _read_tail(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - OUTPUT_LIMIT))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""

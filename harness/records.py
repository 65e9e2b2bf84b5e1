"""Reading the records a run left, as any reader of the spec would (`record.*`).

This is the harness's one record reader: the drivers, the observation and
the oracle all go through it, and none of them uses the coordinator's own
reader, since a bug there would shift the judge together with the judged.
It is lenient where the spec says readers must be (any RFC 3339 UTC time,
with or without a fraction) and strict about everything else: a field of
the wrong type is reported as a `record.fields` problem, not guessed at.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from harness.contract import SKIP_CAUSES, STATUSES

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)"
)


@dataclass(frozen=True)
class Stamp:
    """An RFC 3339 time as ns since the epoch, and how coarse it was written."""

    ns: int
    precision_ns: int  # 1 s without a fraction, 1 us for six digits...


def parse_time(text: str) -> Stamp:
    """Any RFC 3339 UTC time (`Z`, or an offset of zero); ValueError for anything else."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if offset not in ("Z", "z", "+00:00", "-00:00"):
        raise ValueError(f"not a UTC time: {text!r}")
    leap = second == "60"  # a leap second: RFC 3339 allows it, datetime does not
    fields = (year, month, day, hour, minute, "59" if leap else second)
    try:
        moment = datetime(*map(int, fields), tzinfo=timezone.utc)
    except ValueError as error:
        raise ValueError(f"not an RFC 3339 time: {text!r} ({error})") from None
    whole = (moment - _EPOCH) // timedelta(seconds=1) + leap
    digits = (fraction or "")[:9]  # finer than a nanosecond is below any clock here
    precision = 10 ** (9 - len(digits))
    return Stamp(whole * 1_000_000_000 + int(digits.ljust(9, "0")), precision)


@dataclass(frozen=True)
class Record:
    """One job's record as read, fields typed as the spec's table says."""

    name: str
    status: str
    started_at: Stamp | None
    finished_at: Stamp | None
    started_mono_ns: int | None
    finished_mono_ns: int | None
    exit_code: int | None
    needs: tuple[str, ...]
    background: bool
    skip_cause: str | None
    reason: str | None
    command: str
    pid: int | None
    job_dir: str  # the directory it was found in
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def started(self) -> bool:
        return self.started_mono_ns is not None or self.started_at is not None

    @property
    def final(self) -> bool:
        return self.status != "running"


@dataclass
class RunRecords:
    """Every record under one `<state_dir>/jobs/<invocation>/<worktree>/`."""

    records: dict[str, Record] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (rule id, what)
    outputs: dict[str, Path] = field(default_factory=dict)  # job name -> output.log


def read_records(run_dir: Path) -> RunRecords:
    """Read every `*/meta.json` under `run_dir`; problems are kept, never raised."""
    found = RunRecords()
    metas = sorted(run_dir.glob("*/meta.json")) if run_dir.is_dir() else []
    for meta in metas:
        where = f"{meta.parent.name}/meta.json"
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            found.problems.append(("record.fields", f"{where} is not readable JSON: {error}"))
            continue
        record, problems = parse_record(data, meta.parent.name)
        label = where if record is None else f"{where} ({record.name!r})"
        found.problems += [(rule, f"{label}: {text}") for rule, text in problems]
        if record is None:
            continue
        if record.name in found.records:
            other = found.records[record.name].job_dir
            found.problems.append(
                ("record.every-job", f"two records for job {record.name!r} ({other}, {where})")
            )
            continue
        found.records[record.name] = record
        log = meta.parent / "output.log"
        if log.is_file():
            found.outputs[record.name] = log
        elif record.started:  # a job that never ran has no output to hold
            found.problems.append(("record.location", f"no output.log beside {where}"))
    return found


def parse_record(data: Any, job_dir: str) -> tuple[Record | None, list[tuple[str, str]]]:
    """A Record and every problem found in it, as (rule id, what) pairs.

    A record without a usable `name` or `status` cannot be judged at all and
    gives None; other wrong fields are read as null (or empty) and reported.
    """
    fields = "record.fields"
    if not isinstance(data, dict):
        return None, [(fields, f"a record must be a JSON object, got {type(data).__name__}")]
    name, status = data.get("name"), data.get("status")
    if not isinstance(name, str):
        return None, [(fields, f"'name' must be a string, got {name!r}")]
    if status not in STATUSES:
        return None, [(fields, f"'status' must be one of {', '.join(STATUSES)}, got {status!r}")]
    problems = [(fields, f"missing field {key!r}") for key in _REQUIRED if key not in data]

    def integer(key: str) -> int | None:
        value = data.get(key)
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        problems.append((fields, f"{key!r} must be an integer or null, got {value!r}"))
        return None

    def text(key: str) -> str | None:
        value = data.get(key)
        if value is None or isinstance(value, str):
            return value
        problems.append((fields, f"{key!r} must be a string or null, got {value!r}"))
        return None

    def stamp(key: str) -> Stamp | None:
        value = text(key)
        if value is None:
            return None
        try:
            return parse_time(value)
        except ValueError as error:
            problems.append(("record.time-format", f"{key!r}: {error}"))
            return None

    needs = data.get("needs")
    if not (isinstance(needs, list) and all(isinstance(n, str) for n in needs)):
        problems.append((fields, f"'needs' must be a list of strings, got {needs!r}"))
        needs = []
    background = data.get("background")
    if not isinstance(background, bool):
        problems.append((fields, f"'background' must be true or false, got {background!r}"))
    command = data.get("command")
    if not isinstance(command, str):
        problems.append((fields, f"'command' must be a string, got {command!r}"))
    skip_cause = text("skip_cause")
    if skip_cause is not None and skip_cause not in SKIP_CAUSES:
        problems.append((fields, f"'skip_cause' must be condition, needs or null: {skip_cause!r}"))
    record = Record(
        name=name,
        status=status,
        started_at=stamp("started_at"),
        finished_at=stamp("finished_at"),
        started_mono_ns=integer("started_mono_ns"),
        finished_mono_ns=integer("finished_mono_ns"),
        exit_code=integer("exit_code"),
        needs=tuple(needs),
        background=background is True,
        skip_cause=skip_cause,
        reason=text("reason"),
        command=command if isinstance(command, str) else "",
        pid=integer("pid"),
        job_dir=job_dir,
        raw=data,
    )
    return record, problems


_REQUIRED = (
    "name",
    "status",
    "started_at",
    "finished_at",
    "started_mono_ns",
    "finished_mono_ns",
    "exit_code",
    "needs",
    "background",
    "skip_cause",
    "reason",
    "command",
    "pid",
)


def started_names(run_dir: Path) -> tuple[set[str], int]:
    """Names of the jobs recorded as started so far, read during a run (cancel triggers).

    Also the number of records that could not be parsed: during a run that
    means a reader saw a partial file (`record.atomic`).
    """
    names: set[str] = set()
    torn = 0
    for meta in run_dir.glob("*/meta.json") if run_dir.is_dir() else ():
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except (OSError, ValueError):
            torn += 1
            continue
        if isinstance(data, dict) and data.get("started_at") is not None:
            names.add(str(data.get("name")))
    return names, torn

"""Timestamps for records and durations for people.

Records carry both an RFC 3339 wall-clock string (for people and listings)
and CLOCK_MONOTONIC nanoseconds (for ordering checks a clock step cannot
fool). The human formats live here so the CLI and the harness agree.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)", re.ASCII
)
_MONOTONIC: int | None = getattr(time, "CLOCK_MONOTONIC", None)


def mono_ns() -> int:
    """CLOCK_MONOTONIC in ns: the machine's clock, comparable across processes (spec: records).

    Named explicitly: `time.monotonic_ns()` is another clock on some systems.
    """
    return time.clock_gettime_ns(_MONOTONIC) if _MONOTONIC is not None else time.monotonic_ns()


def monotonic() -> float:
    """`mono_ns()` in seconds, for deadlines measured against the recorded stamps."""
    return mono_ns() / 1e9


def now() -> tuple[str, int]:
    """The current time as (RFC 3339 UTC string with microseconds, CLOCK_MONOTONIC ns)."""
    return rfc3339(datetime.now(timezone.utc)), mono_ns()


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> datetime:
    """Any RFC 3339 time, as an aware UTC datetime; ValueError for anything else.

    Records may come from another coordinator (spec: records), so this is lenient
    where RFC 3339 is: with or without a fraction (any number of digits, cut
    to microseconds), `T`, `t` or a space, `Z`, `z` or a numeric offset, and
    a leap second `:60`. The one parser for every reader of the coordinator.
    """
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    zone = timezone.utc
    if offset not in ("Z", "z"):
        sign = -1 if offset[0] == "-" else 1
        zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    leap = second == "60"
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            59 if leap else int(second),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=zone,
        )
        if leap:
            moment += timedelta(seconds=1)
        return moment.astimezone(timezone.utc)
    except OverflowError:  # the edges of year 1 and 9999, moved by an offset
        raise ValueError(f"not an RFC 3339 time we can represent: {text!r}") from None


def parse_duration(text: str) -> float:
    """Seconds in a duration like `90s`, `15m`, `12h`, `7d`, `2w` or `1h30m`."""
    stripped = text.strip()
    parts = _DURATION.findall(stripped)
    if not parts or "".join(n + u for n, u in parts) != stripped:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 12h, 7d, 1h30m)")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def human_duration(seconds: float) -> str:
    """`0.12s`, `4.50s`, `12.3s`, `3m04s`, `2h05m`: short, and precise where it matters."""
    if round(seconds, 2) < 10:
        return f"{seconds:.2f}s"
    if round(seconds, 1) < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def human_ago(moment: datetime, reference: datetime | None = None) -> str:
    """`just now`, `42s ago`, `3m ago`, `5h ago`, `2d ago`."""
    reference = reference or datetime.now(timezone.utc)
    seconds = (reference - moment).total_seconds()
    if seconds < 0:
        return "in the future"
    if seconds < 1:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"

"""Timestamps for records and durations for people.

Records carry both an RFC 3339 wall-clock string (for people and listings)
and CLOCK_MONOTONIC nanoseconds (for ordering checks a clock step cannot
fool). The human formats live here so the CLI and the harness agree.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def now() -> tuple[str, int]:
    """The current time as (RFC 3339 UTC string with microseconds, monotonic ns)."""
    return rfc3339(datetime.now(timezone.utc)), time.monotonic_ns()


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


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

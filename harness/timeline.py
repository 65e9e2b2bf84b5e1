"""A text timeline of a run: one row per job, a bar scaled to the run's time span.

    time 0 .. 0.612 s, one column = 0.015 s
    install     |#############                           | completed  0      0.000  0.201
    db-migrate  |             ###########################| completed  0      0.203  0.612
    db-seed     |                                        | skipped    -          -      -

Rows are sorted by start; jobs that never started come last, in file order.
The two numbers are start and end in seconds from the first start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 40


@dataclass(frozen=True)
class Row:
    name: str
    start: int | None  # ns on one clock; None if the job never started
    end: int | None  # None if it never started or is still running
    status: str
    exit_code: int | None


def render_timeline(rows: Sequence[Row], width: int = WIDTH) -> str:
    if not rows:
        return "(no jobs recorded)"
    started = [row for row in rows if row.start is not None]
    origin = min((row.start for row in started), default=0)  # type: ignore[type-var]
    last = max((max(row.start, row.end or 0) for row in started), default=origin)  # type: ignore[type-var]
    span = max(last - origin, 1)
    order = sorted(
        range(len(rows)),
        key=lambda i: (rows[i].start is None, rows[i].start or 0, i),
    )
    name_width = max(len(row.name) for row in rows)
    status_width = max(len(row.status) for row in rows)
    lines = [f"time 0 .. {span / 1e9:.3f} s, one column = {span / 1e9 / width:.3f} s"]
    for index in order:
        row = rows[index]
        bar = _bar(row, origin, span, width)
        code = "-" if row.exit_code is None else str(row.exit_code)
        times = f"{_offset(row.start, origin):>7}  {_offset(row.end, origin):>7}"
        lines.append(
            f"{row.name:<{name_width}}  |{bar}| {row.status:<{status_width}}  {code:<4}  {times}"
        )
    return "\n".join(lines)


def _bar(row: Row, origin: int, span: int, width: int) -> str:
    if row.start is None:
        return " " * width
    first = min(int((row.start - origin) / span * width), width - 1)
    if row.end is None:  # still running when the records were read: up to the right edge
        last = width
    else:
        last = max(first + 1, min(math.ceil((row.end - origin) / span * width), width))
    return " " * first + "#" * (last - first) + " " * (width - last)


def _offset(moment: int | None, origin: int) -> str:
    return "-" if moment is None else f"{(moment - origin) / 1e9:.3f}"

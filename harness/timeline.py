"""Timelines of a run: one row per job, a bar scaled to the run's time span.

As text (`render_timeline`, in failure reports):

    time 0 .. 0.612 s, one column = 0.015 s
    install     |#############                           | completed  0      0.000  0.201
    db-migrate  |             ###########################| completed  0      0.203  0.612
    db-seed     |                                        | skipped    -          -      -

Rows are sorted by start; jobs that never started come last, in file order.
The two numbers are start and end in seconds from the first start. As an
SVG picture (`render_svg`, in the HTML reports), from `harness.report.run_data`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

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


# -- the picture ----------------------------------------------------------------------

COLOURS = {
    "completed": "#2e7d32",
    "failed": "#c62828",
    "timed_out": "#ef6c00",
    "cancelled": "#6a1b9a",
    "skipped": "#9e9e9e",
    "running": "#1565c0",
}
UNKNOWN_COLOUR = "#424242"  # "no record", or a status the spec does not have
_ROW, _BAR, _TOP, _LEFT, _RIGHT, _PLOT = 26, 14, 34, 190, 160, 520


def render_svg(run: Mapping[str, Any]) -> str:
    """An SVG timeline of one run (`harness.report.run_data`): a bar per job, needs as arrows.

    Bars are coloured by status and sorted by start (never-started jobs last,
    in file order, with a hollow diamond where they could have started); an
    arrow runs from the end of each need to the start of the job that needs
    it (red and dashed when the job started before that need ended); jobs
    that a failed check names have a red label; every bar has a tooltip with
    its times and reason. Self-contained: no script, no CSS.
    """
    jobs = list(run.get("jobs", ()))
    order = sorted(
        range(len(jobs)), key=lambda i: (jobs[i]["start"] is None, jobs[i]["start"] or 0, i)
    )
    ends = [t for job in jobs for t in (job["start"], job["end"]) if t is not None]
    span = max(max(ends, default=0.0), 1e-3)
    step = _tick_step(span)
    scale = _PLOT / span
    height = _TOP + _ROW * max(len(jobs), 1) + 12
    width = _LEFT + _PLOT + _RIGHT
    blamed = {name for failure in run.get("failures", ()) for name in failure.get("jobs", ())}
    row_of = {jobs[index]["name"]: row for row, index in enumerate(order)}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="scenario-timeline" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" '
        f'font-size="12" role="img" aria-label="timeline of {escape(run.get("test_id", ""))}">',
        "<defs>",
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#546e7a"/></marker>',
        '<marker id="arrow-early" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#c62828"/></marker>',
        '<pattern id="background-job" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="3" height="6" fill="#ffffff" '
        'fill-opacity="0.35"/></pattern>',
        "</defs>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    tick = 0.0
    while tick <= span + 1e-9:
        x = _LEFT + tick * scale
        out.append(
            f'<line x1="{x:.1f}" y1="{_TOP - 6}" x2="{x:.1f}" y2="{height - 8}" '
            'stroke="#e0e0e0"/>'
            f'<text x="{x:.1f}" y="{_TOP - 10}" text-anchor="middle" fill="#616161">'
            f"{tick:g} s</text>"
        )
        tick = round(tick + step, 9)
    for row, index in enumerate(order):
        job = jobs[index]
        y = _TOP + row * _ROW
        middle = y + _ROW / 2
        colour = COLOURS.get(job["status"], UNKNOWN_COLOUR)
        label = job["name"] + (" (bg)" if job.get("background") else "")
        weight = ' font-weight="bold" fill="#c62828"' if job["name"] in blamed else ""
        out.append(
            f'<text x="{_LEFT - 8}" y="{middle + 4:.1f}" text-anchor="end"{weight}>'
            f"{escape(_clip_text(label, 26))}</text>"
        )
        tip = escape(_tooltip(job))
        if job["start"] is not None:
            x0 = _LEFT + job["start"] * scale
            x1 = _LEFT + (span if job["end"] is None else job["end"]) * scale
            bar_width = max(x1 - x0, 2.0)
            top = middle - _BAR / 2
            out.append(
                f'<g class="job" data-job="{escape(job["name"])}"><title>{tip}</title>'
                f'<rect x="{x0:.1f}" y="{top:.1f}" width="{bar_width:.1f}" height="{_BAR}" '
                f'rx="2" fill="{colour}"/>'
                + (
                    f'<rect x="{x0:.1f}" y="{top:.1f}" width="{bar_width:.1f}" height="{_BAR}" '
                    'rx="2" fill="url(#background-job)"/>'
                    if job.get("background")
                    else ""
                )
                + "</g>"
            )
        else:
            x = _LEFT + _ready_at(job, jobs) * scale
            out.append(
                f'<g class="job" data-job="{escape(job["name"])}"><title>{tip}</title>'
                f'<path d="M{x:.1f},{middle - 6:.1f} l6,6 l-6,6 l-6,-6 z" fill="#ffffff" '
                f'stroke="{colour}" stroke-width="1.5"/></g>'
            )
        code = "" if job["exit_code"] is None else f" ({job['exit_code']})"
        out.append(
            f'<text x="{_LEFT + _PLOT + 16}" y="{middle + 4:.1f}" fill="{colour}">'
            f"{escape(job['status'] + code)}</text>"
        )
    for job in jobs:
        target_row = row_of[job["name"]]
        target_y = _TOP + target_row * _ROW + _ROW / 2
        if job["start"] is not None:
            target_x = _LEFT + job["start"] * scale
        else:
            target_x = _LEFT + _ready_at(job, jobs) * scale - 6
        for need in job.get("needs", ()):
            source = next((j for j in jobs if j["name"] == need), None)
            if source is None or source["start"] is None:
                continue
            source_x = _LEFT + (span if source["end"] is None else source["end"]) * scale
            source_y = _TOP + row_of[need] * _ROW + _ROW / 2
            bend = max(abs(target_x - source_x) / 2, 12)
            early = job["start"] is not None and target_x < source_x - 0.5
            title = f"{job['name']} needs {need}"
            if early:  # the bug this project exists for: started before its need ended
                title += f" but started {source_x / scale - target_x / scale:.3f} s before it ended"
            style = (
                'stroke="#c62828" stroke-dasharray="4 3" marker-end="url(#arrow-early)"'
                if early
                else 'stroke="#546e7a" marker-end="url(#arrow)"'
            )
            if early:  # backwards: one arc between the bars, not a loop around them
                top = min(source_y, target_y) - _ROW / 2
                curve = f"Q{(source_x + target_x) / 2:.1f},{top:.1f}"
            else:
                curve = (
                    f"C{source_x + bend:.1f},{source_y:.1f} {target_x - bend:.1f},{target_y:.1f}"
                )
            out.append(
                f'<path class="need{" early" if early else ""}" '
                f'd="M{source_x:.1f},{source_y:.1f} {curve} '
                f'{target_x:.1f},{target_y:.1f}" fill="none" {style} '
                'stroke-width="1.3" stroke-opacity="0.85">'
                f"<title>{escape(title)}</title></path>"
            )
    if not jobs:
        out.append(f'<text x="{_LEFT}" y="{_TOP + 16}" fill="#616161">no jobs recorded</text>')
    out.append("</svg>")
    return "".join(out)


def _ready_at(job: Mapping[str, Any], jobs: Sequence[Mapping[str, Any]]) -> float:
    """Where a job that never started is drawn: when the last of its needs ended, else 0."""
    ends = [
        j["end"] if j["end"] is not None else j["start"]
        for j in jobs
        if j["name"] in job.get("needs", ()) and j["start"] is not None
    ]
    return max((end for end in ends if end is not None), default=0.0)


def _tick_step(span: float) -> float:
    """A round step that gives 4 to 10 ticks over `span` seconds."""
    magnitude = 10 ** math.floor(math.log10(span))
    for factor in (0.1, 0.2, 0.5, 1, 2, 5, 10):
        step = magnitude * factor
        if span / step <= 10:
            return step
    return magnitude * 10


def _tooltip(job: Mapping[str, Any]) -> str:
    start, end = job["start"], job["end"]
    times = (
        "never started"
        if start is None
        else f"{start:.3f} s to {'still running' if end is None else f'{end:.3f} s'}"
    )
    text = f"{job['name']}: {job['status']}"
    if job["exit_code"] is not None:
        text += f", exit code {job['exit_code']}"
    text += f", {times}"
    if job.get("needs"):
        text += f"; needs {', '.join(job['needs'])}"
    if job.get("reason"):
        text += f"; reason: {job['reason']}"
    return text


def _clip_text(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"

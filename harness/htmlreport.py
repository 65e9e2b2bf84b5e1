"""The HTML report of a scenario run: per scenario, its SVG timeline and its failed checks.

`pytest scenarios/ --scenario-report DIR` writes `DIR/index.html`, one
self-contained page (inline CSS and SVG, no script, nothing fetched): broken
files first, then the scenarios, failing ones first, each with a timeline
(`harness.timeline.render_svg`) and the failed checks beside it. With
pytest-html (`--html=report.html`) the plugin adds the same timeline to
each scenario's row instead (see `harness.plugin`); both work under xdist,
since the run data travels on the test report.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from harness.timeline import COLOURS, UNKNOWN_COLOUR, render_svg

TITLE = "Scenario report"
# Failing first; then the ones worth a look; passing last.
_RANK = {"failed": 0, "error": 0, "xpassed": 1, "xfailed": 2, "skipped": 3, "passed": 4}
_BADGE = {
    "failed": "#c62828",
    "error": "#c62828",
    "xpassed": "#ef6c00",
    "xfailed": "#6d4c41",
    "skipped": "#9e9e9e",
    "passed": "#2e7d32",
}

_CSS = """
body { font-family: sans-serif; margin: 24px; color: #212121; background: #fafafa; }
h1 { font-size: 22px; margin: 0 0 4px; }
.summary span { display: inline-block; margin-right: 14px; }
.chip { display: inline-block; padding: 1px 8px; border-radius: 9px; color: #fff;
        font-size: 12px; font-weight: bold; }
.legend { margin: 10px 0 18px; font-size: 12px; color: #424242; }
.legend i { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px;
            vertical-align: middle; border-radius: 2px; }
section { background: #fff; border: 1px solid #e0e0e0; border-left: 6px solid #9e9e9e;
          border-radius: 4px; padding: 10px 14px; margin: 0 0 14px; }
section h2 { font-size: 15px; margin: 0 0 4px; font-family: monospace; }
.where { color: #616161; font-size: 12px; font-family: monospace; }
.description { color: #424242; font-size: 13px; margin: 4px 0 8px; max-width: 1100px; }
.body { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
.checks { flex: 1 1 360px; min-width: 320px; font-size: 13px; }
.checks ol { margin: 0; padding-left: 18px; }
.checks li { margin-bottom: 8px; }
.checks code { font-size: 12px; }
.checks .loc { color: #c62828; font-family: monospace; font-size: 12px; }
.ok { color: #2e7d32; font-size: 13px; }
pre { background: #fbe9e7; padding: 8px; white-space: pre-wrap; font-size: 12px; margin: 0; }
"""


@dataclass
class Entry:
    """One scenario item's result, or a file that could not be collected (`run` None)."""

    nodeid: str
    outcome: str  # passed, failed, error, skipped, xfailed, xpassed
    duration: float = 0.0
    run: Mapping[str, Any] | None = None
    text: str = ""  # a collection error's lines, or why it was skipped
    extra: dict[str, Any] = field(default_factory=dict)


def order(entries: Iterable[Entry]) -> list[Entry]:
    """Failing first, then xpassed, xfailed, skipped, passed; by node id within each."""
    return sorted(entries, key=lambda e: (_RANK.get(e.outcome, 1), e.nodeid))


def write_page(directory: Path, entries: Iterable[Entry], *, title: str = TITLE) -> Path:
    """Write `directory/index.html`; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "index.html"
    path.write_text(render_page(list(entries), title=title), encoding="utf-8")
    return path


def render_page(entries: list[Entry], *, title: str = TITLE) -> str:
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.outcome] = counts.get(entry.outcome, 0) + 1
    summary = "".join(
        f'<span><b class="chip" style="background:{_BADGE.get(k, UNKNOWN_COLOUR)}">{n}</b> '
        f"{escape(k)}</span>"
        for k, n in sorted(counts.items(), key=lambda kv: _RANK.get(kv[0], 1))
    )
    legend = "".join(
        f'<i style="background:{colour}"></i>{escape(status)}' for status, colour in COLOURS.items()
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<div class="summary">{summary} <span class="where">'
        f"{escape(time.strftime('%Y-%m-%d %H:%M:%S'))}</span></div>",
        f'<div class="legend">bar colour: {legend} &nbsp; striped: background job; '
        "&#9671;: never started; arrow: needs</div>",
    ]
    parts += [_section(entry) for entry in order(entries)]
    parts.append("</body></html>")
    return "\n".join(parts)


def _section(entry: Entry) -> str:
    colour = _BADGE.get(entry.outcome, UNKNOWN_COLOUR)
    run = entry.run
    head = (
        f'<section class="scenario {escape(entry.outcome)}" style="border-left-color:{colour}">'
        f'<h2><span class="chip" style="background:{colour}">{escape(entry.outcome)}</span> '
        f"{escape(entry.nodeid)}</h2>"
    )
    if run is None:  # a broken file, or a scenario that did not run
        body = f"<pre>{escape(entry.text)}</pre>" if entry.text else ""
        return head + body + "</section>"
    where = f"{run['file']}:{run['line']}"
    meta = f"{where} · {escape(str(run.get('driver', '')))} coordinator · {entry.duration:.2f} s"
    description = run.get("description") or ""
    failures = run.get("failures") or []
    if failures:
        items = "".join(
            f'<li><span class="loc">{escape(f["location"])}</span> <b>{escape(f["title"])}</b>'
            f"<br>expected: <code>{escape(f['expected'])}</code>"
            f"<br>observed: <code>{escape(f['observed'])}</code></li>"
            for f in failures
        )
        checks = f'<div class="checks"><b>{len(failures)} failed check(s)</b><ol>{items}</ol></div>'
    elif entry.outcome in ("passed", "xpassed"):
        checks = '<div class="checks ok">every check passed</div>'
    else:
        checks = f'<div class="checks"><pre>{escape(entry.text)}</pre></div>' if entry.text else ""
    return (
        head
        + f'<div class="where">{escape(meta)}</div>'
        + (f'<div class="description">{escape(description)}</div>' if description else "")
        + f'<div class="body"><div class="picture">{render_svg(run)}</div>{checks}</div>'
        + "</section>"
    )

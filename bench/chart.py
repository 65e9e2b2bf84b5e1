"""Draw the results as a hand-written SVG: one panel per shape, one bar per tool.

No plotting library: the project should not pull matplotlib in for one
picture. Each panel has its own scale, because shapes differ by orders of
magnitude; the bar is the median wall time, the whisker spans min to max and
a dashed line marks the critical path where it is not zero.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from bench.results import Results, rows

WIDTH = 760
LABEL_W = 125
BAR_W = 505
ROW_H = 20
TITLE_H = 24
GAP = 14
COLORS = {
    "eager": "#1f6fb4",
    "eager-tmpfs": "#4a90c8",
    "wave": "#8fbce0",
    "wave-tmpfs": "#b7d5ee",
    "ninja": "#7b4fa0",
    "make": "#e07b1a",
    "task": "#2f9e44",
    "python": "#888888",
}


def _text(
    x: float, y: float, text: str, *, anchor: str = "start", size: int = 12, **extra: str
) -> str:
    attrs = "".join(f' {key.replace("_", "-")}="{value}"' for key, value in extra.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{attrs}>'
        f"{escape(text)}</text>"
    )


def svg(results: Results) -> str:
    table = rows(results)
    parts: list[str] = []
    y = 30.0
    parts.append(_text(10, 20, "Median wall time (bar), min to max (whisker), seconds", size=14,
                       font_weight="bold"))  # fmt: skip
    for shape in results.shapes:
        shape_rows = [r for r in table if r.shape == shape.name and r.median_s is not None]
        y += GAP
        parts.append(_text(10, y + 14, f"{shape.name}: {shape.title}", size=13, font_weight="bold"))
        y += TITLE_H
        if not shape_rows:
            parts.append(_text(LABEL_W, y + 14, "no successful run"))
            y += ROW_H
            continue
        cp = shape.critical_path
        top = max(max(r.max_s or 0.0 for r in shape_rows), cp) * 1.08 or 1.0
        scale = BAR_W / top
        panel_top = y
        for row in shape_rows:
            color = COLORS.get(row.tool, "#777777")
            width = max(1.0, (row.median_s or 0.0) * scale)
            parts.append(_text(LABEL_W - 8, y + 14, row.label, anchor="end"))
            parts.append(
                f'<rect x="{LABEL_W}" y="{y + 3:.1f}" width="{width:.1f}" height="{ROW_H - 6}" '
                f'fill="{color}"/>'
            )
            lo, hi = LABEL_W + (row.min_s or 0.0) * scale, LABEL_W + (row.max_s or 0.0) * scale
            mid = y + ROW_H / 2
            parts.append(
                f'<path d="M{lo:.1f},{mid:.1f}H{hi:.1f}M{lo:.1f},{mid - 4:.1f}V{mid + 4:.1f}'
                f'M{hi:.1f},{mid - 4:.1f}V{mid + 4:.1f}" stroke="#222" fill="none"/>'
            )
            parts.append(
                _text(max(hi, LABEL_W + width) + 6, y + 14, f"{row.median_s:.3f}", size=11)
            )
            y += ROW_H
        if cp > 0:
            x = LABEL_W + cp * scale
            parts.append(
                f'<line x1="{x:.1f}" y1="{panel_top:.1f}" x2="{x:.1f}" y2="{y:.1f}" '
                'stroke="#c00" stroke-dasharray="4 3"/>'
            )
            parts.append(_text(x, y + 12, f"critical path {cp:.2f} s", anchor="middle", size=10,
                               fill="#c00"))  # fmt: skip
            y += 14
    height = int(y + GAP)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">'
    )
    background = f'<rect width="{WIDTH}" height="{height}" fill="white"/>'
    return "\n".join([head, background, *parts, "</svg>"]) + "\n"

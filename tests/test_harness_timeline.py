"""The text timeline shown in failure reports."""

from __future__ import annotations

from harness.timeline import Row, render_timeline

S = 1_000_000_000


def bars(text: str) -> dict[str, str]:
    """Job name -> the bar between the pipes."""
    rows = text.splitlines()[1:]
    return {row.split()[0]: row.split("|")[1] for row in rows}


def test_bars_are_scaled_to_the_run_and_sorted_by_start() -> None:
    text = render_timeline(
        [
            Row("seed", 2 * S, 4 * S, "failed", 1),
            Row("migrate", 0, 2 * S, "completed", 0),
            Row("lint", None, None, "skipped", None),
        ],
        width=8,
    )
    lines = text.splitlines()
    assert lines[0] == "time 0 .. 4.000 s, one column = 0.500 s"
    assert [line.split()[0] for line in lines[1:]] == ["migrate", "seed", "lint"]
    assert bars(text) == {"migrate": "####    ", "seed": "    ####", "lint": "        "}
    assert lines[2].split("|")[2].split() == ["failed", "1", "2.000", "4.000"]
    assert lines[3].split("|")[2].split() == ["skipped", "-", "-", "-"]


def test_short_job_still_gets_one_column_and_running_job_reaches_the_edge() -> None:
    text = render_timeline(
        [
            Row("long", 0, 10 * S, "completed", 0),
            Row("blip", 5 * S, 5 * S, "completed", 0),
            Row("stuck", 8 * S, None, "running", None),
        ],
        width=10,
    )
    assert bars(text) == {"long": "##########", "blip": "     #    ", "stuck": "        ##"}


def test_no_rows() -> None:
    assert render_timeline([]) == "(no jobs recorded)"

"""Pictures of a run: the SVG timeline, the `--scenario-report` page, pytest-html extras.

The page is also checked in a real browser by `scripts/report-screenshot`
(slow, not in CI); here its structure: failing scenarios first, one SVG per
scenario with a bar per job coloured by status, needs as arrows, and the
failed checks beside it; nothing fetched from anywhere.
"""

from __future__ import annotations

import json
import re
import textwrap
import xml.etree.ElementTree as ET

import pytest

from harness.htmlreport import Entry, render_page
from harness.timeline import COLOURS, render_svg

pytest_plugins = ["pytester"]

SVG = "{http://www.w3.org/2000/svg}"

RUN = {
    "test_id": "demo[wave]",
    "file": "scenarios/demo.yml",
    "line": 2,
    "description": "db-seed needs db-migrate",
    "driver": "in-process",
    "elapsed": 0.5,
    "input_error": None,
    "jobs": [
        {"name": "install", "line": 5, "status": "completed", "exit_code": 0, "start": 0.0,
         "end": 0.1, "needs": [], "background": False, "reason": None},
        {"name": "db-migrate", "line": 7, "status": "failed", "exit_code": 1, "start": 0.1,
         "end": 0.4, "needs": ["install"], "background": True, "reason": "exited with code 1"},
        {"name": "db-seed", "line": 9, "status": "skipped", "exit_code": None, "start": None,
         "end": None, "needs": ["db-migrate"], "background": True,
         "reason": "need 'db-migrate' failed"},
    ],
    "failures": [
        {"location": "scenarios/demo.yml:12", "title": "status of db-migrate",
         "expected": "completed", "observed": "failed, exit code 1", "rule": None,
         "jobs": ["db-migrate"]},
    ],
}  # fmt: skip


def test_the_svg_has_a_bar_per_started_job_an_arrow_per_need_and_a_diamond_for_the_rest() -> None:
    root = ET.fromstring(render_svg(RUN))
    jobs = root.findall(f"{SVG}g[@class='job']")
    assert [g.get("data-job") for g in jobs] == ["install", "db-migrate", "db-seed"]
    fills = [g.find(f"{SVG}rect").get("fill") for g in jobs[:2]]
    assert fills == [COLOURS["completed"], COLOURS["failed"]]
    assert jobs[2].find(f"{SVG}path").get("stroke") == COLOURS["skipped"]  # never started
    arrows = root.findall(f"{SVG}path[@class='need']")
    assert [a.find(f"{SVG}title").text for a in arrows] == [
        "db-migrate needs install",
        "db-seed needs db-migrate",
    ]
    tips = [g.find(f"{SVG}title").text for g in jobs]
    assert "reason: need 'db-migrate' failed" in tips[2]
    labels = {t.text: t.get("fill") for t in root.findall(f"{SVG}text")}
    assert labels["db-migrate (bg)"] == "#c62828"  # named by a failed check


def test_the_page_puts_failing_scenarios_first_and_fetches_nothing() -> None:
    passing = {**RUN, "test_id": "ok", "failures": []}
    page = render_page(
        [
            Entry("scenarios/ok.yml::ok", "passed", 0.2, passing),
            Entry("scenarios/broken.yml", "error", text="scenarios/broken.yml:3: oops"),
            Entry("scenarios/demo.yml::demo[wave]", "failed", 0.5, RUN),
        ]
    )
    order = re.findall(r'<section class="scenario (\w+)"', page)
    assert order == ["error", "failed", "passed"]
    assert page.count("<svg") == 2
    assert "scenarios/demo.yml:12" in page and "status of db-migrate" in page
    assert "every check passed" in page
    assert not re.search(r'(src|href)="(?!#)', page)  # self-contained


SCENARIO = """
name: {name}
jobs:
  - name: migrate
    fake: [sleep: 0.05, write: schema.sql]
  - name: seed
    needs: [migrate]
    fake: [require: schema.sql, exit: {code}]
expect:
  status: completed
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\n")
    (pytester.path / "scenarios").mkdir()
    for name, code in (("good", 0), ("bad", 3)):
        text = textwrap.dedent(SCENARIO).lstrip().format(name=name, code=code)
        (pytester.path / "scenarios" / f"{name}.yml").write_text(text)
    return pytester


@pytest.mark.parametrize("workers", [[], ["-p", "xdist", "-n", "2"]], ids=["serial", "xdist"])
def test_scenario_report_writes_one_page_with_every_scenario(suite, workers) -> None:
    result = suite.runpytest_subprocess("--scenario-report", "out", "scenarios", *workers)
    result.assert_outcomes(passed=1, failed=1)
    page = (suite.path / "out" / "index.html").read_text(encoding="utf-8")
    assert re.findall(r'<section class="scenario (\w+)"', page) == ["failed", "passed"]
    assert page.count('class="scenario-timeline"') == 2
    assert "scenarios/bad.yml:9" in page and "status of seed" in page
    result.stdout.fnmatch_lines(["*- scenario report: *out/index.html -*"])


def test_pytest_html_rows_carry_the_timeline(suite) -> None:
    pytest.importorskip("pytest_html")
    result = suite.runpytest_subprocess("--html=report.html", "scenarios")
    result.assert_outcomes(passed=1, failed=1)
    page = (suite.path / "report.html").read_text(encoding="utf-8")
    blob = re.search(r'data-jsonblob="([^"]*)"', page)
    assert blob, "pytest-html's data blob is missing"
    import html

    data = json.loads(html.unescape(blob.group(1)))
    extras = {
        test_id: " ".join(e["content"] for row in rows for e in row.get("extras", []))
        for test_id, rows in data["tests"].items()
    }
    assert set(extras) == {"scenarios/good.yml::good", "scenarios/bad.yml::bad"}
    assert all('class="scenario-timeline"' in content for content in extras.values())
    assert "status of seed" in extras["scenarios/bad.yml::bad"]


def test_without_pytest_html_nothing_breaks(suite) -> None:
    result = suite.runpytest_subprocess("-p", "no:html", "scenarios")
    result.assert_outcomes(passed=1, failed=1)


def test_a_job_that_started_before_its_need_ended_gets_a_red_dashed_arrow() -> None:
    racy = {
        **RUN,
        "jobs": [
            {**RUN["jobs"][1], "status": "completed", "start": 0.0, "end": 0.3, "needs": []},
            {**RUN["jobs"][2], "status": "failed", "start": 0.01, "end": 0.02, "exit_code": 1},
        ],
    }
    root = ET.fromstring(render_svg(racy))
    (arrow,) = root.findall(f"{SVG}path[@class='need early']")
    assert arrow.get("stroke") == "#c62828" and arrow.get("stroke-dasharray")
    assert "started 0.290 s before it ended" in arrow.find(f"{SVG}title").text

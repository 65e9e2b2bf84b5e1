"""The text shown for a failed scenario: what failed where, a timeline, job outputs.

A reader should see at once which expectation failed (with its file:line),
what was expected and observed, and enough of the run to tell why: the
timeline from the recorded meta and the tail of the relevant outputs. The
first line is the first failed check, `FILE:LINE: check`, because that is the
line CI shows (pytest's short summary, the JUnit `message`). `run_data`
is the same run as plain data, for the HTML report's pictures.
"""

from __future__ import annotations

import textwrap
from typing import Any

from harness import contract
from harness.engine import Outcome
from harness.model import display_path
from harness.timeline import Row, render_timeline

TAIL_LINES = 10
MAX_OUTPUTS = 4


def format_outcome(outcome: Outcome) -> str:
    scenario, obs = outcome.scenario, outcome.observation
    where = display_path(scenario.path)
    count = len(outcome.failures)
    lines = []
    for failure in outcome.failures:
        location = where if failure.line is None else f"{where}:{failure.line}"
        lines += [
            f"{location}: {failure.title}",
            f"    expected: {failure.expected}",
            f"    observed: {failure.observed}",
        ]
    lines += [
        "",
        f"scenario {scenario.test_id} failed {count} check(s) "
        f"({outcome.driver} coordinator, {outcome.elapsed:.2f} s)",
    ]
    if scenario.description:
        lines += ["    " + line for line in textwrap.wrap(scenario.description, 88)]
    if obs.records or scenario.jobs:
        lines += ["", "timeline (from the recorded meta):"]
        lines += ["    " + row for row in render_timeline(timeline_rows(outcome)).splitlines()]
    for name in _relevant_jobs(outcome):
        tail = obs.outputs.get(name, "").rstrip("\n").splitlines()[-TAIL_LINES:]
        if tail:
            plural = "s" if len(tail) > 1 else ""
            lines += ["", f"output of {name} (output.log, last {len(tail)} line{plural}):"]
            lines += ["    | " + line for line in tail]
    stderr = obs.facts.stderr
    if stderr.strip() and obs.input_error is None:
        tail = stderr.rstrip("\n").splitlines()[-TAIL_LINES:]
        lines += ["", "coordinator stderr:"] + ["    | " + line for line in tail]
    if outcome.tmp_dir is not None:
        lines += ["", f"files: {outcome.tmp_dir} (scenario.yml, hooks.yml, work/, state/)"]
    return "\n".join(lines)


def timeline_rows(outcome: Outcome) -> list[Row]:
    """One row per job, in file order; records of unknown jobs are added at the end."""
    obs = outcome.observation
    names = [job.name for job in outcome.scenario.jobs]
    names += [name for name in obs.records if name not in names]
    rows = []
    for name in names:
        record = obs.records.get(name)
        span = obs.interval(name)
        rows.append(
            Row(
                name=name,
                start=None if span is None else span[0],
                end=None if span is None else span[1],
                status="no record" if record is None else record.status,
                exit_code=None if record is None else record.exit_code,
            )
        )
    return rows


def _relevant_jobs(outcome: Outcome) -> list[str]:
    """Jobs named by the failures, then jobs that failed or timed out."""
    names: list[str] = []
    for failure in outcome.failures:
        names += [name for name in failure.jobs if name not in names]
    for name, record in outcome.observation.records.items():
        if record.status in (contract.FAILED, contract.TIMED_OUT) and name not in names:
            names.append(name)
    return names[:MAX_OUTPUTS]


def run_data(outcome: Outcome) -> dict[str, Any]:
    """The run as JSON-able data: what the HTML report draws (harness.htmlreport).

    Times are seconds from the first start. It travels on the test report
    (`report.scenario_run`), so it must survive pytest-xdist's serialization.
    """
    scenario, obs = outcome.scenario, outcome.observation
    rows = timeline_rows(outcome)
    origin = min((row.start for row in rows if row.start is not None), default=0)
    declared = {job.name: job for job in scenario.jobs}
    where = display_path(scenario.path)

    def seconds(moment: int | None) -> float | None:
        return None if moment is None else round((moment - origin) / 1e9, 6)

    jobs = []
    for row in rows:
        record = obs.records.get(row.name)
        job = declared.get(row.name)
        jobs.append(
            {
                "name": row.name,
                "line": None if job is None else job.line,
                "status": row.status,
                "exit_code": row.exit_code,
                "start": seconds(row.start),
                "end": seconds(row.end),
                "needs": list(job.needs if job is not None else record.needs if record else ()),
                "background": bool(record.background if record else job and job.background),
                "reason": None if record is None else record.reason,
            }
        )
    return {
        "test_id": scenario.test_id,
        "file": where,
        "line": scenario.line,
        "description": scenario.description,
        "driver": outcome.driver,
        "elapsed": round(outcome.elapsed, 3),
        "input_error": obs.input_error,
        "jobs": jobs,
        "failures": [
            {
                "location": where if f.line is None else f"{where}:{f.line}",
                "title": f.title,
                "expected": f.expected,
                "observed": f.observed,
                "rule": f.rule,
                "jobs": list(f.jobs),
            }
            for f in outcome.failures
        ],
    }

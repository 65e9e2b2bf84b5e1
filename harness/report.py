"""The text shown for a failed scenario: what failed where, a timeline, job outputs.

A reader should see at once which expectation failed (with its file:line),
what was expected and observed, and enough of the run to tell why: the
timeline from the recorded meta and the tail of the relevant outputs.
"""

from __future__ import annotations

import textwrap

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
    lines = [
        f"scenario {scenario.test_id} failed {count} check(s) "
        f"({outcome.driver} coordinator, {outcome.elapsed:.2f} s)",
    ]
    if scenario.description:
        lines += ["    " + line for line in textwrap.wrap(scenario.description, 88)]
    lines.append("")
    for failure in outcome.failures:
        location = where if failure.line is None else f"{where}:{failure.line}"
        lines += [
            f"{location}: {failure.title}",
            f"    expected: {failure.expected}",
            f"    observed: {failure.observed}",
        ]
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

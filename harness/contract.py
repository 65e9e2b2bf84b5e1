"""What the contract (docs/spec.md) derives from a hooks file, written from the spec alone.

The harness judges coordinators, ours included, so it must not ask any of
them what the rules mean: these few derivations (statuses, promotion, wave
levels, conditions, job directories) are written here once, from the spec,
and used by the oracle and the expectations. Nothing here does IO.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
TIMED_OUT = "timed_out"
CANCELLED = "cancelled"
SKIPPED = "skipped"
STATUSES = (RUNNING, COMPLETED, FAILED, TIMED_OUT, CANCELLED, SKIPPED)
FINAL_STATUSES = STATUSES[1:]
SKIP_CAUSES = ("condition", "needs")

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
SIGNAL_EXITS = {"SIGINT": 130, "SIGTERM": 143, "SIGHUP": 129}
DEFAULT_KILL_GRACE = 2.0

_SAFE_DIR = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class JobPlan:
    """One job of the selected hook as the harness wrote it (`needs.*`, `condition.*`)."""

    name: str
    index: int  # position in the file: ties go to the lowest (limit.file-order)
    needs: tuple[str, ...]
    background: bool  # as written; see `foreground_jobs` for as run
    run: str
    timeout: float | None = None
    skip: bool | str | None = None
    only: bool | str | None = None
    env: Mapping[str, str] | None = None
    cwd: str | None = None


def foreground_jobs(jobs: Sequence[JobPlan]) -> set[str]:
    """Names of the jobs that run in the foreground phase (`phase.promotion`).

    A background job needed, directly or transitively, by a foreground job
    is promoted; one needed only by background jobs stays background.
    """
    by_name = {job.name: job for job in jobs}
    foreground = {job.name for job in jobs if not job.background}
    stack = list(foreground)
    while stack:
        for need in by_name[stack.pop()].needs:
            if need in by_name and need not in foreground:
                foreground.add(need)
                stack.append(need)
    return foreground


def promoters(jobs: Sequence[JobPlan], name: str) -> set[str]:
    """Foreground jobs (after promotion) that need `name`, directly or transitively."""
    foreground = foreground_jobs(jobs)
    needers: dict[str, set[str]] = {}
    for job in jobs:
        for need in job.needs:
            needers.setdefault(need, set()).add(job.name)
    found: set[str] = set()
    stack = [name]
    while stack:
        for needer in needers.get(stack.pop(), ()):
            if needer not in found:
                found.add(needer)
                stack.append(needer)
    return found & foreground


def wave_levels(jobs: Sequence[JobPlan]) -> dict[str, int]:
    """A job's wave level: the longest needs path to it from a job of its own phase."""
    foreground = foreground_jobs(jobs)
    by_name = {job.name: job for job in jobs}
    levels: dict[str, int] = {}

    def level(name: str) -> int:
        if name not in levels:
            phase = name in foreground
            inside = [n for n in by_name[name].needs if (n in foreground) == phase]
            levels[name] = 1 + max((level(n) for n in inside), default=-1)
        return levels[name]

    for job in jobs:
        level(job.name)
    return levels


@dataclass(frozen=True)
class ConditionVerdict:
    """What a job's own `skip`/`only` say, against one environment."""

    skip: bool
    key: str | None  # "skip" or "only": the condition that decided it
    variable: str | None  # the variable it read, None for a boolean


def condition(job: JobPlan, env: Mapping[str, str]) -> ConditionVerdict:
    """`skip` first, then `only`; a variable counts when set and non-empty (`condition.*`)."""
    if job.skip is not None:
        skip, variable = _truth(job.skip, env)
        if skip:
            return ConditionVerdict(True, "skip", variable)
    if job.only is not None:
        run, variable = _truth(job.only, env)
        if not run:
            return ConditionVerdict(True, "only", variable)
    return ConditionVerdict(False, None, None)


def _truth(value: bool | str, env: Mapping[str, str]) -> tuple[bool, str | None]:
    if isinstance(value, bool):
        return value, None
    return bool(env.get(value)), value


def safe_job_dir(name: str) -> bool:
    """Whether the spec fixes `<job-dir>` to be the name itself (`record.location`)."""
    return bool(_SAFE_DIR.fullmatch(name)) and name not in (".", "..")


def job_plans(jobs: Any) -> list[JobPlan]:
    """JobPlans from the job mappings written under the selected hook (valid input)."""
    plans = []
    for index, item in enumerate(jobs):
        env = item.get("env")
        plans.append(
            JobPlan(
                name=item["name"],
                index=index,
                needs=tuple(item.get("needs", ())),
                background=bool(item.get("background", False)),
                run=item["run"],
                timeout=None if item.get("timeout") is None else float(item["timeout"]),
                skip=item.get("skip"),
                only=item.get("only"),
                env=None if env is None else {str(k): env_text(v) for k, v in env.items()},
                cwd=item.get("cwd"),
            )
        )
    return plans


def env_text(value: Any) -> str:
    """An `env` value as the job sees it: a number is the text of the parsed value."""
    return value if isinstance(value, str) else str(value)

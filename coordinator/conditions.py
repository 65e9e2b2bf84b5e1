"""The `skip:` and `only:` conditions of a job (spec: scheduling).

Each is a bool, or the name of an environment variable that counts as true
when it is set and non-empty. They are evaluated when the job becomes ready,
against the coordinator's inherited environment, never the job's own `env`
(a job cannot switch itself off). `skip` is checked before `only`.
"""

from __future__ import annotations

from collections.abc import Mapping

from coordinator.model import JobSpec


def condition_reason(job: JobSpec, env: Mapping[str, str]) -> str | None:
    """Why `job` must not run, or None when its conditions let it run."""
    if job.skip is True:
        return "skip: true"
    if isinstance(job.skip, str) and env.get(job.skip):
        return f"skip: ${job.skip} is set"
    if job.only is False:
        return "only: false"
    if isinstance(job.only, str) and not env.get(job.only):
        return f"only: ${job.only} is not set"
    return None

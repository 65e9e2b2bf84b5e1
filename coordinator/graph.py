"""Checks and rewrites of a hook's job graph, independent of where the jobs came from.

The loader calls `validate_graph` on each hook of a file, and the Run calls it
again (plus `promote`) on whatever job list it is given, including lists
built in Python; so nothing here knows about YAML beyond the message helper.
`graphlib` silently treats an unknown need as a new root, which is why every
need must be checked here before the scheduler ever sees the graph.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import replace
from graphlib import CycleError, TopologicalSorter

from coordinator.model import InputError, JobSpec
from coordinator.yamlsrc import did_you_mean, quote


def validate_graph(jobs: Sequence[JobSpec], *, path: str | None = None) -> None:
    """Raise InputError for the first graph problem in file order, if any.

    Problems: a duplicate name, a need naming no job, a job needing itself, a
    dependency cycle. A cycle counts as found at its earliest job in the file;
    a problem of a single job on that same job comes first.
    """
    first = _first_definitions(jobs)
    problem = _first_job_problem(jobs, first)
    cycle = _find_cycle(jobs, first)
    if cycle is not None and (problem is None or cycle[0] < problem[0]):
        problem = cycle
    if problem is not None:
        index, message = problem
        raise InputError(message, path=path, line=jobs[index].line)


def promote(jobs: Sequence[JobSpec]) -> tuple[tuple[JobSpec, ...], dict[str, str]]:
    """Make background jobs that a foreground job needs (even transitively) foreground.

    A foreground job cannot wait for the background phase, which only starts
    once the foreground has ended; so its needs must run in the foreground.
    Returns the jobs in their order, and a reason per promoted job naming the
    nearest foreground jobs that need it (with the chain of background jobs
    in between when the need is indirect).
    Expects validated jobs; needs naming no job are ignored.
    """
    by_name = {job.name: job for job in jobs}
    needed_by: dict[str, list[str]] = {}
    for root in jobs:
        if root.background:
            continue
        for chain in _need_chains(root, by_name):
            target = by_name[chain[-1]]
            if target.background:
                direct = len(chain) == 2
                label = (
                    quote(root.name)
                    if direct
                    else f"{quote(root.name)} (through {' -> '.join(map(_shown, chain))})"
                )
                needed_by.setdefault(target.name, []).append(label)
    promoted = tuple(
        replace(job, background=False) if job.name in needed_by else job for job in jobs
    )
    reasons = {
        job.name: "promoted to foreground: needed by " + ", ".join(needed_by[job.name])
        for job in jobs
        if job.name in needed_by
    }
    return promoted, reasons


def _first_definitions(jobs: Sequence[JobSpec]) -> dict[str, int]:
    """Index of the first job of each name: later duplicates are errors, not graph nodes."""
    first: dict[str, int] = {}
    for index, job in enumerate(jobs):
        first.setdefault(job.name, index)
    return first


def _first_job_problem(jobs: Sequence[JobSpec], first: dict[str, int]) -> tuple[int, str] | None:
    for index, job in enumerate(jobs):
        label = f"job {quote(job.name)}"
        earlier = first[job.name]
        if earlier != index:
            where = _where(jobs[earlier], earlier)
            return index, f"{label}: duplicate name (already used by the job {where})"
        for need in job.needs:
            if need == job.name:
                shown = _shown(need)
                return index, f"{label}: needs itself (dependency cycle: {shown} -> {shown})"
            if need not in first:
                others = [name for name in first if name != job.name]
                hint = did_you_mean(need, others)
                return index, f"{label}: needs unknown job {quote(need)}{hint}"
    return None


def _where(job: JobSpec, index: int) -> str:
    return f"at line {job.line}" if job.line is not None else f"#{index + 1}"


def _shown(name: str) -> str:
    """A job name in a cycle display: as it is, or quoted and escaped if not printable.

    A newline or tab in a name would split the one-line message, or hide in it.
    """
    return name if name.isprintable() else quote(name)


def _find_cycle(jobs: Sequence[JobSpec], first: dict[str, int]) -> tuple[int, str] | None:
    """The cycle graphlib finds, shown in needs direction from its earliest job in the file."""
    graph = {
        job.name: [need for need in job.needs if need in first and need != job.name]
        for index, job in enumerate(jobs)
        if first[job.name] == index
    }
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as exc:
        # graphlib lists each node before the one that needs it, closing on the start.
        ring = list(reversed(exc.args[1]))[:-1]
        start = min(range(len(ring)), key=lambda i: first[ring[i]])
        ring = ring[start:] + ring[:start]
        shown = " -> ".join(_shown(name) for name in [*ring, ring[0]])
        return first[ring[0]], f"job {quote(ring[0])}: dependency cycle: {shown}"
    return None


def _need_chains(root: JobSpec, by_name: dict[str, JobSpec]) -> Iterator[list[str]]:
    """Shortest needs chain from `root` to each job it reaches through background jobs.

    The walk stops at foreground jobs: they are roots of their own, and the
    reason should name the foreground job nearest to the promoted one, not
    every foreground job upstream of it.
    """
    chains = {root.name: [root.name]}
    queue = deque([root.name])
    while queue:
        name = queue.popleft()
        for need in by_name[name].needs:
            if need in by_name and need not in chains:
                chains[need] = [*chains[name], need]
                yield chains[need]
                if by_name[need].background:
                    queue.append(need)

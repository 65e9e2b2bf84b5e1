"""The job graphs the benchmark runs, generated once and shared by every tool.

Each shape is plain jobs plus the sleep each job stands for, so the emitters
can write the same graph for every tool and the report can compare makespans
with the critical path computed here, independently of any tool. The jobs are
our own small dataclass rather than `coordinator.model.JobSpec`, so the peers
can be benchmarked even while the coordinator package does not import.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

HOOK = "bench"
DAG_SEED = 20260502
# Peer keys (bench.tools): build tools run a graph; the bare interpreter start is
# the floor of the empty hook, whose run is nothing but our own start-up.
BUILD_PEERS = ("ninja", "make", "task")
START_PEERS = ("python",)
# Shapes of this many jobs or more run fewer iterations (--big-repeat): a run takes seconds.
BIG_JOBS = 2000


@dataclass(frozen=True)
class Job:
    """One job: the subset of a hooks-file job (spec: hooks file) that the shapes use."""

    name: str
    run: str
    needs: tuple[str, ...] = ()
    background: bool = False


@dataclass(frozen=True)
class Shape:
    """One benchmark graph.

    `durations` is each job's sleep in seconds (0 means the job is `true`).
    `peers` are the keys of the other tools that run it beside ours: the
    build tools for a graph, the bare interpreter for the empty hook.
    """

    name: str
    title: str
    jobs: tuple[Job, ...]
    durations: Mapping[str, float]
    max_parallel: int | None = None
    peers: tuple[str, ...] = BUILD_PEERS

    @property
    def critical_path(self) -> float:
        """Longest sum of sleeps along any dependency path, in seconds."""
        return critical_path(self.jobs, self.durations)

    @property
    def edges(self) -> int:
        return sum(len(job.needs) for job in self.jobs)

    @property
    def big(self) -> bool:
        """Slow enough per run that it gets --big-repeat iterations instead of --repeat."""
        return len(self.jobs) >= BIG_JOBS

    @property
    def all_true(self) -> bool:
        """Every job is `true`: the wall time is all overhead, so a cost per job means something."""
        return bool(self.jobs) and self.critical_path == 0


def command(seconds: float) -> str:
    """The shell text of a job that stands for `seconds` of work."""
    return "true" if seconds <= 0 else f"sleep {seconds:g}"


def critical_path(jobs: Sequence[Job], durations: Mapping[str, float]) -> float:
    """Longest path by summed duration; `jobs` must list every need before its dependents."""
    finish: dict[str, float] = {}
    for job in jobs:
        start = max((finish[need] for need in job.needs), default=0.0)
        finish[job.name] = start + durations[job.name]
    return max(finish.values(), default=0.0)


def _make(
    name: str,
    title: str,
    spec: Sequence[tuple[str, float, Sequence[str], bool]],
    *,
    max_parallel: int | None = None,
    peers: tuple[str, ...] = BUILD_PEERS,
) -> Shape:
    jobs = tuple(
        Job(name=job, run=command(seconds), needs=tuple(needs), background=background)
        for job, seconds, needs, background in spec
    )
    durations = {job: seconds for job, seconds, _, _ in spec}
    return Shape(name, title, jobs, durations, max_parallel=max_parallel, peers=peers)


def chain(n: int) -> Shape:
    width = len(str(n - 1))
    names = [f"j{i:0{width}d}" for i in range(n)]
    spec = [(name, 0.0, names[i - 1 : i], False) for i, name in enumerate(names)]
    return _make("chain", f"chain of {n} `true` jobs", spec)


def independent(n: int, max_parallel: int) -> Shape:
    width = len(str(n - 1))
    spec = [(f"j{i:0{width}d}", 0.0, (), False) for i in range(n)]
    title = f"{n} independent `true` jobs, max_parallel {max_parallel}"
    return _make("independent", title, spec, max_parallel=max_parallel)


def unbalanced(scale: float = 1.0) -> Shape:
    """Two chains whose long and short links sit at opposite levels.

    A wave barrier makes both levels cost the long sleep (2 x 1.0 s), while
    eager scheduling only pays the critical path (1.0 + 0.1 s).
    """
    long, short = 1.0 * scale, 0.1 * scale
    spec = [
        ("a1", long, (), False),
        ("b1", short, (), False),
        ("a2", short, ("a1",), False),
        ("b2", long, ("b1",), False),
    ]
    title = f"two chains: sleep {long:g} then {short:g}, sleep {short:g} then {long:g}"
    return _make("unbalanced", title, spec)


def tax_analyzer(scale: float = 1.0) -> Shape:
    """The upstream bug's hook (README): foreground install and ensure-db, then the db chain."""
    spec = [
        ("install", 0.4 * scale, (), False),
        ("ensure-db", 0.2 * scale, (), False),
        ("db-migrate", 0.3 * scale, ("install", "ensure-db"), True),
        ("db-seed", 0.2 * scale, ("db-migrate",), True),
    ]
    title = "tax-analyzer hook (install, ensure-db; background db-migrate -> db-seed)"
    return _make("tax-analyzer", title, spec)


def random_dag(n: int, max_parallel: int, *, seed: int = DAG_SEED, max_needs: int = 3) -> Shape:
    """A reproducible random DAG: each job needs up to `max_needs` uniformly chosen earlier jobs.

    Uniform choice over all earlier jobs keeps the graph shallow and wide
    (depth grows like log n), so `max_parallel` is what bounds the run. The
    name carries the size: the same generator at several sizes shows how the
    cost per job scales.
    """
    rng = random.Random(seed)
    width = len(str(n - 1))
    names = [f"n{i:0{width}d}" for i in range(n)]
    spec = []
    for i, name in enumerate(names):
        picks = sorted(rng.sample(range(i), min(i, rng.randint(0, max_needs))))
        spec.append((name, 0.0, [names[p] for p in picks], False))
    title = f"random DAG of {n} `true` jobs, max_parallel {max_parallel}"
    return _make(f"dag-{n}", title, spec, max_parallel=max_parallel)


def empty() -> Shape:
    """A hook with no job: what remains is start-up, loading the file and exiting."""
    title = "empty hook (no job), beside `python -c pass` with the same interpreter"
    return _make("empty", title, [], peers=START_PEERS)


def all_shapes(*, quick: bool = False) -> list[Shape]:
    """Every shape, in report order; `quick` shrinks them for a smoke run."""
    if quick:
        return [
            chain(10),
            independent(10, 4),
            unbalanced(0.1),
            tax_analyzer(0.1),
            *(random_dag(n, 16) for n in (20, 50, 100)),
            empty(),
        ]
    return [
        chain(200),
        independent(200, 8),
        unbalanced(),
        tax_analyzer(),
        *(random_dag(n, 16) for n in (200, 2000, 10_000)),
        empty(),
    ]

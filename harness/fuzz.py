"""Generative conformance testing: random hooks through any coordinator, judged by the oracle.

Hypothesis generates a case (jobs with needs, phases, conditions, fake
actions of every kind, timeouts, kill grace, a limit, a strategy, a cancel
by signal, another hook, sometimes an input error), the case becomes an
ordinary scenario file, the engine runs it through a driver, and the oracle
(docs/spec.md) judges it. A failing case is shrunk by Hypothesis to a small
one and written as a scenario ready to commit under `scenarios/`, with the
rule it broke in its description and `rules:`, and the seed that replays
the search.

The generator relies on nothing the spec leaves open: a job that requires
a marker requires only those its own needs write, a hanging job always has
a timeout, and the expectations are the oracle's alone. So a correct
coordinator written elsewhere passes every case.

Races are made likely, reproducibly: every fake starts and ends with a
short random sleep drawn from the seed (jitter), `--cpu-load N` keeps N
busy processes running meanwhile, and cancels land at chosen moments (when
a given job starts, after a drawn delay).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from harness.drivers import Driver, DriverResult, RunRequest
from harness.engine import Outcome, run_scenario
from harness.hooksfile import SourceFloat, dump
from harness.load import load_scenarios

ENV_SET, ENV_EMPTY, ENV_UNSET = "FUZZ_SET", "FUZZ_EMPTY", "FUZZ_UNSET"
CASE_TIMEOUT = 15  # seconds a generated case may take before the harness stops it
INVALID_EXAMPLES = 2  # cases per kind of input error
NAMES = ("j{i}", "job {i}", "j/{i}", "j{i}.x", "ü{i}", "it's-{i}", "..{i}")
INVALID = (
    "unknown-need",
    "self-need",
    "cycle",
    "duplicate-name",
    "bad-timeout",
    "run-list",
    "env-null",
    "max-parallel-zero",
    "unknown-key",
    "other-hook-error",
    "unknown-hook",
)


@dataclass(frozen=True)
class Case:
    """One generated scenario document, before it is written out."""

    document: dict[str, Any]
    invalid: str | None = None

    @property
    def jobs(self) -> list[dict[str, Any]]:
        return self.document["jobs"]

    @property
    def size(self) -> int:
        """Jobs plus actions: what shrinking makes small."""
        return sum(1 + len(job.get("fake", ())) for job in self.jobs)


@st.composite
def cases(draw: st.DrawFn, invalid: str | None = None) -> Case:
    """A random scenario document covering the whole contract; `invalid`: an input error."""
    count = draw(st.sampled_from(range(1, 7)))
    names = [draw(st.sampled_from(NAMES)).format(i=i) for i in range(count)]
    jobs: list[dict[str, Any]] = []
    for index in range(count):
        jobs.append(_job(draw, index, names, jobs))
    document: dict[str, Any] = {
        "name": "fuzzed",
        "description": "generated",
        "timeout": CASE_TIMEOUT,
        "env": {ENV_SET: "1", ENV_EMPTY: ""},
    }
    settings_block: dict[str, Any] = {"strategy": draw(st.sampled_from(["eager", "wave"]))}
    if draw(st.booleans()):
        settings_block["max_parallel"] = draw(st.sampled_from([1, 2, 1, 3]))
    settings_block["kill_grace"] = draw(st.sampled_from([0.2, 0, 0.5]))
    document["coordinator"] = settings_block
    if _rare(draw, 10):
        document["other_hooks"] = {"pre-push": [{"name": names[0], "fake": [{"write": "other"}]}]}
    if _rare(draw, 7):
        cancel: dict[str, Any] = {
            "signal": draw(st.sampled_from(["SIGINT", "SIGTERM", "SIGHUP"])),
            "after": draw(st.sampled_from([0, 0.05, 0.15, 0.3])),
        }
        if draw(st.booleans()):
            cancel["when_started"] = draw(st.sampled_from(names))
        document["cancel"] = cancel
    document["jobs"] = jobs
    document["expect"] = {}
    if invalid is not None:
        _break(document, invalid, draw)
    return Case(document, invalid)


def _job(
    draw: st.DrawFn, index: int, names: list[str], jobs_so_far: list[dict[str, Any]]
) -> dict[str, Any]:
    name = names[index]
    job: dict[str, Any] = {"name": name}
    needs = draw(st.lists(st.sampled_from(names[:index]), max_size=3, unique=True)) if index else []
    if needs:
        job["needs"] = needs
    if _rare(draw, 3):
        job["background"] = True
    own_env = _rare(draw, 5)
    if own_env:
        number = draw(st.sampled_from([3, SourceFloat(1.5, "1.50"), "x"]))
        job["env"] = {ENV_UNSET: "1", "FUZZ_NUMBER": number}
    for key in ("skip", "only"):
        if _rare(draw, 4):
            # A job's own env must not count: its conditions read ENV_UNSET most often.
            choices = (
                [ENV_UNSET, True, False, ENV_SET, ENV_EMPTY]
                if own_env
                else [True, False, ENV_SET, ENV_EMPTY, ENV_UNSET]
            )
            job[key] = draw(st.sampled_from(choices))
    actions: list[Any] = []
    if _rare(draw, 4):
        actions.append("ignore_term")  # first: the oracle trusts a trap set at the start
    actions += _sleep(draw(_jitter()))
    if _rare(draw, 4):
        actions.append({"env": draw(st.sampled_from([ENV_SET, ENV_UNSET, "FUZZ_NUMBER"]))})
    if needs and not _rare(draw, 4):
        actions += [{"require": _marker(names.index(need))} for need in needs]
    if _rare(draw, 10):
        actions.append({"grandchild": {"after": 5, "write": f"late-{index}"}})
    if _rare(draw, 10):
        actions.append("daemon")
    actions += _sleep(draw(st.sampled_from([0, 0.05, 0.1, 0.2, 0.4, 0.7])))
    for stream in ("stdout", "stderr"):
        if _rare(draw, 6):
            actions.append({stream: f"{stream} of {index}"})
    actions.append({"write": _marker(index)})
    stubborn = actions[:1] == ["ignore_term"]  # mostly stopped, to spend its kill grace
    ending = (
        "hang"
        if stubborn and not _rare(draw, 3)
        else draw(st.sampled_from(["end", "end", "end", "exit", "exit", "hang"]))
    )
    if ending == "exit":
        actions.append({"exit": draw(st.sampled_from([1, 3, 0]))})
    elif ending == "hang":
        actions.append("hang")
    else:
        actions += _sleep(draw(_jitter()))
    if ending == "hang" or _rare(draw, 6):
        job["timeout"] = draw(st.sampled_from([0.2, 0.35, 0.6, 1.5]))
    job["fake"] = actions
    if needs and _rare(draw, 8):  # a cwd one of its needs makes (or fails to make)
        maker = jobs_so_far[names.index(needs[0])]["fake"]
        maker.insert(1 if maker[:1] == ["ignore_term"] else 0, {"write": f"cwd-{index}/made"})
        job["cwd"] = f"cwd-{index}"
    elif _rare(draw, 15):
        job["cwd"] = "nowhere"  # start.failure
    return job


def _sleep(seconds: float) -> list[dict[str, float]]:
    return [{"sleep": seconds}] if seconds else []


def _rare(draw: st.DrawFn, one_in: int) -> bool:
    """True one time in `one_in`; shrinks to False, so a shrunk case keeps only what matters."""
    return draw(st.sampled_from(range(one_in))) == one_in - 1


def _jitter() -> st.SearchStrategy[float]:
    """A short delay at a job's start and end: different interleavings per seed."""
    return st.sampled_from([0, 0, 0.005, 0.02, 0.05])


def _marker(index: int) -> str:
    return f"done-{index}"


def _break(document: dict[str, Any], kind: str, draw: st.DrawFn) -> None:
    """Make the document an input error of one kind (`input.*` rules)."""
    jobs = document["jobs"]
    first, last = jobs[0], jobs[-1]
    document.pop("cancel", None)
    document["expect"] = {"input_error": True}
    if kind == "unknown-need":
        first["needs"] = [*first.get("needs", []), first["name"] + "x"]
    elif kind == "self-need":
        last["needs"] = [*last.get("needs", []), last["name"]]
    elif kind == "cycle":
        first["needs"] = [*first.get("needs", []), last["name"]]
        if last is first:
            return
        if first["name"] not in last.get("needs", []):
            last["needs"] = [*last.get("needs", []), first["name"]]
    elif kind == "duplicate-name":
        jobs.append({"name": first["name"], "fake": [{"write": "dup"}]})
    elif kind == "bad-timeout":
        last["timeout"] = draw(st.sampled_from([0, -1, "soon", True]))
    elif kind == "run-list":
        last.pop("fake")
        last["run"] = ["make", "build"]
    elif kind == "env-null":
        last["env"] = {"FUZZ_NULL": draw(st.sampled_from([None, True, [1]]))}
    elif kind == "max-parallel-zero":
        document["coordinator"]["max_parallel"] = draw(st.sampled_from([0, True, 1.5]))
    elif kind == "unknown-key":
        last["neds"] = [first["name"]]
    elif kind == "other-hook-error":
        document["other_hooks"] = {
            "pre-push": [{"name": "lint", "needs": ["lnt"], "fake": [{"write": "lint"}]}]
        }
    elif kind == "unknown-hook":
        document["hook"] = "post-merge"


def scenario_text(case: Case, *, name: str = "fuzzed", description: str = "") -> str:
    """The case as a scenario file, ready to run or commit."""
    document = dict(case.document)
    document["name"] = name
    document["description"] = description or "A case generated by `python -m harness fuzz`."
    header = "# yaml-language-server: $schema=../../harness/scenario.schema.json\n"
    return header + dump(document)


@dataclass
class Finding:
    """A failing case, shrunk, and what the oracle and the expectations said."""

    case: Case
    outcome: Outcome
    seed: int
    cases_tried: int

    @property
    def rules(self) -> list[str]:
        found = [f.rule for f in self.outcome.failures if f.rule]
        return sorted(set(found)) or ["expect"]

    def text(self) -> str:
        rules = self.rules
        first = self.outcome.failures[0]
        description = (
            f"Found by `python -m harness fuzz --seed {self.seed}` and shrunk: a coordinator "
            f"broke {', '.join(rules)} ({first.title}: expected {first.expected}; observed "
            f"{first.observed}). A correct coordinator passes it; the oracle states the rule."
        )
        document = dict(self.case.document)
        document["expect"] = {**document["expect"], **self._stated()}
        document["rules"] = [rule for rule in rules if rule != "expect"]
        if not document["rules"]:
            del document["rules"]
        ordered = {
            key: document[key] for key in ("name", "description", "rules") if key in document
        }
        ordered.update({k: v for k, v in document.items() if k not in ordered})
        return scenario_text(
            Case(ordered, self.case.invalid), name="fuzzed", description=description
        )

    def _stated(self) -> dict[str, Any]:
        """The expectations that state the broken rule, where the format can say it."""
        stated: dict[str, Any] = {}
        for failure in self.outcome.failures:
            if failure.rule == "needs.wait" and len(failure.jobs) == 2:
                stated.setdefault("order", []).append(" < ".join(failure.jobs))
            if failure.rule == "limit.max-parallel":
                limit = self.case.document["coordinator"].get("max_parallel")
                stated["max_concurrency"] = {"at_most": limit}
        return stated


@dataclass
class Budget:
    """How much searching one run may do."""

    max_examples: int = 150
    seconds: float = 90.0  # generation; shrinking a finding gets `shrink_seconds` more
    shrink_seconds: float = 30.0


@dataclass
class Search:
    """State of one search: counts, timing, and the harness's share of the time."""

    driver: Driver
    scratch: Path
    budget: Budget
    started: float = field(default_factory=time.monotonic)
    tried: int = 0
    runs: int = 0
    running: float = 0.0  # wall seconds inside run_scenario
    coordinating: float = 0.0  # of which inside the driver: the coordinator and its jobs
    first_failure_at: int | None = None
    shrinking_since: float | None = None
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # by scenario text

    def fails(self, case: Case) -> bool:
        """The predicate Hypothesis searches with: does this case fail?

        Each distinct case runs once and its outcome is kept: a race that
        failed once is a finding even if a replay would pass, and Hypothesis
        replays the cases it keeps.
        """
        text = scenario_text(case)
        if text in self.outcomes:
            return not self.outcomes[text].ok
        now = time.monotonic()
        if self.first_failure_at is None:
            self.tried += 1
            if now - self.started > self.budget.seconds:
                raise _OutOfBudget
        elif (
            self.shrinking_since is not None
            and now - self.shrinking_since > self.budget.shrink_seconds
        ):
            return False  # stop shrinking: keep the smallest failure so far
        outcome = self.outcomes[text] = self.run(case)
        if not outcome.ok and self.first_failure_at is None:
            self.first_failure_at = self.tried
            self.shrinking_since = time.monotonic()
        return not outcome.ok

    def run(self, case: Case) -> Outcome:
        self.runs += 1
        directory = self.scratch / f"case-{self.runs:05d}"
        directory.mkdir(parents=True)
        path = directory / "case.yml"
        path.write_text(scenario_text(case), encoding="utf-8")
        (scenario,) = load_scenarios(path)
        started = time.monotonic()
        outcome = run_scenario(scenario, directory / "run", _Timed(self.driver, self))
        self.running += time.monotonic() - started
        return outcome


@dataclass
class _Timed:
    """A driver that adds the time it spends to the search's `coordinating`."""

    inner: Driver
    search: Search

    @property
    def name(self) -> str:
        return self.inner.name

    def run(self, request: RunRequest) -> DriverResult:
        started = time.monotonic()
        try:
            return self.inner.run(request)
        finally:
            self.search.coordinating += time.monotonic() - started


class _OutOfBudget(Exception):
    """The generation budget is spent: the search ends without a finding."""


def search(
    driver: Driver, scratch: Path, *, seed: int, budget: Budget
) -> tuple[Finding | None, Search]:
    """Look for a failing case; shrink it if one is found.

    First a few cases of every kind of input error (cheap: nothing runs),
    so each validation rule is tried whatever the draw; then the budget's
    valid cases.
    """
    state = Search(driver, scratch, budget)
    rng = random.Random(seed)
    searches = [(cases(invalid=kind), INVALID_EXAMPLES) for kind in INVALID]
    searches.append((cases(), budget.max_examples))
    for strategy, examples in searches:
        config = settings(
            max_examples=examples,
            database=None,
            deadline=None,
            phases=(Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
        )
        try:
            case = find(strategy, state.fails, settings=config, random=rng)
        except NoSuchExample:
            continue
        except _OutOfBudget:
            break
        outcome = state.outcomes[scenario_text(case)]
        return Finding(case, outcome, seed, state.first_failure_at or state.tried), state
    return None, state


@contextlib.contextmanager
def cpu_load(processes: int) -> Iterator[None]:
    """Keep `processes` busy loops running meanwhile (races show up under load)."""
    workers = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(processes)]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        for worker in workers:
            worker.kill()
            worker.join()


def _spin() -> None:
    while True:
        pass

"""Expectations: parsing the `expect:` block and checking it against an Observation.

Each expectation is one small claim with the line it was written on, so a
failure names exactly what was expected and where. Timing claims are causal
(`a < b`: b started at or after a finished; overlap) or relative (makespan
against the ideal computed from the fake sleeps), never wall-clock times:
the suite must hold on a loaded 2-core CI machine.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness import contract
from harness.fakes import check_marker_path
from harness.oracle import peak_concurrency
from harness.schema import SchemaError, item_line, key_line, suggest

if TYPE_CHECKING:
    from harness.observe import Observation

NONZERO = "nonzero"
WILDCARD = "*"


@dataclass(frozen=True)
class Mismatch:
    expected: str
    observed: str


@dataclass(frozen=True)
class Expectation:
    """One claim about a run. Subclasses define `title` and `check`."""

    line: int | None

    @property
    def title(self) -> str:
        raise NotImplementedError

    @property
    def jobs(self) -> tuple[str, ...]:
        """The jobs whose output is worth showing when this fails."""
        return ()

    def check(self, obs: Observation) -> Mismatch | None:
        raise NotImplementedError


# -- the kinds ------------------------------------------------------------------


@dataclass(frozen=True)
class StatusIs(Expectation):
    job: str
    status: str

    @property
    def title(self) -> str:
        return f"status of {self.job}"

    @property
    def jobs(self) -> tuple[str, ...]:
        return (self.job,)

    def check(self, obs: Observation) -> Mismatch | None:
        record = obs.records.get(self.job)
        if record is not None and record.status == self.status:
            return None
        return Mismatch(self.status, _describe_record(obs, self.job))


@dataclass(frozen=True)
class ExitCodeIs(Expectation):
    job: str
    code: int | str | None  # an int, NONZERO, or None for "never ran"

    @property
    def title(self) -> str:
        return f"exit code of {self.job}"

    @property
    def jobs(self) -> tuple[str, ...]:
        return (self.job,)

    def check(self, obs: Observation) -> Mismatch | None:
        record = obs.records.get(self.job)
        actual = None if record is None else record.exit_code
        if self.code == NONZERO:
            if actual is not None and actual != 0:
                return None
            return Mismatch("a non-zero exit code", _describe_record(obs, self.job))
        if record is not None and actual == self.code:
            return None
        expected = "null (never ran)" if self.code is None else str(self.code)
        return Mismatch(expected, _describe_record(obs, self.job))


@dataclass(frozen=True)
class FieldIs(Expectation):
    """A plain record field: `skip_cause` or `background`."""

    job: str
    field: str
    value: Any

    @property
    def title(self) -> str:
        return f"{self.field} of {self.job}"

    @property
    def jobs(self) -> tuple[str, ...]:
        return (self.job,)

    def check(self, obs: Observation) -> Mismatch | None:
        record = obs.records.get(self.job)
        if record is None:
            return Mismatch(_show(self.value), "no record")
        actual = getattr(record, self.field)
        if actual == self.value:
            return None
        return Mismatch(_show(self.value), f"{_show(actual)} ({_describe_record(obs, self.job)})")


@dataclass(frozen=True)
class Before(Expectation):
    """`a < b`: b started at or after a finished (meta, monotonic clock when recorded)."""

    first: str
    then: str

    @property
    def title(self) -> str:
        return f"order {self.first} < {self.then}"

    @property
    def jobs(self) -> tuple[str, ...]:
        return (self.first, self.then)

    def check(self, obs: Observation) -> Mismatch | None:
        expected = f"{self.then} started at or after {self.first} finished"
        first, then = obs.interval(self.first), obs.interval(self.then)
        if first is None or first[1] is None:
            verb = "never started" if first is None else "never finished"
            return Mismatch(expected, f"{self.first} {verb}")
        if then is None:
            return Mismatch(expected, f"{self.then} never started")
        gap = then[0] - first[1]
        if gap >= 0:
            return None
        return Mismatch(
            expected, f"{self.then} started {seconds(-gap)} before {self.first} finished"
        )


@dataclass(frozen=True)
class StartedBefore(Expectation):
    """`start_order: [a < b]`: a started before b started (monotonic clock when recorded)."""

    first: str
    then: str

    @property
    def title(self) -> str:
        return f"start order {self.first} < {self.then}"

    @property
    def jobs(self) -> tuple[str, ...]:
        return (self.first, self.then)

    def check(self, obs: Observation) -> Mismatch | None:
        expected = f"{self.first} started before {self.then} started"
        first, then = obs.interval(self.first), obs.interval(self.then)
        for name, span in ((self.first, first), (self.then, then)):
            if span is None:
                return Mismatch(expected, f"{name} never started")
        assert first is not None and then is not None
        if first[0] < then[0]:
            return None
        return Mismatch(expected, f"{self.then} started {seconds(first[0] - then[0])} earlier")


@dataclass(frozen=True)
class Overlap(Expectation):
    """Two jobs ran at the same time at some moment."""

    a: str
    b: str

    @property
    def title(self) -> str:
        return f"overlap of {self.a} and {self.b}"

    @property
    def jobs(self) -> tuple[str, ...]:
        return (self.a, self.b)

    def check(self, obs: Observation) -> Mismatch | None:
        expected = f"{self.a} and {self.b} running at the same time"
        spans = {name: obs.interval(name) for name in (self.a, self.b)}
        for name, span in spans.items():
            if span is None:
                return Mismatch(expected, f"{name} never started")
        (a0, a1), (b0, b1) = spans[self.a], spans[self.b]  # type: ignore[misc]
        inf = float("inf")
        if a0 < (b1 if b1 is not None else inf) and b0 < (a1 if a1 is not None else inf):
            return None
        early, late = (self.a, self.b) if a0 <= b0 else (self.b, self.a)
        end, start = (a1, b0) if a0 <= b0 else (b1, a0)
        return Mismatch(expected, f"{early} finished {seconds(start - end)} before {late} started")


@dataclass(frozen=True)
class MaxConcurrency(Expectation):
    at_least: int | None
    at_most: int | None

    @property
    def title(self) -> str:
        return "max concurrency"

    def check(self, obs: Observation) -> Mismatch | None:
        peak, who = peak_concurrency(obs.intervals())
        low_ok = self.at_least is None or peak >= self.at_least
        high_ok = self.at_most is None or peak <= self.at_most
        if low_ok and high_ok:
            return None
        if self.at_least == self.at_most:
            expected = f"exactly {self.at_least} jobs running at once at the peak"
        elif self.at_most is None:
            expected = f"at least {self.at_least} jobs running at once"
        elif self.at_least is None:
            expected = f"at most {self.at_most} jobs running at once"
        else:
            expected = f"between {self.at_least} and {self.at_most} jobs running at once"
        return Mismatch(expected, f"at most {peak} at once (at the peak: {', '.join(who)})")


@dataclass(frozen=True)
class Marker(Expectation):
    """A marker file is present, absent, or has exactly some content."""

    path: str
    present: bool = True
    content: str | None = None

    @property
    def title(self) -> str:
        if self.content is not None:
            return f"content of marker {self.path}"
        return f"marker {self.path} {'present' if self.present else 'absent'}"

    def check(self, obs: Observation) -> Mismatch | None:
        assert obs.work_dir is not None
        target = obs.work_dir / self.path
        exists = target.is_file()
        if self.content is not None:
            actual = target.read_text(encoding="utf-8", errors="replace") if exists else None
            if actual == self.content:
                return None
            return Mismatch(repr(self.content), "no such file" if actual is None else repr(actual))
        if exists == self.present:
            return None
        if self.present:
            return Mismatch("the file exists", "no such file")
        return Mismatch("no such file", "the file exists")


@dataclass(frozen=True)
class TextContains(Expectation):
    """The job's recorded `reason`, or its output.log, contains a text."""

    job: str
    where: str  # "reason" or "output"
    text: str

    @property
    def title(self) -> str:
        return f"{self.where} of {self.job}"

    @property
    def jobs(self) -> tuple[str, ...]:
        return (self.job,) if self.where == "output" else ()

    def check(self, obs: Observation) -> Mismatch | None:
        record = obs.records.get(self.job)
        if self.where == "reason":
            actual = None if record is None else record.reason
        else:
            actual = obs.outputs.get(self.job)
        if actual is not None and self.text in actual:
            return None
        expected = f"contains {self.text!r}"
        if actual is None:
            return Mismatch(expected, "no record" if record is None else "no reason recorded")
        return Mismatch(expected, _clip(actual))


@dataclass(frozen=True)
class Makespan(Expectation):
    """First start to last finish is at most `within` x ideal + `plus` seconds."""

    within: float
    plus: float
    ideal: float  # seconds: see `ideal_makespan`

    @property
    def title(self) -> str:
        return "makespan"

    def check(self, obs: Observation) -> Mismatch | None:
        ideal = self.ideal
        bound = self.within * ideal + self.plus
        spans = obs.intervals().values()
        ends = [end for _, end in spans if end is not None]
        if not ends:
            return Mismatch(f"at most {bound:.3f} s", "no job finished")
        actual = (max(ends) - min(start for start, _ in spans)) / 1e9
        if actual <= bound:
            return None
        return Mismatch(
            f"at most {bound:.3f} s ({self.within} x ideal {ideal:.3f} s + {self.plus} s)",
            f"{actual:.3f} s",
        )


@dataclass(frozen=True)
class InputErrorIs(Expectation):
    """The coordinator rejected the input, with the fixed parts of the message (`input.*`).

    Only what the spec fixes is checked: exit 2, nothing run or recorded
    (the oracle), a `FILE:LINE: ` line (the oracle), and here the quoted job
    name, the cycle joined by ` -> ` and the `did you mean 'x'?` suggestion.
    The wording of our own messages is tested in tests/, against our CLI.
    """

    job: str | None = None
    cycle: tuple[str, ...] = ()
    suggestion: str | None = None

    @property
    def title(self) -> str:
        return "input error"

    def check(self, obs: Observation) -> Mismatch | None:
        parts = self.parts()
        expected = "an input error" + (f" whose message has {', '.join(parts)}" if parts else "")
        message = obs.input_error
        if message is None:
            return Mismatch(expected, f"no input error; {len(obs.records)} job record(s) written")
        if self.job is not None and f"'{self.job}'" not in message:
            return Mismatch(expected, message.strip())
        if self.cycle and not any(
            re.search(re.escape(form) + r"(?! -> )", message) for form in cycle_forms(self.cycle)
        ):  # the display closes there: going round twice is not showing the cycle
            return Mismatch(expected, message.strip())
        if self.suggestion is not None and f"did you mean '{self.suggestion}'?" not in message:
            return Mismatch(expected, message.strip())
        return None

    def parts(self) -> list[str]:
        parts = [f"'{self.job}'"] if self.job is not None else []
        if self.cycle:
            parts.append(" -> ".join([*self.cycle, self.cycle[0]]))
        if self.suggestion is not None:
            parts.append(f"did you mean '{self.suggestion}'?")
        return parts


def cycle_forms(cycle: Sequence[str]) -> list[str]:
    """Every way the spec lets a message show a cycle: either direction, starting anywhere."""
    forms = []
    for names in (list(cycle), list(reversed(cycle))):
        for i in range(len(names)):
            turn = names[i:] + names[:i]
            forms.append(" -> ".join([*turn, turn[0]]))
    return forms


# -- derived figures --------------------------------------------------------------


def seconds(ns: float) -> str:
    return f"{ns / 1e9:.3f} s"


def ideal_makespan(jobs: Sequence[contract.JobPlan], planned: Mapping[str, float], wave: bool):
    """The makespan of a perfect coordinator, from the fake sleeps (`planned`, seconds).

    Foreground jobs (after promotion) run first, background jobs after them.
    `eager` is bounded by the critical path of each part; `wave` by the sum of
    the longest job of each level (the barrier). `max_parallel` is ignored, so
    with a limit this is a lower bound.
    """
    foreground = contract.foreground_jobs(jobs)
    levels = contract.wave_levels(jobs)
    by_name = {job.name: job for job in jobs}
    total = 0.0
    for part in (foreground, set(by_name) - foreground):
        finish: dict[str, float] = {}

        def visit(name: str, part: set[str] = part, finish: dict[str, float] = finish) -> float:
            if name not in finish:
                inside = [n for n in by_name[name].needs if n in part]
                finish[name] = planned[name] + max((visit(n) for n in inside), default=0.0)
            return finish[name]

        if not wave:
            total += max((visit(name) for name in part), default=0.0)
            continue
        longest: dict[int, float] = {}
        for name in part:
            longest[levels[name]] = max(longest.get(levels[name], 0.0), planned[name])
        total += sum(longest.values())
    return total


def _describe_record(obs: Observation, job: str) -> str:
    record = obs.records.get(job)
    if record is None:
        return "no record"
    text = record.status
    if record.exit_code is not None or record.status not in (contract.SKIPPED, contract.CANCELLED):
        text += f", exit code {record.exit_code}"
    if record.reason:
        text += f", reason: {record.reason}"
    return text


def _show(value: Any) -> str:
    return (
        "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    )


def _clip(text: str, lines: int = 3) -> str:
    tail = text.rstrip("\n").splitlines()[-lines:]
    if not tail:
        return "(empty)"
    return " | ".join(tail)


# -- parsing ----------------------------------------------------------------------


def parse_expectations(
    expect: Mapping[str, Any],
    *,
    jobs: Sequence[str],
    ideal: float | str | None = None,
    errors: list[SchemaError] | None = None,
    skip: Iterable[str] = (),
) -> tuple[Expectation, ...]:
    """Turn a schema-valid `expect:` mapping into expectations.

    `ideal` is the scenario's ideal makespan in seconds, or why there is
    none (a text), for `makespan:`. A job name that is not in `jobs`, a bad
    marker path, or `input_error` mixed with other claims is a SchemaError
    (at the line as written): raised, or with `errors` given, every one of
    them appended there. The keys in `skip` are left out (the schema found
    them broken).
    """
    parser = _Parser(expect, jobs, ideal, collect=errors is not None, skip=set(skip))
    found = tuple(parser.parse())
    if errors is not None:
        errors.extend(parser.errors)
    return found


class _Parser:
    def __init__(
        self,
        expect: Mapping[str, Any],
        jobs: Sequence[str],
        ideal: float | str | None,
        *,
        collect: bool = False,
        skip: set[str] | None = None,
    ):
        self.expect = expect
        self.jobs = list(jobs)
        self.ideal = ideal
        self.collect = collect
        self.skip = skip or set()
        self.errors: list[SchemaError] = []

    def parse(self) -> list[Expectation]:
        if "input_error" in self.expect and len(self.expect) > 1:
            others = ", ".join(k for k in self.expect if k != "input_error")
            self.problem(
                SchemaError(
                    f"expect: input_error means nothing runs, so it cannot be combined with "
                    f"{others}",
                    key_line(self.expect, "input_error", None),
                )
            )
            return []
        found: list[Expectation] = []
        for key, value in self.expect.items():
            if key in self.skip:
                continue
            line = key_line(self.expect, key, None)
            try:
                found.extend(getattr(self, f"_{key}")(value, line))
            except SchemaError as error:
                self.problem(error)
        return found

    def problem(self, error: SchemaError) -> None:
        """Raise it, or when collecting, keep it and go on."""
        if not self.collect:
            raise error
        self.errors.append(error)

    # helpers

    def job(self, name: str, section: str, line: int | None) -> str:
        if name not in self.jobs:
            self.problem(
                SchemaError(
                    f"expect.{section}: no job named {name!r}{suggest(name, self.jobs)}", line
                )
            )
        return name

    def per_job(self, value: Mapping[str, Any], section: str, line: int | None):
        for name, item in value.items():
            at = key_line(value, name, line)
            yield self.job(name, section, at), item, at

    # one method per key of `expect:`

    def _status(self, value: Any, line: int | None) -> list[Expectation]:
        if isinstance(value, str):
            return [StatusIs(line, job, value) for job in self.jobs]
        # Filter the names, not the mapping: a plain dict copy would lose the key lines.
        named = [name for name in value if name != WILDCARD]
        found = []
        for name in named:
            at = key_line(value, name, line)
            found.append(StatusIs(at, self.job(name, "status", at), value[name]))
        if WILDCARD in value:
            at = key_line(value, WILDCARD, line)
            found += [StatusIs(at, j, value[WILDCARD]) for j in self.jobs if j not in named]
        return found

    def _exit_code(self, value: Mapping[str, Any], line: int | None) -> list[Expectation]:
        return [
            ExitCodeIs(at, job, code) for job, code, at in self.per_job(value, "exit_code", line)
        ]

    def _skip_cause(self, value: Mapping[str, Any], line: int | None) -> list[Expectation]:
        return [
            FieldIs(at, job, "skip_cause", cause)
            for job, cause, at in self.per_job(value, "skip_cause", line)
        ]

    def _background(self, value: Mapping[str, Any], line: int | None) -> list[Expectation]:
        return [
            FieldIs(at, job, "background", flag)
            for job, flag, at in self.per_job(value, "background", line)
        ]

    def _chains(
        self,
        value: list[str],
        line: int | None,
        section: str,
        kind: type[Before] | type[StartedBefore],
    ):
        found: list[Expectation] = []
        for index, chain in enumerate(value):
            at = item_line(value, index, line)
            names = [part.strip() for part in re.split(r"<", chain)]
            if any(not name for name in names):
                raise SchemaError(
                    f"expect.{section}: {chain!r} is not a chain like 'a < b < c'", at
                )
            names = [self.job(name, section, at) for name in names]
            found += [kind(at, a, b) for a, b in itertools.pairwise(names)]
        return found

    def _order(self, value: list[str], line: int | None) -> list[Expectation]:
        return self._chains(value, line, "order", Before)

    def _start_order(self, value: list[str], line: int | None) -> list[Expectation]:
        return self._chains(value, line, "start_order", StartedBefore)

    def _overlap(self, value: list[list[str]], line: int | None) -> list[Expectation]:
        found: list[Expectation] = []
        for index, group in enumerate(value):
            at = item_line(value, index, line)
            names = [self.job(name, "overlap", at) for name in group]
            found += [Overlap(at, a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
        return found

    def _max_concurrency(self, value: Any, line: int | None) -> list[Expectation]:
        if isinstance(value, int):
            return [MaxConcurrency(line, value, value)]
        return [MaxConcurrency(line, value.get("at_least"), value.get("at_most"))]

    def _markers(self, value: Mapping[str, Any], line: int | None) -> list[Expectation]:
        found: list[Expectation] = []
        for kind, items in value.items():
            entries = items.items() if kind == "content" else ((p, None) for p in items)
            for index, (path, content) in enumerate(entries):
                if kind == "content":
                    at = key_line(items, path, line)
                else:
                    at = item_line(items, index, line)
                problem = check_marker_path(str(path))
                if problem is not None:
                    raise SchemaError(f"expect.markers.{kind}: {problem}", at)
                text = None if content is None else str(content)
                found.append(Marker(at, str(path), kind != "absent", text))
        return found

    def _texts(self, value: Mapping[str, Any], line: int | None, where: str) -> list[Expectation]:
        found: list[Expectation] = []
        for job, texts, at in self.per_job(value, where, line):
            for text in [texts] if isinstance(texts, str) else texts:
                found.append(TextContains(at, job, where, text))
        return found

    def _reason(self, value: Mapping[str, Any], line: int | None) -> list[Expectation]:
        return self._texts(value, line, "reason")

    def _output(self, value: Mapping[str, Any], line: int | None) -> list[Expectation]:
        return self._texts(value, line, "output")

    def _makespan(self, value: Mapping[str, Any], line: int | None) -> list[Expectation]:
        if not isinstance(self.ideal, float):
            raise SchemaError(f"expect.makespan: {self.ideal or 'no ideal makespan'}", line)
        within, plus = float(value["within"]), float(value.get("plus", 0.0))
        return [Makespan(line, within, plus, self.ideal)]

    def _input_error(self, value: Any, line: int | None) -> list[Expectation]:
        if value is True:
            return [InputErrorIs(line)]
        cycle = tuple(str(name) for name in value.get("cycle", ()))
        return [InputErrorIs(line, value.get("job"), cycle, value.get("suggestion"))]


# -- contradictions ---------------------------------------------------------------


def contradictions(
    expectations: Sequence[Expectation], expect: Mapping[str, Any]
) -> list[SchemaError]:
    """Claims that no run can satisfy together, each at the line of one of them.

    Found at collection so that such a scenario is a broken file, not a
    test that fails whatever the coordinator does: a cycle of timing claims
    (`order` and `start_order` chains together: `a < b` in either means a
    started before b did), an `overlap` of two jobs that `order` puts one
    after the other, a timing claim or exit code for a job expected to be
    `skipped` (it never starts), a `completed` job with an exit code other
    than 0, a marker both present and absent, and `max_concurrency` bounds
    that exclude each other.
    """
    found: list[SchemaError] = []
    found += _timing_cycles(expectations)
    found += _overlaps_in_order(expectations)
    found += _status_conflicts(expectations)
    found += _marker_conflicts(expectations)
    for claim in expectations:
        if (
            isinstance(claim, MaxConcurrency)
            and claim.at_least is not None
            and claim.at_most is not None
            and claim.at_least > claim.at_most
        ):
            found.append(
                SchemaError(
                    f"expect.max_concurrency: at_least {claim.at_least} is more than "
                    f"at_most {claim.at_most}: no run can satisfy both",
                    claim.line,
                )
            )
    return found


def _section(claim: Expectation) -> str:
    return "order" if isinstance(claim, Before) else "start_order"


def _timing_cycles(expectations: Sequence[Expectation]) -> list[SchemaError]:
    """Cycles in the "started before" graph of `order` and `start_order` claims."""
    edges: dict[str, list[Before | StartedBefore]] = {}
    for claim in expectations:
        if isinstance(claim, (Before, StartedBefore)):
            edges.setdefault(claim.first, []).append(claim)
    found: list[SchemaError] = []
    seen_cycles: set[frozenset[str]] = set()
    for start in sorted(edges):
        path = _cycle_from(start, edges)
        if path is None:
            continue
        names = frozenset(claim.first for claim in path)
        if names in seen_cycles:
            continue
        seen_cycles.add(names)
        chain = " < ".join([*(claim.first for claim in path), path[0].first])
        sections = sorted({_section(claim) for claim in path})
        lines = sorted({claim.line for claim in path if claim.line is not None})
        where = "" if len(lines) < 2 else f" (lines {', '.join(map(str, lines))})"
        found.append(
            SchemaError(
                f"expect.{' and '.join(sections)}: {chain} is a cycle{where}: "
                "no run can start each of these jobs before the next",
                path[0].line,
            )
        )
    return found


def _cycle_from(
    start: str, edges: Mapping[str, list[Before | StartedBefore]]
) -> list[Before | StartedBefore] | None:
    """The claims of one cycle through `start`, or None (depth-first, deterministic)."""
    stack: list[tuple[str, list[Before | StartedBefore]]] = [(start, [])]
    visited: set[str] = set()
    while stack:
        node, path = stack.pop()
        for claim in reversed(edges.get(node, [])):
            if claim.then == start:
                return [*path, claim]
            if claim.then not in visited:
                visited.add(claim.then)
                stack.append((claim.then, [*path, claim]))
    return None


def _overlaps_in_order(expectations: Sequence[Expectation]) -> list[SchemaError]:
    """`overlap: [[a, b]]` while `order` has a finish before b starts, or the reverse."""
    after: dict[str, set[str]] = {}
    for claim in expectations:
        if isinstance(claim, Before):
            after.setdefault(claim.first, set()).add(claim.then)

    def reaches(a: str, b: str) -> bool:
        todo, seen = [a], {a}
        while todo:
            for nxt in after.get(todo.pop(), ()):
                if nxt == b:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    found = []
    for claim in expectations:
        if isinstance(claim, Overlap):
            for first, then in ((claim.a, claim.b), (claim.b, claim.a)):
                if reaches(first, then):
                    found.append(
                        SchemaError(
                            f"expect.overlap: {claim.a} and {claim.b} cannot overlap: "
                            f"expect.order has {then} start after {first} finished",
                            claim.line,
                        )
                    )
                    break
    return found


def _status_conflicts(expectations: Sequence[Expectation]) -> list[SchemaError]:
    status = {c.job: c for c in expectations if isinstance(c, StatusIs)}
    skipped = {job for job, claim in status.items() if claim.status == contract.SKIPPED}
    found = []
    for claim in expectations:
        if isinstance(claim, (Before, StartedBefore, Overlap)):
            names = (claim.a, claim.b) if isinstance(claim, Overlap) else (claim.first, claim.then)
            never = [name for name in names if name in skipped]
            if never:
                section = "overlap" if isinstance(claim, Overlap) else _section(claim)
                found.append(
                    SchemaError(
                        f"expect.{section}: {never[0]} is expected skipped, so it never starts "
                        f"(expect.status, line {status[never[0]].line})",
                        claim.line,
                    )
                )
        elif isinstance(claim, ExitCodeIs) and claim.job in status:
            expected = status[claim.job].status
            if expected == contract.SKIPPED and claim.code is not None:
                found.append(
                    SchemaError(
                        f"expect.exit_code: {claim.job} is expected skipped, so its exit code "
                        f"is null (expect.status, line {status[claim.job].line})",
                        claim.line,
                    )
                )
            elif expected == contract.COMPLETED and claim.code != 0:
                found.append(
                    SchemaError(
                        f"expect.exit_code: {claim.job} is expected completed, so its exit code "
                        f"is 0 (expect.status, line {status[claim.job].line})",
                        claim.line,
                    )
                )
    return found


def _marker_conflicts(expectations: Sequence[Expectation]) -> list[SchemaError]:
    markers = [claim for claim in expectations if isinstance(claim, Marker)]
    exists = {m.path: m for m in markers if m.present}
    found = []
    for claim in markers:
        if not claim.present and claim.path in exists:
            other = exists[claim.path]
            kind = "content" if other.content is not None else "present"
            found.append(
                SchemaError(
                    f"expect.markers: {claim.path!r} is both absent and {kind} (line {other.line})",
                    claim.line,
                )
            )
    return found

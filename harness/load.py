"""Loading a scenario file: header, matrix, rendering, validation, fake compilation.

A file is read in two steps. The header (`name`, `description`, `params`,
`matrix`, `marks`) is plain YAML read before rendering, because the matrix
decides how many times the template is rendered; it may not use Jinja. Then
the whole file is rendered once per matrix combination, parsed, validated
against `scenario.schema.json` and turned into a `Scenario`.

Every problem is an InputError `FILE:LINE: message` at the line of the file
as written, so a broken scenario is one clean collection error.
"""

from __future__ import annotations

import graphlib
import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

from coordinator.model import InputError
from coordinator.yamlsrc import LineMap, map_lines, parse_yaml, read_source
from harness import contract, fakes
from harness.expect import ideal_makespan, parse_expectations
from harness.hooksfile import plain
from harness.model import DEFAULT_TIMEOUT, HOOK, CancelPlan, Job, Mark, Scenario, display_path
from harness.render import Rendered, render
from harness.schema import SchemaError, item_line, key_line, scenario_validator, suggest

HEADER_KEYS = ("name", "description", "params", "matrix", "marks", "rules")
_JINJA = re.compile(r"\{\{|\{%|\{#|^\s*#%")
_DOCUMENT_LINE = re.compile(r"(---|\.\.\.)(\s|$)|%")  # `---`, `...`, `%YAML 1.2`
_TOP_LEVEL_NOT_MAPPING = re.compile(r"-(\s|$)|\[")  # a file that starts with a list


@dataclass(frozen=True)
class Case:
    """One matrix combination: its id (`wave`, `eager-4`) and the template variables."""

    id: str | None
    variables: Mapping[str, Any]


@dataclass(frozen=True)
class ScenarioFile:
    """A scenario file with its header read; `build` renders one case of it."""

    path: Path
    display: str  # the path as shown in messages
    source: str
    name: str
    name_line: int
    description: str
    marks: tuple[Mark, ...]
    marks_line: int | None
    cases: tuple[Case, ...]
    rules: tuple[str, ...] = ()  # spec rule ids the scenario exercises


def load_file(path: str | Path) -> ScenarioFile:
    """Read a scenario file's header and matrix; raises InputError."""
    path = Path(path)
    display = display_path(path)
    try:
        source = read_source(path)
    except InputError as error:  # it names the path as given: show it as every other message
        raise InputError(error.message, path=display, line=error.line) from None
    if not source.strip():
        raise InputError("file is empty", path=display, line=1)
    header = _read_header(source, display)
    validator = scenario_validator()
    for key in header:
        try:
            validator.validate_property(header, key)
        except SchemaError as error:
            raise InputError(error.message, path=display, line=error.line) from None
    if "name" not in header:
        raise InputError("a scenario needs a `name:`", path=display, line=1)
    params = dict(header.get("params", {}))
    matrix = header.get("matrix", {})
    clash = [key for key in matrix if key in params]
    if clash:
        line = key_line(matrix, clash[0], None)
        raise InputError(
            f"{clash[0]!r} is both a param and a matrix variable", path=display, line=line
        )
    return ScenarioFile(
        path=path,
        display=display,
        source=source,
        name=header["name"],
        name_line=key_line(header, "name", 1) or 1,
        description=str(header.get("description", "")).strip(),
        marks=tuple(_marks(header.get("marks", []))),
        marks_line=key_line(header, "marks", None),
        cases=tuple(_cases(params, matrix)),
        rules=tuple(header.get("rules", ())),
    )


def build(file: ScenarioFile, case: Case) -> Scenario:
    """Render one case of a file and check it; raises InputError at the source line."""
    rendered = render(file.source, case.variables, path=file.display)
    try:
        doc = parse_yaml(rendered.text, file.display)
    except InputError as error:
        raise InputError(
            error.message, path=file.display, line=rendered.source_line(error.line)
        ) from None
    map_lines(doc, lambda line: rendered.source_line(line) or line)  # lines as written, once
    try:
        return _Builder(file, case, rendered).scenario(doc)
    except SchemaError as error:
        raise InputError(error.message, path=file.display, line=error.line) from None


def load_scenarios(path: str | Path) -> list[Scenario]:
    """Every case of a scenario file, built; raises InputError on the first problem."""
    file = load_file(path)
    return [build(file, case) for case in file.cases]


# -- header ---------------------------------------------------------------------------


def _read_header(source: str, display: str) -> LineMap:
    """Parse only the header keys; other lines are blanked so line numbers stay right.

    Document markers (`---`, `...`) and directives are kept, so a second
    document is reported as such rather than as a duplicate header key.
    """
    kept: list[str] = []
    inside = False
    seen_key = False
    for number, line in enumerate(source.split("\n"), start=1):
        if _DOCUMENT_LINE.match(line):
            kept.append(line)
            continue
        if not seen_key and _TOP_LEVEL_NOT_MAPPING.match(line):
            raise InputError("a scenario must be a mapping", path=display, line=number)
        if line[:1] not in ("", " ", "\t", "-") and not _is_comment(line):
            seen_key = True
            key = line.split(":", 1)[0].strip().strip("'\"")
            inside = ":" in line and key in HEADER_KEYS
        if inside and _JINJA.search(line):
            raise InputError(
                "the header (name, description, params, matrix, marks, rules) is read before "
                "rendering and cannot use Jinja",
                path=display,
                line=number,
            )
        kept.append(line if inside else "")
    text = "\n".join(kept)
    if not text.strip():
        return LineMap(1)
    header = parse_yaml(text, display)
    if not isinstance(header, LineMap):
        raise InputError("a scenario must be a mapping", path=display, line=1)
    return header


def _is_comment(line: str) -> bool:
    return line.startswith("#") and not line.startswith("#%")


def _marks(items: list[Any]) -> Iterator[Mark]:
    for item in items:
        if isinstance(item, str):
            yield Mark(item)
            continue
        ((name, value),) = item.items()
        if isinstance(value, str):
            yield Mark(name, kwargs={"reason": value})
        elif isinstance(value, list):
            yield Mark(name, args=tuple(value))
        else:
            yield Mark(name, kwargs=dict(value))


def _cases(params: dict[str, Any], matrix: Mapping[str, list[Any]]) -> Iterator[Case]:
    if not matrix:
        yield Case(None, params)
        return
    keys = list(matrix)
    seen: set[str] = set()
    for combo in itertools.product(*(enumerate(matrix[key]) for key in keys)):
        parts = [
            _id_part(key, index, value) for key, (index, value) in zip(keys, combo, strict=True)
        ]
        case_id = "-".join(parts)
        if case_id in seen:
            case_id += f"-{len(seen)}"
        seen.add(case_id)
        yield Case(
            case_id, {**params, **{key: value for key, (_, value) in zip(keys, combo, strict=True)}}
        )


def _id_part(key: str, index: int, value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (str, int, float)) and str(value):
        return re.sub(r"\s+", "_", str(value))
    return f"{key}{index}"


# -- the rendered document --------------------------------------------------------------


class _Builder:
    """Turns a parsed, rendered document into a Scenario. Its lines are the file's as written."""

    def __init__(self, file: ScenarioFile, case: Case, rendered: Rendered) -> None:
        self.file = file
        self.case = case
        self.rendered = rendered

    def fail(self, message: str, line: int | None) -> NoReturn:
        raise SchemaError(message, line)

    def scenario(self, doc: Any) -> Scenario:
        if not isinstance(doc, Mapping):
            self.fail("a scenario must be a mapping", 1)
        scenario_validator().validate(doc)
        expect = doc["expect"]
        input_error = "input_error" in expect
        if input_error:
            jobs: list[Job] = []
            hooks_jobs = self._raw_jobs(doc["jobs"])
            if "cancel" in doc:
                line = key_line(doc, "cancel", None)
                self.fail("cancel has no effect when input_error is expected", line)
        else:
            jobs = self._jobs(doc["jobs"])
            self._check_graph(jobs)
            hooks_jobs = [dict(job.spec) for job in jobs]
        names = [job.name for job in jobs]
        expectations = parse_expectations(
            expect, jobs=names, ideal=_ideal(jobs, doc.get("coordinator"))
        )
        cancel = self._cancel(doc.get("cancel"), key_line(doc, "cancel", None), names)
        other_hooks, other_witnesses = self._other_hooks(doc.get("other_hooks"))
        if input_error:
            other_witnesses += tuple(
                fakes.witness_file(i, str(item.get("name", "job")))
                for i, item in enumerate(hooks_jobs if isinstance(hooks_jobs, list) else [])
                if isinstance(item, Mapping)
            )
        settings = doc.get("coordinator", {})
        return Scenario(
            path=self.file.path,
            name=self.file.name,
            case_id=self.case.id,
            description=self.file.description,
            line=self.file.name_line,
            timeout=float(doc.get("timeout", DEFAULT_TIMEOUT)),
            timeout_line=key_line(doc, "timeout", None) if "timeout" in doc else None,
            env=_texts(doc.get("env", {})),
            settings=dict(settings) if isinstance(settings, Mapping) else settings,
            settings_line=key_line(doc, "coordinator", None) if "coordinator" in doc else None,
            jobs=tuple(jobs),
            hooks_jobs=hooks_jobs,
            cancel=cancel,
            expectations=expectations,
            marks=self.file.marks,
            rendered=self.rendered,
            input_error=input_error,
            hook=str(doc.get("hook", HOOK)),
            other_hooks=other_hooks,
            other_witnesses=other_witnesses,
            rules=self.file.rules,
        )

    def _jobs(self, items: list[Any]) -> list[Job]:
        jobs: list[Job] = []
        seen: dict[str, int | None] = {}
        for index, item in enumerate(items):
            line = item_line(items, index, None)
            name = item["name"]
            if name in seen:
                first = seen[name]
                self.fail(f"jobs: two jobs named {name!r} (the first at line {first})", line)
            seen[name] = line
            jobs.append(self._job(index, item, line))
        return jobs

    def _job(self, index: int, item: Mapping[str, Any], line: int | None) -> Job:
        name = item["name"]
        where = f"jobs[{name}]"
        if ("run" in item) == ("fake" in item):
            which = "both" if "run" in item else "neither"
            self.fail(f"{where}: a job needs exactly one of run: and fake: (got {which})", line)
        # As written: numbers in `env` stay numbers, the coordinator's to turn into text.
        spec = plain({key: value for key, value in item.items() if key != "fake"})
        actions: tuple[fakes.Action, ...] | None = None
        witness = None
        if "fake" in item:
            cwd = item.get("cwd")
            if cwd is not None:
                problem = fakes.check_marker_path(cwd)
                if problem is not None and PurePosixPath(cwd).parts != (".",):
                    where_cwd = key_line(item, "cwd", line)
                    self.fail(
                        f"{where}.cwd: a fake job's cwd must stay inside the work dir", where_cwd
                    )
            actions = tuple(self._actions(item["fake"], where, key_line(item, "fake", line)))
            witness = fakes.witness_file(index, name)
            run = fakes.compile_actions(list(actions), witness=witness, cwd=cwd)
            spec = {"name": name, "run": run, **{k: v for k, v in spec.items() if k != "name"}}
        return Job(
            name=name,
            line=line,
            spec=spec,
            actions=actions,
            witness=witness,
            needs=tuple(item.get("needs", ())),
            background=bool(item.get("background", False)),
        )

    def _actions(self, items: list[Any], where: str, line: int | None) -> list[fakes.Action]:
        actions = []
        for index, item in enumerate(items):
            try:
                actions.append(fakes.parse_action(item))
            except ValueError as error:
                self.fail(f"{where}.fake[{index}]: {error}", item_line(items, index, line))
        problem = fakes.check_sequence(actions)
        if problem is not None:
            self.fail(f"{where}.fake: {problem}", line)
        return actions

    def _raw_jobs(self, items: Any, base: int = 0) -> Any:
        """In an input-error scenario the jobs go to the coordinator as written, fakes compiled.

        The coordinator's own validation is what such a scenario tests, so
        nothing else is checked or changed here.
        """
        if not isinstance(items, list):
            return items
        result = []
        for index, item in enumerate(items):
            if not isinstance(item, Mapping) or "fake" not in item:
                result.append(item)
                continue
            at = key_line(item, "fake", item_line(items, index, None))
            scenario_validator().validate_definition(item["fake"], "fake", at)
            actions = self._actions(item["fake"], f"jobs[{index}]", at)
            witness = fakes.witness_file(base + index, str(item.get("name", "job")))
            run = fakes.compile_actions(actions, witness=witness)
            result.append({**{k: v for k, v in item.items() if k != "fake"}, "run": run})
        return result

    def _cancel(self, value: Any, line: int | None, names: list[str]) -> CancelPlan | None:
        if value is None:
            return None
        job = value.get("when_started")
        if job is not None and job not in names:
            at = key_line(value, "when_started", line)
            self.fail(f"cancel.when_started: no job named {job!r}{suggest(job, names)}", at)
        return CancelPlan(
            float(value.get("after", 0.0)),
            job,
            line,
            str(value.get("signal", "SIGTERM")),
        )

    def _other_hooks(self, value: Any) -> tuple[Any, tuple[str, ...]]:
        """Hooks beside the selected one, fakes compiled; and their jobs' witness files.

        Their witness files are numbered after the selected hook's (from
        500 on), so a witness names which job ran, and none may.
        """
        if value is None:
            return None, ()
        hooks: dict[str, Any] = {}
        witnesses: list[str] = []
        for hook_index, (hook, jobs) in enumerate(value.items()):
            items = jobs.get("jobs") if isinstance(jobs, Mapping) else jobs
            if not isinstance(items, list):
                hooks[str(hook)] = jobs
                continue
            base = 500 + 50 * hook_index
            compiled = self._raw_jobs(items, base)
            witnesses += [
                fakes.witness_file(base + i, str(item.get("name", "job")))
                for i, item in enumerate(items)
                if isinstance(item, Mapping) and "fake" in item
            ]
            hooks[str(hook)] = {"jobs": compiled}
        return hooks, tuple(witnesses)

    def _check_graph(self, jobs: list[Job]) -> None:
        """A needs naming no job, a job needing itself or a cycle is a mistake in the file.

        Without this the scenario would load, and the rejection would only
        show up when the test runs (as a test failure, not the collection
        error a broken file gets). The harness's own check, from the spec.
        """
        names = [job.name for job in jobs]
        for job in jobs:
            for need in job.needs:
                if need not in names:
                    raise InputError(
                        f"jobs[{job.name}]: needs unknown job {need!r}{suggest(need, names)}",
                        path=self.file.display,
                        line=job.line,
                    )
        try:
            graphlib.TopologicalSorter({job.name: job.needs for job in jobs}).prepare()
        except graphlib.CycleError as error:
            cycle = list(reversed(error.args[1]))
            where = next(job.line for job in jobs if job.name == cycle[0])
            raise InputError(
                f"jobs[{cycle[0]}]: dependency cycle: {' -> '.join(cycle)}",
                path=self.file.display,
                line=where,
            ) from None


def _ideal(jobs: list[Job], settings: Any) -> float | str:
    """The ideal makespan for `expect.makespan`, or why there is none."""
    unknown = [job.name for job in jobs if job.planned is None]
    if unknown:
        return (
            "the ideal makespan needs every job to be a fake job that does not hang; "
            f"not: {', '.join(unknown)}"
        )
    strategy = settings.get("strategy") if isinstance(settings, Mapping) else None
    plans = contract.job_plans([job.spec for job in jobs])
    planned = {job.name: float(job.planned or 0.0) for job in jobs}
    return ideal_makespan(plans, planned, wave=strategy == "wave")


def _texts(values: Mapping[str, Any]) -> dict[str, str]:
    """The coordinator's own environment: numbers as the text of the parsed value."""
    return {str(key): contract.env_text(value) for key, value in values.items()}

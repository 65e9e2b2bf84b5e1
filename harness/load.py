"""Loading a scenario file: header, matrix, rendering, validation, fake compilation.

A file is read in two steps. The header (`name`, `description`, `params`,
`matrix`, `marks`) is plain YAML read before rendering, because the matrix
decides how many times the template is rendered; it may not use Jinja. Then
the whole file is rendered once per matrix combination, parsed, validated
against `scenario.schema.json` and turned into a `Scenario`.

Every problem is an InputError `FILE:LINE: message` at the line of the file
as written, so a broken scenario is one clean collection error; a file with
several problems raises `ScenarioErrors` (an InputError too), one line each,
so that all of them are reported at once.

The file as written is YAML too (`#%` line statements are comments to YAML)
and is checked against the same schema by editors and by CI; a quoted
expression that is the whole value, `"{{ limit }}"`, therefore renders to the
value itself (a number stays a number), written out as YAML.
"""

from __future__ import annotations

import graphlib
import itertools
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import jinja2
import yaml

from coordinator.model import InputError
from coordinator.yamlsrc import LineMap, map_lines, parse_yaml, read_source
from harness import contract, fakes
from harness.expect import contradictions, ideal_makespan, parse_expectations
from harness.hooksfile import plain
from harness.model import DEFAULT_TIMEOUT, HOOK, CancelPlan, Job, Mark, Scenario, display_path
from harness.render import Rendered, render
from harness.schema import (
    SchemaError,
    item_line,
    key_line,
    load_schema,
    scenario_validator,
    suggest,
)

HEADER_KEYS = ("name", "description", "params", "matrix", "marks", "rules")
_JINJA = re.compile(r"\{\{|\{%|\{#|^\s*#%")
_DOCUMENT_LINE = re.compile(r"(---|\.\.\.)(\s|$)|%")  # `---`, `...`, `%YAML 1.2`
_TOP_LEVEL_NOT_MAPPING = re.compile(r"-(\s|$)|\[")  # a file that starts with a list
VALUE_FUNCTION = "_scenario_value_"  # what a whole-value expression is rendered through
MAX_CASES_SHOWN = 3

# What the loader rejects beyond scenario.schema.json, by the start of the message after
# `FILE:LINE: ` (a path such as `jobs[a].` may come first). JSON Schema cannot say these:
# they relate values to each other (job names, the needs graph, contradicting claims)
# or to the file system. Everything else the loader refuses, the schema refuses too;
# tests/test_harness_schema_drift.py holds both to that, file by file.
BEYOND_SCHEMA = {
    "a job needs exactly one of run: and fake:": "run/fake: exactly one",
    "two jobs named": "job names are unique",
    "needs unknown job": "needs name jobs of the scenario",
    "dependency cycle": "the needs graph has no cycle",
    "no job named": "expect and cancel name jobs of the scenario",
    "marker path": "marker paths stay inside the work dir",
    "a fake job's cwd must stay inside the work dir": "cwd stays inside the work dir",
    "never returns": "nothing after exit or hang",
    "is not a chain like": "chains have a job on each side of '<'",
    "input_error means nothing runs": "input_error stands alone",
    "cancel has no effect when input_error": "no cancel with input_error",
    "is a cycle": "timing claims without a cycle",
    "cannot overlap": "overlap against order",
    "is expected skipped": "skipped jobs never start",
    "is expected completed": "completed means exit code 0",
    "is both absent and": "a marker is present or absent",
    "is more than at_most": "max_concurrency bounds",
    "is both a param and a matrix variable": "params and matrix apart",
    "the ideal makespan needs": "makespan needs fake jobs",
    "is also the name of": "one name per scenario file (the plugin)",
    "must be a finite number": "numbers are finite (YAML's .nan and .inf have no JSON form)",
}


class ScenarioErrors(InputError):
    """Every problem found in one scenario file: `str()` is one `FILE:LINE: message` each.

    `message` and `line` are the first problem's, so code that expects one
    InputError still reads a sensible one.
    """

    def __init__(self, errors: Iterable[InputError]) -> None:
        self.errors = _ordered(errors)
        first = self.errors[0]
        super().__init__(first.message, path=first.path, line=first.line)

    def __str__(self) -> str:
        return "\n".join(str(InputError(e.message, path=e.path, line=e.line)) for e in self.errors)


def _ordered(errors: Iterable[InputError]) -> list[InputError]:
    """Flattened, without repeats, by line (a problem without a line last)."""
    flat: list[InputError] = []
    for error in errors:
        flat.extend(error.errors if isinstance(error, ScenarioErrors) else [error])
    unique = {(e.path, e.line, e.message): e for e in flat}
    return sorted(unique.values(), key=lambda e: (e.line is None, e.line or 0))


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
    """Read a scenario file's header and matrix; raises InputError (ScenarioErrors)."""
    file, errors = _read_file(Path(path))
    if errors or file is None:
        raise ScenarioErrors(errors)
    return file


def _read_file(path: Path) -> tuple[ScenarioFile | None, list[InputError]]:
    """The file with its header read, or None when no case can be built; and every problem."""
    display = display_path(path)
    try:
        source = read_source(path)
    except InputError as error:  # it names the path as given: show it as every other message
        return None, [InputError(error.message, path=display, line=error.line)]
    if not source.strip():
        return None, [InputError("file is empty", path=display, line=1)]
    try:
        header = _read_header(source, display)
    except InputError as error:
        return None, [error]
    if not header and all(_is_comment(line) or not line.strip() for line in source.split("\n")):
        return None, [InputError("a scenario needs a `name:`", path=display, line=1)]
    validator = scenario_validator()
    problems = {key: validator.property_errors(header, key) for key in header}
    errors = [
        InputError(e.message, path=display, line=e.line)
        for found in problems.values()
        for e in found
    ]
    if "name" not in header:
        errors.insert(0, InputError("a scenario needs a `name:`", path=display, line=1))
    if problems.get("params") or problems.get("matrix"):
        return None, errors  # the cases cannot be known
    params = dict(header.get("params", {}))
    matrix = header.get("matrix", {})
    for key in (key for key in matrix if key in params):
        line = key_line(matrix, key, None)
        errors.append(
            InputError(f"{key!r} is both a param and a matrix variable", path=display, line=line)
        )
    file = ScenarioFile(
        path=path,
        display=display,
        source=source,
        name=header.get("name") if isinstance(header.get("name"), str) else "",
        name_line=key_line(header, "name", 1) or 1,
        description=str(header.get("description", "")).strip(),
        marks=() if problems.get("marks") else tuple(_marks(header.get("marks", []))),
        marks_line=key_line(header, "marks", None),
        cases=tuple(_cases(params, matrix)),
        rules=() if problems.get("rules") else tuple(header.get("rules", ())),
    )
    return file, errors


def load_all(path: str | Path) -> tuple[ScenarioFile, list[Scenario]]:
    """A file and every case of it, built; raises ScenarioErrors with every problem found.

    Problems of the header, then of each case: one that only some matrix
    cases have names them, `(matrix cases: wave)`.
    """
    file, errors = _read_file(Path(path))
    if file is None:
        raise ScenarioErrors(errors)
    scenarios: list[Scenario] = []
    by_problem: dict[tuple[int | None, str], list[str]] = {}
    for case in file.cases:
        try:
            scenarios.append(build(file, case))
        except ScenarioErrors as found:
            for error in found.errors:
                by_problem.setdefault((error.line, error.message), []).append(case.id or "")
    for (line, message), cases in by_problem.items():
        if len(cases) < len(file.cases):
            shown = ", ".join(cases[:MAX_CASES_SHOWN])
            left = len(cases) - MAX_CASES_SHOWN
            more = f" and {left} more" if left > 0 else ""
            message = f"{message} (matrix case{'s' if len(cases) > 1 else ''}: {shown}{more})"
        errors.append(InputError(message, path=file.display, line=line))
    if errors:
        raise ScenarioErrors(errors)
    return file, scenarios


def build(file: ScenarioFile, case: Case) -> Scenario:
    """Render one case of a file and check it; raises ScenarioErrors at the lines as written."""
    source = typed_expressions(file.source)
    variables = {**case.variables, VALUE_FUNCTION: yaml_value}
    try:
        rendered = render(source, variables, path=file.display)
    except InputError as error:
        raise ScenarioErrors([error]) from None
    try:
        doc = parse_yaml(rendered.text, file.display)
    except InputError as error:
        line = rendered.source_line(syntax_error_line(rendered.text, error))
        raise ScenarioErrors([InputError(error.message, path=file.display, line=line)]) from None
    map_lines(doc, lambda line: rendered.source_line(line) or line)  # lines as written, once
    builder = _Builder(file, case, rendered)
    scenario = builder.scenario(doc)
    if builder.errors or scenario is None:
        raise ScenarioErrors(builder.errors)
    return scenario


def load_scenarios(path: str | Path) -> list[Scenario]:
    """Every case of a scenario file, built; raises ScenarioErrors with every problem."""
    return load_all(path)[1]


def scenario_names(paths: Iterable[Path]) -> dict[str, list[tuple[Path, int]]]:
    """Scenario name -> the files (and `name:` lines) that use it; unreadable files are left out.

    Only the header is read. Two files with one name would give two tests
    the same name (`-k`, reports, durations could not tell them apart).
    """
    names: dict[str, list[tuple[Path, int]]] = {}
    for path in paths:
        file, _ = _read_file(path)
        if file is not None and file.name:
            names.setdefault(file.name, []).append((path, file.name_line))
    return names


# -- typed expressions -----------------------------------------------------------------


def typed_expressions(source: str) -> str:
    """Route every quoted scalar that is one whole `{{ ... }}` through `yaml_value`.

    `max_parallel: "{{ limit }}"` is valid YAML as written (and the schema
    admits it), and renders to `max_parallel: 3`, a number, not the string
    "3". Found with the YAML parser, so only real quoted scalars on one line
    are touched (never a quote inside a `run:` command). A file that YAML
    cannot parse as written is rendered as it is.
    """
    if '"{{' not in source and "'{{" not in source:
        return source
    whole = _whole_expression()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spans: list[tuple[int, int, str]] = []
    try:
        for event in yaml.parse(source, Loader=loader):
            if not isinstance(event, yaml.ScalarEvent) or event.style not in ('"', "'"):
                continue
            if whole.fullmatch(event.value) and event.start_mark.line == event.end_mark.line:
                spans.append((event.start_mark.index, event.end_mark.index, event.value[2:-2]))
    except yaml.YAMLError:
        return source
    out = []
    last = 0
    for start, end, expression in spans:
        out += [source[last:start], f"{{{{ {VALUE_FUNCTION}(({expression})) }}}}"]
        last = end
    out.append(source[last:])
    return "".join(out)


@cache
def _whole_expression() -> re.Pattern[str]:
    """What stands for a whole value as written: the schema's own `template` pattern."""
    return re.compile(load_schema()["definitions"]["template"]["pattern"])


def yaml_value(value: Any) -> str:
    """A rendered value as one line of flow YAML that parses back to the same value."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    text = yaml.safe_dump(
        [_plain_value(value)], default_flow_style=True, width=math.inf, allow_unicode=True
    )
    return text.strip()[1:-1]


def _plain_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_plain_value(k): _plain_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, range)):
        return [_plain_value(v) for v in value]
    if isinstance(value, str):
        return str(value)  # a Markup or other str subclass: plain text
    return value


_UNCLOSED = re.compile(r"expected ',' or '[\]}]'")


def syntax_error_line(text: str, error: InputError) -> int | None:
    """Where a YAML syntax error really is, as a line of `text`.

    An unclosed `[` or `{` is noticed only at a token that cannot continue
    the collection, often on the next line (a plain scalar in flow style
    may even run on into it): the line to fix is the one where the bracket
    was opened, which YAML reports as the context of the error.
    """
    if error.line is None or not _UNCLOSED.search(error.message):
        return error.line
    try:
        yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        if exc.context_mark is not None:
            return exc.context_mark.line + 1
    except yaml.YAMLError:
        pass
    return error.line


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
    try:
        header = parse_yaml(text, display)
    except InputError as error:
        raise InputError(error.message, path=display, line=syntax_error_line(text, error)) from None
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
    """Turns a parsed, rendered document into a Scenario. Its lines are the file's as written.

    Every problem goes to `errors` rather than stopping the build, so a file
    shows all of them at once. A check that needs a sound part of the
    document (a job's actions, the needs graph, an expectation) runs only
    when the schema found nothing wrong in that part: its problem would be
    noise on top of the schema's.
    """

    def __init__(self, file: ScenarioFile, case: Case, rendered: Rendered) -> None:
        self.file = file
        self.case = case
        self.rendered = rendered
        self.errors: list[InputError] = []
        self._bad: list[tuple[Any, ...]] = []  # paths the schema found a problem at
        self._jobs_sound = False  # every job built and the needs graph is sound

    def fail(self, message: str, line: int | None) -> None:
        self.errors.append(InputError(message, path=self.file.display, line=line))

    def schema_errors(self, found: list[SchemaError]) -> None:
        for error in found:
            self._bad.append(error.path)
            if not error.path or error.path[0] not in HEADER_KEYS:
                self.fail(error.message, error.line)  # the header's were reported by load_file

    def sound(self, *path: Any) -> bool:
        """No schema problem at `path`, inside it, or above it."""
        depth = len(path)
        return not any(bad[:depth] == path or path[: len(bad)] == bad for bad in self._bad)

    def scenario(self, doc: Any) -> Scenario | None:
        if not isinstance(doc, Mapping):
            self.fail("a scenario must be a mapping", 1)
            return None
        self.schema_errors(scenario_validator().errors(doc))
        expect = doc.get("expect")
        # Known even when its value is broken: the jobs of such a file are not checked.
        input_error = isinstance(expect, Mapping) and "input_error" in expect
        jobs: list[Job] = []
        hooks_jobs: Any = []
        names: list[str] = []
        if input_error:
            hooks_jobs = self._raw_jobs(doc.get("jobs"))
            if "cancel" in doc:
                line = key_line(doc, "cancel", None)
                self.fail("cancel has no effect when input_error is expected", line)
        elif isinstance(doc.get("jobs"), list):
            items = doc["jobs"]
            names = [i["name"] for i in items if isinstance(i, Mapping) and _text(i.get("name"))]
            before = len(self.errors)
            jobs = self._jobs(items)
            if len(jobs) == len(items):
                self._check_graph(jobs)
            self._jobs_sound = len(self.errors) == before and len(jobs) == len(items)
            hooks_jobs = [dict(job.spec) for job in jobs]
        expectations: tuple[Any, ...] = ()
        if isinstance(expect, Mapping):
            expectations = self._expectations(expect, names, jobs, doc)
        cancel = None
        if self.sound("cancel") and isinstance(doc.get("cancel"), Mapping):
            cancel = self._cancel(doc["cancel"], key_line(doc, "cancel", None), names)
        other_hooks, other_witnesses = None, ()
        if self.sound("other_hooks"):
            other_hooks, other_witnesses = self._other_hooks(doc.get("other_hooks"))
        if input_error:
            other_witnesses += tuple(
                fakes.witness_file(i, str(item.get("name", "job")))
                for i, item in enumerate(hooks_jobs if isinstance(hooks_jobs, list) else [])
                if isinstance(item, Mapping)
            )
        if self.errors:
            return None
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

    def _expectations(
        self, expect: Mapping[str, Any], names: list[str], jobs: list[Job], doc: Mapping
    ) -> tuple[Any, ...]:
        found: list[SchemaError] = []
        complete = self._jobs_sound and self.sound("jobs") and self.sound("coordinator")
        ideal = _ideal(jobs, doc.get("coordinator")) if complete else None
        parsed = parse_expectations(
            expect,
            jobs=names,
            ideal=ideal if ideal is not None else "the jobs have problems",
            errors=found,
            skip={key for key in expect if not self.sound("expect", key)},
        )
        for error in found:
            self.fail(error.message, error.line)
        if not found and self.sound("expect"):
            for problem in contradictions(parsed, expect):
                self.fail(problem.message, problem.line)
        return parsed

    def _jobs(self, items: list[Any]) -> list[Job]:
        jobs: list[Job] = []
        seen: dict[str, int | None] = {}
        for index, item in enumerate(items):
            line = item_line(items, index, None)
            name = item.get("name") if isinstance(item, Mapping) else None
            if _text(name) and name in seen:
                first = seen[name]
                self.fail(f"jobs: two jobs named {name!r} (the first at line {first})", line)
                continue
            if _text(name):
                seen[name] = line
            if not self.sound("jobs", index):
                continue
            job = self._job(index, item, line)
            if job is not None:
                jobs.append(job)
        return jobs

    def _job(self, index: int, item: Mapping[str, Any], line: int | None) -> Job | None:
        name = item["name"]
        where = f"jobs[{name}]"
        if ("run" in item) == ("fake" in item):
            which = "both" if "run" in item else "neither"
            self.fail(f"{where}: a job needs exactly one of run: and fake: (got {which})", line)
            return None
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
                    return None
            parsed = self._actions(item["fake"], where, key_line(item, "fake", line))
            if parsed is None:
                return None
            actions = tuple(parsed)
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

    def _actions(self, items: list[Any], where: str, line: int | None) -> list[fakes.Action] | None:
        actions = []
        before = len(self.errors)
        for index, item in enumerate(items):
            try:
                actions.append(fakes.parse_action(item))
            except ValueError as error:
                self.fail(f"{where}.fake[{index}]: {error}", item_line(items, index, line))
        if len(self.errors) > before:
            return None
        problem = fakes.check_sequence(actions)
        if problem is not None:
            self.fail(f"{where}.fake: {problem}", line)
            return None
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
            found = scenario_validator().definition_errors(item["fake"], "fake", at)
            if found:
                self.schema_errors(found)
                continue
            actions = self._actions(item["fake"], f"jobs[{index}]", at)
            if actions is None:
                continue
            witness = fakes.witness_file(base + index, str(item.get("name", "job")))
            run = fakes.compile_actions(actions, witness=witness)
            result.append({**{k: v for k, v in item.items() if k != "fake"}, "run": run})
        return result

    def _cancel(self, value: Any, line: int | None, names: list[str]) -> CancelPlan | None:
        job = value.get("when_started")
        if job is not None and job not in names:
            at = key_line(value, "when_started", line)
            self.fail(f"cancel.when_started: no job named {job!r}{suggest(job, names)}", at)
            return None
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
        unknown = False
        for job in jobs:
            for need in job.needs:
                if need not in names:
                    unknown = True
                    self.fail(
                        f"jobs[{job.name}]: needs unknown job {need!r}{suggest(need, names)}",
                        job.line,
                    )
        if unknown:
            return
        try:
            graphlib.TopologicalSorter({job.name: job.needs for job in jobs}).prepare()
        except graphlib.CycleError as error:
            cycle = list(reversed(error.args[1]))
            where = next(job.line for job in jobs if job.name == cycle[0])
            self.fail(f"jobs[{cycle[0]}]: dependency cycle: {' -> '.join(cycle)}", where)


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


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

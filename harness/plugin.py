"""The pytest plugin: scenario files become test items (a thin layer over the engine).

Modelled on pytest's "working with non-python tests" example: a File
collector per scenario file, one Item per matrix combination (times
`--scenario-repeat`). Loading problems become one clean collection error
per file (`FILE:LINE: message` per problem, every problem of the file at
once, no traceback) and the other files still run. Registered through the
`pytest11` entry point `scenarios`; the root conftest.py registers it for a
checkout that is not installed.

Items behave like any pytest test: their node ids are stable and parse the
way pytest parses ids from its cache (`file.yml::name[case]`), so `--lf`,
`--ff`, `--sw` and pytest-split's durations work; a failure's first line,
location and JUnit `message` are its first failed check; the run travels on
the report (`report.scenario_run`) for the pictures of `--scenario-report`
and, when pytest-html is installed, `--html`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from coordinator.model import InputError
from harness.drivers import Driver, ExternalDriver, InProcessDriver
from harness.engine import Outcome, run_scenario
from harness.htmlreport import Entry, write_page
from harness.load import ScenarioErrors, load_all, scenario_names
from harness.load import ScenarioFile as LoadedFile
from harness.model import Mark, Scenario, display_path
from harness.report import format_outcome, run_data
from harness.timeline import render_svg

DEFAULT_GLOB = "scenarios/**/*.yml"
_DRIVER = pytest.StashKey[Any]()
_ERRORS = pytest.StashKey["_CollectionErrors"]()
_NAMES = pytest.StashKey[dict[str, list[tuple[Path, int]]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("scenarios", "scenario harness")
    group.addoption(
        "--coordinator-cmd",
        metavar="TEMPLATE",
        help="run scenarios with this coordinator command (spec: protocol) instead of in-process; "
        "placeholders {hooks_file} {hook} {state_dir} {invocation} {worktree}",
    )
    group.addoption(
        "--scenario-repeat",
        type=int,
        default=1,
        metavar="N",
        help="collect every scenario N times, to shake out races",
    )
    group.addoption(
        "--scenario-rules",
        metavar="IDS",
        help="run only the scenarios whose `rules:` list one of these comma-separated spec "
        "rule ids (docs/spec.md); other items are deselected",
    )
    group.addoption(
        "--scenario-report",
        metavar="DIR",
        help="write DIR/index.html: every scenario's timeline (SVG) and failed checks, "
        "failing scenarios first (self-contained; with pytest-html, --html has them too)",
    )
    group.addoption(
        "--fuzz",
        type=int,
        metavar="N",
        help="add one item that runs the fuzzer (docs/fuzzing.md) for N cases against the "
        "same coordinator; a finding fails it and is written under the item's temp dir",
    )
    group.addoption(
        "--fuzz-seed", type=int, default=20261202, metavar="SEED", help="default: 20261202"
    )
    parser.addini(
        "coordinator_cmd", "default for --coordinator-cmd (empty: run in-process)", default=""
    )
    parser.addini(
        "scenario_glob",
        "scenario files to collect, relative to the rootdir (one glob per line)",
        type="linelist",
        default=[DEFAULT_GLOB],
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "scenario: a scenario file test (harness/)")
    if config.getoption("scenario_repeat") < 1:
        raise pytest.UsageError("--scenario-repeat must be at least 1")
    template = config.getoption("coordinator_cmd") or config.getini("coordinator_cmd")
    driver: Driver = InProcessDriver()
    if template:
        try:
            driver = ExternalDriver(template)
        except ValueError as error:
            raise pytest.UsageError(f"--coordinator-cmd: {error}") from None
    config.stash[_DRIVER] = driver
    config.stash[_ERRORS] = _CollectionErrors()
    config.pluginmanager.register(config.stash[_ERRORS], "scenarios-collection-errors")
    directory = config.getoption("scenario_report")
    if directory and not hasattr(config, "workerinput"):  # the controller writes the page
        config.pluginmanager.register(_Page(Path(directory)), "scenarios-report-page")


class _CollectionErrors:
    """Lets a broken scenario file fail alone instead of stopping the session.

    pytest runs nothing when collection had errors. When every collection
    error came from a scenario file (each already reported as one clean
    `FILE:LINE: message`), the rest runs anyway, as with
    `--continue-on-collection-errors`; the session still fails. Any other
    collection error keeps pytest's usual behaviour.
    """

    def __init__(self) -> None:
        self.scenario_files: set[str] = set()
        self.others = 0

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # Under xdist the controller only sees the workers' reports: mark ours there too.
        if report.failed and getattr(report, "scenario_file", False):
            self.scenario_files.add(report.nodeid)
        if report.failed and report.nodeid not in self.scenario_files:
            self.others += 1

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Iterator[None]:
        if self.scenario_files and not self.others:
            session.config.option.continue_on_collection_errors = True
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Iterator[None]:
        result = yield
        xmlpath = session.config.option.xmlpath
        if xmlpath and self.scenario_files and not hasattr(session.config, "workerinput"):
            _junit_collection_messages(Path(xmlpath), self.scenario_files)
        return result


def _junit_collection_messages(path: Path, broken: set[str]) -> None:
    """Give a broken scenario file's JUnit `<error>` its real `FILE:LINE: message`.

    pytest's junitxml writes every collection error as `message="collection
    failure"`, the text only inside; CI tools show the message. Rewritten
    after pytest wrote the file, with its own element text (the same lines
    as the terminal shows), so nothing else in the file changes.
    """
    if not path.is_file():
        return
    tree = ET.parse(path)
    changed = False
    names = {nodeid.replace("/", ".") for nodeid in broken}  # how junitxml names a file
    for case in tree.getroot().iter("testcase"):
        for error in case.iter("error"):
            text = (error.text or "").strip()
            if error.get("message") != "collection failure" or not text:
                continue
            if case.get("name") not in names:
                continue
            error.set("message", text)
            first = re.match(r"[^\n]*?:(\d+): ", text)
            if first and "file" in case.attrib:  # xunit1: file and line attributes exist
                case.set("line", str(int(first.group(1)) - 1))
            changed = True
    if changed:
        tree.write(path, encoding="utf-8", xml_declaration=True)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """`--fuzz N`: one more item. `--scenario-rules`: keep the scenarios of the given rules."""
    cases = config.getoption("fuzz")
    if cases:
        if cases < 1:
            raise pytest.UsageError("--fuzz must be at least 1")
        seed = config.getoption("fuzz_seed")  # fixed by default: every xdist worker agrees
        items.append(FuzzItem.from_parent(session, name=f"fuzz[{seed}]", cases=cases, seed=seed))
    wanted = {rule.strip() for rule in (config.getoption("scenario_rules") or "").split(",")}
    wanted.discard("")
    if not wanted:
        return
    keep = [i for i in items if isinstance(i, ScenarioItem) and wanted & set(i.scenario.rules)]
    dropped = [item for item in items if item not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_report_header(config: pytest.Config) -> str:
    driver = config.stash[_DRIVER]
    described = driver.template if isinstance(driver, ExternalDriver) else "in-process"
    return f"scenarios: coordinator {described}"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yml", ".yaml"):
        return None
    try:
        relative = file_path.relative_to(parent.config.rootpath).as_posix()
    except ValueError:
        return None
    if any(_glob(pattern).fullmatch(relative) for pattern in parent.config.getini("scenario_glob")):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


@cache
def _glob(pattern: str) -> re.Pattern[str]:
    """A glob as a regex: `**/` is any number of directories, `*` and `?` stay in one."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            char = pattern[i]
            out.append({"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char)))
            i += 1
    return re.compile("".join(out))


class ScenarioFile(pytest.File):
    """One scenario file: renders and checks every matrix combination at collection."""

    def collect(self) -> Iterator[ScenarioItem]:
        errors: list[InputError] = []
        try:
            file, scenarios = load_all(self.path)
        except ScenarioErrors as found:
            errors += found.errors
            file, scenarios = None, []
        except InputError as error:
            errors.append(error)
            file, scenarios = None, []
        if file is not None:
            errors += self._same_name(file)
        marks = []
        if file is not None and not errors:
            marks = [mark for mark in (self._mark(file, m, errors) for m in file.marks) if mark]
        if errors:
            self.config.stash[_ERRORS].scenario_files.add(self.nodeid)
            raise self.CollectError(str(ScenarioErrors(errors)))
        repeat = self.config.getoption("scenario_repeat")
        for scenario in scenarios:
            for round_ in range(1, repeat + 1):
                name = _item_name(scenario, round_, repeat)
                # The id as pytest parses one back from its cache (`name[case]` is a
                # name and params): `--lf`, `--ff` and `--sw` find the item again.
                item = ScenarioItem.from_parent(
                    self, name=name, nodeid=f"{self.nodeid}::{name}", scenario=scenario
                )
                item.add_marker(pytest.mark.scenario)
                for mark in marks:
                    item.add_marker(mark)
                yield item

    def _same_name(self, file: LoadedFile) -> list[InputError]:
        """A name another scenario file has too: each of them is a collection error."""
        names = self.config.stash.get(_NAMES, None)
        if names is None:
            names = scenario_names(_scenario_paths(self.config))
            self.config.stash[_NAMES] = names
        others = [path for path, _ in names.get(file.name, []) if path != self.path]
        if not others:
            return []
        shown = ", ".join(display_path(path) for path in others)
        return [
            InputError(
                f"name: {file.name!r} is also the name of {shown}; test ids, -k, --lf and "
                "reports need one name per scenario",
                path=file.display,
                line=file.name_line,
            )
        ]

    def _mark(
        self, file: LoadedFile, mark: Mark, errors: list[InputError]
    ) -> pytest.MarkDecorator | None:
        try:
            decorator = getattr(pytest.mark, mark.name)
        except (AttributeError, pytest.fail.Exception) as error:  # unknown under --strict-markers
            errors.append(InputError(f"marks: {error}", path=file.display, line=file.marks_line))
            return None
        return decorator(*mark.args, **mark.kwargs) if mark.args or mark.kwargs else decorator


def _scenario_paths(config: pytest.Config) -> list[Path]:
    """Every file the scenario globs match under the rootdir, in path order."""
    found: set[Path] = set()
    root = config.rootpath
    for pattern in config.getini("scenario_glob"):
        regex = _glob(pattern)
        for path in root.glob(pattern):
            relative = path.relative_to(root).as_posix()
            if path.suffix in (".yml", ".yaml") and path.is_file() and regex.fullmatch(relative):
                found.add(path)
    return sorted(found)


def _item_name(scenario: Scenario, round_: int, repeat: int) -> str:
    """`chain`, `tax-analyzer[wave]`; with --scenario-repeat 3: `tax-analyzer[wave-r2]`."""
    parts = [part for part in (scenario.case_id, f"r{round_}" if repeat > 1 else None) if part]
    return f"{scenario.name}[{'-'.join(parts)}]" if parts else scenario.name


class ScenarioFailed(Exception):
    """A scenario ran and some check failed; the Outcome has everything to report."""

    def __init__(self, outcome: Outcome, note: str = "") -> None:
        super().__init__(f"{len(outcome.failures)} check(s) failed")
        self.outcome = outcome
        self.note = note


class ScenarioItem(pytest.Item):
    """One run of one matrix combination of a scenario."""

    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.outcome: Outcome | None = None

    def runtest(self) -> None:
        # The factory behind the tmp_path fixture (plain Items cannot request fixtures):
        # per-test numbered dirs under the session's basetemp, kept for the last runs.
        factory: pytest.TempPathFactory = self.config._tmp_path_factory  # type: ignore[attr-defined]
        tmp_dir = factory.mktemp(re.sub(r"\W", "_", self.name)[:30], numbered=True)
        outcome = run_scenario(self.scenario, tmp_dir, self.config.stash[_DRIVER])
        self.outcome = outcome
        if not outcome.ok:
            raise ScenarioFailed(outcome)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ScenarioFailed):
            return _failure_repr(excinfo.value.outcome)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.scenario.line - 1, f"scenario {self.name}"


class FuzzItem(pytest.Item):
    """`--fuzz N`: the fuzzer as one test item, over the same driver as the scenarios."""

    def __init__(self, *, cases: int, seed: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cases = cases
        self.seed = seed

    def runtest(self) -> None:
        from harness.fuzz import Budget, search

        factory: pytest.TempPathFactory = self.config._tmp_path_factory  # type: ignore[attr-defined]
        scratch = factory.mktemp("fuzz", numbered=True)
        budget = Budget(max_examples=self.cases, seconds=float(max(60, self.cases)))
        finding, _ = search(self.config.stash[_DRIVER], scratch, seed=self.seed, budget=budget)
        if finding is not None:
            path = scratch / f"fuzzed-{self.seed}.yml"
            path.write_text(finding.text(), encoding="utf-8")
            raise ScenarioFailed(finding.outcome, note=f"shrunk scenario: {path}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ScenarioFailed):
            text = format_outcome(excinfo.value.outcome)
            return f"{text}\n\n{excinfo.value.note}\nreplay: --fuzz-seed {self.seed}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return Path("harness/fuzz.py"), 0, f"fuzz seed {self.seed}, {self.cases} cases"


def _failure_repr(outcome: Outcome) -> Any:
    """The report as pytest's own exception representation, so that CI shows one line.

    The text is `format_outcome`'s; the "crash" line, which pytest's short
    summary and the JUnit `message` use (also on CI, also under xdist, which
    serializes exactly this shape), is the first failed check on one line:
    `FILE:LINE: check: expected ...; observed ...`, and how many more failed.
    """
    from _pytest._code.code import (  # pytest's representation types, stable since 7.x
        ReprEntryNative,
        ReprExceptionInfo,
        ReprFileLocation,
        ReprTraceback,
    )

    text = format_outcome(outcome)
    first = outcome.failures[0]
    where = display_path(outcome.scenario.path)
    location = where if first.line is None else f"{where}:{first.line}"
    message = f"{location}: {first.title}: expected {first.expected}; observed {first.observed}"
    if len(outcome.failures) > 1:
        message += f" (+{len(outcome.failures) - 1} more failed check(s))"
    return ReprExceptionInfo(
        reprtraceback=ReprTraceback([ReprEntryNative([text + "\n"])], None, "native"),
        reprcrash=ReprFileLocation(where, first.line or outcome.scenario.line, message),
    )


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    report = yield
    if isinstance(collector, ScenarioFile) and report.failed:
        report.scenario_file = True  # travels to the xdist controller with the report
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A scenario's call report: located at its first failed check, carrying the run.

    The location is what JUnit's `file`/`line` attributes (junit_family
    xunit1) and `-v` show. `scenario_run` is plain data (harness.report.run_data),
    so it survives xdist; pytest-html gets the timeline as an extra.
    """
    report = yield
    if not isinstance(item, ScenarioItem) or report.when != "call" or item.outcome is None:
        return report
    outcome = item.outcome
    lines = [failure.line for failure in outcome.failures if failure.line is not None]
    if lines and report.location is not None:
        report.location = (report.location[0], lines[0] - 1, report.location[2])
    report.scenario_run = run_data(outcome)
    if item.config.pluginmanager.hasplugin("html"):
        report.extras = [*getattr(report, "extras", []), _html_extra(report.scenario_run)]
    return report


def _html_extra(run: dict[str, Any]) -> Any:
    """The timeline and the failed checks, as a pytest-html extra (only with pytest-html)."""
    from html import escape

    from pytest_html import extras  # imported here: pytest-html is optional

    checks = "".join(
        f"<li><code>{escape(f['location'])}</code> <b>{escape(f['title'])}</b>: expected "
        f"{escape(f['expected'])}; observed {escape(f['observed'])}</li>"
        for f in run["failures"]
    )
    side = f'<ol style="flex:1;min-width:300px">{checks}</ol>' if checks else ""
    return extras.html(
        f'<div class="scenario-run" style="display:flex;gap:16px;flex-wrap:wrap">'
        f"<div>{render_svg(run)}</div>{side}</div>"
    )


class _Page:
    """`--scenario-report DIR`: collects every scenario result, writes the page at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.entries: dict[str, Entry] = {}

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and getattr(report, "scenario_file", False):
            self.entries[report.nodeid] = Entry(report.nodeid, "error", text=report.longreprtext)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        run = getattr(report, "scenario_run", None)
        entry = self.entries.get(report.nodeid)
        if run is None and entry is None and not _is_scenario(report):
            return
        if entry is None:
            entry = self.entries[report.nodeid] = Entry(report.nodeid, "passed")
        if run is not None:
            entry.run = run
        entry.duration += report.duration
        if report.when == "call" or report.failed or report.skipped:
            entry.outcome = _outcome(report, entry.outcome)
            if report.skipped or (report.failed and report.when != "call"):
                entry.text = report.longreprtext

    @pytest.hookimpl(tryfirst=True)  # before the terminal summary that names it
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.path = write_page(self.directory, self.entries.values())

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        path = getattr(self, "path", None)
        if path is not None:
            terminalreporter.write_sep("-", f"scenario report: {path}")


def _is_scenario(report: pytest.TestReport) -> bool:
    return "scenario" in getattr(report, "keywords", {})


def _outcome(report: pytest.TestReport, before: str) -> str:
    if before in ("failed", "error"):
        return before
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.failed:
        return "failed" if report.when == "call" else "error"
    if report.skipped:
        return "skipped"
    return before

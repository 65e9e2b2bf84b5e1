"""The pytest plugin: scenario files become test items (a thin layer over the engine).

Modelled on pytest's "working with non-python tests" example: a File
collector per scenario file, one Item per matrix combination (times
`--scenario-repeat`). Loading problems become one clean collection error
per file (`FILE:LINE: message`, no traceback) and the other files still run.
Registered through the `pytest11` entry point `scenarios`; the root
conftest.py registers it for a checkout that is not installed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from coordinator.model import InputError
from harness.drivers import Driver, ExternalDriver, InProcessDriver
from harness.engine import Outcome, run_scenario
from harness.load import ScenarioFile as LoadedFile
from harness.load import build, load_file
from harness.model import Mark, Scenario
from harness.report import format_outcome

DEFAULT_GLOB = "scenarios/**/*.yml"
_DRIVER = pytest.StashKey[Any]()
_ERRORS = pytest.StashKey["_CollectionErrors"]()


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
        if report.failed and report.nodeid not in self.scenario_files:
            self.others += 1

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Iterator[None]:
        if self.scenario_files and not self.others:
            session.config.option.continue_on_collection_errors = True
        return (yield)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`--scenario-rules`: keep the scenarios that exercise one of the given rules."""
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
        try:
            file = load_file(self.path)
            scenarios = [build(file, case) for case in file.cases]
        except InputError as error:
            self.config.stash[_ERRORS].scenario_files.add(self.nodeid)
            raise self.CollectError(str(error)) from None
        marks = [self._mark(file, mark) for mark in file.marks]
        repeat = self.config.getoption("scenario_repeat")
        for scenario in scenarios:
            for round_ in range(1, repeat + 1):
                item = ScenarioItem.from_parent(
                    self, name=_item_name(scenario, round_, repeat), scenario=scenario
                )
                item.add_marker(pytest.mark.scenario)
                for mark in marks:
                    item.add_marker(mark)
                yield item

    def _mark(self, file: LoadedFile, mark: Mark) -> pytest.MarkDecorator:
        try:
            decorator = getattr(pytest.mark, mark.name)
        except (AttributeError, pytest.fail.Exception) as error:  # unknown under --strict-markers
            self.config.stash[_ERRORS].scenario_files.add(self.nodeid)
            raise self.CollectError(f"{file.display}:{file.marks_line}: marks: {error}") from None
        return decorator(*mark.args, **mark.kwargs) if mark.args or mark.kwargs else decorator


def _item_name(scenario: Scenario, round_: int, repeat: int) -> str:
    """`chain`, `tax-analyzer[wave]`; with --scenario-repeat 3: `tax-analyzer[wave-r2]`."""
    parts = [part for part in (scenario.case_id, f"r{round_}" if repeat > 1 else None) if part]
    return f"{scenario.name}[{'-'.join(parts)}]" if parts else scenario.name


class ScenarioFailed(Exception):
    """A scenario ran and some check failed; the Outcome has everything to report."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(f"{len(outcome.failures)} check(s) failed")
        self.outcome = outcome


class ScenarioItem(pytest.Item):
    """One run of one matrix combination of a scenario."""

    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self) -> None:
        # The factory behind the tmp_path fixture (plain Items cannot request fixtures):
        # per-test numbered dirs under the session's basetemp, kept for the last runs.
        factory: pytest.TempPathFactory = self.config._tmp_path_factory  # type: ignore[attr-defined]
        tmp_dir = factory.mktemp(re.sub(r"\W", "_", self.name)[:30], numbered=True)
        outcome = run_scenario(self.scenario, tmp_dir, self.config.stash[_DRIVER])
        if not outcome.ok:
            raise ScenarioFailed(outcome)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ScenarioFailed):
            return format_outcome(excinfo.value.outcome)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.scenario.line - 1, f"scenario {self.name}"

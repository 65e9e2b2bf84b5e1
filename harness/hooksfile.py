"""Writing a scenario as a hooks file (spec: hooks file), and mapping its lines back.

Both drivers run this file, so the in-process coordinator and an external
one see exactly the same input. When the coordinator rejects it, the
message names a line of the hooks file; `source_line` turns that into the
line of the scenario file, which is where the contributor must look.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.model import HOOK, Scenario


@dataclass(frozen=True)
class HooksFile:
    path: Path
    lines: int  # how many lines the file has: an input error's LINE is one of them
    hooks_line: int  # line of the `hooks:` key; the `coordinator:` block is above it
    job_spans: tuple[tuple[int, int], ...]  # 1-based first and last line of each job

    def source_line(self, scenario: Scenario, message: str) -> int | None:
        """The scenario line for a coordinator message naming `<hooks file>:<line>`."""
        match = re.search(re.escape(str(self.path)) + r":(\d+)", message)
        if match is None:
            return scenario.line
        line = int(match.group(1))
        for index, (first, last) in enumerate(self.job_spans):
            if first <= line <= last and index < len(scenario.jobs):
                return scenario.jobs[index].line
        if line < self.hooks_line and scenario.settings_line is not None:
            return scenario.settings_line
        return scenario.line


class SourceFloat(float):
    """A number as the scenario wrote it (`1.50`): the hooks file keeps that text.

    The coordinator, not the harness, must turn an `env` number into text
    (`input.env-number`), so the file it reads must hold what was written.
    """

    text: str

    def __new__(cls, value: float, text: str) -> SourceFloat:
        number = super().__new__(cls, value)
        number.text = text
        return number


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    SourceFloat, lambda dumper, n: dumper.represent_scalar("tag:yaml.org,2002:float", n.text)
)


def dump(document: Any) -> str:
    """YAML text for a document, floats as they were written (`SourceFloat`)."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 20)


def hooks_document(scenario: Scenario) -> dict[str, Any]:
    document: dict[str, Any] = {}
    if scenario.settings or not isinstance(scenario.settings, Mapping):
        document["coordinator"] = plain(scenario.settings)
    document["hooks"] = {HOOK: {"jobs": plain(scenario.hooks_jobs)}}
    for hook, body in (scenario.other_hooks or {}).items():
        document["hooks"][hook] = plain(body)
    return document


def write_hooks_file(scenario: Scenario, path: Path) -> HooksFile:
    text = dump(hooks_document(scenario))
    path.write_text(text, encoding="utf-8")
    root = yaml.compose(text)
    hooks_key, hooks = _entry(root, "hooks")
    _, jobs = _entry(_entry(hooks, HOOK)[1], "jobs")
    spans: tuple[tuple[int, int], ...] = ()
    if isinstance(jobs, yaml.SequenceNode):
        spans = tuple((node.start_mark.line + 1, node.end_mark.line) for node in jobs.value)
    return HooksFile(path, text.count("\n"), hooks_key.start_mark.line + 1, spans)


def _entry(node: Any, key: str) -> tuple[Any, Any]:
    """The key node and value node of `key` in a composed mapping node."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if getattr(key_node, "value", None) == key:
                return key_node, value_node
    return None, None


def plain(value: Any) -> Any:
    """LineMap/LineList as plain dict/list (the safe dumper refuses subclasses).

    Floats keep the text they were written with (`SourceFloat`).
    """
    if isinstance(value, Mapping):
        texts = getattr(value, "value_text", None)
        return {key: _number(plain(item), texts and texts(key)) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def _number(value: Any, text: str | None) -> Any:
    if isinstance(value, float) and not isinstance(value, SourceFloat) and text:
        return SourceFloat(value, text)
    return value

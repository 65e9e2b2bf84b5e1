"""The scenario examples in the README and docs/scenarios.md load as written.

A contributor copies these; an example the harness refuses would teach the
wrong format. Every ```yaml block that starts with the schema line and has
a `name:` is a whole scenario file and must load without an error.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness import load_scenarios

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_LINE = "# yaml-language-server: $schema="


def scenario_examples() -> list[tuple[str, str]]:
    examples = []
    for doc in ("README.md", "docs/scenarios.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
        whole = [b for b in blocks if b.startswith(SCHEMA_LINE) and "\nname:" in b]
        examples += [(f"{doc}#{i}", block) for i, block in enumerate(whole)]
    return examples


def test_the_docs_have_scenario_examples() -> None:
    docs = {name.split("#")[0] for name, _ in scenario_examples()}
    assert docs == {"README.md", "docs/scenarios.md"}


@pytest.mark.parametrize(("name", "text"), scenario_examples(), ids=lambda v: str(v)[:30])
def test_scenario_example_loads(name: str, text: str, tmp_path: Path) -> None:
    path = tmp_path / "example.yml"
    path.write_text(text, encoding="utf-8")
    scenarios = load_scenarios(path)
    assert scenarios, f"{name}: no scenario built"

"""The scenario examples in the README and docs/scenarios.md load as written.

A contributor copies these; an example the harness refuses would teach the
wrong format. Every ```yaml block that starts with the schema line and has
a `name:` is a whole scenario file and must load without an error.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coordinator import cli
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


def test_readme_input_error_example_is_what_the_cli_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The README's hooks file with the typo its error example describes.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The hooks file", 1)[1]
    hooks = re.search(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    shown = re.search(r"```text\n(hooks\.yml:.*)\n```", section)
    assert hooks and shown, "the README lost its hooks file or its error example"
    assert "needs: [db-migrate]" in hooks.group(1)
    (tmp_path / "hooks.yml").write_text(
        hooks.group(1).replace("needs: [db-migrate]", "needs: [db-migrat]"), encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    code = cli.main(["run", "hooks.yml", "--hook", "worktree-post-create", "--state-dir", "s"])
    assert code == 2
    assert capsys.readouterr().err == shown.group(1) + "\n"


def test_readme_cli_example_is_what_the_commands_as_written_print(tmp_path: Path) -> None:
    # The sample run of examples/tax-analyzer.yml, command by command, in a copy of the
    # checkout's examples: the output matches once times and ages are set aside.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```text\n(\$ \.venv/bin/python -m coordinator run .*?)```", readme, re.S)
    assert block, "the README lost its CLI example"
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {k: v for k, v in os.environ.items() if k != "COORDINATOR_STATE_DIR"}
    commands = re.split(r"^\$ ", block.group(1), flags=re.M)[1:]
    assert len(commands) == 2
    for chunk in commands:
        command, _, shown = chunk.partition("\n")
        words = shlex.split(command)
        assert words[0] == ".venv/bin/python", "the README must use the venv's python"
        done = subprocess.run(
            [sys.executable, *words[1:]], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert normal(done.stdout) == normal(shown), command


def normal(text: str) -> list[str]:
    """Lines without durations, ages or column padding, the job lines as a set."""
    lines = []
    for line in text.strip().splitlines():
        line = re.sub(r"\d+\.\d+s\b", "T", line)
        line = re.sub(r"\b(\d+s ago|just now)\b", "AGO", line)
        lines.append(" ".join(line.split()))
    head = [line for line in lines if not line.startswith(("✓", "demo-eager"))]
    return head + sorted(set(lines) - set(head))

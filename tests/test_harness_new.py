"""`make new-scenario NAME=topic/name`: a skeleton that validates as written, loads and passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from coordinator.yamlsrc import parse_yaml
from harness.engine import run_scenario
from harness.load import load_scenarios
from harness.new import create, main
from harness.schema import load_schema

ROOT = Path(__file__).resolve().parent.parent


def test_the_skeleton_validates_loads_and_passes(tmp_path: Path) -> None:
    path = create("topic/first-try", root=tmp_path)
    assert path == tmp_path / "scenarios" / "topic" / "first-try.yml"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=../../harness/scenario.schema.json\n")
    assert list(jsonschema.Draft7Validator(load_schema()).iter_errors(parse_yaml(text, "s"))) == []
    (scenario,) = load_scenarios(path)
    assert scenario.name == "first-try"
    outcome = run_scenario(scenario, tmp_path / "run")
    assert outcome.ok, outcome.failures


def test_it_refuses_a_bad_name_an_existing_file_and_a_taken_name(tmp_path: Path) -> None:
    create("a/one", root=tmp_path)
    with pytest.raises(ValueError, match="exists already"):
        create("a/one", root=tmp_path)
    with pytest.raises(ValueError, match=r"taken by scenarios/a/one\.yml"):
        create("b/one", root=tmp_path)
    with pytest.raises(ValueError, match="NAME must be topic/name"):
        create("../escape", root=tmp_path)


def test_the_command_line_and_the_make_target(tmp_path: Path, capsys) -> None:
    assert main(["../nope"]) == 2
    assert "new-scenario: NAME must be" in capsys.readouterr().err
    # STAMP=Makefile: the venv is there already; do not let make rebuild it here.
    usage = subprocess.run(
        ["make", "-s", "new-scenario", "STAMP=Makefile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert usage.returncode != 0 and "usage: make new-scenario NAME=topic/name" in usage.stderr
    assert sys.executable

"""The one-bug coordinators of tests/mutants still apply to the current code.

Each mutant monkeypatches our modules by name, so a rename in coordinator/
makes its `apply()` fail loudly; this catches that without running any jobs.
Whether the scenario suite catches each mutant is the mutation run's business.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "tests" / "mutants" / "run.py"
RULE_ID = re.compile(r"^[a-z]+\.[a-z-]+$")  # the lead checks them against docs/spec.md
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def _mutants() -> dict:
    spec = importlib.util.spec_from_file_location(
        "_mutants_under_test", ROOT / "tests" / "mutants" / "mutants.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses looks the module up while building Mutant
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module.MUTANTS


def test_mutants_are_well_formed() -> None:
    mutants = _mutants()
    assert len(mutants) >= 24
    for name, mutant in mutants.items():
        assert mutant.name == name and KEBAB.match(name), name
        assert RULE_ID.match(mutant.rule), (name, mutant.rule)
        assert mutant.description.strip() and "\n" not in mutant.description, name
        assert callable(mutant.apply), name


def test_every_mutant_applies() -> None:
    """`run.py NAME --help` applies the mutant, then the CLI prints its help and exits 0."""
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(RUN), name, "--help"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in _mutants()
    }
    failures = {}
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            failures[name] = err.strip().splitlines()[-1:] or proc.returncode
    assert not failures


def test_unknown_mutant_exits_64() -> None:
    proc = subprocess.run(
        [sys.executable, str(RUN), "no-such-mutant", "run", "hooks.yml", "--hook", "x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 64
    assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1

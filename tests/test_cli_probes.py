"""Our CLI holds the two rules the protocol cannot reach (see tests/cli_probes.py).

spec: cli.defaults
spec: cli.jobs
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from cli_probes import PROBES

OUR_CLI = [sys.executable, "-m", "coordinator"]


@pytest.mark.parametrize("rule", sorted(PROBES))
def test_our_cli_holds(rule: str, tmp_path: Path) -> None:
    PROBES[rule](OUR_CLI, tmp_path)

"""The scenario engine: YAML/Jinja2 scenarios run against a coordinator and judged.

Usable without pytest:

    from harness import ExternalDriver, load_scenarios, run_scenario, format_outcome
    for scenario in load_scenarios("scenarios/needs/chain.yml"):
        outcome = run_scenario(scenario, tmp_dir, ExternalDriver())
        if not outcome.ok:
            print(format_outcome(outcome))

The pytest plugin (`harness.plugin`) is a thin layer over these. The format
is documented in docs/scenarios.md.
"""

from harness.drivers import DEFAULT_COMMAND, ExternalDriver, InProcessDriver
from harness.engine import Failure, Outcome, run_scenario
from harness.load import build, load_file, load_scenarios
from harness.model import Scenario
from harness.report import format_outcome

__all__ = [
    "DEFAULT_COMMAND",
    "ExternalDriver",
    "Failure",
    "InProcessDriver",
    "Outcome",
    "Scenario",
    "build",
    "format_outcome",
    "load_file",
    "load_scenarios",
    "run_scenario",
]

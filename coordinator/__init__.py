"""A needs-aware hook job coordinator.

A job starts only when every job it `needs:` has completed; foreground jobs
run before background ones; every job gets a `meta.json` record. See
docs/spec.md for the contract and the README for the CLI.
"""

from coordinator.api import prepare_hook, run_hook
from coordinator.engine import JobEvent, Run, RunError, RunResult
from coordinator.loader import load_hooks_file, loads_hooks, select_hook
from coordinator.model import (
    HooksFile,
    InputError,
    JobSpec,
    Record,
    Settings,
    SkipCause,
    Status,
    Strategy,
)

__all__ = [
    "HooksFile",
    "InputError",
    "JobEvent",
    "JobSpec",
    "Record",
    "Run",
    "RunError",
    "RunResult",
    "Settings",
    "SkipCause",
    "Status",
    "Strategy",
    "load_hooks_file",
    "loads_hooks",
    "prepare_hook",
    "run_hook",
    "select_hook",
]

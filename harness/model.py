"""The data of a loaded scenario: one matrix combination, rendered and checked.

Nothing here does IO. Every line number is a line of the scenario file as
written (see `harness.render` for how lines of generated jobs are mapped).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.fakes import Action, planned_seconds
from harness.render import Rendered

if TYPE_CHECKING:
    from harness.expect import Expectation

HOOK = "worktree-post-create"  # the hook every scenario's jobs are written under
DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Mark:
    """A pytest mark from the scenario header: `slow`, `{xfail: {reason: ...}}`."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    """One job as the harness knows it (the hooks file gets `spec`)."""

    name: str
    line: int | None
    spec: Mapping[str, Any]  # the job as written to the hooks file (fake compiled to run)
    actions: tuple[Action, ...] | None  # None for a plain `run:` job
    witness: str | None  # witness file, relative to the work dir; None for a plain `run:` job
    needs: tuple[str, ...] = ()
    background: bool = False

    @property
    def planned(self) -> float | None:
        """Seconds the fake job sleeps; None when unknown (plain run, or hang)."""
        return None if self.actions is None else planned_seconds(list(self.actions))


@dataclass(frozen=True)
class CancelPlan:
    """Cancel everything `after` seconds once a job started: `when_started`, or any (None).

    The clock starts at the first job's start rather than at the launch of
    the coordinator, so an external coordinator's own startup time (Python
    import, say) does not eat into the delay.
    """

    after: float
    when_started: str | None
    line: int | None
    signal: str = "SIGTERM"  # what an external coordinator gets; in-process: the API


@dataclass(frozen=True)
class Scenario:
    """One runnable scenario: a file rendered with one matrix combination."""

    path: Path
    name: str  # the scenario's `name:`
    case_id: str | None  # "wave", "eager-4"; None without a matrix
    description: str
    line: int  # line of `name:`, where reports point when nothing more precise exists
    timeout: float
    timeout_line: int | None
    env: Mapping[str, str]
    settings: Any  # the `coordinator:` block as written (a mapping unless testing input errors)
    settings_line: int | None
    jobs: tuple[Job, ...]  # empty when the scenario expects an input error
    hooks_jobs: Any  # exactly what goes under `jobs:` in the hooks file (a list, normally)
    cancel: CancelPlan | None
    expectations: tuple[Expectation, ...]
    marks: tuple[Mark, ...]
    rendered: Rendered  # kept so a failed run can show the YAML it really ran
    input_error: bool = False  # the scenario tests validation: nothing may run
    hook: str = HOOK  # the hook the coordinator is asked to run
    other_hooks: Any = None  # more hooks for the same file, as written (fakes compiled)
    other_witnesses: tuple[str, ...] = ()  # witness files of jobs that must never run
    rules: tuple[str, ...] = ()  # the spec rules it exercises (its header's `rules:`)

    @property
    def test_id(self) -> str:
        """`tax-analyzer[wave]`, or just `chain` without a matrix."""
        return self.name if self.case_id is None else f"{self.name}[{self.case_id}]"

    @property
    def strategy(self) -> str:
        return str(self.settings.get("strategy", "eager"))

    def setting(self, key: str) -> Any:
        """A `coordinator:` setting as written, or None (also when the block is not a mapping)."""
        return self.settings.get(key) if isinstance(self.settings, Mapping) else None


def display_path(path: Path) -> str:
    """The path relative to the cwd when it is below it: short `file:line` messages."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative

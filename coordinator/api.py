"""Running a hook from a hooks file: the entry point for programs and the CLI."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path

from coordinator.engine import JobEvent, Run, RunResult
from coordinator.loader import load_hooks_file, select_hook
from coordinator.model import HooksFile, Strategy


def prepare_hook(
    hooks: HooksFile | str | Path,
    hook: str,
    *,
    state_dir: str | Path,
    invocation: str | None = None,
    worktree: str | None = None,
    strategy: Strategy | None = None,
    max_parallel: int | None = None,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    on_event: Callable[[JobEvent], None] | None = None,
    subreaper: bool = False,
) -> Run:
    """A `Run` of one hook, ready to `run()` (or to `cancel()` from elsewhere).

    `strategy` and `max_parallel` override the file's `coordinator:` block;
    `subreaper` is `Run`'s.
    Raises InputError for an invalid file or a hook it does not define.
    """
    loaded = hooks if isinstance(hooks, HooksFile) else load_hooks_file(hooks)
    jobs = select_hook(loaded, hook)
    settings = loaded.settings
    if strategy is not None:
        settings = dataclasses.replace(settings, strategy=strategy)
    if max_parallel is not None:
        settings = dataclasses.replace(settings, max_parallel=max_parallel)
    return Run(
        jobs,
        state_dir=state_dir,
        settings=settings,
        invocation=invocation,
        worktree=worktree,
        cwd=cwd,
        env=env,
        on_event=on_event,
        subreaper=subreaper,
    )


def run_hook(hooks: HooksFile | str | Path, hook: str, **options: object) -> RunResult:
    """Run one hook to its end; the options are those of `prepare_hook`."""
    return prepare_hook(hooks, hook, **options).run()  # type: ignore[arg-type]

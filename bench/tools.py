"""The tools under comparison: how to find (or install) each and how to run a shape with it.

A missing tool is skipped with a message saying why and how to get it, so a
machine without make or network still benchmarks what it has.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.shapes import HOOK, Shape

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ShapeFiles:
    """Where one shape's generated inputs live; every tool runs with `dir` as cwd."""

    dir: Path
    hooks: Path
    makefile: Path
    taskfile: Path


Argv = Callable[[Shape, ShapeFiles, Path], list[str]]


@dataclass(frozen=True)
class Tool:
    """One contender. `argv(shape, files, state_dir)` builds its command line."""

    key: str
    label: str
    argv: Argv
    version: str
    ours: bool = False


def _ours(strategy: str) -> Argv:
    def argv(shape: Shape, files: ShapeFiles, state_dir: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "coordinator",
            "run",
            str(files.hooks),
            "--hook",
            HOOK,
            "--state-dir",
            str(state_dir),
            "--strategy",
            strategy,
        ]

    return argv


def _slots(shape: Shape) -> int:
    """Concurrency for a peer: the shape's limit, or one slot per job (unbounded)."""
    return shape.max_parallel or max(1, len(shape.jobs))


def _make(binary: str) -> Argv:
    def argv(shape: Shape, files: ShapeFiles, state_dir: Path) -> list[str]:
        return [binary, "-j", str(_slots(shape)), "-f", str(files.makefile)]

    return argv


def _task(binary: str) -> Argv:
    def argv(shape: Shape, files: ShapeFiles, state_dir: Path) -> list[str]:
        limit = [] if shape.max_parallel is None else ["--concurrency", str(shape.max_parallel)]
        return [binary, "--taskfile", str(files.taskfile), "--silent", *limit, "all"]

    return argv


def _output(argv: list[str]) -> str:
    """Stdout and stderr of a quick query (go-task prints --help on stderr); "" on failure."""
    try:
        done = subprocess.run(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


def _find_go_task() -> str | None:
    """The go-task binary: the venv's (go-task-bin installs it beside python) or PATH's.

    Taskwarrior is also called `task`, so a candidate must talk about Taskfiles.
    """
    candidates = [Path(sys.executable).parent / "task", shutil.which("task")]
    for candidate in filter(None, candidates):
        if Path(candidate).is_file() and "Taskfile" in _output([str(candidate), "--help"]):
            return str(candidate)
    return None


def _install_go_task() -> str | None:
    """Install the `bench` extra (go-task-bin) into this interpreter's environment."""
    print("bench: go-task not found; installing the bench extra (go-task-bin)...", file=sys.stderr)
    argv = [sys.executable, "-m", "pip", "install", "--quiet", "-e", f"{REPO}[bench]"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(done.stderr.strip()[-2000:], file=sys.stderr)
        return None
    return _find_go_task()


def _ours_problem() -> str | None:
    """None when `python -m coordinator` can run, else why not."""
    try:
        missing = [
            module
            for module in ("coordinator.cli", "coordinator.__main__")
            if importlib.util.find_spec(module) is None
        ]
    except Exception as error:  # a half-written package can fail in any way on import
        return f"the coordinator package does not import: {error}"
    return f"{missing[0]} is missing" if missing else None


def discover(*, install: bool) -> tuple[list[Tool], list[str]]:
    """The available tools in a fixed order, and one message per skipped tool."""
    tools: list[Tool] = []
    skipped: list[str] = []

    problem = _ours_problem()
    if problem is None:
        version = f"Python {sys.version.split()[0]}"
        tools.append(Tool("eager", "ours eager", _ours("eager"), version, ours=True))
        tools.append(Tool("wave", "ours wave", _ours("wave"), version, ours=True))
    else:
        skipped.append(f"ours: {problem}")

    make = shutil.which("make")
    if make:
        version = _output([make, "--version"]).partition("\n")[0] or "make"
        tools.append(Tool("make", "make -j", _make(make), version))
    else:
        skipped.append("make: `make` is not on PATH (a system tool: e.g. `apt-get install make`)")

    task = _find_go_task() or (_install_go_task() if install else None)
    if task:
        version = "go-task " + _output([task, "--version"]).strip()
        tools.append(Tool("task", "go-task", _task(task), version))
    else:
        how = "installing it failed" if install else "not installed (--no-install)"
        skipped.append(f"go-task: {how}; get it with `pip install -e '.[bench]'` (go-task-bin)")
    return tools, skipped

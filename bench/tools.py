"""The tools under comparison: how to find (or install) each and how to run a shape with it.

A missing tool is skipped with a message saying why and how to get it, so a
machine without make or network still benchmarks what it has. Ours runs from
the interpreter it is given (bench.install: a regular install, not the
checkout), once with its state dir on the local disk and once on tmpfs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.shapes import HOOK, Shape

REPO = Path(__file__).resolve().parent.parent
NINJA_SCRATCH = (".ninja_log", ".ninja_deps")


@dataclass(frozen=True)
class ShapeFiles:
    """Where one shape's generated inputs live; every tool runs with `dir` as cwd."""

    dir: Path
    hooks: Path
    makefile: Path
    taskfile: Path
    ninja: Path


Argv = Callable[[Shape, ShapeFiles, Path], list[str]]


@dataclass(frozen=True)
class Tool:
    """One contender. `argv(shape, files, state_dir)` builds its command line.

    `tmpfs` (ours only) puts the state dir on tmpfs instead of the local disk;
    `scratch` names files the tool leaves in its cwd that would change the next
    run's work (ninja's log), removed before every run.
    """

    key: str
    label: str
    argv: Argv
    version: str
    ours: bool = False
    tmpfs: bool = False
    scratch: tuple[str, ...] = ()


def _ours(python: Path, strategy: str) -> Argv:
    def argv(shape: Shape, files: ShapeFiles, state_dir: Path) -> list[str]:
        return [
            str(python),
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


def _python_pass(python: Path) -> Argv:
    def argv(shape: Shape, files: ShapeFiles, state_dir: Path) -> list[str]:
        return [str(python), "-c", "pass"]

    return argv


def _slots(shape: Shape) -> int:
    """Concurrency for a peer: the shape's limit, or one slot per job (unbounded)."""
    return shape.max_parallel or max(1, len(shape.jobs))


def _make(binary: str) -> Argv:
    def argv(shape: Shape, files: ShapeFiles, state_dir: Path) -> list[str]:
        return [binary, "-j", str(_slots(shape)), "-f", str(files.makefile)]

    return argv


def _ninja(binary: str, quiet: bool) -> Argv:
    def argv(shape: Shape, files: ShapeFiles, state_dir: Path) -> list[str]:
        flags = ["--quiet"] if quiet else []  # no status line per job (ninja >= 1.11)
        return [binary, *flags, "-j", str(_slots(shape)), "-f", str(files.ninja)]

    return argv


def _task(binary: str) -> Argv:
    def argv(shape: Shape, files: ShapeFiles, state_dir: Path) -> list[str]:
        limit = [] if shape.max_parallel is None else ["--concurrency", str(shape.max_parallel)]
        return [binary, "--taskfile", str(files.taskfile), "--silent", *limit, "all"]

    return argv


def _output(argv: list[str], *, any_status: bool = False) -> str:
    """Stdout and stderr of a quick query (go-task prints --help on stderr).

    "" when it fails, unless `any_status`: `ninja --help` exits 1.
    """
    try:
        done = subprocess.run(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 or any_status else ""


def _find(name: str, proof: list[str], marker: str) -> str | None:
    """The venv's `name` (a bench-extra wheel installs it beside python), else PATH's.

    A candidate counts only if `candidate *proof` prints `marker`: Taskwarrior
    is also called `task`.
    """
    candidates = [Path(sys.executable).parent / name, shutil.which(name)]
    for candidate in filter(None, candidates):
        if Path(candidate).is_file() and marker in _output([str(candidate), *proof]):
            return str(candidate)
    return None


def _find_ninja() -> str | None:
    return _find("ninja", ["-t", "list"], "ninja subtools")


def _find_go_task() -> str | None:
    return _find("task", ["--help"], "Taskfile")


def _install_bench_extra() -> None:
    """Install the `bench` extra (ninja, go-task-bin) into this interpreter's environment."""
    print("bench: ninja or go-task not found; installing the bench extra...", file=sys.stderr)
    argv = [sys.executable, "-m", "pip", "install", "--quiet", "-e", f"{REPO}[bench]"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(done.stderr.strip()[-2000:], file=sys.stderr)


def _ours_tools(python: Path, tmpfs: bool) -> list[Tool]:
    version = f"hookcoord via {python}"
    tools = []
    for strategy in ("eager", "wave"):
        label = f"ours {strategy}"
        argv = _ours(python, strategy)
        tools.append(Tool(strategy, label, argv, version, ours=True))
        if tmpfs:
            tools.append(
                Tool(f"{strategy}-tmpfs", f"{label} tmpfs", argv, version, ours=True, tmpfs=True)
            )
    return tools


def discover(*, python: Path, tmpfs: bool, install: bool) -> tuple[list[Tool], list[str]]:
    """The available tools in a fixed order, and one message per skipped tool.

    `python` runs ours and the `python -c pass` peer; `tmpfs` says whether
    there is a tmpfs for the second set of our figures; `install` allows
    pip-installing the bench extra when ninja or go-task is missing.
    """
    skipped: list[str] = []
    tools = _ours_tools(python, tmpfs)

    ninja, task = _find_ninja(), _find_go_task()
    if install and not (ninja and task):
        _install_bench_extra()
        ninja, task = _find_ninja(), _find_go_task()
    how = "installing the bench extra failed" if install else "not installed (--no-install)"
    if ninja:
        quiet = "--quiet" in _output([ninja, "--help"], any_status=True)
        version = "ninja " + _output([ninja, "--version"]).strip()
        tools.append(
            Tool("ninja", "ninja -j", _ninja(ninja, quiet), version, scratch=NINJA_SCRATCH)
        )
    else:
        skipped.append(f"ninja: {how}; get it with `pip install -e '.[bench]'` (ninja)")

    make = shutil.which("make")
    if make:
        version = _output([make, "--version"]).partition("\n")[0] or "make"
        tools.append(Tool("make", "make -j", _make(make), version))
    else:
        skipped.append("make: `make` is not on PATH (a system tool: e.g. `apt-get install make`)")

    if task:
        version = "go-task " + _output([task, "--version"]).strip()
        tools.append(Tool("task", "go-task", _task(task), version))
    else:
        skipped.append(f"go-task: {how}; get it with `pip install -e '.[bench]'` (go-task-bin)")

    version = _output([str(python), "--version"]).strip() or str(python)
    tools.append(Tool("python", "python -c pass", _python_pass(python), version))
    return tools, skipped

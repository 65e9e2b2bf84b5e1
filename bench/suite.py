"""Run every tool on every shape, interleaved, and collect the samples.

Interleaving (each iteration runs each shape with every tool, in an order
rotated per iteration) spreads the machine's load drifts over all tools
instead of letting one tool's block of runs absorb them.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import core, emitters
from bench.dirs import Dirs, describe, mount_of
from bench.meta import summarize
from bench.results import Results, Sample
from bench.runner import log_tail, rss_method, run_timed
from bench.shapes import Shape, chain
from bench.tools import ShapeFiles, Tool

Progress = Callable[[str], None]
# Iterations per shape and tool, iterations of the big shapes, seconds per run.
DEFAULT_REPEAT, DEFAULT_BIG_REPEAT, DEFAULT_TIMEOUT_S = 5, 3, 300.0


def write_files(shape: Shape, root: Path) -> ShapeFiles:
    """Write the shape's input for every tool into its own directory, once."""
    directory = root / shape.name
    directory.mkdir(parents=True)
    files = ShapeFiles(
        directory,
        directory / "hooks.yml",
        directory / "Makefile",
        directory / "Taskfile.yml",
        directory / "build.ninja",
    )
    files.hooks.write_text(emitters.hooks_yaml(shape))
    files.makefile.write_text(emitters.makefile(shape))
    files.taskfile.write_text(emitters.taskfile(shape))
    files.ninja.write_text(emitters.ninja_file(shape))
    return files


# PYTHONPATH could point ours at the checkout; a pycache prefix would make the
# interpreter ignore the installed copy's byte-compiled modules; make's
# variables would tell the make peer (and ninja, a jobserver client) that it
# runs under another make. None of that is what a user's hook run has.
_UNSET = ("PYTHONPATH", "PYTHONPYCACHEPREFIX", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")


def tool_env() -> dict[str, str]:
    """The same environment for every tool: this one, less what would skew a run."""
    env = {key: value for key, value in os.environ.items() if key not in _UNSET}
    env["NO_COLOR"] = "1"
    return env


def machine_info(tools: Sequence[Tool], dirs: Dirs, ours_from: Path) -> dict[str, str]:
    """What the report says about the machine, the tools' versions and where the runs were."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "rss_method": rss_method(),
        "ours_from": str(ours_from),
        "state_disk": describe(dirs.work),
        "state_disk_fstype": getattr(mount_of(dirs.work), "fstype", "unknown"),
        "state_tmpfs": describe(dirs.tmpfs) if dirs.tmpfs else f"none: {dirs.tmpfs_note}",
    }
    for tool in tools:
        if not tool.ours:
            info[f"{tool.key}_version"] = tool.version
    return info


@dataclass(frozen=True)
class Prepared:
    """One shape ready to run: its generated files, and where its tmpfs state dirs go."""

    shape: Shape
    files: ShapeFiles
    tmpfs_state: Path | None


def prepare(shape: Shape, dirs: Dirs, group: Path = Path()) -> Prepared:
    """Write the shape's files under `dirs.work / group` and make its tmpfs state root."""
    files = write_files(shape, dirs.work / group)
    tmpfs_state = None
    if dirs.tmpfs:
        tmpfs_state = dirs.tmpfs / group / shape.name
        tmpfs_state.mkdir(parents=True)
    return Prepared(shape, files, tmpfs_state)


def run_once(
    tool: Tool, prepared: Prepared, *, iteration: int, timeout: float, env: dict[str, str]
) -> Sample:
    """One timed run; ours also gets its meta read back, then its state dir removed."""
    shape, files = prepared.shape, prepared.files
    state_root = files.dir
    if tool.tmpfs:
        if prepared.tmpfs_state is None:
            raise ValueError(f"{tool.label}: no tmpfs dir for the state")
        state_root = prepared.tmpfs_state
    state_dir = state_root / f"state-{tool.key}"
    shutil.rmtree(state_dir, ignore_errors=True)
    for name in tool.scratch:
        (files.dir / name).unlink(missing_ok=True)
    log = files.dir / f"{tool.key}.log"
    try:
        timing = run_timed(
            tool.argv(shape, files, state_dir),
            cwd=files.dir,
            log=log,
            env=env,
            timeout=timeout,
        )
        if timing.timed_out or timing.exit_code != 0:
            what = f"timed out after {timeout:g} s" if timing.timed_out else "failed"
            error = f"{what} (exit {timing.exit_code}); output tail:\n{log_tail(log)}"
            return Sample(iteration, timing.wall_s, timing.max_rss_kb, error=error)
        if not tool.ours:
            return Sample(iteration, timing.wall_s, timing.max_rss_kb)
        try:
            recorded = summarize(shape, state_dir)
        except (OSError, ValueError, KeyError, TypeError) as error:
            return Sample(iteration, timing.wall_s, timing.max_rss_kb, error=f"bad meta: {error}")
        return Sample(
            iteration, timing.wall_s, timing.max_rss_kb, recorded.span_s, recorded.latencies_ns
        )
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


def rotated(tools: Sequence[Tool], by: int) -> list[Tool]:
    if not tools:
        return []
    by %= len(tools)
    return [*tools[by:], *tools[:by]]


def warm_up(
    tools: Sequence[Tool], dirs: Dirs, env: dict[str, str], timeout: float, progress: Progress
) -> None:
    """One untimed run per tool so the first timed run does not pay for cold caches."""
    prepared = prepare(chain(3), dirs, Path("warm-up"))
    for tool in tools:
        sample = run_once(tool, prepared, iteration=-1, timeout=timeout, env=env)
        if sample.error:
            progress(f"warm-up of {tool.label} failed: {sample.error}")


def iterations_of(shape: Shape, repeat: int, big_repeat: int) -> int:
    return min(repeat, big_repeat) if shape.big else repeat


def run_suite(
    shapes: Sequence[Shape],
    tools: Sequence[Tool],
    skipped: Sequence[str],
    *,
    repeat: int,
    big_repeat: int,
    quick: bool,
    dirs: Dirs,
    machine: dict[str, str],
    timeout: float,
    progress: Progress,
) -> Results:
    """Every shape with every tool that applies, `repeat` interleaved iterations.

    A big shape runs in the first `big_repeat` iterations only; its ratios
    still pair runs of the same iteration.
    """
    results = Results(list(shapes), list(tools), list(skipped), repeat, big_repeat, quick, machine)
    env = tool_env()
    prepared = {shape.name: prepare(shape, dirs) for shape in shapes}
    warm_up(tools, dirs, env, timeout, progress)
    for iteration in range(repeat):
        for shape in shapes:
            total = iterations_of(shape, repeat, big_repeat)
            if iteration >= total:
                continue
            for tool in rotated(results.tools_for(shape), iteration):
                sample = run_once(
                    tool, prepared[shape.name], iteration=iteration, timeout=timeout, env=env
                )
                results.samples.setdefault((shape.name, tool.key), []).append(sample)
                status = "ERROR" if sample.error else f"{sample.wall_s:.3f} s"
                progress(f"[{iteration + 1}/{total}] {shape.name:<13} {tool.label:<16} {status}")
                if sample.error:
                    progress(sample.error)
    results.core_note = core.available()
    if results.core_note is None:
        for shape in shapes:
            if shape.jobs:
                for strategy in ("eager", "wave"):
                    core_repeat = iterations_of(shape, repeat, big_repeat)
                    results.core.append(core.time_core(shape, strategy, core_repeat))
    results.machine["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return results


def stderr_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)

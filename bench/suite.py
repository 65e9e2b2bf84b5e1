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
from pathlib import Path

from bench import core, emitters
from bench.meta import summarize
from bench.results import Results, Sample
from bench.runner import log_tail, rss_method, run_timed
from bench.shapes import Shape, chain
from bench.tools import REPO, ShapeFiles, Tool

Progress = Callable[[str], None]


def write_files(shape: Shape, root: Path) -> ShapeFiles:
    """Write the shape's input for every tool into its own directory, once."""
    directory = root / shape.name
    directory.mkdir(parents=True)
    files = ShapeFiles(
        directory, directory / "hooks.yml", directory / "Makefile", directory / "Taskfile.yml"
    )
    files.hooks.write_text(emitters.hooks_yaml(shape))
    files.makefile.write_text(emitters.makefile(shape))
    files.taskfile.write_text(emitters.taskfile(shape))
    return files


def tool_env(workdir: Path) -> dict[str, str]:
    """The same environment for every tool; ours imports from this checkout.

    Ours also gets a bytecode cache, as an installed package has: without it
    (PYTHONDONTWRITEBYTECODE is set on some machines) every run would compile
    the coordinator's source again. The cache lives in the temp dir, not the repo.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    env["NO_COLOR"] = "1"
    return env


def machine_info(tools: Sequence[Tool]) -> dict[str, str]:
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
    }
    for tool in tools:
        if not tool.ours:
            info[tool.key] = tool.version
    return info


def run_once(
    tool: Tool,
    shape: Shape,
    files: ShapeFiles,
    *,
    iteration: int,
    timeout: float,
    env: dict[str, str],
) -> Sample:
    """One timed run; ours also gets its meta read back, then its state dir removed."""
    state_dir = files.dir / f"state-{tool.key}"
    shutil.rmtree(state_dir, ignore_errors=True)
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


def warm_up(tools: Sequence[Tool], workdir: Path, env: dict[str, str], progress: Progress) -> None:
    """One untimed run per tool so the first timed run does not pay for cold caches."""
    shape = chain(3)
    files = write_files(shape, workdir / "warm-up")
    for tool in tools:
        sample = run_once(tool, shape, files, iteration=-1, timeout=60, env=env)
        if sample.error:
            progress(f"warm-up of {tool.label} failed: {sample.error}")


def run_suite(
    shapes: Sequence[Shape],
    tools: Sequence[Tool],
    skipped: Sequence[str],
    *,
    repeat: int,
    quick: bool,
    workdir: Path,
    timeout: float,
    progress: Progress,
) -> Results:
    results = Results(list(shapes), list(tools), list(skipped), repeat, quick, machine_info(tools))
    files = {shape.name: write_files(shape, workdir) for shape in shapes}
    env = tool_env(workdir)
    warm_up(tools, workdir, env, progress)
    for iteration in range(repeat):
        for shape in shapes:
            for tool in rotated(results.tools_for(shape), iteration):
                sample = run_once(
                    tool, shape, files[shape.name], iteration=iteration, timeout=timeout, env=env
                )
                results.samples.setdefault((shape.name, tool.key), []).append(sample)
                status = "ERROR" if sample.error else f"{sample.wall_s:.3f} s"
                progress(f"[{iteration + 1}/{repeat}] {shape.name:<13} {tool.label:<11} {status}")
                if sample.error:
                    progress(sample.error)
    results.core_note = core.available()
    if results.core_note is None:
        for shape in shapes:
            for strategy in ("eager", "wave"):
                results.core.append(core.time_core(shape, strategy, repeat))
    results.machine["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return results


def stderr_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)

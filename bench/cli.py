"""Command line of `python -m bench`: pick shapes and tools, run, print and write the report.

Generated inputs, logs and state live in a fresh dir under `.bench-work/` (or
--workdir) and on tmpfs, removed at the end unless --keep; the only files
written elsewhere are the ones asked for with --out / --json, and the
`.bench-venv` that ours runs from (bench.install).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from bench import chart, install, report
from bench.dirs import DEFAULT_WORK, run_dirs
from bench.goals import goals_table
from bench.shapes import BIG_JOBS, all_shapes
from bench.suite import (
    DEFAULT_BIG_REPEAT,
    DEFAULT_REPEAT,
    DEFAULT_TIMEOUT_S,
    machine_info,
    run_suite,
    stderr_progress,
    tool_env,
)
from bench.tools import discover

CHART_NAME = "bench-chart.svg"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark our coordinator against ninja, GNU make and go-task "
        "on the same graphs.",
    )
    p.add_argument("--quick", action="store_true", help="tiny shapes, one iteration: a smoke run")
    p.add_argument(
        "--repeat",
        type=_positive,
        help=f"iterations per shape and tool (default {DEFAULT_REPEAT}; 1 with --quick)",
    )
    p.add_argument(
        "--big-repeat",
        type=_positive,
        help=f"iterations of the shapes of {BIG_JOBS} jobs or more (default {DEFAULT_BIG_REPEAT}, "
        "at most --repeat)",
    )
    p.add_argument(
        "--out", type=Path, help=f"write the markdown report here (and {CHART_NAME} beside it)"
    )
    p.add_argument("--json", type=Path, help="write the raw figures as JSON here")
    names = [shape.name for shape in all_shapes()]
    p.add_argument("--only", help=f"comma-separated shapes to run, from: {','.join(names)}")
    p.add_argument(
        "--no-install",
        action="store_true",
        help="install nothing: no pip install of ninja or go-task when missing, "
        "no build of .bench-venv",
    )
    p.add_argument(
        "--ours-python",
        type=Path,
        help="run ours (and the `python -c pass` peer) with this interpreter instead of "
        ".bench-venv's; it must import the coordinator",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        help=f"where generated files and local-disk state go (default {DEFAULT_WORK.name}/ "
        "in the repository; not the system temp dir)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds per run before it is killed and counted as failed "
        f"(default {DEFAULT_TIMEOUT_S:g})",
    )
    p.add_argument(
        "--keep", action="store_true", help="keep the generated files and state dirs afterwards"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    shapes = all_shapes(quick=args.quick)
    if args.only:
        known = [shape.name for shape in shapes]
        wanted = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = [name for name in wanted if name not in known]
        if unknown:
            print(f"bench: unknown shape {unknown[0]!r}; choose from {', '.join(known)}",
                  file=sys.stderr)  # fmt: skip
            return 2
        shapes = [shape for shape in shapes if shape.name in wanted]
    repeat = args.repeat or (1 if args.quick else DEFAULT_REPEAT)
    big_repeat = min(repeat, args.big_repeat or DEFAULT_BIG_REPEAT)

    try:
        # absolute(), not resolve(): a venv's python is a symlink out of the venv.
        python = (
            args.ours_python.absolute()
            if args.ours_python
            else install.ensure(install.VENV, install=not args.no_install)
        )
    except install.InstallError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    with run_dirs(args.workdir, keep=args.keep) as dirs:
        try:
            ours_from = install.imported_from(python, tool_env(), cwd=dirs.work)
        except install.InstallError as error:
            print(f"bench: {error}", file=sys.stderr)
            return 2
        tools, skipped = discover(
            python=python, tmpfs=dirs.tmpfs is not None, install=not args.no_install
        )
        if dirs.tmpfs_note:
            skipped.append(f"ours with the state dir on tmpfs: {dirs.tmpfs_note}")
        for line in skipped:
            print(f"bench: skipping {line}", file=sys.stderr)
        results = run_suite(
            shapes,
            tools,
            skipped,
            repeat=repeat,
            big_repeat=big_repeat,
            quick=args.quick,
            dirs=dirs,
            machine=machine_info(tools, dirs, ours_from),
            timeout=args.timeout,
            progress=stderr_progress,
        )

    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        chart_path = args.out.parent / CHART_NAME
        chart_path.write_text(chart.svg(results))
        chart_ref = os.path.relpath(chart_path, args.out.parent)
        args.out.write_text(report.markdown(results, chart=chart_ref))
        print(f"bench: wrote {args.out} and {chart_path}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(report.to_json(results), indent=2) + "\n")
    print(report.table(results))
    print()
    print(report.core_table(results))
    print()
    print(goals_table(results))
    failed = any(sample.error for samples in results.samples.values() for sample in samples)
    return 1 if failed else 0

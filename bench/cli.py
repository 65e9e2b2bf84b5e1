"""Command line of `python -m bench`: pick shapes and tools, run, print and write the report.

Generated inputs and state live in a temp dir that is removed at the end;
the only files written elsewhere are the ones asked for with --out / --json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench import chart, report
from bench.shapes import SHAPE_NAMES, all_shapes
from bench.suite import run_suite, stderr_progress
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
        description="Benchmark our coordinator against GNU make and go-task on the same graphs.",
    )
    p.add_argument("--quick", action="store_true", help="tiny shapes, one iteration: a smoke run")
    p.add_argument(
        "--repeat", type=_positive, help="iterations per shape and tool (default 5; 1 with --quick)"
    )
    p.add_argument(
        "--out", type=Path, help=f"write the markdown report here (and {CHART_NAME} beside it)"
    )
    p.add_argument("--json", type=Path, help="write the raw figures as JSON here")
    p.add_argument("--only", help=f"comma-separated shapes to run, from: {','.join(SHAPE_NAMES)}")
    p.add_argument(
        "--no-install", action="store_true", help="do not pip-install go-task when missing"
    )
    p.add_argument(
        "--timeout", type=float, default=600.0, help="seconds per run before it is killed"
    )
    p.add_argument("--keep", action="store_true", help="keep the temp dir of generated files")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    shapes = all_shapes(quick=args.quick)
    if args.only:
        wanted = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = [name for name in wanted if name not in SHAPE_NAMES]
        if unknown:
            print(f"bench: unknown shape {unknown[0]!r}; choose from {', '.join(SHAPE_NAMES)}",
                  file=sys.stderr)  # fmt: skip
            return 2
        shapes = [shape for shape in shapes if shape.name in wanted]
    repeat = args.repeat or (1 if args.quick else 5)

    tools, skipped = discover(install=not args.no_install)
    for line in skipped:
        print(f"bench: skipping {line}", file=sys.stderr)
    if not tools:
        print("bench: no tool to run", file=sys.stderr)
        return 1

    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        results = run_suite(
            shapes,
            tools,
            skipped,
            repeat=repeat,
            quick=args.quick,
            workdir=workdir,
            timeout=args.timeout,
            progress=stderr_progress,
        )
    finally:
        if args.keep:
            print(f"bench: generated files kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    chart_ref = None
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
    print(report.targets_table(results))
    failed = any(sample.error for samples in results.samples.values() for sample in samples)
    return 1 if failed else 0

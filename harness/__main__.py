"""`python -m harness fuzz`: generative conformance testing (docs/fuzzing.md).

Exit status as pytest's: 0 when nothing was found, 1 when a failing case
was found (and written as a scenario file), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

from harness.drivers import Driver, ExternalDriver, InProcessDriver
from harness.fuzz import Budget, cpu_load, search
from harness.report import format_outcome

EXIT_CLEAN, EXIT_FOUND, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fuzz = commands.add_parser(
        "fuzz", help="random hooks through a coordinator, judged by the oracle"
    )
    fuzz.add_argument("--coordinator-cmd", metavar="TEMPLATE", help="default: ours, in-process")
    fuzz.add_argument("--seed", type=int, help="replay a search (default: a random seed, printed)")
    fuzz.add_argument("--max-examples", type=_positive, default=Budget.max_examples)
    fuzz.add_argument("--time-budget", type=float, default=Budget.seconds, metavar="SECONDS")
    fuzz.add_argument(
        "--shrink-budget", type=float, default=Budget.shrink_seconds, metavar="SECONDS"
    )
    fuzz.add_argument(
        "--cpu-load", type=int, default=0, metavar="N", help="N busy processes meanwhile"
    )
    fuzz.add_argument("--out", type=Path, default=Path(".fuzz"), help="where a finding is written")
    fuzz.add_argument("--keep", action="store_true", help="keep every case's run directory")
    args = parser.parse_args(argv)
    try:
        driver: Driver = (
            ExternalDriver(args.coordinator_cmd) if args.coordinator_cmd else InProcessDriver()
        )
    except ValueError as error:
        parser.error(f"--coordinator-cmd: {error}")
    if args.time_budget <= 0 or args.shrink_budget < 0 or args.cpu_load < 0:
        parser.error("budgets and --cpu-load must not be negative")
    seed = args.seed if args.seed is not None else secrets.randbelow(2**32)
    budget = Budget(args.max_examples, args.time_budget, args.shrink_budget)
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="fuzz-", dir=args.out))
    print(
        f"fuzz: seed {seed}, up to {budget.max_examples} cases or {budget.seconds:g} s, "
        f"coordinator {args.coordinator_cmd or 'in-process'}",
        flush=True,
    )
    started = time.monotonic()
    try:
        with cpu_load(args.cpu_load):
            finding, state = search(driver, scratch, seed=seed, budget=budget)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    elapsed = time.monotonic() - started
    harness = 100 * (1 - state.coordinating / state.running) if state.running else 0.0
    print(
        f"fuzz: {state.tried} case(s), {state.runs} run(s) in {elapsed:.1f} s "
        f"({60 * state.runs / elapsed:.0f} runs/min); {harness:.0f}% of the running time in "
        f"the harness, {100 - harness:.0f}% in the coordinator and its jobs"
    )
    if finding is None:
        print("fuzz: nothing found")
        return EXIT_CLEAN
    path = args.out / f"fuzzed-{'-'.join(finding.rules)}-{seed}.yml"
    path.write_text(finding.text(), encoding="utf-8")
    print(format_outcome(finding.outcome))
    print(
        f"\nfuzz: FOUND after {finding.cases_tried} case(s): {', '.join(finding.rules)}; "
        f"shrunk to {finding.case.size} jobs+actions\nfuzz: wrote {path} "
        f"(replay: python -m harness fuzz --seed {seed})"
    )
    return EXIT_FOUND


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


if __name__ == "__main__":
    sys.exit(main())

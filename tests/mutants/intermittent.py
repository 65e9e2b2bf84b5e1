"""An intermittent race: our coordinator ignoring each job's needs with probability P.

    python tests/mutants/intermittent.py 0.3 run HOOKS --hook NAME --state-dir ...

Unlike the mutants of mutants.py, which break a rule every time, this one
breaks `needs.wait` by chance, anew in every run (unseeded): the bug that
shows up one run in ten. scripts/detection-rate measures how likely one
suite run (and the fuzzer) is to catch it.
"""

from __future__ import annotations

import dataclasses
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: intermittent.py PROBABILITY CLI_ARGS...", file=sys.stderr)
        return 64
    probability = float(argv[0])
    sys.path.insert(0, str(ROOT))
    from coordinator import cli, scheduler

    original = scheduler.Scheduler.__init__

    def __init__(self, jobs, **options):  # type: ignore[no-untyped-def]
        jobs = [
            dataclasses.replace(j, needs=()) if j.needs and random.random() < probability else j
            for j in jobs
        ]
        original(self, jobs, **options)

    scheduler.Scheduler.__init__ = __init__  # type: ignore[method-assign]
    return cli.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

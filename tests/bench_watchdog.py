#!/usr/bin/env python3
"""What the watchdog costs a run: the same runs with and without it, interleaved, medians.

    .venv/bin/python tests/bench_watchdog.py [--rounds N]

Three shapes: one `true` job through the API (the fixed cost: spawning the
watchdog's `sh`, and SIGKILLing and reaping it at the end), a chain of 50
`true` jobs through the API (plus two pipe writes per job), and one job
through the CLI (`python -m coordinator run`, interpreter start included).
"Without" replaces `Watchdog.start` by a no-op for that run only, so both
sides run the same code otherwise. Rounds alternate with and without, so a
machine that gets busier or quieter shifts both sides alike. Figures for
docs/performance.md; not a test (nothing here is collected by pytest).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coordinator import JobSpec, Run  # noqa: E402
from coordinator import watchdog as watchdog_module  # noqa: E402

HOOKS = "hooks:\n  h:\n    jobs:\n      - {name: a, run: 'true'}\n"
CLI = (
    "import sys; from coordinator import watchdog, cli\n"
    "if sys.argv[1] == 'without': watchdog.Watchdog.start = lambda self, run_dir: None\n"
    "sys.exit(cli.main(sys.argv[2:]))\n"
)


def clocks() -> tuple[float, float]:
    """(wall, CPU) seconds: the CPU of this process and of every child it reaped."""
    mine, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    cpu = mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime
    return time.perf_counter(), cpu


def since(start: tuple[float, float]) -> tuple[float, float]:
    end = clocks()
    return end[0] - start[0], end[1] - start[1]


def api_run(jobs: list[JobSpec], root: Path, serial: int) -> tuple[float, float]:
    start = clocks()
    Run(jobs, state_dir=root / "state", invocation=f"i{serial}", cwd=root).run()
    return since(start)


def cli_run(side: str, root: Path, serial: int) -> tuple[float, float]:
    args = ["run", str(root / "hooks.yml"), "--hook", "h", "--state-dir", str(root / "state")]
    args += ["--invocation", f"c{serial}"]
    start = clocks()
    subprocess.run(
        [sys.executable, "-c", CLI, side, *args], cwd=root, check=True, stdout=subprocess.DEVNULL
    )
    return since(start)


def measure(
    rounds: int, once: Callable[[str, int], tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds per run with and without the watchdog, interleaved."""
    times: dict[str, list[tuple[float, float]]] = {"with": [], "without": []}
    original = watchdog_module.Watchdog.start
    for serial in range(rounds):
        for side in ("with", "without") if serial % 2 else ("without", "with"):
            if side == "without":
                watchdog_module.Watchdog.start = lambda self, run_dir: None  # type: ignore[method-assign]
            try:
                times[side].append(once(side, serial))
            finally:
                watchdog_module.Watchdog.start = original  # type: ignore[method-assign]
    return {
        side: (statistics.median(t[0] for t in found), statistics.median(t[1] for t in found))
        for side, found in times.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=60, help="runs on each side (default 60)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-watchdog-") as directory:
        root = Path(directory)
        (root / "hooks.yml").write_text(HOOKS)
        one = [JobSpec("a", "true")]
        chain = [JobSpec(f"j{i}", "true", needs=(f"j{i - 1}",) if i else ()) for i in range(50)]
        shapes = {
            "1 job (API)": (
                args.rounds,
                lambda side, n: api_run(one, root, n * 2 + (side == "with")),
            ),
            "50-job chain (API)": (
                max(5, args.rounds // 4),
                lambda side, n: api_run(chain, root, 10**6 + n * 2 + (side == "with")),
            ),
            "1 job (CLI)": (max(5, args.rounds // 2), lambda side, n: cli_run(side, root, n)),
        }
        print(f"{'':<20} {'':>5} {'wall clock (median)':^32} {'CPU (median)':^32}")
        print(f"{'shape':<20} {'runs':>5}" + f" {'without':>10} {'with':>10} {'cost':>10}" * 2)
        for name, (rounds, once) in shapes.items():
            found = measure(rounds, once)
            cells = []
            for clock in (0, 1):
                without, with_ = found["without"][clock], found["with"][clock]
                cost = (with_ - without) * 1e3
                cells.append(f" {without * 1e3:>8.2f}ms {with_ * 1e3:>8.2f}ms {cost:>+8.2f}ms")
            print(f"{name:<20} {rounds:>5}" + "".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())

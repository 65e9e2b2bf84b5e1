"""How much a fake command costs beyond a bare `sh -c true`: `python -m harness.overhead`.

Fake jobs must stay cheap, or the timings scenarios check would measure the
fakes rather than the coordinator. This prints the median and 90th
percentile wall time of spawning `sh -c` for a bare command and for typical
compiled fake commands (the figures quoted in docs/scenarios.md).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from harness.fakes import WITNESS_DIR, Action, Require, Write, compile_actions

CASES: dict[str, list[Action]] = {
    "fake: []  (witnesses only)": [],
    "fake: [write: m]": [Write("m")],
    "fake: [require: m, write: {path: n, content: ok}]": [Require("m"), Write("n", "ok")],
}


def measure(command: str, runs: int, cwd: Path) -> list[float]:
    """Wall seconds of `sh -c command`, spawned the way a coordinator would."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(["/bin/sh", "-c", command], cwd=cwd, check=True)
        times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--runs", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / WITNESS_DIR).mkdir()
        base = measure("true", args.runs, work)
        print(f"{'command':<52} {'median':>8} {'p90':>8} {'over sh -c true':>16}")
        _row("sh -c true", base, statistics.median(base))
        for label, actions in CASES.items():
            command = compile_actions(actions, witness=f"{WITNESS_DIR}/bench")
            _row(label, measure(command, args.runs, work), statistics.median(base))
    return 0


def _row(label: str, times: list[float], base: float) -> None:
    median = statistics.median(times)
    p90 = statistics.quantiles(times, n=10)[-1]
    extra = median - base
    print(f"{label:<52} {median * 1e3:6.2f}ms {p90 * 1e3:6.2f}ms {extra * 1e3:+14.2f}ms")


if __name__ == "__main__":
    raise SystemExit(main())

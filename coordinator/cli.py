"""`python -m coordinator`: run a hook, list recorded jobs, prune old runs (spec: CLI).

Exit codes of `run`: 0 when every job completed or was skipped by its own
condition, 1 when any job ended otherwise, 2 on an input error (nothing ran),
130 on SIGINT, 143 on SIGTERM and 129 on SIGHUP (each cancels the run).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from coordinator.api import prepare_hook
from coordinator.engine import JobEvent, Run, RunError
from coordinator.model import InputError, Record, Status, Strategy
from coordinator.store import name_of_dir
from coordinator.timefmt import human_ago, human_duration, parse_duration

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
_SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}

GLYPHS = {
    Status.COMPLETED: ("✓", "ok"),
    Status.FAILED: ("✗", "FAIL"),
    Status.TIMED_OUT: ("⏱", "TIME"),
    Status.SKIPPED: ("⊘", "skip"),
    Status.CANCELLED: ("⊗", "CANC"),
    Status.RUNNING: ("…", "run"),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except InputError as error:
        # the spec (scheduling): the line starts with FILE:LINE, so no program-name prefix here.
        print(error, file=sys.stderr)
        return EXIT_INPUT
    except RunError as error:
        print(f"coordinator: error: {error}", file=sys.stderr)
        return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m coordinator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the jobs of one hook")
    run.add_argument("hooks_file", type=Path)
    run.add_argument("--hook", required=True)
    _state_dir_option(run)
    run.add_argument("--invocation", help="run id (default: 16 random hex chars)")
    run.add_argument("--worktree", help="worktree name (default: the cwd's base name)")
    run.add_argument("--strategy", choices=[s.value for s in Strategy])
    run.add_argument("--max-parallel", type=_positive_int, metavar="N")
    run.set_defaults(func=_cmd_run)

    jobs = commands.add_parser("jobs", help="list recorded jobs")
    _state_dir_option(jobs)
    jobs.add_argument("--format", choices=["table", "json"], default="table")
    jobs.set_defaults(func=_cmd_jobs)

    prune = commands.add_parser("prune", help="delete old invocation directories")
    _state_dir_option(prune)
    prune.add_argument("--older-than", required=True, type=_duration, metavar="DURATION")
    prune.add_argument("--keep-last", type=_non_negative_int, default=0, metavar="N")
    prune.add_argument("--dry-run", action="store_true", help="list what would be removed")
    prune.set_defaults(func=_cmd_prune)
    return parser


def _state_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("COORDINATOR_STATE_DIR") or ".coordinator-state"),
        help="default: $COORDINATOR_STATE_DIR, else .coordinator-state",
    )


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


# -- run -----------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    console = Console(sys.stdout)
    received: list[signal.Signals] = []
    runs: list[Run] = []  # the run, once it exists: a signal before that is kept for it

    def on_signal(signum: int, _frame: object) -> None:
        sig = signal.Signals(signum)
        received.append(sig)
        for run in runs:
            run.cancel(reason=f"cancelled ({sig.name})")

    # Installed before the file is read, so a signal while loading still cancels
    # the run (every job recorded `cancelled`) instead of killing the process.
    previous = {sig: signal.signal(sig, on_signal) for sig in _SIGNAL_EXIT}
    try:
        run = prepare_hook(
            args.hooks_file,
            args.hook,
            state_dir=args.state_dir,
            invocation=args.invocation,
            worktree=args.worktree,
            strategy=None if args.strategy is None else Strategy(args.strategy),
            max_parallel=args.max_parallel,
            on_event=console.job_ended,
            subreaper=True,  # this process runs nothing else: it may adopt the jobs' orphans
        )
        runs.append(run)
        if received:
            run.cancel(reason=f"cancelled ({received[0].name})")
        console.width = max((len(name) for name in run.job_names), default=0)
        result = run.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.summary(result.records.values(), result.jobs_dir)
    if received:
        return _SIGNAL_EXIT[received[0]]
    return EXIT_OK if result.ok else EXIT_FAILED


class Console:
    """Progress lines for `run`: one per ended job, then a summary.

    A closed stdout (`... | head -1`, or a terminal gone after SIGHUP) must
    not stop the jobs: when a write fails it stops printing and points stdout
    at /dev/null, so the run goes on and Python's final flush does not fail.
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.width = 0  # name column width, set once the jobs are known
        self._closed = False

    def job_ended(self, event: JobEvent) -> None:
        if event.kind != "ended":
            return
        record = event.record
        duration = _record_duration(record)
        parts = [
            self._glyph(record.status),
            record.name.ljust(self.width),
            (human_duration(duration) if duration is not None else "-").rjust(7),
        ]
        if record.status is not Status.COMPLETED:
            parts.append(record.status.value)
            if record.reason:
                parts.append(f"({record.reason})")
        self._print(" ".join(parts).rstrip())

    def summary(self, records: Iterable[Record], jobs_dir: Path) -> None:
        counts = Counter(record.status.value for record in records)
        if not counts:  # nothing was recorded, so there is no records directory to name
            self._print("0 job(s): nothing to run.")
            return
        detail = ", ".join(f"{n} {status}" for status, n in counts.items())
        self._print(f"{sum(counts.values())} job(s): {detail}. Records: {jobs_dir}")

    def _glyph(self, status: Status) -> str:
        fancy, plain = GLYPHS[status]
        try:
            fancy.encode(self.out.encoding or "ascii")
        except (UnicodeEncodeError, LookupError):
            return plain
        return fancy

    def _print(self, line: str) -> None:
        if self._closed:
            return
        try:
            print(line, file=self.out, flush=True)
        except OSError:  # EPIPE from a closed pipe, EIO from a hung-up terminal
            self._closed = True
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.out.fileno())
                os.close(devnull)


def _record_duration(record: Record) -> float | None:
    if record.started_mono_ns is None or record.finished_mono_ns is None:
        return None
    return (record.finished_mono_ns - record.started_mono_ns) / 1e9


# -- jobs and prune --------------------------------------------------------------


def _cmd_jobs(args: argparse.Namespace) -> int:
    from coordinator.history import UNREADABLE, UnreadableRow, job_rows  # not on `run`'s path

    reference = datetime.now(timezone.utc)
    rows = job_rows(args.state_dir)
    if args.format == "json":
        print(json.dumps([row.to_json(reference) for row in rows], indent=2, ensure_ascii=False))
        return EXIT_OK
    if not rows:
        print(f"no jobs recorded under {args.state_dir}")
        return EXIT_OK
    table = [("INVOCATION", "WORKTREE", "JOB", "STATUS", "STARTED", "DURATION", "EXIT")]
    for row in rows:
        if isinstance(row, UnreadableRow):
            job = name_of_dir(row.job_dir)
            table.append((row.invocation, row.worktree, job, UNREADABLE, "-", "-", "-"))
            where = f"{row.invocation}/{row.worktree}/{row.job_dir}"
            print(f"coordinator: unreadable record {where}: {row.problem}", file=sys.stderr)
            continue
        started = row.started
        duration = row.duration(reference)
        code = row.record.exit_code
        table.append(
            (
                row.invocation,
                row.worktree,
                row.record.name,
                row.status,
                human_ago(started, reference) if started else "-",
                human_duration(duration) if duration is not None else "-",
                "-" if code is None else str(code),
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        cells = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        print("  ".join(cells).rstrip())
    return EXIT_OK


def _cmd_prune(args: argparse.Namespace) -> int:
    from coordinator.history import invocations, remove, select_prunable  # not on `run`'s path

    reference = datetime.now(timezone.utc)
    found = invocations(args.state_dir)
    doomed = select_prunable(
        found, older_than=args.older_than, keep_last=args.keep_last, reference=reference
    )
    verb = "would remove" if args.dry_run else "removed"
    for invocation in doomed:
        if not args.dry_run:
            remove(invocation)
        age = human_ago(invocation.last_activity, reference)
        print(f"{verb} {invocation.name} (last activity {age})")
    print(f"{verb} {len(doomed)} invocation(s), kept {len(found) - len(doomed)}")
    return EXIT_OK

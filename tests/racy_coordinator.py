"""A deliberately racy coordinator: the upstream bug, to prove the scenario gate catches it.

It speaks the `run` command line of the spec's CLI and protocol (docs/spec.md), and
schedules like the upstream tool did before its fix (README): every job of
a phase starts at once and `needs:` is only recorded, never waited on.
Foreground jobs still run before background ones. It has no promotion, no
`wave` strategy, no `max_parallel` and no skip because of a failed need.

Everything else is done properly (conditions, records per 4.3, timeouts and
cancel with SIGTERM then SIGKILL to the process group), so a scenario fails
under it only when it depends on the needs-aware scheduling: that is what
tests/test_gate.py asserts. Usage, as a `--coordinator-cmd` template:

    python tests/racy_coordinator.py run {hooks_file} --hook {hook}
        --state-dir {state_dir} --invocation {invocation} --worktree {worktree}
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coordinator import InputError, JobSpec, Record, SkipCause, Status, load_hooks_file, select_hook
from coordinator.conditions import condition_reason
from coordinator.runner import signal_group
from coordinator.stopping import describe_exit
from coordinator.store import RunDir
from coordinator.timefmt import now

POLL = 0.005
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


@dataclass
class Running:
    """A started job, and where it is in its stop escalation."""

    job: JobSpec
    record: Record
    popen: subprocess.Popen[bytes]
    deadline: float | None
    stopping: Status | None = None
    kill_at: float | None = None


def _spawn(command: str, *, cwd: Path, env: Mapping[str, str], log_path: Path) -> subprocess.Popen:
    """`sh -c command` in its own session, output to `log_path`, as a coordinator must."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            ["/bin/sh", "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
        )


class RacyRun:
    """Runs one hook phase by phase, every job of a phase at once."""

    def __init__(
        self,
        jobs: Sequence[JobSpec],
        *,
        run_dir: RunDir,
        kill_grace: float,
        cwd: Path,
        env: Mapping[str, str],
    ) -> None:
        self.jobs = jobs
        self.run_dir = run_dir
        self.kill_grace = kill_grace
        self.cwd = cwd
        self.env = dict(env)
        self.cancelled: signal.Signals | None = None
        self.ok = True

    def run(self) -> None:
        for background in (False, True):
            phase = [job for job in self.jobs if job.background == background]
            running = [r for job in phase if (r := self._start(job)) is not None]
            while running:
                running = [r for r in running if not self._poll(r)]
                time.sleep(POLL)

    def _record(self, job: JobSpec, status: Status, **fields: Any) -> Record:
        """Write the job's record; note a failure for the exit code."""
        record = Record(job.name, status, job.run, list(job.needs), job.background, **fields)
        self.run_dir.write(record)
        condition_skip = record.skip_cause is SkipCause.CONDITION
        if status not in (Status.RUNNING, Status.COMPLETED) and not condition_skip:
            self.ok = False
        return record

    def _start(self, job: JobSpec) -> Running | None:
        """Start `job` now, whatever its needs; None when it ended without running."""
        if self.cancelled is not None:
            self._record(job, Status.CANCELLED, reason="cancelled before it started")
            return None
        reason = condition_reason(job, self.env)
        if reason is not None:
            self._record(job, Status.SKIPPED, skip_cause=SkipCause.CONDITION, reason=reason)
            return None
        cwd = self.cwd / job.cwd if job.cwd else self.cwd
        log = Path(self.run_dir.prepare(job.name)) / "output.log"
        started_at, started_mono = now()
        try:
            popen = _spawn(job.run, cwd=cwd, env={**self.env, **job.env}, log_path=log)
        except OSError as error:
            self._record(job, Status.FAILED, reason=f"cannot start in {cwd}: {error.strerror}")
            return None
        record = self._record(
            job,
            Status.RUNNING,
            started_at=started_at,
            started_mono_ns=started_mono,
            pid=popen.pid,
        )
        deadline = None if job.timeout is None else time.monotonic() + job.timeout
        return Running(job, record, popen, deadline)

    def _poll(self, proc: Running) -> bool:
        """Advance one job's stop escalation; True once it has ended and been recorded."""
        clock = time.monotonic()
        popen = proc.popen
        if proc.stopping is None and self.cancelled is not None:
            self._stop(proc, Status.CANCELLED, clock)
        elif proc.stopping is None and proc.deadline is not None and clock >= proc.deadline:
            self._stop(proc, Status.TIMED_OUT, clock)
        if proc.kill_at is not None and clock >= proc.kill_at:
            signal_group(popen.pid, signal.SIGKILL)
        code = popen.poll()
        if code is None:
            return False
        if proc.stopping is not None:
            signal_group(popen.pid, signal.SIGKILL)  # whatever is left of its group
        finished_at, finished_mono = now()
        record = proc.record
        status = proc.stopping or (Status.COMPLETED if code == 0 else Status.FAILED)
        reason = {
            Status.CANCELLED: "cancelled",
            Status.TIMED_OUT: f"timed out after {proc.job.timeout} s",
            Status.FAILED: describe_exit(code),
        }.get(status)
        self._record(
            proc.job,
            status,
            started_at=record.started_at,
            started_mono_ns=record.started_mono_ns,
            finished_at=finished_at,
            finished_mono_ns=finished_mono,
            exit_code=code,
            reason=reason,
            pid=record.pid,
        )
        return True

    def _stop(self, proc: Running, status: Status, clock: float) -> None:
        proc.stopping = status
        proc.kill_at = clock + self.kill_grace
        signal_group(proc.popen.pid, signal.SIGTERM)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="racy_coordinator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run")
    run.add_argument("hooks_file", type=Path)
    run.add_argument("--hook", required=True)
    run.add_argument("--state-dir", type=Path, default=Path(".coordinator-state"))
    run.add_argument("--invocation", default=secrets.token_hex(8))
    run.add_argument("--worktree", default=Path.cwd().name)
    run.add_argument("--strategy")  # accepted and ignored: there is only "all at once"
    run.add_argument("--max-parallel")  # accepted and ignored: there is no limit
    args = parser.parse_args(argv)
    try:
        hooks = load_hooks_file(args.hooks_file)
        jobs = select_hook(hooks, args.hook)
    except InputError as error:
        print(f"racy: {error}", file=sys.stderr)
        return 2
    racy = RacyRun(
        jobs,
        run_dir=RunDir.at(args.state_dir, args.invocation, args.worktree),
        kill_grace=hooks.settings.kill_grace,
        cwd=Path.cwd(),
        env=os.environ,
    )

    def on_signal(signum: int, _frame: object) -> None:
        racy.cancelled = racy.cancelled or signal.Signals(signum)

    for sig in EXIT_CODES:
        signal.signal(sig, on_signal)
    racy.run()
    if racy.cancelled is not None:
        return EXIT_CODES[racy.cancelled]
    return 0 if racy.ok else 1


if __name__ == "__main__":
    sys.exit(main())

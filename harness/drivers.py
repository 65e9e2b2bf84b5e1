"""Drivers: how a scenario's hooks file gets run, in-process or by an external command.

Both get the same hooks file (spec: hooks file) and leave records in the same
state dir layout (4.3); the engine reads those back either way. The
in-process driver uses `coordinator.prepare_hook` and cancels through
`Run.cancel()`; the external one follows the spec (protocol): the command template is
split into words (no shell), runs with the work dir as cwd, and is stopped
with SIGTERM, then SIGKILL if it does not exit.
"""

from __future__ import annotations

import shlex
import signal
import string
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import coordinator
from coordinator.model import InputError
from harness.model import CancelPlan
from harness.observe import CancelFacts, RunFacts
from harness.records import started_names

DEFAULT_COMMAND = (
    "python -m coordinator run {hooks_file} --hook {hook} --state-dir {state_dir} "
    "--invocation {invocation} --worktree {worktree}"
)
PLACEHOLDERS = ("hooks_file", "hook", "state_dir", "invocation", "worktree")
EXIT_INPUT_ERROR = 2
STOP_SLACK = 5.0  # seconds beyond kill_grace a coordinator gets to exit once stopped
POLL = 0.005  # seconds between looks at the records: cancel moments, partial reads


@dataclass(frozen=True)
class RunRequest:
    """Everything a driver needs to run one scenario."""

    hooks_file: Path
    hook: str
    work_dir: Path
    state_dir: Path
    invocation: str
    worktree: str
    env: Mapping[str, str]  # the coordinator's whole environment
    cancel: CancelPlan | None
    timeout: float
    kill_grace: float
    scratch: Path  # where a driver may keep its own files (outside the work dir)


@dataclass
class DriverResult:
    facts: RunFacts
    timed_out: bool = False  # stopped by the harness at the scenario timeout
    error: str | None = None  # the run itself went wrong (crash, did not stop)


@dataclass
class _Clock:
    """The harness's own CLOCK_MONOTONIC window around a run, and when it cancelled."""

    start: int = field(default_factory=time.monotonic_ns)
    offset: int = 0
    cancel: CancelFacts | None = None
    stall: int = 0  # the longest oversleep of a POLL-long sleep seen meanwhile, ns

    def nap(self) -> None:
        """Sleep POLL, and note how much longer the machine let it last (load)."""
        before = time.monotonic_ns()
        time.sleep(POLL)
        self.stall = max(self.stall, time.monotonic_ns() - before - int(POLL * 1e9))

    def __post_init__(self) -> None:
        self.offset = time.time_ns() - time.monotonic_ns()

    def cancelled(self, signal_name: str | None) -> None:
        if self.cancel is None:
            self.cancel = CancelFacts(signal_name, time.monotonic_ns(), time.time_ns())

    def facts(self, **kwargs: object) -> RunFacts:
        window = (self.start, time.monotonic_ns())
        return RunFacts(  # type: ignore[arg-type]
            window, self.offset, cancel=self.cancel, stall_ns=self.stall, **kwargs
        )


class Driver(Protocol):
    name: str

    def run(self, request: RunRequest) -> DriverResult: ...


class InProcessDriver:
    """Runs the hooks file with this repository's coordinator, in a worker thread."""

    name = "in-process"

    def run(self, request: RunRequest) -> DriverResult:
        clock = _Clock()
        trigger = _CancelTrigger(request.cancel)

        def on_event(event: coordinator.JobEvent) -> None:
            if event.kind == "started":
                trigger.job_started(event.record.name)

        try:
            run = coordinator.prepare_hook(
                request.hooks_file,
                request.hook,
                state_dir=request.state_dir,
                invocation=request.invocation,
                worktree=request.worktree,
                cwd=request.work_dir,
                env=request.env,
                on_event=on_event,
            )
        except InputError as error:
            return DriverResult(clock.facts(input_error=str(error)))

        def cancel() -> None:
            clock.cancelled(None)
            run.cancel()

        trigger.cancel = cancel  # events only come once run() has started, below
        failure: list[BaseException] = []

        def target() -> None:
            try:
                run.run()
            except BaseException as error:  # reported as the driver's error below
                failure.append(error)

        worker = threading.Thread(target=target, name="scenario-run", daemon=True)
        worker.start()
        deadline = time.monotonic() + request.timeout
        while worker.is_alive() and time.monotonic() < deadline:
            clock.nap()  # measures the machine's load while the run goes on
        timed_out = worker.is_alive()
        if timed_out:
            run.cancel()
            worker.join(request.kill_grace + STOP_SLACK)
        trigger.stop()
        result = DriverResult(clock.facts(), timed_out=timed_out)
        if worker.is_alive():
            result.error = "the coordinator did not return after being cancelled"
        elif failure:
            result.error = f"{type(failure[0]).__name__}: {failure[0]}"
        return result


class ExternalDriver:
    """Runs any coordinator through a command template (spec: protocol)."""

    name = "external"

    def __init__(self, template: str = DEFAULT_COMMAND) -> None:
        self.template = template
        self.words = shlex.split(template)
        if not self.words:
            raise ValueError("the coordinator command template is empty")
        for word in self.words:
            for _, name, _, _ in string.Formatter().parse(word):
                if name is not None and name not in PLACEHOLDERS:
                    known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
                    raise ValueError(f"unknown placeholder {{{name}}} (known: {known})")

    def argv(self, request: RunRequest) -> list[str]:
        """The command's words; a first word `python` is the interpreter running the harness."""
        values = {
            "hooks_file": str(request.hooks_file),
            "hook": request.hook,
            "state_dir": str(request.state_dir),
            "invocation": request.invocation,
            "worktree": request.worktree,
        }
        words = [word.format(**values) for word in self.words]
        if words[0] == "python":
            words[0] = sys.executable
        return words

    def run(self, request: RunRequest) -> DriverResult:
        out_path, err_path = (
            request.scratch / "coordinator.out",
            request.scratch / "coordinator.err",
        )
        with out_path.open("wb") as out, err_path.open("wb") as err:
            try:
                process = subprocess.Popen(
                    self.argv(request),
                    cwd=request.work_dir,
                    env=dict(request.env),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
            except OSError as error:
                facts = _Clock().facts()
                return DriverResult(facts, error=f"cannot start the coordinator command: {error}")
            clock = _Clock()
            timed_out, torn = self._supervise(process, request, clock)
        stderr = err_path.read_text(encoding="utf-8", errors="replace")
        code = process.returncode
        input_error = None
        if code == EXIT_INPUT_ERROR:
            input_error = stderr.strip() or "(exit code 2 with nothing on stderr)"
        facts = clock.facts(exit_code=code, input_error=input_error, stderr=stderr, torn_reads=torn)
        result = DriverResult(facts, timed_out=timed_out)
        if code == -signal.SIGKILL:
            result.error = "the coordinator did not exit after SIGTERM and was killed"
        return result

    def _supervise(
        self, process: subprocess.Popen[bytes], request: RunRequest, clock: _Clock
    ) -> tuple[bool, int]:
        """Wait for the command, signalling it for a cancel or the timeout.

        Returns whether the scenario timeout stopped it, and how many reads
        of a record during the run found a partial file.
        """
        start = time.monotonic()
        plan = request.cancel
        run_dir = request.state_dir / "jobs" / request.invocation / request.worktree
        cancel_at: float | None = None
        timed_out = False
        kill_at: float | None = None
        torn = 0
        while process.poll() is None:
            now = time.monotonic()
            names, partial = started_names(run_dir)
            torn += partial
            waiting = plan is not None and cancel_at is None
            if waiting and names and (plan.when_started is None or plan.when_started in names):
                cancel_at = now + plan.after
            if cancel_at is not None and now >= cancel_at and kill_at is None:
                assert plan is not None
                clock.cancelled(plan.signal)
                process.send_signal(signal.Signals[plan.signal])
                kill_at = now + request.kill_grace + STOP_SLACK
            if not timed_out and now >= start + request.timeout:
                timed_out = True
                process.send_signal(signal.SIGTERM)
                kill_at = min(kill_at or float("inf"), now + request.kill_grace + STOP_SLACK)
            if kill_at is not None and now >= kill_at:
                process.kill()
            clock.nap()
        return timed_out, torn


class _CancelTrigger:
    """Fires `cancel` `after` seconds from the first job's start, or from a given job's start."""

    def __init__(self, plan: CancelPlan | None) -> None:
        self.plan = plan
        self.cancel: Callable[[], None] = lambda: None
        self.timers: list[threading.Timer] = []
        self.lock = threading.Lock()
        self.fired = False

    def job_started(self, name: str) -> None:
        if self.plan is not None and self.plan.when_started in (None, name):
            self._after(self.plan.after)

    def _after(self, delay: float) -> None:
        with self.lock:
            if self.fired:
                return
            self.fired = True
            timer = threading.Timer(delay, self.cancel)
            timer.daemon = True
            self.timers.append(timer)
            timer.start()

    def stop(self) -> None:
        with self.lock:
            for timer in self.timers:
                timer.cancel()

"""The run loop: the IO around the pure scheduler and the pure stop machines.

One `selectors` loop decides and spawns. It waits on a pidfd per running
job (the kernel wakes us the moment a job exits, with no polling delay and
no thread per job) and on a self-pipe that `cancel()` and the record writer
write to, so cancellation works from another thread, from an `on_event`
callback and from a signal handler alike. Each job's timers live in its
`stopping.JobStop`; their next moments become the select timeout. Records
are written by one writer thread (coordinator/recorder.py), so no file is
created between a job's end and its dependents' start.

Like a trio nursery, a run owns its jobs: when `run()` returns or raises, no
process of a stopped job is left, neither in its process group nor among the
processes it started that left the group (setsid, double fork: see
coordinator/proctree.py). A watchdog process (coordinator/watchdog.py) does
the same if the coordinator itself is killed outright, and a lock on the
run's owner file (store.RunDir.claim) tells readers whether the coordinator
is still there.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from coordinator import graph, proctree
from coordinator.conditions import condition_reason
from coordinator.model import JobSpec, Record, Settings, SkipCause, Status
from coordinator.recorder import Kind, Recorder
from coordinator.runner import (
    Child,
    JobProcess,
    group_alive,
    seal_inherited_fds,
    signal_group,
    spawn,
    wait_exited,
)
from coordinator.scheduler import Action, Cancel, Scheduler, Skip, Start
from coordinator.stopping import DRAIN_LIMIT, DRAIN_POLL, JobStop, Signal
from coordinator.store import LOG, RunDir, dir_name
from coordinator.timefmt import monotonic, now
from coordinator.watchdog import Watchdog

MAX_WAIT = 3600.0  # longest single wait: a huge or infinite timeout or grace just waits again


@dataclass(frozen=True)
class JobEvent:
    """A job started, or ended (ran, was skipped, or was cancelled before it started)."""

    kind: Literal["started", "ended"]
    record: Record


@dataclass
class RunResult:
    """Every job's final record, in file order, and how the run ended."""

    records: dict[str, Record]
    jobs_dir: Path
    invocation: str
    worktree: str
    cancelled: bool

    @property
    def ok(self) -> bool:
        """True when every job completed or was skipped by its own condition."""
        return all(
            r.status is Status.COMPLETED or r.skip_cause is SkipCause.CONDITION
            for r in self.records.values()
        )


class CannotStart(Exception):
    """Why a job cannot start (the reason its record gives, after `cannot start: `)."""


class RunError(Exception):
    """The run could not be carried out: its records could not be written."""


class Run:
    """One invocation of a list of jobs. Build it, then call `run()` once."""

    def __init__(
        self,
        jobs: Sequence[JobSpec],
        *,
        state_dir: str | Path,
        settings: Settings | None = None,
        invocation: str | None = None,
        worktree: str | None = None,
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        on_event: Callable[[JobEvent], None] | None = None,
        subreaper: bool = False,
    ) -> None:
        """`subreaper=True` makes this process a child subreaper (Linux) while the run
        lasts, so that a job's double-forked processes are adopted by it rather than by
        init, and a stop finds them (coordinator/proctree.py). Only for a process that
        starts no children of its own meanwhile, like the CLI: an orphan it adopts is
        taken for a job's when it started while that job alone was running.
        """
        graph.validate_graph(jobs)
        promoted_jobs, self._promoted = graph.promote(jobs)
        self._jobs = {job.name: job for job in promoted_jobs}
        self._cwd = Path(cwd) if cwd is not None else Path.cwd()
        self.invocation = invocation or os.urandom(8).hex()
        self.worktree = worktree or self._cwd.resolve().name or "root"
        self._dir = RunDir.at(Path(state_dir), self.invocation, self.worktree)
        # A plain copy, taken once: spawning with os.environ itself would decode and
        # encode every variable again for each job.
        self._env: dict[str, str] = dict(os.environ if env is None else env)
        self._settings = settings = settings or Settings()
        self._real_cwd = ""  # the real path of `cwd`, found at run(): jobs run relative to it
        self._on_event = on_event
        self._scheduler = Scheduler(
            promoted_jobs,
            strategy=settings.strategy,
            max_parallel=settings.max_parallel,
            condition=lambda job: condition_reason(job, self._env),
        )
        self._records: dict[str, Record] = {}
        self._procs: dict[str, JobProcess] = {}
        self._requests: deque[tuple[str | None, str]] = deque()
        self._lock = threading.RLock()  # re-entrant: a signal handler may cancel() inside
        self._wake_w: int | None = None
        self._cancelled = False
        self._store_error: OSError | None = None
        self._ran = False
        self._subreaper = subreaper
        self._adopting = False  # True while this process is a subreaper for the run
        self._watchdog = Watchdog()
        self._real_dir = str(self._dir.path)  # its realpath once it exists: /proc shows those
        self._shells: dict[int, str] = {}  # pid of every job shell started -> job name
        self._windows: dict[str, tuple[int, int | None]] = {}  # boot ticks each job ran
        self._pid_bounds: dict[str, tuple[int, int | None]] = {}  # pids its tree could get
        self._unbounded: list[str] = []  # ended since the last spawn: no upper pid bound yet
        self._table: proctree.Table | None = None  # this loop turn's look at /proc, if any
        self._adoption: dict[int, tuple[int, str | None]] = {}  # orphan -> (start, its job)
        self._pidfds = hasattr(os, "pidfd_open")  # else a thread per job waits for its exit

    @property
    def jobs_dir(self) -> Path:
        return self._dir.path

    @property
    def job_names(self) -> list[str]:
        """The job names, in file order."""
        return list(self._jobs)

    # -- public control ------------------------------------------------------

    def cancel(self, job: str | None = None, reason: str = "cancelled") -> None:
        """Cancel one job by name, or everything. Safe from any thread or a signal handler.

        The recorded reason always says `cancel` (spec: records): a `reason` that
        does not is recorded as `cancelled: REASON`.
        """
        if job is not None and job not in self._jobs:
            raise KeyError(f"no job named {job!r}")
        if "cancel" not in reason:
            reason = f"cancelled: {reason}"
        self._requests.append((job, reason))
        self._wake()

    def run(self) -> RunResult:
        """Run every job to its end; returns the final records."""
        if self._ran:
            raise RuntimeError("a Run can only be run once")
        self._ran = True
        if not self._jobs:  # an empty hook writes nothing at all (spec: input.empty-hook)
            return self._result()
        try:
            self._dir.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunError(f"cannot create {self._dir.path}: {error.strerror}") from error
        try:
            owner = self._dir.claim()
        except OSError as error:
            raise RunError(f"cannot write under {self._dir.path}: {error.strerror}") from error
        try:
            return self._run()
        finally:
            os.close(owner)  # releases the lock: readers now see the coordinator gone

    def _run(self) -> RunResult:
        self._real_dir = os.path.realpath(self._dir.path)
        self._real_cwd = os.path.realpath(self._cwd)
        seal_inherited_fds()
        selector = selectors.DefaultSelector()
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        selector.register(wake_r, selectors.EVENT_READ)
        with self._lock:
            self._wake_w = wake_w
        self._selector = selector
        self._recorder = Recorder(self._dir, self._jobs, wake=self._wake)
        self._watchdog.start(self._real_dir)
        previous = proctree.set_subreaper(True) if self._subreaper else None
        self._adopting = previous is not None
        try:
            self._handle_requests()  # a cancel() before run() means nothing starts
            self._carry_out(self._scheduler.start())
            self._dispatch()
            while not self._scheduler.finished:
                self._tick(wake_r)
                self._dispatch()
        finally:
            self._abandon()
            last_written = self._recorder.close()
            self._watchdog.stop()
            if previous is False:  # as it was; orphans adopted meanwhile stay our children
                proctree.set_subreaper(False)
            with self._lock:
                self._wake_w = None
            selector.close()
            os.close(wake_r)
            os.close(wake_w)
        self._dispatch(last_written)
        if self._store_error is not None:
            raise RunError(
                f"cannot write job records under {self._dir.path}: "
                f"{self._store_error.strerror or self._store_error}; the run was cancelled"
            )
        return self._result()

    def _result(self) -> RunResult:
        return RunResult(
            records={name: self._records[name] for name in self._jobs},
            jobs_dir=self._dir.path,
            invocation=self.invocation,
            worktree=self.worktree,
            cancelled=self._cancelled,
        )

    # -- the loop ------------------------------------------------------------

    def _wake(self) -> None:
        with self._lock:
            if self._wake_w is None:
                return
            with contextlib.suppress(BlockingIOError):  # full: the loop wakes anyway
                os.write(self._wake_w, b"\0")

    def _tick(self, wake_r: int) -> None:
        self._table = None
        events = self._selector.select(self._next_timeout())
        exited = []
        for key, _ in events:
            if key.fd == wake_r:
                try:
                    while os.read(wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
            else:
                exited.append(key.data)
        self._reap(exited if self._pidfds else list(self._procs.values()))
        self._handle_requests()
        self._check_deadlines()

    def _next_timeout(self) -> float | None:
        if self._requests:
            return 0
        moment = monotonic()
        wakes = [proc.stop.wake_at(moment) for proc in self._procs.values()]
        soonest = min((wake for wake in wakes if wake is not None), default=None)
        if soonest is None:
            return None
        return min(MAX_WAIT, max(0.0, soonest - moment))

    def _handle_requests(self) -> None:
        while self._requests:
            name, reason = self._requests.popleft()
            if name is None:
                self._cancelled = True
                for proc in self._procs.values():
                    self._signal(proc, proc.stop.cancel(monotonic(), reason))
                self._carry_out(self._scheduler.cancel())
            elif name in self._procs:
                proc = self._procs[name]
                self._signal(proc, proc.stop.cancel(monotonic(), reason))
            else:
                self._carry_out(self._scheduler.cancel(name))

    def _check_deadlines(self) -> None:
        moment = monotonic()
        for proc in self._procs.values():
            self._signal(proc, proc.stop.tick(moment))

    def _signal(self, proc: JobProcess, signals: Sequence[Signal]) -> None:
        """Carry out what the job's stop machine asked: TERM or KILL, to all of the job.

        All of it means its process group and whatever of it left the group
        (found before the first signal: once the shell dies, its children are
        orphans). One look at /proc serves every stop of this loop turn.
        """
        for sig in signals:
            if sig == "TERM":
                if self._table is None or proc.pgid not in self._table:
                    self._table = proctree.snapshot()
                escaped = self._escapees(proc, self._table, logs=True)
                self._watchdog.stopping(proc.token)
                signal_group(proc.pgid, signal.SIGTERM)
                proctree.send(escaped, signal.SIGTERM)
            else:
                signal_group(proc.pgid, signal.SIGKILL)
                self._kill_escapees(proc)

    def _reap(self, exited: Sequence[JobProcess]) -> None:
        """Reap the shells that exited; end every job that is over."""
        for proc in exited:
            code = None if proc.stop.exited else proc.child.reap()
            if code is not None:
                proc.stop.shell_exited(code)
                self._unwatch(proc)
        moment = monotonic()
        for proc in list(self._procs.values()):
            if not proc.stop.exited:
                continue
            leftovers = proc.stop.stopping and (group_alive(proc.pgid) or self._escapees_left(proc))
            if proc.stop.over(moment, leftovers=leftovers):
                self._finish(proc)

    # -- starting and ending jobs -------------------------------------------

    def _carry_out(self, actions: Sequence[Action]) -> None:
        queue = deque(actions)
        while queue:
            action = queue.popleft()
            if isinstance(action, Start):
                queue.extend(self._start(self._jobs[action.name]))
            elif isinstance(action, Skip):
                self._end_unstarted(action.name, Status.SKIPPED, action.reason, action.cause)
            elif isinstance(action, Cancel):
                self._end_unstarted(action.name, Status.CANCELLED, action.reason, None)

    def _start(self, job: JobSpec) -> list[Action]:
        """Start `job`; if it cannot start, record it failed and return what follows."""
        try:
            child, started_at, started_mono, first_tick = self._spawn(job)
        except CannotStart as error:
            self._save(self._record(job, Status.FAILED, reason=f"cannot start: {error}"), "ended")
            return self._scheduler.job_ended(job.name, Status.FAILED)
        # Counted from the job's own start: the very stamp its record carries.
        stop = JobStop(
            started=started_mono / 1e9, timeout=job.timeout, grace=self._settings.kill_grace
        )
        proc = JobProcess(job.name, child, stop, started_at, started_mono)
        pid = child.pid
        proc.log = os.path.join(self._real_dir, dir_name(job.name), LOG)
        proc.token = Watchdog.token(pid, first_tick)
        self._watchdog.started(proc.token)
        self._shells[pid] = job.name
        self._windows[job.name] = (first_tick, None)
        for name in self._unbounded:  # they had ended: nothing of theirs is newer than this
            self._pid_bounds[name] = (self._pid_bounds[name][0], pid)
        self._unbounded.clear()
        self._pid_bounds[job.name] = (pid, None)
        self._watch(proc)
        self._procs[job.name] = proc
        self._save(self._record(job, Status.RUNNING, proc=proc), "started")
        return []

    def _spawn(self, job: JobSpec) -> tuple[Child, str, int, int]:
        """Spawn the job's shell: it, the start stamps and the boot tick just before.

        Raises CannotStart with the reason for its record (spec: start.failure).
        """
        try:
            # Made already, unless the writer has not got this far ahead (recorder.py).
            log_path = os.path.join(self._dir.prepare(job.name), LOG)
        except OSError as error:
            self._store_failed(error)
            raise CannotStart(f"cannot create its log: {error.strerror}") from error
        where = self._where(job)
        env = {**self._env, **job.env} if job.env else self._env
        started_at, started_mono = now()
        first_tick = proctree.boot_ticks()
        try:
            child = spawn(job.run, cwd=where, env=env, log_path=log_path)
        except OSError as error:
            # The child's chdir failed (the cwd went away since the check), or exec did.
            named = where is not None and error.filename == where
            text = f"cwd '{job.cwd}': {error.strerror}" if named else str(error.strerror or error)
            raise CannotStart(text) from error
        return child, started_at, started_mono, first_tick

    def _where(self, job: JobSpec) -> str | None:
        """Where `job` runs: None for this process's cwd, else its directory.

        Raises CannotStart when that is not a directory, naming the cwd as
        the hooks file wrote it (spec: start.failure).
        """
        target = os.path.normpath(os.path.join(self._real_cwd, job.cwd or ""))
        with contextlib.suppress(OSError):  # getcwd fails once the directory is gone
            if target == os.getcwd():
                return None
        if os.path.isdir(target):
            return target
        missing = "is not a directory" if os.path.exists(target) else "does not exist"
        raise CannotStart(f"cwd '{job.cwd or self._cwd}' {missing}")

    def _finish(self, proc: JobProcess) -> None:
        finished_at, finished_mono = now()
        del self._procs[proc.name]
        self._ended(proc)
        status, reason = proc.stop.outcome()
        job = self._jobs[proc.name]
        record = self._record(job, status, proc=proc, reason=reason)
        record.finished_at, record.finished_mono_ns = finished_at, finished_mono
        record.exit_code = proc.stop.exit_code
        self._save(record, "ended")
        self._carry_out(self._scheduler.job_ended(proc.name, status))

    def _end_unstarted(
        self, name: str, status: Status, reason: str, cause: SkipCause | None
    ) -> None:
        record = self._record(self._jobs[name], status, reason=reason)
        record.skip_cause = cause
        self._save(record, "ended")

    def _record(
        self,
        job: JobSpec,
        status: Status,
        *,
        proc: JobProcess | None = None,
        reason: str | None = None,
    ) -> Record:
        reasons = [text for text in (self._promoted.get(job.name), reason) if text]
        return Record(
            name=job.name,
            status=status,
            command=job.run,
            needs=list(job.needs),
            background=job.background,
            started_at=proc.started_at if proc else None,
            started_mono_ns=proc.started_mono_ns if proc else None,
            pid=proc.pid if proc else None,
            reason="; ".join(reasons) or None,
        )

    def _save(self, record: Record, kind: Literal["started", "ended"]) -> None:
        """Hand a record to the writer thread (coordinator/recorder.py)."""
        self._records[record.name] = record
        self._recorder.submit(record, kind)

    def _dispatch(self, written: Sequence[tuple[Record, Kind]] | None = None) -> None:
        """Hand the writer this turn's records; run the callbacks of those written so far."""
        self._recorder.kick()
        for record, kind in self._recorder.written() if written is None else written:
            if self._on_event is not None:
                self._on_event(JobEvent(kind, record))
        if self._recorder.error is not None:
            self._store_failed(self._recorder.error)

    def _store_failed(self, error: OSError) -> None:
        """Records can no longer be written: stop everything rather than run blind."""
        if self._store_error is None:
            self._store_error = error
            self.cancel(reason=f"cancelled: cannot write records ({error.strerror or error})")

    # -- exit watching ---------------------------------------------------------

    def _watch(self, proc: JobProcess) -> None:
        """Wake the loop when `proc` exits: a pidfd where Linux has one, else a thread."""
        if self._pidfds:
            try:
                proc.watch_fd = os.pidfd_open(proc.pid)
            except OSError:  # a kernel older than 5.3: every exit is looked for each turn
                self._pidfds = False
            else:
                self._selector.register(proc.watch_fd, selectors.EVENT_READ, proc)
                return
        waiter = threading.Thread(target=self._wait_then_wake, args=(proc.pid,), daemon=True)
        waiter.start()

    def _wait_then_wake(self, pid: int) -> None:
        wait_exited(pid)
        self._wake()

    def _unwatch(self, proc: JobProcess) -> None:
        if proc.watch_fd is not None:
            self._selector.unregister(proc.watch_fd)
            os.close(proc.watch_fd)
            proc.watch_fd = None

    def _abandon(self) -> None:
        """On any exit from `run()`: kill what is left and record it, best effort."""
        reason = "cancelled: coordinator stopped"
        for proc in list(self._procs.values()):
            signal_group(proc.pgid, signal.SIGKILL)
            self._kill_escapees(proc)
            if not proc.stop.exited:
                with contextlib.suppress(ChildProcessError):
                    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
                    proc.stop.shell_exited(proc.child.reap())
            self._unwatch(proc)
            give_up = monotonic() + DRAIN_LIMIT
            while group_alive(proc.pgid) and monotonic() < give_up:  # stamp once it is gone
                time.sleep(DRAIN_POLL)
            del self._procs[proc.name]
            self._ended(proc)
            record = self._record(self._jobs[proc.name], Status.CANCELLED, proc=proc, reason=reason)
            record.finished_at, record.finished_mono_ns = now()
            record.exit_code = proc.stop.exit_code
            self._records[proc.name] = record
            self._recorder.submit(record, "ended")
        for name in self._scheduler.pending():
            record = self._record(self._jobs[name], Status.CANCELLED, reason=reason)
            self._records[name] = record
            self._recorder.submit(record, "ended")

    # -- what a job left outside its process group ------------------------------

    def _ended(self, proc: JobProcess) -> None:
        """The job is over: its time window closes (and the watchdog lets go of a stop)."""
        if proc.stop.stopping:
            self._watchdog.stopped(proc.token)
        first, _ = self._windows[proc.name]
        self._windows[proc.name] = (first, proctree.boot_ticks())
        self._unbounded.append(proc.name)

    def _escapees(self, proc: JobProcess, table: proctree.Table, *, logs: bool) -> set[int]:
        """Live processes the job started that are not in its process group, remembered.

        The group itself is `signal_group`'s: these are the ones that changed
        session or group, or double-forked out of its tree. `logs` also looks
        for processes writing to the job's output.log (a readlink per process).
        """
        known = dict(proc.escaped)
        if self._adopting:
            known.update(self._adopted(proc.name, table))
        found = proctree.members(table, proc.pgid, known=known, logs=[proc.log] if logs else ())
        others = set(self._shells) | {self._watchdog.pid}
        found = {pid for pid in found if table[pid].pgid != proc.pgid and pid not in others}
        proc.escaped.update((pid, table[pid].start) for pid in found)
        if self._adopting:
            self._reap_adopted(table)
        return found

    def _adopted(self, name: str, table: proctree.Table) -> dict[int, int]:
        """The orphans this subreaper adopted that came from job `name`: pid -> start.

        An orphan in the session or group of a job's shell is that job's. Any
        other is the job's that was running when it started, if no other job
        of the run was: by /proc's start time (in 10 ms ticks), narrowed by pid
        order (a job's processes get pids after its shell's, and before the
        next shell started after it ended). A tie is nobody's, and is left alone.
        """
        me = os.getpid()
        for orphan in table.values():
            if orphan.ppid != me or orphan.pid in self._shells or not orphan.live:
                continue
            if orphan.pid == self._watchdog.pid:
                continue
            seen = self._adoption.get(orphan.pid)
            if seen is not None and seen[0] == orphan.start:
                continue
            owner = self._shells.get(orphan.sid) or self._shells.get(orphan.pgid)
            if owner is None:
                owners = [job for job in self._windows if self._could_start(job, orphan)]
                owner = owners[0] if len(owners) == 1 else None
            self._adoption[orphan.pid] = (orphan.start, owner)
        return {pid: start for pid, (start, owner) in self._adoption.items() if owner == name}

    def _could_start(self, job: str, orphan: proctree.Proc) -> bool:
        """Whether `job` was running when `orphan` was started (by time and pid order)."""
        first, last = self._windows[job]
        low, high = self._pid_bounds[job]
        if orphan.start < first or (last is not None and orphan.start > last):
            return False
        return low < orphan.pid and (high is None or orphan.pid < high)

    def _reap_adopted(self, table: proctree.Table) -> None:
        """Reap the dead orphans of our jobs that this subreaper adopted."""
        me = os.getpid()
        for proc in table.values():
            if proc.ppid != me or proc.live or proc.pid in self._shells:
                continue
            ours = proc.sid in self._shells or proc.pgid in self._shells
            if ours or proc.pid in self._adoption:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(proc.pid, os.WNOHANG)

    def _kill_escapees(self, proc: JobProcess) -> None:
        """SIGKILL the job's escapees, frozen first so none can fork away meanwhile."""
        killed = proctree.freeze_and_kill(lambda table: self._escapees(proc, table, logs=True))
        proc.escaped.update(killed)

    def _escapees_left(self, proc: JobProcess) -> bool:
        """Whether a stopped job still has escapees alive; new ones found get its signal."""
        if any(proctree.same(pid, start) for pid, start in proc.escaped.items()):
            return True
        found = self._escapees(proc, proctree.snapshot(), logs=False)
        killing = proc.stop.killed_at is not None
        proctree.send(found, signal.SIGKILL if killing else signal.SIGTERM)
        return bool(found)

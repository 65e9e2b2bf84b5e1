"""Writing job records beside the run loop, so the jobs never wait for the disk.

A job costs four file creations (its directory, its log, and a temp file
for each of its two atomic records); on a slow disk each takes up to a
millisecond, more than starting the job. Done on the loop's thread they
would sit between a job's exit and its dependents' start. So one writer
thread does them: the records in the order they were submitted (a reader
never sees a dependent `running` while its need still looks unfinished),
and when it has no record to write, the directories and empty logs of jobs
not started yet, in file order, so that starting them costs no creation.

File system calls release the GIL, so the writer runs on another core while
the loop waits in `select` or spawns. The loop hands it each turn's records
with a deque and a condition; the writer hands back what it wrote, and wakes
the loop once a batch is written (the loop calls event callbacks in order,
once each record is on disk). Any OSError is kept in `error` for the loop
to act on: it stops the run rather than run on without records.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Literal

from coordinator.model import Record
from coordinator.store import LOG, LOG_FLAGS, RunDir

Kind = Literal["started", "ended"]


class Recorder:
    """The writer thread of one run, and the loop's side of it."""

    def __init__(self, run_dir: RunDir, ahead: Iterable[str], *, wake: Callable[[], None]) -> None:
        """`wake` is called (from the writer) each time it has written all it was given."""
        self._dir = run_dir
        self._ahead = deque(ahead)  # job dirs to prepare while idle, in file order
        self._submitted: list[tuple[Record, Kind]] = []  # the loop's, until it kicks
        self._pending: deque[tuple[Record, Kind]] = deque()
        self._written: deque[tuple[Record, Kind]] = deque()
        self._ready = threading.Condition(threading.Lock())
        self._closing = False
        self._wake = wake
        self.error: OSError | None = None
        self._thread = threading.Thread(target=self._work, name="coordinator-records", daemon=True)
        self._thread.start()

    def submit(self, record: Record, kind: Kind) -> None:
        """Queue `record` for writing at the next `kick`; the caller must not change it."""
        self._submitted.append((record, kind))

    def kick(self) -> None:
        """Hand the writer what was submitted since the last kick: one wake-up per batch."""
        if self._submitted:
            with self._ready:
                self._pending.extend(self._submitted)
                self._ready.notify()
            self._submitted.clear()

    def written(self) -> list[tuple[Record, Kind]]:
        """The records written since the last call, in submission order."""
        done = []
        while self._written:
            done.append(self._written.popleft())
        return done

    def close(self) -> list[tuple[Record, Kind]]:
        """Write everything still queued, stop the writer; the records written since `written`."""
        self.kick()
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join()
        return self.written()

    def _work(self) -> None:
        while (task := self._next()) is not None:
            if isinstance(task, str):
                self._prepare_ahead(task)
                continue
            try:
                self._dir.write(task[0])
            except OSError as error:
                self.error = self.error or error
            self._written.append(task)
            if not self._pending:  # a batch is done: tell the loop
                self._wake()

    def _next(self) -> tuple[Record, Kind] | str | None:
        """The next record to write, else a job dir to prepare; None once closed and done."""
        with self._ready:
            while not self._pending and not (self._ahead and self.error is None):
                if self._closing:
                    return None
                self._ready.wait()
            return self._pending.popleft() if self._pending else self._ahead.popleft()

    def _prepare_ahead(self, name: str) -> None:
        """Create a not-yet-started job's directory and empty log (so its start creates none)."""
        if self._dir.made(name):  # started already
            return
        try:
            os.close(os.open(os.path.join(self._dir.prepare(name), LOG), LOG_FLAGS, 0o666))
        except OSError:
            self._ahead.clear()  # starting that job meets the same problem and reports it

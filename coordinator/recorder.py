"""Writing job records without holding up the jobs.

On a slow disk one atomic record write costs about half a millisecond, and a
job needs two (`running`, then its end) plus a directory and a log file.
Done the moment they are decided, those writes would sit between a job's exit
and its dependents' start. The run loop therefore queues records here and
flushes them once it has started whatever the event unblocked; the writes keep
their order, so a reader never sees a dependent `running` while its need
still looks unfinished. When the loop is idle it prepares the directories and
log files of jobs that have not started yet, in file order, so starting them
later costs less.

This stays on the loop's thread on purpose: a writer thread would contend for
the GIL, which `subprocess` gives up while it spawns a child and can take up
to the 5 ms switch interval to get back.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Literal

from coordinator.model import Record
from coordinator.store import LOG, RunDir

Kind = Literal["started", "ended"]


class Recorder:
    """Ordered record writes and ahead-of-time job-dir preparation for one run."""

    def __init__(self, run_dir: RunDir, ahead: Iterable[str]) -> None:
        self._dir = run_dir
        self._ahead = deque(ahead)  # job dirs to prepare while idle, in file order
        self._pending: deque[tuple[Record, Kind]] = deque()
        self.error: OSError | None = None

    @property
    def has_idle_work(self) -> bool:
        return bool(self._ahead)

    def submit(self, record: Record, kind: Kind) -> None:
        """Queue `record`; the caller must not change it afterwards."""
        self._pending.append((record, kind))

    def flush(self) -> list[tuple[Record, Kind]]:
        """Write every queued record in order; returns them. Errors go to `error`."""
        written = []
        while self._pending:
            record, kind = self._pending.popleft()
            try:
                self._dir.write(record)
            except OSError as error:
                self.error = self.error or error
            written.append((record, kind))
        return written

    def prepare_next(self) -> None:
        """Create the next not-yet-started job's directory and empty log."""
        name = self._ahead.popleft()
        try:
            (self._dir.prepare(name) / LOG).touch()
        except OSError:
            self._ahead.clear()  # starting that job meets the same problem and reports it

"""Shared helpers for the coordinator's runtime tests.

Every test gets its own work and state directories under `tmp_path`, so the
suite can run under `pytest -n auto`. Any job process group a test saw start
is checked and, if something went wrong, killed at teardown: no process
started by a test outlives it, even when the engine under test is broken.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from coordinator import JobEvent, JobSpec, Record, Run, RunResult, Settings
from coordinator.timefmt import parse_rfc3339

if TYPE_CHECKING:
    from harness.records import Record as HarnessRecord

REAP_LIMIT = 5.0  # seconds we give the kernel to finish reaping a killed group
PROC = Path("/proc")

# The fields of the spec (records), exactly.
RECORD_FIELDS = frozenset(
    {
        "name",
        "status",
        "started_at",
        "finished_at",
        "started_mono_ns",
        "finished_mono_ns",
        "exit_code",
        "needs",
        "background",
        "skip_cause",
        "reason",
        "command",
        "pid",
    }
)


def live_members(pgid: int) -> list[int]:
    """Pids of the live (non-zombie) processes of group `pgid`.

    A zombie cannot do anything any more (write a marker, hold a file), and
    an orphaned zombie may wait for a container's init forever, so zombies do
    not count. Independent of `coordinator.runner` on purpose.
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []
    except PermissionError:
        return [pgid]
    members = []
    for stat in PROC.glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            text = stat.read_text()
            fields = text[text.rfind(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.append(int(stat.parent.name))
    return members


def wait_group_gone(pgid: int, limit: float = REAP_LIMIT) -> bool:
    """Poll until no live process of group `pgid` is left; False if still alive at `limit`."""
    deadline = time.monotonic() + limit
    while live_members(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def assert_groups_gone(pgids: Iterable[int | None]) -> None:
    """Assert that every given process group (a started job's pid) has no live process left."""
    groups = list(pgids)
    assert None not in groups, f"a job that was stopped has no recorded pid: {groups}"
    left = {pgid: live_members(pgid) for pgid in groups if pgid and not wait_group_gone(pgid)}
    assert not left, f"job processes still alive (pgid: pids): {left}"


def wait_for(predicate: Callable[[], bool], limit: float = 10.0, what: str = "condition") -> None:
    """Poll `predicate` until true; fail the test after `limit` seconds."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def job(name: str, run: str, *needs: str, **options: Any) -> JobSpec:
    """A JobSpec with positional needs, for short job lists."""
    return JobSpec(name=name, run=run, needs=tuple(needs), **options)


def started(record: Record) -> datetime:
    """The record's wall-clock start as a datetime (it must have started)."""
    assert record.started_at is not None, f"{record.name} never started"
    return parse_rfc3339(record.started_at)


def finished(record: Record) -> datetime:
    assert record.finished_at is not None, f"{record.name} never finished"
    return parse_rfc3339(record.finished_at)


def ran_before(first: Record, then: Record) -> bool:
    """`then` started only after `first` finished, by the monotonic clock."""
    assert first.finished_mono_ns is not None and then.started_mono_ns is not None
    return then.started_mono_ns >= first.finished_mono_ns


def read_meta(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


class Runner:
    """Builds and runs a `Run` in a test's own dirs, remembering every job's pgid."""

    def __init__(self, tmp_path: Path) -> None:
        self.state_dir = tmp_path / "state"
        self.cwd = tmp_path / "work"
        self.cwd.mkdir()
        self.pgids: set[int] = set()
        self.events: list[JobEvent] = []

    def prepare(
        self,
        jobs: Sequence[JobSpec],
        *,
        settings: Settings | None = None,
        env: Mapping[str, str] | None = None,
        on_event: Callable[[JobEvent], None] | None = None,
        invocation: str = "inv",
        worktree: str = "wt",
    ) -> Run:
        def record_event(event: JobEvent) -> None:
            self.events.append(event)
            if event.record.pid is not None:
                self.pgids.add(event.record.pid)
            if on_event is not None:
                on_event(event)

        return Run(
            jobs,
            state_dir=self.state_dir,
            settings=settings,
            invocation=invocation,
            worktree=worktree,
            cwd=self.cwd,
            env=env,
            on_event=record_event,
        )

    def run(self, jobs: Sequence[JobSpec], **options: Any) -> RunResult:
        return self.prepare(jobs, **options).run()

    def cleanup(self) -> None:
        """Kill whatever a broken engine may have left behind."""
        for pgid in self.pgids:
            if live_members(pgid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGKILL)


@pytest.fixture
def runner(tmp_path: Path) -> Iterable[Runner]:
    helper = Runner(tmp_path)
    yield helper
    helper.cleanup()


# -- synthetic records and bad-input corpora ---------------------------------------

SYNTHETIC_T0_NS = 1_700_000_000 * 1_000_000_000  # wall-clock origin of synthetic records
SYNTHETIC_PID = 4242  # the pid of every synthetic record that started
_MS = 1_000_000


def synthetic_stamp(ns: int, *, precision: str = "ns") -> str:
    """Wall-clock `ns` as RFC 3339 UTC text: nine fraction digits, six (`us`) or none (`s`)."""
    whole, fraction = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(whole, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    digits = {"ns": f".{fraction:09d}", "us": f".{fraction // 1000:06d}", "s": ""}[precision]
    return f"{text}{digits}Z"


def synthetic_meta(
    name: str,
    start_ms: float | None = None,
    end_ms: float | None = None,
    status: str = "completed",
    *,
    precision: str = "ns",
    **fields: object,
) -> dict[str, Any]:
    """A meta.json as the spec's table says: `start_ms`..`end_ms` after SYNTHETIC_T0_NS.

    Both clocks agree: the monotonic stamps count from 0, the wall-clock ones
    from SYNTHETIC_T0_NS. A started record gets SYNTHETIC_PID; a completed
    one exit code 0. `fields` override anything.
    """

    def wall(ms: float | None) -> str | None:
        if ms is None:
            return None
        return synthetic_stamp(SYNTHETIC_T0_NS + int(ms * _MS), precision=precision)

    return {
        "name": name,
        "status": status,
        "started_at": wall(start_ms),
        "finished_at": wall(end_ms),
        "started_mono_ns": None if start_ms is None else int(start_ms * _MS),
        "finished_mono_ns": None if end_ms is None else int(end_ms * _MS),
        "exit_code": 0 if status == "completed" else None,
        "needs": [],
        "background": False,
        "skip_cause": None,
        "reason": None,
        "command": "",
        "pid": None if start_ms is None else SYNTHETIC_PID,
        **fields,
    }


def synthetic_record(
    name: str,
    start_ms: float | None = None,
    end_ms: float | None = None,
    status: str = "completed",
    **fields: object,
) -> HarnessRecord:
    """A `harness.records.Record` read from `synthetic_meta(...)` by the harness's own reader.

    Imported here, not at the top: the coordinator's tests share this file
    and must not depend on the harness importing.
    """
    from harness.records import parse_record

    record, problems = parse_record(synthetic_meta(name, start_ms, end_ms, status, **fields), name)
    assert record is not None and not problems, problems
    return record


def corpus_expectations(corpus: Path, index: Path) -> dict[Path, str]:
    """Every file of a bad-input corpus and the expectation text it declares.

    A file declares it on its first line, `# expect: TEXT`; a file that cannot
    start with a comment (empty, UTF-16...) is listed in `index` as `NAME: TEXT`.
    """
    listed = {}
    for line in index.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, text = line.split(": ", 1)
            listed[name] = text
    found = {}
    for path in sorted(corpus.iterdir()):
        if path == index:
            continue
        first = path.read_bytes().split(b"\n", 1)[0]
        if path.name in listed:
            found[path] = listed.pop(path.name)
        elif first.startswith(b"# expect: "):
            found[path] = first[len(b"# expect: ") :].decode("utf-8")
        else:
            pytest.fail(f"{path.name}: starts with no '# expect:' line and is not in {index.name}")
    assert not listed, f"{index.name} names files that do not exist: {sorted(listed)}"
    return found

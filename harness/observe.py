"""What a run left behind, read from disk: records, outputs, witnesses, markers.

Both drivers end here: the in-process one too is judged by what it wrote to
disk (files any other tool could read), never by in-memory objects. This
module knows nothing of scenarios: it is given the paths to read, and the
facts the driver and the process table gave, and returns one Observation,
which the oracle and the expectations then judge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.fakes import Witness, parse_witness
from harness.records import Record, read_records

OUTPUT_LIMIT = 1 << 20  # bytes of a job's output.log kept for expectations and reports


@dataclass(frozen=True)
class CancelFacts:
    """When the harness cancelled the run: a signal to the CLI, or the API in-process."""

    signal: str | None  # SIGINT/SIGTERM/SIGHUP; None in-process
    mono_ns: int
    wall_ns: int


@dataclass(frozen=True)
class RunFacts:
    """What the driver saw of the coordinator itself."""

    window: tuple[int, int]  # harness CLOCK_MONOTONIC before the launch and after the exit
    wall_minus_mono: int  # the harness's CLOCK_REALTIME - CLOCK_MONOTONIC at the launch
    exit_code: int | None = None  # None in-process
    input_error: str | None = None  # the coordinator's message when it rejected the input
    stderr: str = ""
    cancel: CancelFacts | None = None
    torn_reads: int = 0  # meta.json reads during the run that were not valid JSON
    stall_ns: int = 0  # how much longer than asked a short sleep of the harness lasted, at most


@dataclass
class Observation:
    """Everything the oracle, the expectations and the report look at."""

    facts: RunFacts
    work_dir: Path
    records: dict[str, Record] = field(default_factory=dict)
    record_problems: list[tuple[str, str]] = field(default_factory=list)  # (rule id, what)
    outputs: dict[str, str] = field(default_factory=dict)
    witnesses: dict[str, Witness] = field(default_factory=dict)  # selected-hook jobs by name
    stray_starts: list[str] = field(default_factory=list)  # other witnesses that show a start
    state_files: list[str] = field(default_factory=list)  # every meta.json under the state dir
    alive_at_exit: frozenset[int] = frozenset()  # pids alive right after the coordinator exited
    leftovers: dict[str, list[str]] = field(default_factory=dict)  # stopped job -> its survivors
    missing_cwds: frozenset[str] = frozenset()  # job cwds that do not exist after the run

    @property
    def input_error(self) -> str | None:
        return self.facts.input_error

    @property
    def uses_mono(self) -> bool:
        """Order by CLOCK_MONOTONIC when every started record has it."""
        started = [r for r in self.records.values() if r.started_at is not None]
        return all(r.started_mono_ns is not None for r in started)

    def interval(self, name: str) -> tuple[int, int | None] | None:
        """(start, end) in ns on one clock; None if the job never started, end None if running."""
        record = self.records.get(name)
        if record is None or not record.started:
            return None
        if self.uses_mono:
            return record.started_mono_ns, record.finished_mono_ns  # type: ignore[return-value]
        if record.started_at is None:
            return None
        end = None if record.finished_at is None else record.finished_at.ns
        return record.started_at.ns, end

    def intervals(self) -> dict[str, tuple[int, int | None]]:
        found = {name: self.interval(name) for name in self.records}
        return {name: span for name, span in found.items() if span is not None}


def observe(
    facts: RunFacts,
    *,
    work_dir: Path,
    state_dir: Path,
    run_dir: Path,
    witness_files: Mapping[str, str],
    other_witnesses: Sequence[str] = (),
    cwds: Sequence[str] = (),
) -> Observation:
    """Read the records under `run_dir`, each job's output and the witness files.

    `witness_files` maps each job of the selected hook to its witness file
    (relative to `work_dir`); `other_witnesses` are witness files of jobs
    that must not run (other hooks, or every job when an input error is
    expected); `cwds` are job cwds to check for existence afterwards.
    """
    found = read_records(run_dir)
    observation = Observation(
        facts=facts,
        work_dir=work_dir,
        records=found.records,
        record_problems=found.problems,
        outputs={name: _read_tail(path) for name, path in found.outputs.items()},
        state_files=sorted(str(p) for p in state_dir.rglob("meta.json")),
        missing_cwds=frozenset(cwd for cwd in cwds if not (work_dir / cwd).is_dir()),
    )
    for name, relative in witness_files.items():
        observation.witnesses[name] = _witness(work_dir / relative)
    for relative in other_witnesses:
        if _witness(work_dir / relative).starts:
            observation.stray_starts.append(Path(relative).name)
    return observation


def _witness(path: Path) -> Witness:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return parse_witness(text)


def _read_tail(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - OUTPUT_LIMIT))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""

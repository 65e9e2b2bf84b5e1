"""Plain data shared by every part of the coordinator.

These types carry no behaviour beyond validation-free construction and JSON
conversion, so the pure scheduler, the loader, the runner and the harness can
all speak them without importing each other.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coordinator.timefmt import parse_rfc3339


class Status(str, enum.Enum):
    """A job's recorded status (spec: records)."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    @property
    def terminal(self) -> bool:
        return self is not Status.RUNNING


class SkipCause(str, enum.Enum):
    """Why a job was skipped: its own condition, or a need that did not succeed."""

    CONDITION = "condition"
    NEEDS = "needs"


class Strategy(str, enum.Enum):
    """`eager` starts a job the moment it is ready; `wave` runs levels with a barrier."""

    EAGER = "eager"
    WAVE = "wave"


DEFAULT_KILL_GRACE = 2.0


@dataclass(frozen=True)
class Settings:
    """Run settings from the hooks file's `coordinator:` block (CLI flags override)."""

    strategy: Strategy = Strategy.EAGER
    max_parallel: int | None = None
    kill_grace: float = DEFAULT_KILL_GRACE


@dataclass(frozen=True)
class JobSpec:
    """One job of a hook, as declared (spec: hooks file).

    `skip` and `only` are a bool, or the name of an environment variable that
    is tested (set and non-empty) when the job becomes ready. `line` is the
    job's line in its source file, kept for error messages.
    """

    name: str
    run: str
    needs: tuple[str, ...] = ()
    background: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    timeout: float | None = None
    skip: bool | str = False
    only: bool | str = True
    line: int | None = None


@dataclass(frozen=True)
class HooksFile:
    """A loaded, fully validated hooks file.

    `line` is the line of its `hooks:` key, where a message about a hook the
    file does not define points.
    """

    path: Path
    settings: Settings
    hooks: Mapping[str, tuple[JobSpec, ...]]
    line: int | None = field(default=None, compare=False)


class InputError(Exception):
    """Invalid input: reported as one `FILE:LINE: message` line, never a traceback."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line

    def __str__(self) -> str:
        where = self.path or "<input>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        return f"{where}: {self.message}"


@dataclass
class Record:
    """The meta.json record of one job (spec: records)."""

    name: str
    status: Status
    command: str
    needs: list[str]
    background: bool
    started_at: str | None = None
    finished_at: str | None = None
    started_mono_ns: int | None = None
    finished_mono_ns: int | None = None
    exit_code: int | None = None
    skip_cause: SkipCause | None = None
    reason: str | None = None
    pid: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "started_mono_ns": self.started_mono_ns,
            "finished_mono_ns": self.finished_mono_ns,
            "exit_code": self.exit_code,
            "needs": list(self.needs),
            "background": self.background,
            "skip_cause": None if self.skip_cause is None else self.skip_cause.value,
            "reason": self.reason,
            "command": self.command,
            "pid": self.pid,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Record:
        """A record from its JSON form; ValueError when a field has the wrong type.

        Records may come from another coordinator, so a missing optional field
        takes its default; but a field of the wrong type (a number for a time,
        a string for an exit code) is refused here rather than breaking a
        reader later. Times must be RFC 3339 (any form `parse_rfc3339` reads).
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a record must be a JSON object, got {type(data).__name__}")
        cause = _field(data, "skip_cause", str, None)
        needs = _field(data, "needs", list, None) or []
        if not all(isinstance(need, str) for need in needs):
            raise ValueError("'needs' must be a list of strings")
        started_at = _time_field(data, "started_at")
        finished_at = _time_field(data, "finished_at")
        return cls(
            name=_field(data, "name", str),
            status=Status(_field(data, "status", str)),
            command=_field(data, "command", str, ""),
            needs=list(needs),
            background=_field(data, "background", bool, False),
            started_at=started_at,
            finished_at=finished_at,
            started_mono_ns=_field(data, "started_mono_ns", int, None),
            finished_mono_ns=_field(data, "finished_mono_ns", int, None),
            exit_code=_field(data, "exit_code", int, None),
            skip_cause=None if cause is None else SkipCause(cause),
            reason=_field(data, "reason", str, None),
            pid=_field(data, "pid", int, None),
        )


_REQUIRED = object()


def _field(data: Mapping[str, Any], key: str, kind: type, default: Any = _REQUIRED) -> Any:
    """`data[key]` when it is a `kind` (an int is never a bool), else its default if allowed.

    No default: the key is required. Default None: null is allowed too.
    """
    if key not in data:
        if default is _REQUIRED:
            raise ValueError(f"missing field {key!r}")
        return default
    value = data[key]
    if value is None and default is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"field {key!r} must be {kind.__name__}, got {type(value).__name__}")
    return value


def _time_field(data: Mapping[str, Any], key: str) -> str | None:
    text = _field(data, key, str, None)
    if text is not None:
        parse_rfc3339(text)  # raises ValueError for anything that is not a time
    return text

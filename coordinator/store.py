"""Where job records live, and how they are written so no reader sees half a file.

Layout (spec: records): `<state_dir>/jobs/<invocation>/<worktree>/<job-dir>/`
holding `meta.json` and `output.log`. Every write goes to a temp file in the
same directory and is renamed over `meta.json`: rename is atomic on POSIX, so
a concurrent reader sees the old record or the new one, never a mix. We do
not fsync: the contract is about readers during the run, not about surviving
a power cut, and an fsync per record would dominate dependent-start latency.

The temp file has a fixed name (`.meta.json.tmp`): one coordinator writes a
run, one record at a time, so no two writes share it, and a fixed name costs
no random name and leaves at most one stale file after a crash, which the
next write replaces. Readers look only for `meta.json`. The JSON is written
one field per line by the C encoder: `indent=` would use the pure-Python one,
several times slower, and every record of a run goes through it, one at a time.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coordinator.model import Record
from coordinator.timefmt import now

META = "meta.json"
LOG = "output.log"
# How a job's output.log is opened: created if missing, appended to. Not close-on-exec:
# the job's shell gets it as its stdout (runner.start_shell), at a spawn or ahead of it.
LOG_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT
TMP = ".meta.json.tmp"  # the one temp file of a job dir: see the module doc
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
_encode = json.JSONEncoder(ensure_ascii=False).encode
# Beside the job dirs of a run. `@` is in no name `dir_name` makes, so no job dir can
# take this name; readers of records look only for */meta.json and never see it.
OWNER = "@coordinator.json"
_SAFE = re.compile(r"[A-Za-z0-9._-]+")
_PLAIN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_NAME_MAX = 255  # bytes in one path component on every common filesystem
_MAX_COMPONENT = 200  # for encoded names: well under NAME_MAX


def dir_name(name: str) -> str:
    """A directory name for a job (or worktree) name that cannot collide.

    Safe names are used as they are (spec: records), up to the 255 bytes a
    file name can hold. Any other name is written as `%` plus a
    percent-encoding of its UTF-8 bytes (injective, and `%` never starts a
    safe name); one whose encoding is too long for a file name becomes `#`
    plus its SHA-256. Readers key records by the `name` field, not this.
    """
    if _SAFE.fullmatch(name) and name not in (".", "..") and len(name) <= _NAME_MAX:
        return name
    encoded = "".join(
        chr(byte) if chr(byte) in _PLAIN_CHARS else f"%{byte:02X}" for byte in name.encode()
    )
    if len(encoded) + 1 <= _MAX_COMPONENT:
        return "%" + encoded
    from hashlib import sha256  # only for very long odd names: hashlib costs ms to import

    return "#" + sha256(name.encode()).hexdigest()


class RunDir:
    """The directory of one invocation in one worktree, written by one coordinator."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._root = str(path)
        self._made: dict[str, str] = {}  # job name -> its dir, known to exist: one mkdir each

    @classmethod
    def at(cls, state_dir: Path, invocation: str, worktree: str) -> RunDir:
        return cls(Path(state_dir) / "jobs" / dir_name(invocation) / dir_name(worktree))

    def made(self, name: str) -> bool:
        """Whether the job's directory was created by this RunDir already."""
        return name in self._made

    def prepare(self, name: str) -> str:
        """Create the job's directory (once); returns its path."""
        directory = self._made.get(name)
        if directory is None:
            directory = os.path.join(self._root, dir_name(name))
            try:
                os.mkdir(directory)
            except FileExistsError:
                pass
            except FileNotFoundError:  # the run dir itself went away: make it again
                os.makedirs(directory, exist_ok=True)
            self._made[name] = directory
        return directory

    def write(self, record: Record) -> None:
        """Write `record` atomically (temp file in the same dir, then rename).

        On a full disk a write can be short: the record is renamed into place
        only once all of it is written, so the earlier record stays whole.
        """
        directory = self.prepare(record.name)
        tmp = os.path.join(directory, TMP)
        fd = os.open(tmp, _CREATE, 0o666)
        try:
            try:
                _write_all(fd, encode_record(record.to_json()))
            finally:
                os.close(fd)
            os.replace(tmp, os.path.join(directory, META))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def claim(self) -> int:
        """Write the run's owner file and lock it; the lock lasts while the fd is open.

        The file says who runs the run (pid, host, start); the lock says
        whether that coordinator is still there: the kernel drops it when the
        fd is closed, however the process ends, even by SIGKILL. Locked before
        it is renamed into place, so no reader ever sees it unlocked too early.
        """
        data = {
            "pid": os.getpid(),
            "host": os.uname().nodename,
            "started_at": now()[0],
        }
        tmp = os.path.join(self._root, f".owner-{os.getpid()}.tmp")
        fd = os.open(tmp, _CREATE, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _write_all(fd, (json.dumps(data) + "\n").encode())
            os.replace(tmp, os.path.join(self._root, OWNER))
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return fd

    def read(self) -> dict[str, Record]:
        """Every record of this run, keyed by job name."""
        return read_records(self.path)


def encode_record(fields: Mapping[str, Any]) -> bytes:
    """A record's JSON, one field per line (values by the C encoder), as UTF-8."""
    lines = ",\n".join(f"  {_encode(key)}: {_encode(value)}" for key, value in fields.items())
    return f"{{\n{lines}\n}}\n".encode()


def _write_all(fd: int, data: bytes) -> None:
    """`os.write` until all of `data` is written: on a full disk one write can be short."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def coordinator_state(run_dir: Path) -> str | None:
    """`alive` or `gone`: whether the coordinator that wrote a run still holds its lock.

    None when the run has no owner file (another coordinator's, or an older
    one's) or it cannot be checked: then nothing is known.
    """
    try:
        fd = os.open(Path(run_dir) / OWNER, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return "alive"
    except OSError:  # a file system without locks
        return None
    finally:
        os.close(fd)
    return "gone"


def name_of_dir(directory: str) -> str:
    """The name a `dir_name` stands for (a hashed `#` name cannot be reversed)."""
    if not directory.startswith("%"):
        return directory
    raw = bytearray()
    index = 1
    while index < len(directory):
        if directory[index] == "%":
            try:
                raw += bytes.fromhex(directory[index + 1 : index + 3])
            except ValueError:  # not written by `dir_name`: show it as it is
                return directory
            index += 3
        else:
            raw += directory[index].encode()
            index += 1
    return raw.decode("utf-8", "replace")


def read_records(run_dir: Path, *, skip_unreadable: bool = False) -> dict[str, Record]:
    """Read every `*/meta.json` under one invocation/worktree directory.

    A record that cannot be read or parsed raises, unless `skip_unreadable`:
    listings skip it, while the harness wants to know.
    """
    records, _ = read_run(run_dir, strict=not skip_unreadable)
    return records


def read_run(run_dir: Path, *, strict: bool = False) -> tuple[dict[str, Record], dict[str, str]]:
    """The records under one invocation/worktree directory, and the unreadable ones.

    The second mapping is job directory name -> what is wrong with its
    meta.json (not JSON, a field of the wrong type...). With `strict`, the
    first such problem raises instead.
    """
    records: dict[str, Record] = {}
    unreadable: dict[str, str] = {}
    for meta in sorted(Path(run_dir).glob(f"*/{META}")):
        try:
            record = Record.from_json(json.loads(meta.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as error:
            if strict:
                raise
            unreadable[meta.parent.name] = _problem(error)
            continue
        records[record.name] = record
    return records, unreadable


def _problem(error: BaseException) -> str:
    if isinstance(error, OSError):
        return f"cannot read: {error.strerror or error}"
    if isinstance(error, RecursionError):
        return "not a record: nested too deep"
    return " ".join(f"not a record: {error}".split())  # one line, whatever the error said


@dataclass(frozen=True)
class RunListing:
    """One invocation/worktree directory found under a state dir.

    `unreadable` maps the job directory of each meta.json that is not a
    valid record to what is wrong with it: listings show it, not a traceback.
    """

    invocation: str
    worktree: str
    path: Path
    records: dict[str, Record]
    unreadable: dict[str, str] = field(default_factory=dict)
    coordinator: str | None = None  # coordinator_state(path): `alive`, `gone` or unknown


def iter_runs(state_dir: Path) -> Iterator[RunListing]:
    """Every recorded run under `state_dir`; unreadable records are listed apart."""
    jobs = Path(state_dir) / "jobs"
    for invocation in _subdirs(jobs):
        for worktree in _subdirs(invocation):
            records, unreadable = read_run(worktree)
            yield RunListing(
                name_of_dir(invocation.name),
                name_of_dir(worktree.name),
                worktree,
                records,
                unreadable,
                coordinator_state(worktree),
            )


def _subdirs(path: Path) -> list[Path]:
    """The directories in `path`, sorted; none when it is missing or cannot be listed."""
    try:
        return sorted(p for p in path.iterdir() if p.is_dir())
    except OSError:
        return []

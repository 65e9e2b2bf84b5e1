"""Where the runs happen: a work dir on the local disk and, when there is one, a tmpfs dir.

The generated inputs, the logs and the local-disk state dirs live in a work
dir under the repository (`.bench-work/`), not the system temp dir: a user's
state dir is on their project's disk, and a temp dir can be a different
filesystem with a very different cost of creating files. The second set of
our figures puts the state dirs on tmpfs (/dev/shm), to show what the disk
costs. The report names both, with their filesystem from /proc/mounts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.tools import REPO

DEFAULT_WORK = REPO / ".bench-work"
SHM = Path("/dev/shm")


@dataclass(frozen=True)
class Mount:
    """The mount a path lives on, as /proc/mounts lists it."""

    point: str
    fstype: str
    device: str


@dataclass(frozen=True)
class Dirs:
    """This run's directories: `work` on the local disk, `tmpfs` None when there is none."""

    work: Path
    tmpfs: Path | None
    tmpfs_note: str | None  # why there is no tmpfs dir


def _unescape(field: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal escapes."""
    for code in ("\\040", "\\011", "\\012", "\\134"):
        field = field.replace(code, chr(int(code[1:], 8)))
    return field


def mount_of(path: Path) -> Mount | None:
    """The mount holding `path`: the longest mount point above it (the last one listed wins)."""
    target = os.path.realpath(path)
    best: Mount | None = None
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        device, point, fstype = (_unescape(f) for f in fields[:3])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best.point)):
            best = Mount(point, fstype, device)
    return best


def describe(path: Path) -> str:
    """`path` and the filesystem it is on, for the report."""
    mount = mount_of(path)
    if mount is None:
        return f"{path} (filesystem unknown: no /proc/mounts)"
    return f"{path} ({mount.fstype}, {mount.device} mounted on {mount.point})"


def _tmpfs_base() -> tuple[Path | None, str | None]:
    mount = mount_of(SHM)
    if not SHM.is_dir() or mount is None or mount.fstype != "tmpfs":
        what = "missing" if not SHM.is_dir() else f"on {mount.fstype if mount else 'unknown'}"
        return None, f"{SHM} is not a tmpfs ({what})"
    if not os.access(SHM, os.W_OK):
        return None, f"{SHM} is not writable"
    return SHM, None


@contextlib.contextmanager
def run_dirs(base: Path | None, *, keep: bool) -> Iterator[Dirs]:
    """Fresh directories for one benchmark run, removed afterwards unless `keep`.

    Each run gets its own dir inside `base` (default `.bench-work/`), so an
    existing directory given with --workdir is never emptied; `base` itself is
    removed only if this run created it.
    """
    base = base or DEFAULT_WORK
    created = not base.exists()
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=base)).resolve()
    shm, note = _tmpfs_base()
    tmpfs = Path(tempfile.mkdtemp(prefix="hookcoord-bench-", dir=shm)) if shm else None
    try:
        yield Dirs(work, tmpfs, note)
    finally:
        if keep:
            kept = " and ".join(str(p) for p in (work, tmpfs) if p)
            print(f"bench: generated files and state kept in {kept}", file=sys.stderr)
        else:
            for path in (work, tmpfs):
                if path:
                    shutil.rmtree(path, ignore_errors=True)
            if created:
                with contextlib.suppress(OSError):
                    base.rmdir()

"""Finding and killing every process a scenario started, by an environment token.

The harness puts a random token in the coordinator's environment; every
job, grandchild and external coordinator inherits it. Scanning /proc for it
finds what a scenario left behind however the coordinator grouped its
processes, without trusting recorded pids (which the system may reuse).
Linux only: elsewhere nothing is found, and only the process-group checks
of the coordinator itself apply.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

TOKEN_VAR = "HOOKCOORD_SCENARIO_TOKEN"
_PROC = Path("/proc")


@dataclass(frozen=True)
class Proc:
    pid: int
    pgid: int
    command: str


def scenario_processes(token: str) -> list[Proc]:
    """Live (non-zombie) processes whose environment carries `token`."""
    needle = f"{TOKEN_VAR}={token}".encode()
    found = []
    for entry in _PROC.glob("[0-9]*") if _PROC.is_dir() else ():
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[0] in ("Z", "X"):
            continue
        found.append(Proc(int(entry.name), int(fields[2]), command.strip()))
    return found


def wait_gone(token: str, pids: set[int], limit: float) -> list[Proc]:
    """Wait up to `limit` seconds for the processes `pids` to end; returns those left."""
    deadline = time.monotonic() + limit
    while True:
        left = [proc for proc in scenario_processes(token) if proc.pid in pids]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.01)


def kill_all(token: str, limit: float = 2.0) -> None:
    """SIGKILL every process carrying `token`, until none is left or `limit` passes."""
    deadline = time.monotonic() + limit
    while True:
        procs = scenario_processes(token)
        if not procs or time.monotonic() >= deadline:
            return
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
        time.sleep(0.01)

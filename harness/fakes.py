"""Fake actions and their compilation to one cheap POSIX sh command per job.

A fake job is a list of actions (sleep, write a marker, require a marker...)
compiled to a `run:` string, so it works under any coordinator that runs
`sh -c` in the scenario work dir (spec: protocol). Only shell builtins and a few
coreutils (`date`, `sleep`, `mkdir`) are used: starting Python per job would
cost ~20 ms and blur the timings we check.

Every fake command appends its own witness lines to `.witness/<file>`:
`start <ns>` first and `end <ns>` just before it exits (wall clock from
`date +%s%N`, GNU coreutils), plus `grandchild <pid>` and `daemon <pid>`
for each grandchild and daemon it starts. The harness compares them with
what the coordinator recorded, so a coordinator cannot claim an order its
processes did not follow.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

WITNESS_DIR = ".witness"
HANG_SECONDS = 86400  # "until killed": the scenario timeout ends it long before this


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Write:
    path: str
    content: str | None = None


@dataclass(frozen=True)
class Require:
    path: str


@dataclass(frozen=True)
class Exit:
    code: int


@dataclass(frozen=True)
class Print:
    text: str
    stream: str  # "stdout" or "stderr"


@dataclass(frozen=True)
class Hang:
    pass


@dataclass(frozen=True)
class IgnoreTerm:
    pass


@dataclass(frozen=True)
class Grandchild:
    after: float
    path: str
    ignore_term: bool = False  # lives on after SIGTERM, until SIGKILL


@dataclass(frozen=True)
class ShowEnv:
    """Record in the witness what the job sees of one environment variable (`job.env`)."""

    name: str


@dataclass(frozen=True)
class Daemon:
    """A process left behind on purpose: it outlives a job that exits normally."""


Action = Sleep | Write | Require | Exit | Print | Hang | IgnoreTerm | Grandchild | Daemon | ShowEnv

_FINAL = (Exit, Hang)  # nothing after these would ever run


def check_marker_path(path: str) -> str | None:
    """Why `path` cannot be a marker path, or None when it is fine.

    Markers must stay inside the scenario's work dir: no absolute paths, no
    `..`, and not the harness's own witness directory.
    """
    if not path:
        return "a marker path must not be empty"
    pure = PurePosixPath(path)
    if pure.is_absolute():
        return f"marker path {path!r} must be relative to the work dir"
    if ".." in pure.parts:
        return f"marker path {path!r} must not contain '..'"
    if not pure.parts or pure.parts == (".",):
        return f"marker path {path!r} names the work dir itself"
    if pure.parts[0] == WITNESS_DIR:
        return f"marker path {path!r} is inside the harness's {WITNESS_DIR}/ directory"
    if "\0" in path:
        return "a marker path must not contain a NUL character"
    return None


def parse_action(item: Any) -> Action:
    """One schema-valid action item as an Action; raises ValueError for a bad marker path."""
    if item == "hang":
        return Hang()
    if item == "ignore_term":
        return IgnoreTerm()
    if item == "daemon":
        return Daemon()
    ((kind, value),) = item.items()
    if kind == "sleep":
        return Sleep(float(value))
    if kind == "write":
        if isinstance(value, Mapping):
            content = value.get("content")
            return Write(_marker(value["path"]), None if content is None else str(content))
        return Write(_marker(value))
    if kind == "require":
        return Require(_marker(value))
    if kind == "exit":
        return Exit(int(value))
    if kind in ("stdout", "stderr"):
        return Print(str(value), kind)
    if kind == "grandchild":
        ignore = value.get("ignore_term", False) is True  # the schema allows only a boolean
        return Grandchild(float(value["after"]), _marker(value["write"]), ignore)
    if kind == "env":
        return ShowEnv(str(value))
    raise ValueError(f"unknown fake action {kind!r}")


def check_sequence(actions: list[Action]) -> str | None:
    """Why this action list is wrong (an action after `exit` or `hang`), or None."""
    for index, action in enumerate(actions[:-1]):
        if isinstance(action, _FINAL):
            word = "exit" if isinstance(action, Exit) else "hang"
            return f"action {index + 1} ({word}) never returns, so the actions after it never run"
    return None


def planned_seconds(actions: list[Action]) -> float | None:
    """How long the job should take: its sleeps; None when it hangs until killed."""
    if any(isinstance(a, Hang) for a in actions):
        return None
    return sum(a.seconds for a in actions if isinstance(a, Sleep))


def witness_file(index: int, name: str) -> str:
    """The witness file of job number `index`, relative to the work dir."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:40]
    return f"{WITNESS_DIR}/{index:03d}-{safe}"


def compile_actions(actions: list[Action], *, witness: str, cwd: str | None = None) -> str:
    """The sh command for a fake job whose witness file is `witness` (relative to the work dir).

    `cwd` is the job's own cwd, relative to the work dir: paths are then
    prefixed with the way back up, so markers still land in the work dir.
    """
    up = "../" * len([p for p in PurePosixPath(cwd or ".").parts if p != "."])
    w = shlex.quote(up + witness)
    end = f"date +'end %s%N' >>{w}"
    parts = ["set -e", f"date +'start %s%N' >>{w}"]
    for index, action in enumerate(actions):
        if isinstance(action, Grandchild):
            ignoring = any(isinstance(earlier, IgnoreTerm) for earlier in actions[:index])
            parts.append(_grandchild(action, up=up, witness=w, shell_ignores=ignoring))
        else:
            parts.append(_compile(action, up=up, witness=w, end=end))
    if not actions or not isinstance(actions[-1], _FINAL):
        parts.append(end)
    return "; ".join(parts)


def _compile(action: Action, *, up: str, witness: str, end: str) -> str:
    if isinstance(action, Sleep):
        return f"sleep {_seconds(action.seconds)}"
    if isinstance(action, Write):
        return _write(up + action.path, action.content)
    if isinstance(action, Require):
        path = shlex.quote(up + action.path)
        message = shlex.quote(f'fake: required marker "{action.path}" is missing')
        return f"[ -e {path} ] || {{ {end}; printf '%s\\n' {message} >&2; exit 1; }}"
    if isinstance(action, Exit):
        return f"{end}; exit {action.code}"
    if isinstance(action, Print):
        redirect = " >&2" if action.stream == "stderr" else ""
        return f"printf '%s\\n' {shlex.quote(action.text)}{redirect}"
    if isinstance(action, Hang):
        return f"sleep {HANG_SECONDS}"
    if isinstance(action, IgnoreTerm):
        return "trap '' TERM"
    if isinstance(action, ShowEnv):
        name = action.name  # the schema allows only identifiers: safe to splice
        shown = f'printf "env {name}=%s\\n" "${name}" >>{witness}'
        return (
            f'if [ "${{{name}+set}}" = set ]; then {shown}; else echo "env {name}" >>{witness}; fi'
        )
    if isinstance(action, Daemon):
        return f'sleep {HANG_SECONDS} </dev/null >/dev/null 2>&1 & echo "daemon $!" >>{witness}'
    raise TypeError(f"no sh for {action!r}")  # a Grandchild is compile_actions' own


def _write(path: str, content: str | None) -> str:
    parent = str(PurePosixPath(path).parent)
    target = shlex.quote(path)
    body = f": >{target}" if content is None else f"printf '%s' {shlex.quote(content)} >{target}"
    return body if parent in (".", "") else f"mkdir -p {shlex.quote(parent)}; {body}"


def _grandchild(action: Grandchild, *, up: str, witness: str, shell_ignores: bool) -> str:
    """A second `sh` started in the background, in the job's group.

    The job itself records the grandchild's pid (`$!`) before going on, so the
    witness names it as soon as the job has passed this action; a line the
    grandchild wrote itself could come after the job ended, or never if it
    was killed first. Its stdio goes to /dev/null so it cannot hold the job's
    output open. With `ignore_term` it outlives a SIGTERM that ends the job's
    shell: only the SIGKILL after `kill_grace` ends the job's group. The job's
    shell ignores SIGTERM around the fork, so the grandchild ignores it from
    its first instruction (an ignored signal stays ignored across fork and
    exec), with no moment in which a SIGTERM could still kill it; then the
    shell takes the default back, unless an `ignore_term` before said otherwise.
    """
    inner = f"sleep {_seconds(action.after)}; {_write(up + action.path, None)}"
    start = f"sh -c {shlex.quote(inner)} </dev/null >/dev/null 2>&1 &"
    if action.ignore_term and not shell_ignores:
        start = f"trap '' TERM; {start} trap - TERM;"
    return f'{start} echo "grandchild $!" >>{witness}'


def _seconds(value: float) -> str:
    """`0.2`, `1`, `0.00001`: never an exponent, which some `sleep`s reject."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"


@dataclass(frozen=True)
class Witness:
    """What one fake job's process recorded about itself."""

    starts: tuple[int, ...]  # wall-clock ns, one per time the command started
    ends: tuple[int, ...]
    grandchildren: tuple[int, ...]  # pids
    daemons: tuple[int, ...]  # pids
    garbage: tuple[str, ...]  # lines that are none of the above
    env: tuple[tuple[str, str | None], ...] = ()  # (name, value seen; None: unset)


def parse_witness(text: str) -> Witness:
    starts: list[int] = []
    ends: list[int] = []
    grandchildren: list[int] = []
    daemons: list[int] = []
    garbage: list[str] = []
    kinds = {"start": starts, "end": ends, "grandchild": grandchildren, "daemon": daemons}
    env: list[tuple[str, str | None]] = []
    for line in text.splitlines():
        kind, _, value = line.partition(" ")
        if kind == "env" and value:
            name, equals, seen = value.partition("=")
            env.append((name, seen if equals else None))
            continue
        target = kinds.get(kind)
        if target is None or not value.isdigit():
            garbage.append(line)
        else:
            target.append(int(value))
    return Witness(
        tuple(starts), tuple(ends), tuple(grandchildren), tuple(daemons), tuple(garbage), tuple(env)
    )


def _marker(path: Any) -> str:
    text = str(path)
    problem = check_marker_path(text)
    if problem is not None:
        raise ValueError(problem)
    return text

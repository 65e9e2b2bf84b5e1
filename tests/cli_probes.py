"""Probes of the two CLI rules the protocol cannot reach: `cli.defaults` and `cli.jobs`.

The scenario harness always passes --state-dir, --invocation and --worktree
and only calls `run`, so no scenario can see the CLI's defaults or its
`jobs` listing. These probes drive a coordinator command directly and
check what the spec fixes: where records land by default, the default
invocation and worktree names, and that `jobs` lists every recorded job.
They take the command as words, so the same probe checks our CLI
(tests/test_cli_probes.py) and each mutant of tests/mutants
(scripts/gate-power):

    python tests/cli_probes.py cli.defaults -- python -m coordinator
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

HOOKS = """\
hooks:
  probe:
    jobs:
      - name: ran
        run: "true"
      - name: skipped
        skip: true
        run: "true"
"""


class ProbeFailed(AssertionError):
    """The command broke the rule; the message says how."""


def _run(command: Sequence[str], args: list[str], cwd: Path, env: dict[str, str]) -> str:
    try:
        done = subprocess.run(
            [*command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ProbeFailed(f"cannot run {command[0]}: {error}") from None
    if done.returncode != 0:
        raise ProbeFailed(f"{' '.join(args[:1])} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def probe_defaults(command: Sequence[str], scratch: Path) -> None:
    """`cli.defaults`: $COORDINATOR_STATE_DIR, 16 hex chars, the cwd's base name."""
    work = scratch / "my-worktree"
    work.mkdir()
    (work / "hooks.yml").write_text(HOOKS, encoding="utf-8")
    state = scratch / "state-from-env"
    env = {**os.environ, "COORDINATOR_STATE_DIR": str(state)}
    _run(command, ["run", "hooks.yml", "--hook", "probe"], work, env)
    runs = sorted(state.glob("jobs/*/*"))
    if len(runs) != 1:
        found = sorted(str(p.relative_to(scratch)) for p in scratch.rglob("meta.json"))
        raise ProbeFailed(f"records not under $COORDINATOR_STATE_DIR/jobs/*/*: found {found}")
    invocation, worktree = runs[0].parent.name, runs[0].name
    if not re.fullmatch(r"[0-9a-f]{16}", invocation):
        raise ProbeFailed(f"default invocation {invocation!r} is not 16 hex characters")
    if worktree != work.name:
        raise ProbeFailed(f"default worktree {worktree!r}, expected the cwd's name {work.name!r}")
    env.pop("COORDINATOR_STATE_DIR")
    _run(command, ["run", "hooks.yml", "--hook", "probe"], work, env)
    if not list((work / ".coordinator-state").glob("jobs/*/my-worktree/*/meta.json")):
        raise ProbeFailed("without $COORDINATOR_STATE_DIR, no records under .coordinator-state")


def probe_jobs(command: Sequence[str], scratch: Path) -> None:
    """`cli.jobs`: every recorded job is listed, as a table and as json."""
    (scratch / "hooks.yml").write_text(HOOKS, encoding="utf-8")
    state = str(scratch / "state")
    env = dict(os.environ)
    _run(command, ["run", "hooks.yml", "--hook", "probe", "--state-dir", state], scratch, env)
    table = _run(command, ["jobs", "--state-dir", state], scratch, env)
    listed = _run(command, ["jobs", "--state-dir", state, "--format", "json"], scratch, env)
    names = sorted(str(row.get("job", row.get("name"))) for row in json.loads(listed))
    if names != ["ran", "skipped"]:
        raise ProbeFailed(f"jobs --format json lists {names}, expected ['ran', 'skipped']")
    for name in ("ran", "skipped"):
        if not re.search(rf"\b{name}\b", table):
            raise ProbeFailed(f"jobs (table) does not list {name!r}:\n{table}")


PROBES: dict[str, Callable[[Sequence[str], Path], None]] = {
    "cli.defaults": probe_defaults,
    "cli.jobs": probe_jobs,
}


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] not in PROBES or argv[1] != "--":
        print(f"usage: cli_probes.py {{{','.join(PROBES)}}} -- COMMAND...", file=sys.stderr)
        return 64
    with tempfile.TemporaryDirectory(prefix="cli-probe-") as scratch:
        try:
            PROBES[argv[0]](argv[2:], Path(scratch))
        except ProbeFailed as failure:
            print(f"[{argv[0]}] {failure}")
            return 1
    print(f"[{argv[0]}] holds")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

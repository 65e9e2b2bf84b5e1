"""Write a commented skeleton scenario: `make new-scenario NAME=topic/name`.

    .venv/bin/python -m harness.new needs/migrate-seed    # scenarios/needs/migrate-seed.yml

The skeleton validates against the schema as written, loads, and passes
against our coordinator as it is, so the first run is green and every later
change is the contributor's. It refuses to overwrite a file or to reuse a
scenario name (test ids, `-k` and `--lf` need one name per file).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from harness.load import scenario_names

ROOT = Path(__file__).resolve().parent.parent
NAME = re.compile(r"[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)?")

SKELETON = """\
# yaml-language-server: $schema=../../harness/scenario.schema.json
# {path}: written by `make new-scenario`. Every key is in docs/scenarios.md.
#   run it:   .venv/bin/pytest {path}
#   rerun:    .venv/bin/pytest --lf          (only what failed last time)
#   picture:  .venv/bin/pytest {path} --scenario-report report/
name: {name}
description: >
  TODO: what this scenario proves, and what would be wrong if it failed.
# The spec rules it exercises (docs/spec.md); then run scripts/conformance.
rules: [needs.wait]
# A matrix gives one test per value ({name}[eager], {name}[wave]); the jobs
# and expectations then use it as a template (docs/scenarios.md, Templating).
# matrix:
#   strategy: [eager, wave]
jobs:
  # Fake jobs: sleep, write a marker, require a marker, print, exit, hang...
  - name: build
    fake: [sleep: 0.1, write: built]
  - name: test
    needs: [build]
    # `require` fails the job unless build's marker exists: running too early
    # is a failed job, not just a wrong order.
    fake: [require: built, sleep: 0.1, write: tested]
expect:
  status: completed              # every job; or {{test: failed, "*": completed}}
  order: ["build < test"]        # test started at or after build finished
  markers: {{present: [tested]}}
"""


def skeleton(relative: str) -> str:
    """The text of scenarios/<relative>.yml."""
    name = relative.rsplit("/", 1)[-1]
    return SKELETON.format(path=f"scenarios/{relative}.yml", name=name)


def create(relative: str, root: Path = ROOT) -> Path:
    """Write the skeleton; raises ValueError for a bad name, a clash, an existing file."""
    relative = relative.removesuffix(".yml").strip("/")
    if not NAME.fullmatch(relative):
        raise ValueError(
            f"NAME must be topic/name in lower case letters, digits, '.', '_' or '-', "
            f"got {relative!r}"
        )
    path = root / "scenarios" / f"{relative}.yml"
    if path.exists():
        raise ValueError(f"{path.relative_to(root)} exists already")
    name = relative.rsplit("/", 1)[-1]
    taken = scenario_names(sorted((root / "scenarios").rglob("*.yml")))
    if name in taken:
        where = ", ".join(str(p.relative_to(root)) for p, _ in taken[name])
        raise ValueError(f"the scenario name {name!r} is taken by {where}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(skeleton(relative), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.new", description=(__doc__ or "").split("\n", 1)[0]
    )
    parser.add_argument("name", metavar="TOPIC/NAME", help="e.g. needs/migrate-seed")
    args = parser.parse_args(argv)
    try:
        path = create(args.name)
    except ValueError as error:
        print(f"new-scenario: {error}", file=sys.stderr)
        return 2
    shown = path.relative_to(ROOT)
    print(f"wrote {shown}\nnext: edit it, then .venv/bin/pytest {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

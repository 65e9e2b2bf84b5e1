"""Run our coordinator with one deliberate bug: `run.py MUTANT_NAME CLI_ARGS...`.

    python tests/mutants/run.py ignore-background-needs run HOOKS --hook NAME \\
        --state-dir DIR --invocation ID --worktree NAME

Puts the repository root on sys.path, applies the named mutant (see
mutants.py) and then hands the remaining arguments to the normal CLI, in this
process: signals, exit codes, stdout and stderr are those of
`python -m coordinator`. An unknown mutant name is one line on stderr and
exit 64 (2 would look like an input error of the hooks file).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXIT_USAGE = 64


def main(argv: list[str]) -> int:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    from mutants import MUTANTS

    if not argv:
        print(
            "usage: run.py MUTANT_NAME CLI_ARGS... (see tests/mutants/mutants.py)", file=sys.stderr
        )
        return EXIT_USAGE
    if argv[0] not in MUTANTS:
        print(f"run.py: unknown mutant {argv[0]!r} (see tests/mutants/mutants.py)", file=sys.stderr)
        return EXIT_USAGE
    MUTANTS[argv[0]].apply()

    import coordinator.cli

    return coordinator.cli.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

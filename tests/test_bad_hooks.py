"""The bad-input corpus: every malformed hooks file gets exactly one clear line (docs/spec.md).

Each file of `tests/data/bad/hooks/` starts with `# expect: SUBSTRING`; the
few that cannot start with a comment (an empty file, UTF-16) are listed in
`expect-index.txt`. Most substrings begin with `:LINE:`, so they also pin the
line the message points at. The checks run `coordinator.cli.main` in-process
(fast), and a few files go through a real `python -m coordinator` as well.
Adding a file to the directory is all it takes to cover a new case.
"""

from __future__ import annotations

import re
import shutil
import traceback
from pathlib import Path

import pytest
from test_cli import cli as run_cli

from conftest import corpus_expectations
from coordinator import cli

CORPUS = Path(__file__).parent / "data" / "bad" / "hooks"
INDEX = CORPUS / "expect-index.txt"
MIN_CORPUS = 25
# A few corpus files, one per kind of failure, also checked through a real process.
VIA_SUBPROCESS = ["latin1-bytes.yml", "yaml-tab-indent.yml", "graph-cycle-2.yml"]
# A large file: a 1 MB value and 20,000 comment lines before the problem at its end.
LARGE_HEAD = "hooks:\n  h:\n    jobs:\n      - name: big\n        run: echo " + "x" * 1_000_000
LARGE_FILLER = "".join(f"# filler line {n}\n" for n in range(20_000))
LARGE_TAILS = {
    "unknown-key": (
        b"      - {name: last, run: echo, needz: [big]}\n",
        ":20006: job 'last': unknown key 'needz'",
    ),
    "syntax": (b"      - name: last\n        run: [echo\n", ":20008: invalid YAML"),
    "bad-byte": (b"      - name: caf\xe9\n", ":20006: not valid UTF-8: byte 0xe9 at column 18"),
}


def expectations() -> dict[Path, str]:
    """Every corpus file and the substring its message must contain."""
    return corpus_expectations(CORPUS, INDEX)


def problem_with(path: Path, code: int, out: str, err: str, expected: str, state: Path) -> str:
    """What is wrong with one run of the CLI on a bad file; '' when nothing is."""
    # the spec (scheduling): one line that starts with `FILE:LINE: ` (no program-name prefix).
    form = re.compile(rf"{re.escape(str(path))}:[1-9][0-9]*: \S[^\n]*\n")
    if code != 2:
        return f"exit code {code}, expected 2"
    if "Traceback" in err or not form.fullmatch(err):
        return f"stderr is not one 'FILE:LINE: message' line: {err!r}"
    if expected not in err:
        return f"message lacks {expected!r}: {err!r}"
    if out:
        return f"printed to stdout: {out!r}"
    if state.exists():
        return "a state dir was created"
    return ""


def run_in_process(
    path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    try:
        code = cli.main(["run", str(path), "--hook", "h", "--state-dir", str(state)])
    except BaseException:  # a bug: report it for this file, and go on with the others
        code, (out, err) = -1, capsys.readouterr()
        return code, out, err + traceback.format_exc()
    out, err = capsys.readouterr()
    return code, out, err


def test_corpus_is_large_enough() -> None:
    assert len(expectations()) >= MIN_CORPUS


def test_every_bad_hooks_file_gets_one_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    problems = {}
    for path, expected in expectations().items():
        code, out, err = run_in_process(path, state, capsys)
        problem = problem_with(path, code, out, err, expected, state)
        if problem:
            problems[path.name] = problem
    assert not problems, "\n".join(f"{name}: {problem}" for name, problem in problems.items())


@pytest.mark.parametrize("name", VIA_SUBPROCESS)
def test_bad_file_through_the_real_cli(tmp_path: Path, name: str) -> None:
    # Default state dir: nothing named .coordinator-state may appear in the cwd.
    shutil.copy(CORPUS / name, tmp_path / name)
    result = run_cli(tmp_path, "run", name, "--hook", "h")
    expected = expectations()[CORPUS / name]
    state = tmp_path / ".coordinator-state"
    problem = problem_with(
        Path(name), result.returncode, result.stdout, result.stderr, expected, state
    )
    assert problem == ""


@pytest.mark.parametrize("tail", sorted(LARGE_TAILS))
def test_large_file_with_a_problem_at_its_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tail: str
) -> None:
    ending, expected = LARGE_TAILS[tail]
    path = tmp_path / "large.yml"
    path.write_bytes((LARGE_HEAD + "\n" + LARGE_FILLER).encode() + ending)
    assert path.stat().st_size > 1_000_000
    state = tmp_path / "state"
    code, out, err = run_in_process(path, state, capsys)
    assert problem_with(path, code, out, err, expected, state) == ""

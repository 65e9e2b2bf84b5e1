"""The bad scenario corpus: each broken file is one clean collection error (docs/spec.md).

Each file of `tests/data/bad/scenarios/` starts with `# expect: :LINE: TEXT`,
one such line per problem the file has (every problem of a file is reported
at once, in line order); the few that cannot start with a comment (an empty
file, bad bytes) are listed in `EXPECTED.txt`. One pytest session, in a
subprocess so that even a crash of the interpreter is a failure here rather
than the end of this session, collects the whole corpus plus a very large
generated file and one good scenario. For every bad file there must be
exactly one collection error whose lines are `FILE:LINE: message`, one per
expected problem, with the expected lines and texts; nothing may print a
traceback, and the good scenario must still run and pass. Adding a file to
the directory is all it takes to cover a new case.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import corpus_expectations

pytest_plugins = ["pytester"]

CORPUS = Path(__file__).parent / "data" / "bad" / "scenarios"
INDEX = CORPUS / "EXPECTED.txt"
MIN_CORPUS = 20
COPY = "tests/data/bad/scenarios"  # where the inner session sees the corpus: messages read the same

GOOD = """\
name: good
jobs:
  - {name: a, fake: [write: a.txt]}
  - {name: b, needs: [a], fake: [require: a.txt, write: b.txt]}
expect:
  status: completed
  markers: {present: [a.txt, b.txt]}
"""

# Records every collection error of the inner session, exactly as pytest reports it.
RECORDER = """\
import json

def pytest_collectreport(report):
    if report.failed:
        with open("collect-errors.jsonl", "a", encoding="utf-8") as out:
            out.write(json.dumps({"nodeid": report.nodeid, "text": report.longreprtext}) + "\\n")
"""


@dataclass(frozen=True)
class Expected:
    line: int
    text: str


def parse_expected(declared: str, where: str) -> Expected:
    match = re.fullmatch(r":([1-9][0-9]*): (\S.*)", declared.strip())
    if match is None:
        pytest.fail(f"{where}: expectation {declared!r} is not ':LINE: TEXT'")
    return Expected(int(match.group(1)), match.group(2))


def corpus() -> dict[str, list[Expected]]:
    """Every corpus file (by name) and the errors it must give, in line order."""
    found = {}
    for path, text in corpus_expectations(CORPUS, INDEX).items():
        declared = [text]
        lines = path.read_bytes().split(b"\n")
        for line in lines[1:]:
            if not line.startswith(b"# expect: "):
                break
            declared.append(line[len(b"# expect: ") :].decode("utf-8"))
        found[path.name] = [parse_expected(each, path.name) for each in declared]
    return found


def large_scenario(jobs: int) -> tuple[str, list[Expected]]:
    """About 0.8 MB: a 600 kB value and a long chain of jobs, with the mistake at the end."""
    parts = [
        "name: large\njobs:\n",
        '  - name: banner\n    fake: [stdout: "' + "x" * 600_000 + '"]\n',
    ]
    previous = "banner"
    for i in range(jobs):
        name = f"job-{i:04d}"
        parts.append(f"  - name: {name}\n    needs: [{previous}]\n    fake: [write: out/{name}]\n")
        previous = name
    parts.append(f"  - name: last\n    fake: [write: last]\n    neds: [{previous}]\n")
    parts.append("expect: {status: completed}\n")
    text = "".join(parts)
    bad_line = text.count("\n") - 1  # the `neds:` line
    return text, [
        Expected(bad_line, "jobs[last]: unknown key 'neds' in job (did you mean 'needs'?)")
    ]


def problem_with(path: str, errors: list[str], expected: list[Expected]) -> str:
    """What is wrong with the collection errors of one bad file; '' when nothing is."""
    if len(errors) != 1:
        return f"{len(errors)} collection errors, expected exactly 1: {errors!r}"
    lines = errors[0].split("\n")
    if len(lines) != len(expected):
        return f"{len(lines)} problem line(s), expected {len(expected)}: {errors[0]!r}"
    for error, wanted in zip(lines, expected, strict=True):
        match = re.fullmatch(rf"{re.escape(path)}:([0-9]+): (\S[^\n]*)", error)
        if match is None:
            return f"not a line 'FILE:LINE: message': {error!r}"
        if int(match.group(1)) != wanted.line:
            return f"points at line {match.group(1)}, expected {wanted.line}: {error!r}"
        if wanted.text not in match.group(2):
            return f"message lacks {wanted.text!r}: {error!r}"
    return ""


def test_corpus_is_large_enough_and_every_file_declares_its_error() -> None:
    assert len(corpus()) >= MIN_CORPUS


def test_every_bad_scenario_is_one_clean_collection_error_and_the_good_one_runs(
    pytester: pytest.Pytester,
) -> None:
    expected = corpus()
    copy = pytester.path / COPY
    shutil.copytree(CORPUS, copy)
    large, expected_large = large_scenario(jobs=2000)
    (pytester.path / "generated").mkdir()
    (pytester.path / "generated" / "large.yml").write_text(large, encoding="utf-8")
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / "good.yml").write_text(GOOD, encoding="utf-8")
    pytester.makeini(
        f"[pytest]\nscenario_glob =\n    {COPY}/*.yml\n    generated/*.yml\n    scenarios/*.yml\n"
    )
    pytester.makeconftest(RECORDER)
    wanted = {f"{COPY}/{name}": exp for name, exp in expected.items()}
    wanted["generated/large.yml"] = expected_large

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=300)

    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    errors: dict[str, list[str]] = {}
    recorded = pytester.path / "collect-errors.jsonl"
    for line in recorded.read_text(encoding="utf-8").splitlines() if recorded.exists() else []:
        report = json.loads(line)
        errors.setdefault(report["nodeid"], []).append(report["text"])
    problems = [
        f"{path}: {problem}"
        for path, exp in sorted(wanted.items())
        if (problem := problem_with(path, errors.get(path, []), exp))
    ]
    problems += [
        f"{path}: unexpected collection error {errors[path]!r}" for path in errors.keys() - wanted
    ]
    assert not problems, "\n".join(problems)
    result.assert_outcomes(passed=1, errors=len(wanted))

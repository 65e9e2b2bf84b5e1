"""Loading and validating hooks files (docs/spec.md: hooks file, value types)."""

from __future__ import annotations

import dataclasses
import math
import textwrap
from pathlib import Path

import pytest
import yaml

from coordinator.loader import load_hooks_file, loads_hooks, select_hook
from coordinator.model import HooksFile, InputError, JobSpec, Settings, Strategy

FULL = """\
# A full example: every key of the spec (hooks file).
coordinator:
  strategy: wave
  max_parallel: 4
  kill_grace: 0.5
hooks:
  worktree-post-create:
    jobs:
      - name: install
        run: npm ci
      - name: ensure-db
        run: docker compose up -d db
        background: true
      - name: db-migrate
        run: prisma migrate deploy
        needs: [install, ensure-db]
        background: true
        env: {DATABASE_URL: "postgres://localhost/dev", RETRIES: 3}
        cwd: sub/dir
        timeout: 30
        skip: SKIP_DB
        only: true
      - name: db-seed
        run: prisma db seed
        needs:
          - db-migrate
        background: true
        timeout: 2.5
        only: CI
  pre-commit:
    jobs: []
"""

# One valid job at lines 4-5; cases append lines from line 6 on.
ONE_JOB = "hooks:\n  h:\n    jobs:\n      - name: a\n        run: echo\n"


def _load_error(text: str, tmp_path: Path) -> str:
    path = tmp_path / "hooks.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_hooks_file(path)
    message = str(info.value)
    prefix = f"{path}:"
    assert message.startswith(prefix), message
    return message[len(prefix) :]


def test_full_example_loads_exactly(tmp_path: Path) -> None:
    path = tmp_path / "hooks.yml"
    path.write_text(FULL, encoding="utf-8")
    loaded = load_hooks_file(path)
    assert loaded == HooksFile(
        path=path,
        settings=Settings(strategy=Strategy.WAVE, max_parallel=4, kill_grace=0.5),
        hooks={
            "worktree-post-create": (
                JobSpec(name="install", run="npm ci", line=9),
                JobSpec(name="ensure-db", run="docker compose up -d db", background=True, line=11),
                JobSpec(
                    name="db-migrate",
                    run="prisma migrate deploy",
                    needs=("install", "ensure-db"),
                    background=True,
                    env={"DATABASE_URL": "postgres://localhost/dev", "RETRIES": "3"},
                    cwd="sub/dir",
                    timeout=30.0,
                    skip="SKIP_DB",
                    only=True,
                    line=14,
                ),
                JobSpec(
                    name="db-seed",
                    run="prisma db seed",
                    needs=("db-migrate",),
                    background=True,
                    timeout=2.5,
                    only="CI",
                    line=23,
                ),
            ),
            "pre-commit": (),
        },
    )
    assert list(loaded.hooks) == ["worktree-post-create", "pre-commit"]
    assert isinstance(loaded.settings.strategy, Strategy)
    assert type(loaded.hooks["worktree-post-create"][2].timeout) is float


def test_full_example_survives_a_dump_and_reload() -> None:
    loaded = loads_hooks(FULL, "hooks.yml")
    fields = ("name", "run", "needs", "background", "env", "cwd", "timeout", "skip", "only")
    dumped = {
        "coordinator": {
            "strategy": loaded.settings.strategy.value,
            "max_parallel": loaded.settings.max_parallel,
            "kill_grace": loaded.settings.kill_grace,
        },
        "hooks": {
            hook: {
                "jobs": [
                    {
                        key: list(value) if isinstance(value, tuple) else value
                        for key in fields
                        if (value := getattr(job, key)) is not None
                    }
                    for job in jobs
                ]
            }
            for hook, jobs in loaded.hooks.items()
        },
    }
    again = loads_hooks(yaml.safe_dump(dumped, sort_keys=False), "again.yml")
    assert again.settings == loaded.settings
    without_lines = {
        hook: tuple(dataclasses.replace(job, line=None) for job in jobs)
        for hook, jobs in again.hooks.items()
    }
    assert without_lines == {
        hook: tuple(dataclasses.replace(job, line=None) for job in jobs)
        for hook, jobs in loaded.hooks.items()
    }


def test_defaults_for_a_minimal_file() -> None:
    loaded = loads_hooks(ONE_JOB, "hooks.yml")
    assert loaded.settings == Settings()
    assert loaded.hooks == {"h": (JobSpec(name="a", run="echo", line=4),)}


def test_the_loader_does_not_promote() -> None:
    loaded = loads_hooks(FULL, "hooks.yml")
    assert loaded.hooks["worktree-post-create"][1].background is True


def test_job_lines_in_flow_style() -> None:
    text = "hooks:\n  h: {jobs: [{name: a, run: x},\n    {name: b, run: y, needs: [a]}]}\n"
    jobs = loads_hooks(text, "hooks.yml").hooks["h"]
    assert [job.line for job in jobs] == [2, 3]


def test_env_numbers_are_taken_as_the_text_of_the_parsed_value() -> None:
    # the spec (scheduling): "a number is taken as the text of the parsed value: 1.50 gives 1.5".
    text = ONE_JOB + textwrap.indent(
        "env:\n  INT: 3\n  FLOAT: 1.50\n  VERSION: 3.10\n  NEG: -1\n  HEX: 0x1F\n"
        "  BIG: 1_000\n  EXP: 1.0e+3\n  STR: '007'\n  QUOTED: '3.10'\n",
        " " * 8,
    )
    (job,) = loads_hooks(text, "hooks.yml").hooks["h"]
    assert job.env == {
        "INT": "3",
        "FLOAT": "1.5",
        "VERSION": "3.1",
        "NEG": "-1",
        "HEX": "31",
        "BIG": "1000",
        "EXP": str(1.0e3),
        "STR": "007",
        "QUOTED": "3.10",  # a string stays as written
    }


def test_env_keys_are_any_non_empty_string_without_an_equals_sign() -> None:
    # the spec (scheduling) asks only for that: `$` or `.` in a key is not an error.
    text = ONE_JOB + textwrap.indent("env:\n  'A$B': x\n  a.b: y\n  ' ': z\n", " " * 8)
    (job,) = loads_hooks(text, "hooks.yml").hooks["h"]
    assert job.env == {"A$B": "x", "a.b": "y", " ": "z"}


HUGE = [
    (".inf", math.inf),
    ("1.0e+400", math.inf),
    ("1" + "0" * 400, math.inf),
    ("8.64e+10", 8.64e10),
]


@pytest.mark.parametrize(("value", "expected"), HUGE, ids=["inf", "e400", "int", "big"])
def test_any_positive_timeout_and_grace_is_accepted(value: str, expected: float) -> None:
    # `timeout` a number > 0 and `kill_grace` a number >= 0: huge and infinite ones included.
    text = f"coordinator:\n  kill_grace: {value}\n" + ONE_JOB + f"        timeout: {value}\n"
    loaded = loads_hooks(text, "hooks.yml")
    assert loaded.settings.kill_grace == expected
    assert loaded.hooks["h"][0].timeout == expected


def test_a_number_too_long_for_python_is_an_input_error_not_a_traceback(tmp_path: Path) -> None:
    message = _load_error(ONE_JOB + "        timeout: " + "9" * 5000 + "\n", tmp_path)
    assert message.startswith("6: invalid YAML: integer too long"), message


def test_select_hook_returns_the_jobs() -> None:
    loaded = loads_hooks(FULL, "hooks.yml")
    jobs = select_hook(loaded, "worktree-post-create")
    assert [job.name for job in jobs] == ["install", "ensure-db", "db-migrate", "db-seed"]
    assert select_hook(loaded, "pre-commit") == ()


def test_select_hook_unknown_name_suggests_and_lists() -> None:
    loaded = loads_hooks(FULL, "hooks.yml")
    with pytest.raises(InputError) as info:
        select_hook(loaded, "worktree-post-creat")
    assert str(info.value) == (
        "hooks.yml:6: hook 'worktree-post-creat' is not defined "
        "(did you mean 'worktree-post-create'?); defined hooks: 'worktree-post-create', "
        "'pre-commit'"
    )


def test_select_hook_when_the_file_defines_none() -> None:
    loaded = loads_hooks("hooks: {}\n", "hooks.yml")
    with pytest.raises(InputError) as info:
        select_hook(loaded, "pre-push")
    assert str(info.value) == "hooks.yml:1: hook 'pre-push' is not defined; defined hooks: none"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yml"
    with pytest.raises(InputError) as info:
        load_hooks_file(path)
    assert str(info.value) == f"{path}:1: cannot read file: No such file or directory"


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "hooks.yml"
    path.write_bytes(ONE_JOB.encode() + b"      - name: b\xe9\n")
    with pytest.raises(InputError) as info:
        load_hooks_file(path)
    assert str(info.value) == f"{path}:6: not valid UTF-8: byte 0xe9 at column 16"


STRUCTURE_ERRORS = [
    ("", 1, "file is empty"),
    ("hooks: [a\n", 2, "invalid YAML: while parsing a flow sequence (line 1), "),
    ("- a\n", 1, "top level: must be a mapping with a 'hooks:' key, got a list"),
    ("just text\n", 1, "top level: must be a mapping with a 'hooks:' key, got string 'just text'"),
    ("hook:\n  h: {jobs: []}\n", 1, "top level: unknown key 'hook' (did you mean 'hooks'?)"),
    ("coordinator: {}\n", 1, "top level: missing 'hooks:' (the hooks and their jobs)"),
    ("hooks: []\n", 1, "'hooks' must be a mapping of hook names to hooks, got a list"),
    ("hooks:\n", 1, "'hooks' must be a mapping of hook names to hooks, got null"),
    ("hooks:\n  1: {jobs: []}\n", 2, "a hook name must be a non-empty string, got number 1"),
    ("hooks:\n  h: [a]\n", 2, "hook 'h': must be a mapping with a 'jobs:' list, got a list"),
    ("hooks:\n  h:\n    job: []\n", 3, "hook 'h': unknown key 'job' (did you mean 'jobs'?)"),
    ("hooks:\n  h: {}\n", 2, "hook 'h': missing 'jobs:' (a list, possibly empty)"),
    ("hooks:\n  h:\n    jobs:\n", 3, "hook 'h': 'jobs' must be a list, got null"),
    (
        "hooks:\n  h:\n    jobs:\n      - echo hi\n",
        4,
        "job #1: must be a mapping with 'name:' and 'run:', got string 'echo hi'",
    ),
    ("hooks:\n  a: {jobs: []}\n  a: {jobs: []}\n", 3, "duplicate key 'a' (first at line 2)"),
]

SETTINGS_ERRORS = [
    ("coordinator:\n", 1, "'coordinator' must be a mapping, got null"),
    ("coordinator: [wave]\n", 1, "'coordinator' must be a mapping, got a list"),
    (
        "coordinator:\n  parallel: 2\n",
        2,
        "coordinator: unknown key 'parallel' (did you mean 'max_parallel'?)",
    ),
    (
        "coordinator:\n  strategy: eagr\n",
        2,
        "coordinator: 'strategy' must be 'eager' or 'wave', got string 'eagr' "
        "(did you mean 'eager'?)",
    ),
    (
        "coordinator:\n  strategy: 3\n",
        2,
        "coordinator: 'strategy' must be 'eager' or 'wave', got number 3",
    ),
    (
        "coordinator:\n  max_parallel: 0\n",
        2,
        "coordinator: 'max_parallel' must be an integer >= 1, got number 0",
    ),
    (
        "coordinator:\n  max_parallel: true\n",
        2,
        "coordinator: 'max_parallel' must be an integer >= 1, got boolean true",
    ),
    (
        "coordinator:\n  max_parallel: 1.5\n",
        2,
        "coordinator: 'max_parallel' must be an integer >= 1, got number 1.5",
    ),
    (
        "coordinator:\n  max_parallel: '2'\n",
        2,
        "coordinator: 'max_parallel' must be an integer >= 1, got string '2'",
    ),
    ("coordinator:\n  kill_grace: -1\n", 2, "coordinator: 'kill_grace' must be 0 or more, got -1"),
    (
        "coordinator:\n  kill_grace: yes\n",
        2,
        "coordinator: 'kill_grace' must be a number of seconds, got boolean true",
    ),
    (
        "coordinator:\n  kill_grace: .nan\n",
        2,
        "coordinator: 'kill_grace' must be a number of seconds, got number nan",
    ),
]

# (extra job lines after ONE_JOB, starting at line 6, at job indent; line; message)
JOB_ERRORS = [
    ("need: [a]", 6, "job 'a': unknown key 'need' (did you mean 'needs'?)"),
    ("color: red", 6, "job 'a': unknown key 'color'"),
    ("true: 1", 6, "job 'a': unknown key True"),
    (
        "needs: install",
        6,
        "job 'a': 'needs' must be a list of job names, got string 'install' "
        "(write needs: [install])",
    ),
    ("needs: {b: 1}", 6, "job 'a': 'needs' must be a list of job names, got a mapping"),
    ("needs:\n  - b\n  - 3", 8, "job 'a': needs entry #2 must be a job name, got number 3"),
    ("needs: ['']", 6, "job 'a': needs entry #1 must be a job name, got string ''"),
    ("needs: [null]", 6, "job 'a': needs entry #1 must be a job name, got null"),
    ("background: 'yes'", 6, "job 'a': 'background' must be true or false, got string 'yes'"),
    ("background: 1", 6, "job 'a': 'background' must be true or false, got number 1"),
    ("background:", 6, "job 'a': 'background' must be true or false, got null"),
    ("env: [A]", 6, "job 'a': 'env' must be a mapping, got a list"),
    (
        "env:\n  A: ok\n  B: true",
        8,
        "job 'a': env 'B' must be a string or a number, got boolean true",
    ),
    ("env:\n  A:", 7, "job 'a': env 'A' must be a string or a number, got null"),
    ("env:\n  A: [x]", 7, "job 'a': env 'A' must be a string or a number, got a list"),
    ("env:\n  A: {x: 1}", 7, "job 'a': env 'A' must be a string or a number, got a mapping"),
    ("env:\n  'A=B': x", 7, "job 'a': env: string 'A=B' is not a valid variable name"),
    ("env:\n  1: x", 7, "job 'a': env: number 1 is not a valid variable name"),
    ('env:\n  A: "x\\0y"', 7, "job 'a': env 'A' must not contain a NUL character"),
    ("cwd: 3", 6, "job 'a': 'cwd' must be a string, got number 3"),
    ("cwd: ''", 6, "job 'a': 'cwd' must not be empty"),
    ("cwd: [a]", 6, "job 'a': 'cwd' must be a string, got a list"),
    ("timeout: 0", 6, "job 'a': 'timeout' must be greater than 0, got 0"),
    ("timeout: -1.5", 6, "job 'a': 'timeout' must be greater than 0, got -1.5"),
    ("timeout: true", 6, "job 'a': 'timeout' must be a number of seconds, got boolean true"),
    ("timeout: '30'", 6, "job 'a': 'timeout' must be a number of seconds, got string '30'"),
    ("timeout: 30s", 6, "job 'a': 'timeout' must be a number of seconds, got string '30s'"),
    ("timeout: .nan", 6, "job 'a': 'timeout' must be a number of seconds, got number nan"),
    (
        "skip: 1",
        6,
        "job 'a': 'skip' must be true, false or an environment variable name, got number 1",
    ),
    (
        "skip: ''",
        6,
        "job 'a': 'skip' must be true, false or an environment variable name, got string ''",
    ),
    (
        "skip: $CI",
        6,
        "job 'a': 'skip' must be true, false or an environment variable name, "
        "got string '$CI' (write the name without '$')",
    ),
    ("only:", 6, "job 'a': 'only' must be true, false or an environment variable name, got null"),
    (
        "only: [CI]",
        6,
        "job 'a': 'only' must be true, false or an environment variable name, got a list",
    ),
    ("run: again", 6, "duplicate key 'run' (first at line 5)"),
    # The first problem in file order wins.
    ("colour: red\ntimeout: 0", 6, "job 'a': unknown key 'colour'"),
    ("timeout: 0\ncolour: red", 6, "job 'a': 'timeout' must be greater than 0, got 0"),
]

# (the job list after `jobs:`, at list indent, starting at line 4; line; message)
NAME_AND_RUN_ERRORS = [
    ("- run: echo", 4, "job #1: missing 'name:'"),
    ("- name: a", 4, "job 'a': missing 'run:'"),
    ("- name: a\n  run: x\n- run: y", 6, "job #2: missing 'name:'"),
    ("- {}", 4, "job #1: missing 'name:'"),
    ("- nam: a\n  run: x", 4, "job #1: unknown key 'nam' (did you mean 'name'?)"),
    ("- name: true\n  run: x", 4, "job #1: 'name' must be a string, got boolean true"),
    ("- name:\n  run: x", 4, "job #1: 'name' must be a string, got null"),
    ("- name: [a]\n  run: x", 4, "job #1: 'name' must be a string, got a list"),
    ("- name: 3\n  run: x", 4, "job #1: 'name' must be a string, got number 3"),
    ("- name: ''\n  run: x", 4, "job #1: 'name' must not be empty"),
    ("- name: a\n  run: yes", 5, "job 'a': 'run' must be a string, got boolean true"),
    ("- name: a\n  run:", 5, "job 'a': 'run' must be a string, got null"),
    ("- name: a\n  run: [make, all]", 5, "job 'a': 'run' must be a string, got a list"),
    ("- name: a\n  run: 42", 5, "job 'a': 'run' must be a string, got number 42"),
    ("- name: a\n  run: ''", 5, "job 'a': 'run' must not be empty"),
    ('- name: a\n  run: "x\\0"', 5, "job 'a': 'run' must not contain a NUL character"),
]

# (the job list, at list indent, starting at line 4; line; message)
GRAPH_ERRORS = [
    (
        "- name: a\n  run: x\n- name: a\n  run: y",
        6,
        "job 'a': duplicate name (already used by the job at line 4)",
    ),
    (
        "- name: db-migrate\n  run: x\n- name: db-seed\n  run: y\n  needs: [db-migrat]",
        6,
        "job 'db-seed': needs unknown job 'db-migrat' (did you mean 'db-migrate'?)",
    ),
    ("- name: a\n  run: x\n  needs: [a]", 4, "job 'a': needs itself (dependency cycle: a -> a)"),
    (
        "- name: a\n  run: x\n  needs: [b]\n- name: b\n  run: y\n  needs: [a]",
        4,
        "job 'a': dependency cycle: a -> b -> a",
    ),
]


@pytest.mark.parametrize(("text", "line", "message"), STRUCTURE_ERRORS)
def test_structure_errors(text: str, line: int, message: str, tmp_path: Path) -> None:
    got = _load_error(text, tmp_path)
    assert got.startswith(f"{line}: {message}")


@pytest.mark.parametrize(("block", "line", "message"), SETTINGS_ERRORS)
def test_settings_errors(block: str, line: int, message: str, tmp_path: Path) -> None:
    assert _load_error(block + "hooks: {}\n", tmp_path) == f"{line}: {message}"


@pytest.mark.parametrize(("extra", "line", "message"), JOB_ERRORS)
def test_job_value_errors(extra: str, line: int, message: str, tmp_path: Path) -> None:
    text = ONE_JOB + textwrap.indent(extra + "\n", " " * 8)
    assert _load_error(text, tmp_path) == f"{line}: {message}"


@pytest.mark.parametrize(("jobs", "line", "message"), NAME_AND_RUN_ERRORS + GRAPH_ERRORS)
def test_job_list_errors(jobs: str, line: int, message: str, tmp_path: Path) -> None:
    text = "hooks:\n  h:\n    jobs:\n" + textwrap.indent(jobs + "\n", " " * 6)
    assert _load_error(text, tmp_path) == f"{line}: {message}"


def test_every_hook_is_validated_not_only_the_one_run(tmp_path: Path) -> None:
    text = ONE_JOB + "  other:\n    jobs:\n      - name: b\n        run: y\n        needs: [c]\n"
    assert _load_error(text, tmp_path) == "8: job 'b': needs unknown job 'c'"


def test_graph_problem_of_an_earlier_hook_comes_first(tmp_path: Path) -> None:
    text = (
        "hooks:\n"
        "  first:\n"
        "    jobs:\n"
        "      - name: a\n"
        "        run: x\n"
        "        needs: [a]\n"
        "  second:\n"
        "    jobs:\n"
        "      - nme: b\n"
    )
    assert _load_error(text, tmp_path) == "4: job 'a': needs itself (dependency cycle: a -> a)"


def test_same_job_name_in_two_hooks_is_fine() -> None:
    text = ONE_JOB + "  other:\n    jobs:\n      - name: a\n        run: y\n"
    loaded = loads_hooks(text, "hooks.yml")
    assert [job.run for job in loaded.hooks["other"]] == ["y"]

"""Fuzzing the two loaders: whatever a file holds, it is accepted or refused cleanly (issue 11).

Hypothesis throws random YAML documents (free-form, and shaped like a hooks
file or a scenario so the checks deep inside are reached), random text and
bytes, text in other encodings, deep nesting, alias bombs and huge or odd
scalars at the hooks-file loader (`coordinator.loader.load_hooks_file`)
and at the scenario loader (`harness.load.load_file`, then `build` for each
matrix case). Every input must be accepted, or refused with an InputError
whose text is `FILE:LINE: message` lines (one line for the hooks loader,
one per problem for the scenario loader), never another exception, and
never a hang: each input gets HANG_LIMIT seconds, enforced by a timer.

Profiles (LOADER_FUZZ_PROFILE): `ci`, the default, is derandomized and
takes a few seconds; `soak` is random, with LOADER_FUZZ_EXAMPLES examples per
property, and is what `scripts/fuzz-loaders` runs for as long as asked.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import signal
import string
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from coordinator.loader import load_hooks_file, select_hook
from coordinator.model import InputError

HANG_LIMIT = float(os.environ.get("LOADER_FUZZ_HANG_LIMIT", "10"))  # seconds for one input
MAX_CASES = 16  # matrix cases built per scenario file: each is the same code again

settings.register_profile(
    "ci",
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
settings.register_profile(
    "soak",
    max_examples=int(os.environ.get("LOADER_FUZZ_EXAMPLES", "5000")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
PROFILE = settings.get_profile(os.environ.get("LOADER_FUZZ_PROFILE", "ci"))

# -- what the inputs are made of -------------------------------------------------------------

JOB_KEYS = ("name", "run", "needs", "background", "env", "cwd", "timeout", "skip", "only")
SCENARIO_KEYS = (
    *("name", "description", "rules", "params", "matrix", "marks", "coordinator", "jobs"),
    *("hooks", "expect", "cancel", "timeout", "env", "hook"),
)
FAKE_ACTIONS = ("sleep", "write", "require", "exit", "stdout", "stderr", "grandchild", "daemon")
EXPECT_KEYS = ("status", "order", "overlap", "markers", "max_concurrency", "input_error")
ODD_TEXT = (
    *("yes", "no", "on", "off", "~", "null", "Null", "1e999", ".inf", "-.inf", ".nan"),
    *("0x1F", "0o17", "017", "1_000", "3.10", "2001-12-14", "2001-12-14t21:59:43.10-05:00"),
    *("<<", "=", "$", "'", '"', "\\", "{{ x }}", "{% if %}", "{#", "#%", "##", "%", "---"),
    *("...", "&a", "*a", "!!binary", "!!python/object:os.system", "\x00", "\ufeff", "\u2028"),
    *("\x85", "\t", "\r", "\r\n", "é", "\U0001f600", "a" * 300, " leading", "trailing "),
    *("sleep: 0.1", "exit: 3", "- a", "[a, b", "{a: b", "? a", ": a", "\\x00"),
)
SPECIAL = (
    *("&a ", "*a ", "&b ", "*b", "!!str ", "!!int ", "!!map ", "!!seq ", "!!set ", "!!omap "),
    *("!!binary ", "!!timestamp ", "!!float ", "!custom ", "!!python/name:os.system "),
    *("<<: *a\n", "? ", "- ", ": ", "\n", "\t", "  ", "#", "'", '"', "{", "}", "[", "]"),
    *(",", "|\n", ">-\n", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "---\n", "...\n"),
    *("{{ ", " }}", "{% for i in range(3) %}", "{% endfor %}", "#% if true\n", "\x00"),
    *("\ufeff", "\x1b[31m", "\u202e", "\ud7ff", "\x7f"),
)
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1")

names = st.one_of(
    st.sampled_from(["a", "b", "c", "db-migrate", "a b", "é", "..", "x" * 300, "it's", ""]),
    st.text(max_size=12),
)
keys = st.one_of(
    st.sampled_from((*JOB_KEYS, *SCENARIO_KEYS, *FAKE_ACTIONS, *EXPECT_KEYS)),
    names,
    st.integers(-3, 3),
    st.booleans(),
    st.none(),
)
# Python refuses to turn more than 4300 digits into an int (or back): such a number is a
# placeholder in the document, replaced by its digits once the document is YAML text.
HUGE = re.compile(r"HUGE_INT_([0-9]+)")
huge_ints = st.integers(4290, 4310).map(lambda digits: f"HUGE_INT_{digits}")
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    huge_ints,
    st.floats(),  # nan and both infinities included
    st.text(max_size=40),
    st.sampled_from(ODD_TEXT),
    st.text(alphabet=string.digits + ".-+e_", min_size=1, max_size=30),
)


def nested(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=24,
    )


values = nested(scalars)


def sometimes(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The strategy's value, or any value at all: the wrong type in the right place."""
    return st.one_of(strategy, strategy, values)


hooks_jobs = st.lists(
    st.fixed_dictionaries(
        {"name": sometimes(names), "run": sometimes(st.text(max_size=20))},
        optional={
            "needs": sometimes(st.lists(names, max_size=3)),
            "background": sometimes(st.booleans()),
            "env": sometimes(st.dictionaries(names, sometimes(st.text(max_size=8)), max_size=3)),
            "cwd": sometimes(names),
            "timeout": sometimes(st.floats(-1, 100)),
            "skip": sometimes(st.one_of(st.booleans(), names)),
            "only": sometimes(st.one_of(st.booleans(), names)),
            "oops": values,
        },
    ),
    max_size=5,
)
hooks_body = st.fixed_dictionaries({"jobs": hooks_jobs})
hooks_shaped = st.fixed_dictionaries(
    {
        "hooks": sometimes(
            st.dictionaries(
                names, sometimes(st.fixed_dictionaries({"jobs": hooks_jobs})), max_size=3
            )
        )
    },
    optional={
        "coordinator": sometimes(
            st.fixed_dictionaries(
                {},
                optional={
                    "strategy": sometimes(st.sampled_from(["eager", "wave"])),
                    "max_parallel": sometimes(st.integers(-1, 5)),
                    "kill_grace": sometimes(st.floats(-1, 5)),
                },
            )
        ),
        "extra": values,
    },
)
fake_actions = st.lists(
    st.one_of(
        st.sampled_from(["hang", "daemon", "grandchild"]),
        st.dictionaries(st.sampled_from(FAKE_ACTIONS), sometimes(scalars), min_size=1, max_size=1),
    ),
    max_size=4,
)
scenario_shaped = st.fixed_dictionaries(
    {
        "name": sometimes(names),
        "jobs": sometimes(
            st.lists(
                st.fixed_dictionaries(
                    {"name": sometimes(names)},
                    optional={
                        "fake": sometimes(fake_actions),
                        "run": sometimes(st.text(max_size=10)),
                        "needs": sometimes(st.lists(names, max_size=3)),
                        "background": sometimes(st.booleans()),
                        "timeout": sometimes(st.floats(-1, 5)),
                    },
                ),
                max_size=4,
            )
        ),
        "expect": sometimes(
            st.fixed_dictionaries(
                {},
                optional={
                    "status": sometimes(st.sampled_from(["completed", "failed", "skipped"])),
                    "order": sometimes(st.lists(st.text(max_size=12), max_size=2)),
                    "markers": values,
                    "max_concurrency": values,
                    "input_error": values,
                },
            )
        ),
    },
    optional={
        "description": values,
        "rules": sometimes(st.lists(st.sampled_from(["needs.wait", "x.y", "nope"]), max_size=2)),
        "params": sometimes(st.dictionaries(names, scalars, max_size=2)),
        "matrix": sometimes(st.dictionaries(names, st.lists(scalars, max_size=3), max_size=2)),
        "coordinator": values,
        "cancel": values,
        "timeout": values,
    },
)


@st.composite
def yaml_texts(draw: st.DrawFn, documents: st.SearchStrategy[Any]) -> str:
    """A document dumped as YAML in a drawn style, then sometimes damaged a little."""
    text = yaml.safe_dump(
        draw(documents),
        default_flow_style=draw(st.sampled_from([False, True, None])),
        allow_unicode=draw(st.booleans()),
        width=draw(st.sampled_from([80, 20, 10**6])),
        explicit_start=draw(st.booleans()),
        sort_keys=False,
    )
    text = HUGE.sub(lambda found: "9" * int(found.group(1)), text)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(st.sampled_from(SPECIAL)) + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(1, 8)) :]
    return text


@st.composite
def deep_texts(draw: st.DrawFn) -> str:
    """Nesting near and past the loaders' limit, in each of the ways YAML nests, and alias bombs."""
    depth = draw(st.sampled_from([2, 50, 999, 1000, 1001, 3000, 40_000]))
    kind = draw(st.sampled_from(["flow-seq", "flow-map", "block-seq", "block-map", "laughs"]))
    if kind == "flow-seq":
        return "hooks: " + "[" * depth + "]" * depth + "\n"
    if kind == "flow-map":
        return "hooks: " + "{a: " * depth + "b" + "}" * depth + "\n"
    if kind == "block-seq":
        return "hooks:\n" + "".join(" " * i + "-\n" for i in range(1, min(depth, 3000)))
    if kind == "block-map":
        return "hooks:\n" + "".join(" " * i + "a:\n" for i in range(1, min(depth, 3000)))
    levels, fan = draw(st.integers(1, 12)), draw(st.integers(2, 10))
    lines = ["l0: &l0 [" + ", ".join(["x"] * fan) + "]"]
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * fan) + "]")
    where = draw(st.sampled_from(["top", "jobs", "env", "needs", "expect"]))
    top = f"*l{levels}"
    bomb = {
        "top": f"hooks: {top}\nname: s\njobs: {top}\nexpect: {top}",
        "jobs": f"hooks:\n  h:\n    jobs: {top}\nname: s\njobs: {top}\nexpect: {{}}",
        "env": f"hooks:\n  h:\n    jobs:\n      - {{name: a, run: x, env: {top}}}\nname: s",
        "needs": f"hooks:\n  h:\n    jobs:\n      - {{name: a, run: x, needs: {top}}}",
        "expect": f"name: s\njobs: [{{name: a, fake: [hang]}}]\nexpect: {{status: {top}}}",
    }[where]
    return "\n".join(lines) + "\n" + bomb + "\n"


texts = st.one_of(
    yaml_texts(values),
    yaml_texts(hooks_shaped),
    yaml_texts(scenario_shaped),
    st.text(),
    st.lists(st.sampled_from((*SPECIAL, *"ab: -\n")), max_size=60).map("".join),
    deep_texts(),
)


@st.composite
def encoded(draw: st.DrawFn) -> bytes:
    """Text in a drawn encoding (characters it cannot hold replaced), sometimes cut or garbled."""
    text = draw(st.one_of(yaml_texts(hooks_shaped), yaml_texts(scenario_shaped), st.text()))
    data = codecs.encode(text, draw(st.sampled_from(ENCODINGS)), "replace")
    if draw(st.booleans()) and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + draw(st.binary(max_size=4)) + data[at + 1 :]
    return data


inputs = st.one_of(texts.map(lambda text: text.encode("utf-8")), encoded(), st.binary())

# -- the properties ----------------------------------------------------------------------------


def example_each(found: tuple[bytes, ...]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Run each of `found` on every run, whatever the profile draws."""

    def decorate(test: Callable[..., None]) -> Callable[..., None]:
        for data in found:
            test = example(data=data)(test)
        return test

    return decorate


class Hang(Exception):
    """An input took longer than HANG_LIMIT."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def expire(_signum: int, _frame: object) -> None:
        raise Hang(f"took more than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="loader-fuzz-") as directory:
        yield Path(directory)


def located(text: str, path: str) -> bool:
    """Whether `text` is one `PATH:LINE: message` line, LINE a positive number."""
    lines = text.splitlines()
    pattern = re.escape(path) + r":[1-9][0-9]*: \S.*"
    return len(lines) == 1 and re.fullmatch(pattern, lines[0], re.DOTALL) is not None


def refused_cleanly(load: Callable[[], object], path: str, *, many: bool = False) -> None:
    """Run `load`: it returns, or raises an InputError made of located lines."""
    try:
        with time_limit(HANG_LIMIT):
            load()
    except InputError as error:
        text = str(error)
        lines = text.split("\n") if many else [text]
        bad = [line for line in lines if not located(line, path)]
        assert not bad, f"not one `{path}:LINE: message` line: {bad[0]!r}"


def load_hooks(path: Path) -> None:
    loaded = load_hooks_file(path)
    for hook in [*list(loaded.hooks)[:3], "no such hook"]:
        with contextlib.suppress(InputError):
            select_hook(loaded, hook)


def load_scenario(path: Path) -> None:
    from harness.load import build, load_file

    file = load_file(path)
    errors = []
    for case in file.cases[:MAX_CASES]:
        try:
            build(file, case)
        except InputError as error:
            errors.append(error)
    if errors:
        raise errors[0]


# Inputs the fuzzer found that crashed the hooks loader (PyYAML trusts explicit tags):
# each was an IndexError, KeyError, TypeError or ValueError before.
FOUND = (b"!!int", b"!!float", b"!!bool maybe", b"!!timestamp x", b"!!map :", b"!!map $")
FOUND += (b"!!seq $", b"!!set :", b"? !!omap x\n: 1", b"hooks: {h: {jobs: [{name: !!int 0x}]}}")
FOUND += (b'- "\\U00110000"\n',)  # chr() out of range in PyYAML's pure-Python scanner


@PROFILE
@given(data=inputs)
@example_each(FOUND)
def test_the_hooks_loader_accepts_or_refuses_any_file_cleanly(scratch: Path, data: bytes) -> None:
    path = scratch / "hooks.yml"
    path.write_bytes(data)
    refused_cleanly(lambda: load_hooks(path), str(path))


@PROFILE
@given(data=inputs)
def test_the_scenario_loader_accepts_or_refuses_any_file_cleanly(
    scratch: Path, data: bytes
) -> None:
    from harness.model import display_path

    path = scratch / "scenario.yml"
    path.write_bytes(data)
    refused_cleanly(lambda: load_scenario(path), display_path(path), many=True)


@pytest.mark.parametrize("loader", ["hooks", "scenario"])
def test_an_alias_bomb_and_a_self_alias_are_refused_without_a_hang(
    scratch: Path, loader: str
) -> None:
    # Found by the fuzzer: `a: &a [*a]` was a RecursionError and nine levels of aliases of
    # aliases a hang in the scenario loader (coordinator.yamlsrc.map_lines walked each
    # alias again).
    from harness.model import display_path

    laughs = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    laughs += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, 10)]
    for text in ("a: &a [*a]\nhooks: *a\nname: s\n", "\n".join(laughs) + "\nhooks: {}\nname: s\n"):
        path = scratch / f"{loader}.yml"
        path.write_text(text)
        if loader == "hooks":
            refused_cleanly(lambda: load_hooks(path), str(path))  # noqa: B023
        else:
            refused_cleanly(lambda: load_scenario(path), display_path(path), many=True)  # noqa: B023

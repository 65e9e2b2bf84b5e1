"""What a scenario file cannot do: reach Python, escape its directories, run its values.

A scenario is a template rendered in Jinja2's sandbox, so an expression
reaching for Python internals is refused with one `FILE:LINE: message`. Marker
paths are relative to the work dir and cannot climb out of it. And apart from
a job's own `run:`, no value of a file is ever run by a shell: text that looks
like a command substitution is printed and written as it is, which the real
runs at the end check.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from coordinator.model import InputError
from harness import (
    DEFAULT_COMMAND,
    ExternalDriver,
    InProcessDriver,
    format_outcome,
    load_scenarios,
    run_scenario,
)
from harness.fakes import check_marker_path

# Each reaches for Python internals a different way; `attribute` is the one refused.
ESCAPES = {
    "mro": ("{{ ''.__class__.__mro__ }}", "'__class__' of 'str'"),
    "cycler-globals": ("{{ cycler.__init__.__globals__ }}", "'__init__' of 'type'"),
    "template-context": (
        "{{ self._TemplateReference__context }}",
        "'_TemplateReference__context' of 'TemplateReference'",
    ),
    "subclasses": ("{{ dict.__subclasses__() }}", "'__subclasses__' of 'type'"),
    "mro-method": ("{{ dict.mro() }}", "'mro' of 'type'"),
    "attr-filter": ("{{ ''|attr('__class__') }}", "'__class__' of 'str'"),
    "subscript": ("{{ ''['__class__'] }}", "'__class__' of 'str'"),
    "format-field": ("{{ '{0.__class__}'.format('') }}", "'__class__' of 'str'"),
    "format-map-field": ("{{ '{x.__class__}'.format_map({'x': ''}) }}", "'__class__' of 'str'"),
    # The two ways around the format check that Jinja 3.1.5 and 3.1.6 closed.
    "stored-format": ("{% set f = '{0.__class__}'.format %}{{ f('') }}", "'__class__' of 'str'"),
    "attr-format": ("{{ ('{0.__class__}'|attr('format'))('') }}", "'__class__' of 'str'"),
    "bound-self": ("{{ [].pop.__self__ }}", "'__self__' of 'builtin_function_or_method'"),
    "lipsum-globals": ("{{ lipsum.__globals__ }}", "'__globals__' of 'function'"),
    "namespace-init": ("{{ namespace.__init__ }}", "'__init__' of 'type'"),
    "loop-internals": (
        "{% for x in [1] %}{{ loop.__class__ }}{% endfor %}",
        "'__class__' of 'LoopContext'",
    ),
    "int-class": ("{% set t = (1).__class__ %}{{ t }}", "'__class__' of 'int'"),
}


def scenario_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.mark.parametrize("expression, attribute", ESCAPES.values(), ids=ESCAPES.keys())
def test_template_reaching_for_python_internals_is_refused_at_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expression: str, attribute: str
) -> None:
    monkeypatch.chdir(tmp_path)
    body = (
        "name: escape\njobs:\n  - name: a\n    fake:\n"
        f"      - stdout: >-\n          {expression}\n"
        "      - write: done.txt\nexpect: {status: completed}\n"
    )
    path = scenario_file(tmp_path, body)
    with pytest.raises(InputError) as caught:
        load_scenarios(path)
    assert str(caught.value) == (
        f"s.yml:6: template: access to attribute {attribute} object is unsafe."
    )


def test_a_refused_escape_has_no_side_effect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = scenario_file(
        tmp_path,
        """
        name: escape
        jobs:
          - name: a
            fake: [stdout: "{{ cycler.__init__.__globals__.os.system('touch pwned') }}"]
        expect: {status: completed}
        """,
    )
    with pytest.raises(InputError, match=r"^s\.yml:4: template: .* is unsafe"):
        load_scenarios(path)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "path, problem",
    [
        ("/etc/passwd", "must be relative"),
        ("../x", "must not contain '..'"),
        ("a/../../x", "must not contain '..'"),
        ("./../x", "must not contain '..'"),
        ("a/..", "must not contain '..'"),
        (".", "names the work dir itself"),
        ("./", "names the work dir itself"),
        (".witness/000-a", "inside the harness's .witness/"),
        ("./.witness/000-a", "inside the harness's .witness/"),
        ("", "must not be empty"),
        ("a\0b", "NUL"),
    ],
)
def test_marker_paths_cannot_leave_the_work_dir(path: str, problem: str) -> None:
    message = check_marker_path(path)
    assert message is not None and problem in message


@pytest.mark.parametrize(
    "place",
    [
        "fake: [require: ../../etc/passwd]",
        "fake: [grandchild: {after: 0, write: /tmp/late}]",
        "fake: [write: {path: a/../../x, content: hi}]",
        "fake: [write: a.txt]\n    cwd: ../elsewhere",
        "fake: [write: a.txt]\nexpect:\n  markers: {content: {../secret: x}}",
        "fake: [write: a.txt]\nexpect:\n  markers: {absent: [/etc/passwd]}",
    ],
)
def test_every_path_a_scenario_names_is_checked_when_it_loads(tmp_path: Path, place: str) -> None:
    text = f"name: paths\njobs:\n  - name: a\n    {place}\n"
    if "expect:" not in place:
        text += "expect: {status: completed}\n"
    with pytest.raises(InputError, match=r"work dir|'\.\.'") as caught:
        load_scenarios(scenario_file(tmp_path, text))
    assert caught.value.line is not None


# Every value below looks like shell code; all of it must be printed or written as text.
LITERAL = r"""
name: literal
env:
  GREETING: "$(touch pwned-env)"
jobs:
  - name: "$(touch pwned-name)"
    fake:
      - stdout: "$(touch pwned-stdout); `touch pwned-tick`"
      - stderr: "'; touch pwned-quote; '"
      - write: {path: "$(touch pwned-path)/it's \"here\"", content: "$(touch pwned-content)\n$HOME"}
      - grandchild: {after: 0, write: "`touch pwned-grandchild`"}
  - name: wait-for-grandchild
    needs: ["$(touch pwned-name)"]
    timeout: 20
    run: "until [ -e '`touch pwned-grandchild`' ]; do sleep 0.01; done"
  - name: in-odd-cwd
    needs: [wait-for-grandchild]
    cwd: "$(touch pwned-path)"
    fake: [require: "`touch pwned-grandchild`", write: "; touch pwned-cwd"]
expect:
  status: completed
  output:
    "$(touch pwned-name)": ["$(touch pwned-stdout); `touch pwned-tick`", "'; touch pwned-quote; '"]
  markers:
    content:
      "$(touch pwned-path)/it's \"here\"": "$(touch pwned-content)\n$HOME"
    present: ["`touch pwned-grandchild`", "; touch pwned-cwd"]
"""


@pytest.mark.parametrize(
    "driver",
    [InProcessDriver(), ExternalDriver(DEFAULT_COMMAND)],
    ids=["in-process", "external"],
)
def test_values_that_look_like_shell_code_are_printed_and_written_literally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, driver: InProcessDriver | ExternalDriver
) -> None:
    monkeypatch.chdir(tmp_path)
    (scenario,) = load_scenarios(scenario_file(tmp_path, LITERAL))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    outcome = run_scenario(scenario, run_dir, driver)
    assert outcome.ok, format_outcome(outcome)
    executed = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("pwned*"))
    assert executed == []

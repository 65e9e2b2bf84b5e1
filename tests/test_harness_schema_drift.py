"""One source of truth for a valid scenario: harness/scenario.schema.json, checked by `jsonschema`.

- Every committed scenario, every whole scenario in README.md and
  docs/scenarios.md, and the `make new-scenario` skeleton validate *as
  written* (the YAML an editor sees, `#%` lines being comments) against the
  schema with a real validator, `jsonschema`: what the issue's contributor
  ran in an editor and with check-jsonschema.
- The harness's own validator (harness/schema.py, which adds lines and
  did-you-means) gives the same verdict as `jsonschema` on every rendered
  document we have (each good scenario's cases, each bad corpus file that
  renders and parses) and on thousands of generated variants of them.
- The loader and the schema agree file by file: whatever the loader
  accepts, the schema accepts as written; whatever the loader rejects beyond
  the schema is one of the checks listed in `harness.load.BEYOND_SCHEMA`.
- What the loader accepts, the coordinator accepts: a job the harness
  collects never turns into an input error at run time (it did for an env
  key `A=B`).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coordinator import loader as coordinator_loader
from coordinator.model import InputError
from coordinator.yamlsrc import parse_yaml
from harness.hooksfile import dump, hooks_document
from harness.load import BEYOND_SCHEMA, ScenarioErrors, load_all, typed_expressions, yaml_value
from harness.render import render
from harness.schema import load_schema, scenario_validator

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "bad" / "scenarios"
SCENARIOS = sorted((ROOT / "scenarios").rglob("*.yml"))
SCHEMA_LINE = "# yaml-language-server: $schema="


def written_validator() -> jsonschema.Draft7Validator:
    """`jsonschema` with the schema as shipped: what editors and check-jsonschema use."""
    return jsonschema.Draft7Validator(load_schema())


def rendered_validator() -> jsonschema.Draft7Validator:
    """`jsonschema` for a rendered document: no `"{{ ... }}"` may stand for a value any more."""
    schema = copy.deepcopy(dict(load_schema()))
    schema["definitions"]["template"] = False
    return jsonschema.Draft7Validator(schema)


def doc_examples() -> list[tuple[str, str]]:
    examples = []
    for doc in ("README.md", "docs/scenarios.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)):
            if block.startswith(SCHEMA_LINE) and "\nname:" in block:
                examples.append((f"{doc}#{i}", block))
    return examples


def as_written_problems(text: str) -> list[str]:
    doc = parse_yaml(text, "as-written.yml")  # refuses duplicate keys, as editors do
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in written_validator().iter_errors(doc)
    ]


def test_the_schema_is_a_valid_draft_07_schema() -> None:
    jsonschema.Draft7Validator.check_schema(load_schema())


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_committed_scenario_validates_as_written(path: Path) -> None:
    assert as_written_problems(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(("name", "text"), doc_examples(), ids=lambda v: str(v)[:30])
def test_every_scenario_in_the_docs_validates_as_written(name: str, text: str) -> None:
    assert as_written_problems(text) == [], name


def test_the_issue_cases_are_valid_as_written_and_render_to_their_types() -> None:
    # Quoted "{{ strategy }}" no longer fails the enum; a quoted whole expression renders
    # to the value (a number stays a number), so nothing needs to be unquoted YAML.
    text = (
        "name: t\nmatrix: {limit: [2]}\n"
        'coordinator: {strategy: "{{ \'wave\' }}", max_parallel: "{{ limit }}"}\n'
        'jobs:\n  - {name: a, needs: ["step-{{ limit - 1 }}"], fake: []}\n'
        "expect: {}\n"
    )
    assert as_written_problems(text) == []
    variables = {"limit": 2, "_scenario_value_": yaml_value}
    rendered = render(typed_expressions(text), variables, path="t")
    doc = parse_yaml(rendered.text, "t")
    assert doc["coordinator"] == {"strategy": "wave", "max_parallel": 2}
    assert doc["jobs"][0]["needs"] == ["step-1"]


def test_a_whole_expression_renders_any_value_as_yaml() -> None:
    for value in [0, 0.25, 1e-05, True, None, "yes", "a: b", "", [1, "x"], {"job": "build"}]:
        assert parse_yaml(f"v: {yaml_value(value)}\n", "v")["v"] == value


def test_a_quote_inside_a_command_is_left_alone() -> None:
    text = 'jobs:\n  - name: a\n    run: echo "{{ x }}"\n  - {name: b, run: "{{ x }}"}\n'
    assert typed_expressions(text) == (
        'jobs:\n  - name: a\n    run: echo "{{ x }}"\n'
        "  - {name: b, run: {{ _scenario_value_(( x )) }}}\n"
    )
    not_yaml = 'jobs: [{name: a, run: echo {{ x }}}]\nx: "{{ y }}"\n'
    assert typed_expressions(not_yaml) == not_yaml  # rendered as before


# -- the harness's validator and jsonschema agree ------------------------------------------


def rendered_documents() -> Iterator[tuple[str, Any]]:
    """Each case of each good scenario and each corpus file that renders and parses."""
    for path in [*SCENARIOS, *sorted(CORPUS.glob("*.yml"))]:
        try:
            file, _ = load_all(path)
        except InputError:
            file = None
        source = path.read_text(encoding="utf-8", errors="replace")
        variables: list[dict[str, Any]] = [dict(c.variables) for c in file.cases] if file else [{}]
        for case in variables:
            try:
                rendered = render(
                    typed_expressions(source), {**case, "_scenario_value_": yaml_value}, path="x"
                )
                yield path.name, parse_yaml(rendered.text, "x")
            except (InputError, RecursionError):
                continue


def is_json(value: Any) -> bool:
    """JSON has no NaN or infinity (YAML's .nan, .inf): the schema cannot speak of them."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(is_json(v) for v in value.values())
    if isinstance(value, list):
        return all(is_json(v) for v in value)
    return True


DOCUMENTS = [(name, doc) for name, doc in rendered_documents() if is_json(doc)]


def test_there_are_documents_of_both_verdicts() -> None:
    verdicts = {rendered_validator().is_valid(doc) for _, doc in DOCUMENTS}
    assert verdicts == {True, False}
    assert len(DOCUMENTS) > 100


@pytest.mark.parametrize(("name", "doc"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_our_validator_agrees_with_jsonschema(name: str, doc: Any) -> None:
    ours = scenario_validator().errors(doc)
    theirs = list(rendered_validator().iter_errors(doc))
    assert bool(ours) == bool(theirs), (ours, [e.message for e in theirs])


MUTATIONS = st.sampled_from(
    [0, -1, 1.5, "", "x", "A=B", "$CI", "a\x00b", True, None, [], ["a"], {}, {"k": 1}, 256]
)


def mutate(doc: Any, data: st.DataObject) -> Any:
    """Replace one value somewhere in the document (or add or drop a key)."""
    doc = copy.deepcopy(doc)
    node: Any = doc
    for _ in range(data.draw(st.integers(0, 6))):
        children = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
        children = [c for c in children if isinstance(node[c], (dict, list)) and node[c]]
        if not children:
            break
        node = node[data.draw(st.sampled_from(children))]
    if isinstance(node, dict) and node:
        key = data.draw(st.sampled_from(sorted(node, key=str)))
        action = data.draw(st.sampled_from(["replace", "drop", "rename"]))
        if action == "replace":
            node[key] = data.draw(MUTATIONS)
        elif action == "drop":
            del node[key]
        else:
            node[data.draw(st.sampled_from(["A=B", "neds", "name", "", "x"]))] = node.pop(key)
    elif isinstance(node, list) and node:
        node[data.draw(st.integers(0, len(node) - 1))] = data.draw(MUTATIONS)
    return doc


GOOD = [doc for _, doc in DOCUMENTS if rendered_validator().is_valid(doc)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_our_validator_agrees_with_jsonschema_on_variants(data: st.DataObject) -> None:
    doc = mutate(data.draw(st.sampled_from(GOOD)), data)
    ours = scenario_validator().errors(doc)
    theirs = [e.message for e in rendered_validator().iter_errors(doc)]
    assert bool(ours) == bool(theirs), (doc, ours, theirs)


# -- the loader and the schema agree ---------------------------------------------------------


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.yml"))


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_what_the_loader_rejects_beyond_the_schema_is_a_listed_check(path: Path) -> None:
    try:
        load_all(path)
    except InputError as error:
        errors = error.errors if isinstance(error, ScenarioErrors) else [error]
    else:  # only the plugin, seeing every file, can reject it
        assert "is also the name of" in path.read_text(encoding="utf-8").split("\n", 1)[0]
        return
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return  # not text: the loader says so before any schema applies
    try:
        written = as_written_problems(text)
    except InputError:
        return  # not YAML as written: YAML's verdict, not the schema's (the loader agrees)
    if written or any(mark in text for mark in ("{{", "{%", "#%")):
        return  # the schema rejects it too; or it is a template, judged once rendered
    beyond = [e.message for e in errors if not any(part in e.message for part in BEYOND_SCHEMA)]
    header = [m for m in beyond if "before rendering" in m or "a scenario needs" in m]
    assert beyond == header, f"the schema accepts {path.name} but the loader says {beyond}"


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_what_the_loader_accepts_the_coordinator_accepts(path: Path, tmp_path: Path) -> None:
    _, scenarios = load_all(path)
    for scenario in scenarios:
        if not scenario.input_error:
            hooks = tmp_path / "hooks.yml"
            hooks.write_text(dump(hooks_document(scenario)), encoding="utf-8")
            coordinator_loader.load_hooks_file(hooks)


JOB_VALUES = {
    "env": st.dictionaries(
        st.sampled_from(["A", "A=B", "", "B\x00", "PATH_X", "1"]),
        st.sampled_from(["x", "", 1, 2.5, "a\x00b"]),
        max_size=2,
    ),
    "skip": st.sampled_from([True, False, "CI", "$CI", "A=B", ""]),
    "only": st.sampled_from([True, "CI", "", "X\x00"]),
    "timeout": st.sampled_from([0.5, 3, 1e9]),
    "cwd": st.sampled_from([".", "sub", ""]),
    "needs": st.sampled_from([[], ["first"], [""]]),
    "background": st.booleans(),
}


@settings(max_examples=150, deadline=None)
@given(st.fixed_dictionaries({}, optional=JOB_VALUES))
def test_a_job_the_harness_collects_never_becomes_an_input_error(tmp_path_factory, job) -> None:
    tmp = tmp_path_factory.mktemp("drift")
    (tmp / "sub").mkdir()
    doc = {
        "name": "drift",
        "jobs": [{"name": "first", "run": "true"}, {"name": "second", "run": "true", **job}],
        "expect": {},
    }
    path = tmp / "drift.yml"
    path.write_text(dump(doc), encoding="utf-8")
    try:
        _, (scenario,) = load_all(path)
    except InputError:
        return  # refused at collection: fine, that is where it belongs
    hooks = tmp / "hooks.yml"
    hooks.write_text(dump(hooks_document(scenario)), encoding="utf-8")
    coordinator_loader.load_hooks_file(hooks)  # raises InputError on drift

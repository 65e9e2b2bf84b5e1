"""The schema subset validator: messages, lines, and the keyword guard."""

from __future__ import annotations

import json

import pytest

from coordinator.yamlsrc import parse_yaml
from harness.schema import SCHEMA_PATH, SchemaError, Validator, scenario_validator


def check(text: str) -> SchemaError:
    with pytest.raises(SchemaError) as caught:
        scenario_validator().validate(parse_yaml(text, "s.yml"))
    return caught.value


def test_unknown_top_level_key_lists_the_allowed_ones() -> None:
    problem = check("name: x\njobs: []\nexpect: {}\nexpects: {}\n")
    assert problem.line == 4
    assert problem.message.startswith("unknown key 'expects' in scenario (did you mean 'expect'?)")


def test_missing_required_key_points_at_the_mapping() -> None:
    problem = check("name: x\njobs:\n  - fake: []\nexpect: {}\n")
    assert (problem.line, problem.message) == (3, "jobs[0]: job needs the key 'name'")


def test_any_of_reports_the_branch_of_the_right_type() -> None:
    wrong_type = check("name: x\njobs: [{name: a, fake: [42]}]\nexpect: {}\n")
    assert (
        wrong_type.message == "jobs[a].fake[0]: expected a mapping or a string, got an integer (42)"
    )
    two_keys = check("name: x\njobs: [{name: a, fake: [{sleep: 1, exit: 2}]}]\nexpect: {}\n")
    assert two_keys.message == "jobs[a].fake[0]: fake action takes exactly one key, got sleep, exit"
    status = check("name: x\njobs: []\nexpect: {status: {a: complete}}\n")
    assert status.message == (
        "expect.status.a: 'complete' is not one of: completed, failed, timed_out, cancelled, "
        "skipped (did you mean 'completed'?)"
    )


def test_input_error_scenarios_switch_job_checks_off() -> None:
    raw = "name: x\ncoordinator: 7\njobs: [{bogus: 1}]\nexpect: {input_error: true}\n"
    scenario_validator().validate(parse_yaml(raw, "s.yml"))
    parts = raw.replace("true", "{job: a, cycle: [a, b], suggestion: b}")
    scenario_validator().validate(parse_yaml(parts, "s.yml"))
    assert check(raw.replace("input_error: true", "status: completed")).line == 2


def test_input_error_takes_true_or_the_fixed_parts_only() -> None:
    text = "name: x\njobs: []\nexpect:\n  input_error: {}\n"
    free_text = check(text.replace("{}", "dependency cycle"))
    assert free_text.line == 4
    assert free_text.message == (
        "expect.input_error: expected a mapping or a boolean, got a string ('dependency cycle')"
    )
    unknown = check(text.replace("{}", "{job: a, message: cycle}"))
    assert unknown.line == 4 and "unknown key 'message'" in unknown.message
    assert check(text.replace("{}", "{cycle: a}")).message.startswith("expect.input_error.cycle")


def test_unsupported_keywords_are_refused_when_the_schema_is_loaded() -> None:
    with pytest.raises(
        ValueError, match=r"#/properties/a: unsupported schema keyword\(s\) \['oneOf'\]"
    ):
        Validator({"type": "object", "properties": {"a": {"oneOf": []}}})


def test_the_shipped_schema_is_draft_07_json() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    Validator(schema)

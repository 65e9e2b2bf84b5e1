"""YAML parsing with line numbers, and its refusals (coordinator.yamlsrc)."""

from __future__ import annotations

import textwrap

import pytest

from coordinator.model import InputError
from coordinator.yamlsrc import (
    LineList,
    LineMap,
    describe,
    did_you_mean,
    parse_yaml,
    read_source,
)


def _parse(text: str) -> object:
    return parse_yaml(textwrap.dedent(text), "f.yml")


def _error(text: str) -> str:
    with pytest.raises(InputError) as info:
        parse_yaml(textwrap.dedent(text), "f.yml")
    return str(info.value)


def test_lines_of_mappings_keys_and_items() -> None:
    doc = _parse(
        """\
        # a comment
        top: 1
        items:
          - first
          - name: second
            run: x
          - {flow: true}
        """
    )
    assert isinstance(doc, LineMap)
    assert doc.line == 2
    assert doc.key_line("top") == 2
    assert doc.key_line("items") == 3
    items = doc["items"]
    assert isinstance(items, LineList)
    assert items.line == 4
    assert [items.item_line(i) for i in range(3)] == [4, 5, 7]
    assert isinstance(items[1], LineMap)
    assert items[1].line == 5
    assert items[1].key_line("run") == 6
    assert items[2].line == 7


def test_key_line_of_an_absent_key_is_the_mapping_line() -> None:
    doc = _parse("\n\na: 1\n")
    assert doc.key_line("missing") == 3


def test_values_are_plain_python_with_safe_loader_semantics() -> None:
    doc = _parse(
        """\
        s: text
        q: "3"
        i: 3
        f: 1.5
        b: true
        yes_is_bool: yes
        n: null
        empty:
        """
    )
    assert doc == {
        "s": "text",
        "q": "3",
        "i": 3,
        "f": 1.5,
        "b": True,
        "yes_is_bool": True,
        "n": None,
        "empty": None,
    }
    assert type(doc["i"]) is int
    assert type(doc["f"]) is float
    assert isinstance(doc, dict)


def test_value_text_keeps_numbers_as_written() -> None:
    doc = _parse("a: 3.10\nb: 0x10\nc: [1]\nd: 'q'\n")
    assert doc["a"] == 3.1
    assert doc.value_text("a") == "3.10"
    assert doc.value_text("b") == "0x10"
    assert doc.value_text("c") is None
    assert doc.value_text("d") == "q"


def test_merge_keys_are_resolved_and_may_be_overridden() -> None:
    doc = _parse(
        """\
        base: &base {k: 1, j: 2}
        m:
          <<: *base
          k: 3
        """
    )
    assert doc["m"] == {"k": 3, "j": 2}
    assert doc["m"].key_line("k") == 4
    assert doc["m"].key_line("j") == 1


def test_a_recursive_alias_is_parsed_without_looping() -> None:
    doc = _parse("a: &x [*x]\n")
    assert doc["a"][0] is doc["a"]


def test_duplicate_key_is_refused_at_the_second_one() -> None:
    assert _error("a: 1\nb: 2\na: 3\n") == "f.yml:3: duplicate key 'a' (first at line 1)"


def test_duplicate_keys_compare_by_value_and_nested() -> None:
    text = """\
        jobs:
          - name: a
            run: x
            "run": y
        """
    assert _error(text) == "f.yml:4: duplicate key 'run' (first at line 3)"
    assert _error("1: a\n0x1: b\n") == "f.yml:2: duplicate key 1 (first at line 1)"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n", "\n\n"])
def test_empty_document(text: str) -> None:
    assert _error(text) == "f.yml:1: file is empty"


def test_explicit_null_document_is_not_empty() -> None:
    assert _parse("null\n") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "a: [1, 2\nb: 3\n",
            "f.yml:2: invalid YAML: while parsing a flow sequence (line 1), "
            "expected ',' or ']', but got ':'",
        ),
        ("a: b: c\n", "f.yml:1: invalid YAML: mapping values are not allowed here"),
        (
            "a:\n\tb: 1\n",
            "f.yml:2: invalid YAML: while scanning for the next token, "
            "found character '\\t' that cannot start any token",
        ),
        (
            "a: 1\n---\nb: 2\n",
            "f.yml:2: invalid YAML: expected a single document in the stream (line 1), "
            "but found another document",
        ),
        ("a: *nope\n", "f.yml:1: invalid YAML: found undefined alias 'nope'"),
        (
            "a: 1\nb: !!python/object:os.system x\n",
            "f.yml:2: invalid YAML: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object:os.system'",
        ),
        ("ok: 1\nbad: x\0y\n", "f.yml:2: invalid YAML: character #x0000 is not allowed"),
        (
            "a: 1\n? [k]\n: v\n",
            "f.yml:2: a mapping key must be a plain value, not a list or mapping",
        ),
    ],
)
def test_syntax_errors_name_the_problem_line(text: str, expected: str) -> None:
    assert _error(text) == expected


def test_deep_nesting_parses_or_is_a_clean_input_error() -> None:
    # libyaml composes 600 levels; the pure-Python parser runs out of stack and
    # says so. Either way: a value or one clean message, never a RecursionError.
    text = "[" * 600 + "]" * 600
    try:
        value = parse_yaml(text, "f.yml")
    except InputError as error:
        assert str(error) == "f.yml: YAML nesting is too deep"
    else:
        for _ in range(600):
            assert isinstance(value, list)
            value = value[0] if value else None


def test_read_source_reads_utf8_and_drops_a_bom(tmp_path) -> None:
    path = tmp_path / "f.yml"
    path.write_bytes("\ufeffname: café\n".encode())
    assert read_source(path) == "name: café\n"


def test_read_source_names_line_and_column_of_a_bad_byte(tmp_path) -> None:
    path = tmp_path / "f.yml"
    path.write_bytes(b"a: 1\nb: 2\nc: x\xffy\n")
    with pytest.raises(InputError) as info:
        read_source(path)
    assert str(info.value) == f"{path}:3: not valid UTF-8: byte 0xff at column 5"
    assert info.value.line == 3


def test_read_source_bad_byte_after_a_bom(tmp_path) -> None:
    path = tmp_path / "f.yml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\n\xc3\n")
    with pytest.raises(InputError) as info:
        read_source(path)
    assert str(info.value) == f"{path}:2: not valid UTF-8: byte 0xc3 at column 1"


def test_read_source_missing_file(tmp_path) -> None:
    path = tmp_path / "absent.yml"
    with pytest.raises(InputError) as info:
        read_source(path)
    assert str(info.value) == f"{path}:1: cannot read file: No such file or directory"


def test_read_source_directory(tmp_path) -> None:
    with pytest.raises(InputError) as info:
        read_source(tmp_path)
    assert str(info.value) == f"{tmp_path}:1: cannot read file: Is a directory"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"),
        (True, "boolean true"),
        (3, "number 3"),
        (1.5, "number 1.5"),
        ("x", "string 'x'"),
        ([1], "a list"),
        ({}, "a mapping"),
        (b"x", "a bytes value"),
    ],
)
def test_describe(value: object, expected: str) -> None:
    assert describe(value) == expected


def test_did_you_mean() -> None:
    assert did_you_mean("need", ["name", "needs"]) == " (did you mean 'needs'?)"
    assert did_you_mean("zzz", ["name", "needs"]) == ""
    assert did_you_mean(3, ["name"]) == ""

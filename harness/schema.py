"""Validating a rendered scenario against `scenario.schema.json`, with line numbers.

The JSON Schema file is the single source of truth: editors use it through
a `# yaml-language-server: $schema=...` line, and the harness checks files
with it here. We interpret the subset of draft-07 the schema uses rather
than depend on `jsonschema`, because we need what it cannot give: the line
of the offending key, a close-match suggestion for a typo, and one short
message instead of a tree of alternatives. Keywords outside the subset are
rejected when the schema is loaded, so the schema cannot silently grow a
rule this module ignores.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from coordinator.yamlsrc import did_you_mean

SCHEMA_PATH = Path(__file__).with_name("scenario.schema.json")

_ANNOTATIONS = {"$schema", "$id", "$comment", "title", "description", "definitions", "default"}
_KEYWORDS = _ANNOTATIONS | {
    "$ref",
    "type",
    "enum",
    "pattern",
    "minLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "properties",
    "required",
    "additionalProperties",
    "propertyNames",
    "minProperties",
    "maxProperties",
    "items",
    "minItems",
    "anyOf",
    "if",
    "then",
    "else",
}
_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}


@dataclass
class SchemaError(Exception):
    """A rendered scenario breaks the schema; `line` is a rendered line (1-based) or None."""

    message: str
    line: int | None


def json_type(value: Any) -> str:
    """The JSON Schema type name of a parsed YAML value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _admits(type_name: str, value: Any) -> bool:
    actual = json_type(value)
    return actual == type_name or (type_name == "number" and actual == "integer")


def key_line(mapping: Any, key: Any, default: int | None) -> int | None:
    """Line of `key` in a yamlsrc mapping, else `default`."""
    getter = getattr(mapping, "key_line", None)
    line = getter(key) if getter is not None else None
    return line if line is not None else default


def item_line(items: Any, index: int, default: int | None) -> int | None:
    """Line of item `index` in a yamlsrc list, else `default`."""
    getter = getattr(items, "item_line", None)
    line = getter(index) if getter is not None else None
    return line if line is not None else default


def node_line(node: Any, default: int | None) -> int | None:
    """Line where a yamlsrc mapping or list starts, else `default`."""
    line = getattr(node, "line", None)
    return line if isinstance(line, int) else default


class Validator:
    """Checks values against one schema document; raises SchemaError on the first problem."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._root = schema
        _check_keywords(schema, "#")

    def validate(self, value: Any) -> None:
        self._check(value, self._root, "", node_line(value, 1))

    def validate_property(self, document: Mapping[str, Any], key: str) -> None:
        """Check one top-level key of a document (the header is read before the rest)."""
        line = key_line(document, key, node_line(document, 1))
        self._check(document[key], self._root["properties"][key], key, line)

    def validate_definition(self, value: Any, name: str, line: int | None) -> None:
        """Check a value against `#/definitions/<name>`."""
        self._check(value, self._root["definitions"][name], name, line)

    def is_valid(self, value: Any, schema: Mapping[str, Any]) -> bool:
        try:
            self._check(value, schema, "", None)
        except SchemaError:
            return False
        return True

    # -- the walk -------------------------------------------------------------

    def _resolve(self, schema: Any) -> Mapping[str, Any]:
        if schema is True:
            return {}
        while "$ref" in schema:
            node: Any = self._root
            for part in schema["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            schema = node
        return schema

    def _check(self, value: Any, schema: Any, where: str, line: int | None) -> None:
        schema = self._resolve(schema)
        if "if" in schema:
            schema = self._apply_condition(value, schema)
        if "anyOf" in schema:
            self._check_any_of(value, schema, where, line)
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_admits(t, value) for t in types):
                self._fail(where, f"expected {_words(types)}, got {_describe(value)}", line)
        if "enum" in schema and value not in schema["enum"]:
            self._fail(where, _not_one_of(value, schema["enum"]), line)
        if isinstance(value, str):
            self._check_string(value, schema, where, line)
        elif json_type(value) in ("integer", "number"):
            self._check_number(value, schema, where, line)
        elif isinstance(value, Mapping):
            self._check_mapping(value, schema, where, line)
        elif isinstance(value, list):
            self._check_list(value, schema, where, line)

    def _apply_condition(self, value: Any, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        """Merge the `then` or `else` branch into the schema (its properties win)."""
        branch = schema["then"] if self.is_valid(value, schema["if"]) else schema.get("else", {})
        merged = {k: v for k, v in schema.items() if k not in ("if", "then", "else")}
        for key, sub in branch.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **sub}
            else:
                merged[key] = sub
        return merged

    def _check_any_of(self, value: Any, schema: Mapping[str, Any], where: str, line: int | None):
        branches = [self._resolve(b) for b in schema["anyOf"]]
        candidates = [b for b in branches if _could_be(b, value)]
        if not candidates:
            types = sorted({t for b in branches for t in _branch_types(b)}, key=_type_order)
            self._fail(where, f"expected {_words(types)}, got {_describe(value)}", line)
        first_error: SchemaError | None = None
        for branch in candidates:
            try:
                self._check(value, branch, where, line)
            except SchemaError as error:
                first_error = first_error or error
            else:
                return
        assert first_error is not None
        raise first_error

    def _check_string(self, value: str, schema: Mapping[str, Any], where: str, line: int | None):
        if "minLength" in schema and len(value) < schema["minLength"]:
            self._fail(where, "must not be empty", line)
        if "pattern" in schema and not re.search(schema["pattern"], value):
            self._fail(where, f"{value!r} does not match the pattern {schema['pattern']}", line)

    def _check_number(self, value: float, schema: Mapping[str, Any], where: str, line: int | None):
        # YAML's .nan and .inf pass every comparison below (NaN compares false), and
        # would reach `sleep`, timeouts and tolerances; no scenario needs them.
        if not math.isfinite(value):
            self._fail(where, f"must be a finite number, got {value}", line)
        if "minimum" in schema and value < schema["minimum"]:
            self._fail(where, f"must be at least {schema['minimum']}, got {value}", line)
        if "maximum" in schema and value > schema["maximum"]:
            self._fail(where, f"must be at most {schema['maximum']}, got {value}", line)
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            self._fail(where, f"must be more than {schema['exclusiveMinimum']}, got {value}", line)

    def _check_mapping(
        self, value: Mapping, schema: Mapping[str, Any], where: str, line: int | None
    ):
        properties: Mapping[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        noun = schema.get("title", "mapping")
        names = schema.get("propertyNames")
        for key in value:
            key_at = key_line(value, key, line)
            if names is not None:
                self._check(key, names, _join(where, key), key_at)
            if key not in properties and extra is False:
                message = f"unknown key {key!r} in {noun}{suggest(str(key), properties)}"
                if len(properties) <= 12:
                    message += f"; allowed: {', '.join(properties)}"
                self._fail(where, message, key_at)
        for key in schema.get("required", []):
            if key not in value:
                self._fail(where, f"{noun} needs the key {key!r}", line)
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            self._fail(where, f"{noun} must not be empty", line)
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            keys = ", ".join(map(str, value))
            self._fail(where, f"{noun} takes exactly one key, got {keys}", line)
        for key, item in value.items():
            sub = properties.get(key, extra)
            if sub is not False:
                self._check(item, sub, _join(where, key), key_line(value, key, line))

    def _check_list(self, value: list, schema: Mapping[str, Any], where: str, line: int | None):
        if "minItems" in schema and len(value) < schema["minItems"]:
            self._fail(where, f"needs at least {schema['minItems']} item(s)", line)
        if "items" in schema:
            for index, item in enumerate(value):
                at = item_line(value, index, line)
                self._check(item, schema["items"], f"{where}[{_label(item, index)}]", at)

    @staticmethod
    def _fail(where: str, message: str, line: int | None) -> None:
        raise SchemaError(f"{where}: {message}" if where else message, line)


@cache
def scenario_validator() -> Validator:
    """The validator for scenario files (the schema is read once per process)."""
    return Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def _check_keywords(schema: Any, where: str) -> None:
    """Reject schema keywords this module does not implement."""
    if isinstance(schema, bool):
        return
    unknown = set(schema) - _KEYWORDS
    if unknown:
        raise ValueError(f"{where}: unsupported schema keyword(s) {sorted(unknown)}")
    for key in ("properties", "definitions"):
        for name, sub in schema.get(key, {}).items():
            _check_keywords(sub, f"{where}/{key}/{name}")
    for key in ("additionalProperties", "items", "propertyNames", "if", "then", "else"):
        if isinstance(schema.get(key), Mapping):
            _check_keywords(schema[key], f"{where}/{key}")
    for index, sub in enumerate(schema.get("anyOf", [])):
        _check_keywords(sub, f"{where}/anyOf/{index}")


def _branch_types(schema: Mapping[str, Any]) -> list[str]:
    if "type" in schema:
        return schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if "enum" in schema:
        return sorted({json_type(v) for v in schema["enum"]})
    return list(_TYPE_WORDS)


def _could_be(schema: Mapping[str, Any], value: Any) -> bool:
    """Whether `value` has a type this anyOf branch is about (its errors are then relevant)."""
    return any(_admits(t, value) for t in _branch_types(schema))


def _type_order(name: str) -> int:
    return list(_TYPE_WORDS).index(name) if name in _TYPE_WORDS else len(_TYPE_WORDS)


def _words(types: list[str]) -> str:
    words = [_TYPE_WORDS.get(t, t) for t in types]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _describe(value: Any) -> str:
    kind = _TYPE_WORDS.get(json_type(value), json_type(value))
    if isinstance(value, (Mapping, list)):
        return kind
    return f"{kind} ({value!r})"


def _not_one_of(value: Any, allowed: list[Any]) -> str:
    choices = ", ".join(str(a) for a in allowed)
    hint = suggest(str(value), [str(a) for a in allowed]) if isinstance(value, str) else ""
    return f"{value!r} is not one of: {choices}{hint}"


def suggest(word: Any, choices: Any) -> str:
    """A ` (did you mean 'x'?)` suffix for a likely typo, else ''.

    `word` may be any YAML key (an integer, say), hence the str().
    """
    return did_you_mean(str(word), [str(choice) for choice in choices])


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def _label(item: Any, index: int) -> str:
    """`jobs[db-seed]` reads better than `jobs[3]` when the item has a name."""
    name = item.get("name") if isinstance(item, Mapping) else None
    return name if isinstance(name, str) and name else str(index)

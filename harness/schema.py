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
    """A scenario breaks the schema; `line` is a line of the file (1-based) or None.

    `path` is where in the document the offending value is (keys and list
    indexes; a missing or unknown key ends with that key), so a caller can
    tell which parts of a document are sound.
    """

    message: str
    line: int | None
    path: tuple[Any, ...] = ()


TEMPLATE_REF = "#/definitions/template"


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
    """Checks values against one schema document.

    `errors` finds every problem (one per offending value, in document
    order); `validate` raises the first. With `templates=False` (a rendered
    document) the `#/definitions/template` branches are off: after rendering
    no `"{{ ... }}"` may stand in for a value any more.
    """

    def __init__(self, schema: Mapping[str, Any], *, templates: bool = False) -> None:
        self._root = schema
        self._templates = templates
        _check_keywords(schema, "#")

    def errors(self, value: Any) -> list[SchemaError]:
        found: list[SchemaError] = []
        self._check(value, self._root, (), node_line(value, 1), found)
        return found

    def validate(self, value: Any) -> None:
        found = self.errors(value)
        if found:
            raise found[0]

    def property_errors(self, document: Mapping[str, Any], key: str) -> list[SchemaError]:
        """Check one top-level key of a document (the header is read before the rest)."""
        line = key_line(document, key, node_line(document, 1))
        found: list[SchemaError] = []
        self._check(document[key], self._root["properties"][key], (key,), line, found)
        return found

    def validate_property(self, document: Mapping[str, Any], key: str) -> None:
        found = self.property_errors(document, key)
        if found:
            raise found[0]

    def definition_errors(self, value: Any, name: str, line: int | None) -> list[SchemaError]:
        """Check a value against `#/definitions/<name>`."""
        found: list[SchemaError] = []
        self._check(value, self._root["definitions"][name], (name,), line, found)
        return found

    def validate_definition(self, value: Any, name: str, line: int | None) -> None:
        found = self.definition_errors(value, name, line)
        if found:
            raise found[0]

    def is_valid(self, value: Any, schema: Mapping[str, Any]) -> bool:
        found: list[SchemaError] = []
        self._check(value, schema, (), None, found)
        return not found

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

    def _check(
        self, value: Any, schema: Any, path: tuple[Any, ...], line: int | None, out: list
    ) -> None:
        schema = self._resolve(schema)
        if "if" in schema:
            schema = self._apply_condition(value, schema)
        if "anyOf" in schema and not self._check_any_of(value, schema, path, line, out):
            return
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_admits(t, value) for t in types):
                out.append(_error(path, f"expected {_words(types)}, got {_describe(value)}", line))
                return
        if "enum" in schema and value not in schema["enum"]:
            out.append(_error(path, _not_one_of(value, schema["enum"]), line))
            return
        if isinstance(value, str):
            self._check_string(value, schema, path, line, out)
        elif json_type(value) in ("integer", "number"):
            self._check_number(value, schema, path, line, out)
        elif isinstance(value, Mapping):
            self._check_mapping(value, schema, path, line, out)
        elif isinstance(value, list):
            self._check_list(value, schema, path, line, out)

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

    def _check_any_of(
        self, value: Any, schema: Mapping[str, Any], path: tuple, line: int | None, out: list
    ) -> bool:
        """Whether a branch admits the value; if none does, the first relevant one's errors."""
        branches = [
            self._resolve(b)
            for b in schema["anyOf"]
            if self._templates or not (isinstance(b, Mapping) and b.get("$ref") == TEMPLATE_REF)
        ]
        candidates = [b for b in branches if _admits_any(self._types(b), value)]
        if not candidates:
            types = sorted({t for b in branches for t in self._types(b)}, key=_type_order)
            out.append(_error(path, f"expected {_words(types)}, got {_describe(value)}", line))
            return False
        first: list[SchemaError] | None = None
        for branch in candidates:
            found: list[SchemaError] = []
            self._check(value, branch, path, line, found)
            if not found:
                return True
            first = first or found
        out.extend(first or ())
        return False

    def _types(self, schema: Any) -> list[str]:
        """The JSON types a (sub)schema is about: its errors matter for a value of these."""
        schema = self._resolve(schema)
        if "type" in schema:
            return schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if "enum" in schema:
            return sorted({json_type(v) for v in schema["enum"]})
        if "anyOf" in schema:
            branches = [
                b
                for b in schema["anyOf"]
                if self._templates or not (isinstance(b, Mapping) and b.get("$ref") == TEMPLATE_REF)
            ]
            return sorted({t for b in branches for t in self._types(b)}, key=_type_order)
        return list(_TYPE_WORDS)

    def _check_string(
        self, value: str, schema: Mapping[str, Any], path: tuple, line: int | None, out: list
    ) -> None:
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append(_error(path, "must not be empty", line))
        elif "pattern" in schema and not re.search(schema["pattern"], value):
            pattern = schema["pattern"]
            out.append(_error(path, f"{value!r} does not match the pattern {pattern}", line))

    def _check_number(
        self, value: float, schema: Mapping[str, Any], path: tuple, line: int | None, out: list
    ) -> None:
        # YAML's .nan and .inf pass every comparison below (NaN compares false), and
        # would reach `sleep`, timeouts and tolerances; no scenario needs them.
        if not math.isfinite(value):
            out.append(_error(path, f"must be a finite number, got {value}", line))
        elif "minimum" in schema and value < schema["minimum"]:
            out.append(_error(path, f"must be at least {schema['minimum']}, got {value}", line))
        elif "maximum" in schema and value > schema["maximum"]:
            out.append(_error(path, f"must be at most {schema['maximum']}, got {value}", line))
        elif "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            bound = schema["exclusiveMinimum"]
            out.append(_error(path, f"must be more than {bound}, got {value}", line))

    def _check_mapping(
        self, value: Mapping, schema: Mapping[str, Any], path: tuple, line: int | None, out: list
    ) -> None:
        properties: Mapping[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        noun = schema.get("title", "mapping")
        names = schema.get("propertyNames")
        for key in value:
            key_at = key_line(value, key, line)
            if names is not None:
                self._check(key, names, (*path, key), key_at, out)
            if key not in properties and extra is False:
                message = f"unknown key {key!r} in {noun}{suggest(str(key), properties)}"
                if len(properties) <= 12:
                    message += f"; allowed: {', '.join(properties)}"
                out.append(_error(path, message, key_at, key))
        for key in schema.get("required", []):
            if key not in value:
                out.append(_error(path, f"{noun} needs the key {key!r}", line, key))
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            out.append(_error(path, f"{noun} must not be empty", line))
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            keys = ", ".join(map(str, value))
            out.append(_error(path, f"{noun} takes exactly one key, got {keys}", line))
        for key, item in value.items():
            sub = properties.get(key, extra)
            if sub is not False:
                self._check(item, sub, (*path, key), key_line(value, key, line), out)

    def _check_list(
        self, value: list, schema: Mapping[str, Any], path: tuple, line: int | None, out: list
    ) -> None:
        if "minItems" in schema and len(value) < schema["minItems"]:
            out.append(_error(path, f"needs at least {schema['minItems']} item(s)", line))
        if "items" in schema:
            for index, item in enumerate(value):
                at = item_line(value, index, line)
                where = (*path, _Index(index, _label(item, index)))
                self._check(item, schema["items"], where, at, out)


def _error(path: tuple[Any, ...], message: str, line: int | None, key: Any = None) -> SchemaError:
    """`jobs[db-seed].fake[0]: message`; `key` names a missing or unknown key below `path`."""
    where = _where(path)
    return SchemaError(
        f"{where}: {message}" if where else message,
        line,
        path if key is None else (*path, key),
    )


def _where(path: tuple[Any, ...]) -> str:
    """`jobs[db-seed].fake[0]`: list items are shown by name when they have one."""
    out = ""
    for part in path:
        if isinstance(part, _Index):
            out += f"[{part.label}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


class _Index(int):
    """A list index that also carries the label shown for the item (its name, if any)."""

    label: str

    def __new__(cls, index: int, label: str) -> _Index:
        self = super().__new__(cls, index)
        self.label = label
        return self


@cache
def scenario_validator(*, templates: bool = False) -> Validator:
    """The validator for scenario files (the schema is read once per process).

    `templates=True` checks a file as written (a quoted `"{{ ... }}"` may
    stand for a value), the default a rendered document.
    """
    return Validator(load_schema(), templates=templates)


@cache
def load_schema() -> Mapping[str, Any]:
    """scenario.schema.json, parsed."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


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


def _admits_any(types: list[str], value: Any) -> bool:
    """Whether `value` has one of the types an anyOf branch is about (its errors are relevant)."""
    return any(_admits(t, value) for t in types)


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


def _label(item: Any, index: int) -> str:
    """`jobs[db-seed]` reads better than `jobs[3]` when the item has a name."""
    name = item.get("name") if isinstance(item, Mapping) else None
    return name if isinstance(name, str) and name else str(index)

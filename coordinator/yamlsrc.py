"""YAML input that remembers where every value came from.

Bad input must be reported as `FILE:LINE: problem`, but PyYAML's plain
loaders throw line numbers away once the values are built, and they silently
keep the last of two equal keys. This module composes the node tree with
`yaml.SafeLoader` (so the scalar semantics are exactly safe_load's), refuses
duplicate keys, and builds `LineMap`/`LineList` containers that keep the line
of each mapping, key and item. The hooks-file loader and the scenario harness
both build their validation on it; every problem is an `InputError`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from coordinator.model import InputError

_MERGE_TAG = "tag:yaml.org,2002:merge"
_NULL_TAG = "tag:yaml.org,2002:null"


class LineMap(dict[Any, Any]):
    """A mapping from YAML, with the 1-based line of itself and of each key."""

    def __init__(self, line: int = 1) -> None:
        super().__init__()
        self.line = line
        self._key_lines: dict[Any, int] = {}
        self._texts: dict[Any, str] = {}

    def key_line(self, key: Any) -> int:
        """The line of `key`, or of the mapping itself when the key is absent.

        The fallback lets a "missing key" message point at the mapping.
        """
        return self._key_lines.get(key, self.line)

    def value_text(self, key: Any) -> str | None:
        """The source text of a scalar value (`3.10` stays "3.10"), None for non-scalars.

        Values that are taken "as their text" must not go through float().
        """
        return self._texts.get(key)


class LineList(list[Any]):
    """A sequence from YAML, with the 1-based line of itself and of each item."""

    def __init__(self, line: int = 1) -> None:
        super().__init__()
        self.line = line
        self._item_lines: list[int] = []

    def item_line(self, index: int) -> int:
        return self._item_lines[index]


def map_lines(value: Any, to: Callable[[int], int]) -> None:
    """Rewrite, in place, every line a parsed LineMap/LineList tree carries.

    For a document parsed from generated text (a rendered template), so that
    everything downstream sees the lines of the file as written, converted
    once here rather than wherever a line is reported.

    Each container is converted once, however many aliases refer to it: a
    YAML alias is the same object again, so a `billion laughs` document (an
    alias of an alias, nine times over) is a few dozen containers, not 10^9,
    and an alias of a container inside itself (`a: &a [*a]`) is not an
    endless recursion. The walk keeps its own stack, so depth costs no
    Python recursion either.
    """
    seen: set[int] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if not isinstance(item, (LineMap, LineList)) or id(item) in seen:
            continue
        seen.add(id(item))
        item.line = to(item.line)
        if isinstance(item, LineMap):
            item._key_lines = {key: to(line) for key, line in item._key_lines.items()}
            stack.extend(item.values())
        else:
            item._item_lines = [to(line) for line in item._item_lines]
            stack.extend(item)


def describe(value: Any) -> str:
    """Name a value's type for a message, e.g. `got boolean true`, `got a list`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} value"


def quote(name: str) -> str:
    """A name in single quotes for a one-line message: `'db-seed'`, `'it's'`, `'a\\nb'`.

    the spec (scheduling) wants job names in single quotes, whatever they contain; only
    what would break or hide in the line (a newline, a tab, a control
    character) is escaped, and then a backslash too so the escape is unambiguous.
    """
    if name.isprintable():
        return f"'{name}'"
    escaped = "".join(c if c.isprintable() and c != "\\" else repr(c)[1:-1] for c in name)
    return f"'{escaped}'"


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """A ` (did you mean 'x'?)` suffix when `word` is close to one of `choices`, else ''."""
    if not isinstance(word, str):
        return ""
    import difflib  # only for a message: not on the path of a valid file

    matches = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {quote(matches[0])}?)" if matches else ""


def read_source(path: Path) -> str:
    """Read a UTF-8 text file (a leading BOM is dropped); any failure is an InputError."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        # Line 1: an input error message always starts with FILE:LINE (spec: scheduling).
        raise InputError(f"cannot read file: {exc.strerror or exc}", path=path, line=1) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # exc.object is what the codec saw (without a BOM); a BOM holds no newline.
        raw: bytes = exc.object
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - line_start + 1
        message = f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at column {column}"
        raise InputError(message, path=path, line=line) from None


def parse_yaml(text: str, path: str) -> Any:
    """Parse one YAML document into plain values, LineMap and LineList.

    Raises InputError for a syntax error, a duplicate key, a tag the safe
    loader does not know, nesting too deep to compose, or an empty document.
    libyaml parses when it is installed (about 5x faster on a large file);
    on any error the pure-Python parser reads the text again, because its
    messages are clearer (it names an undefined alias, a bad character...).
    It runs out of stack far sooner than libyaml, though, and cannot say
    where: then libyaml's message, which has a line, is the clearer one.
    """
    deep_line = _too_deep_line(text)
    if deep_line is not None:
        raise InputError(
            f"YAML nesting is too deep (more than {MAX_NESTING} levels)", path=path, line=deep_line
        )
    try:
        return _parse_either(text, path)
    except InputError as error:
        if error.line is None:  # a message always starts with FILE:LINE (spec: scheduling)
            error.line = 1
        raise


def _parse_either(text: str, path: str) -> Any:
    if _FastLoader is _Loader:
        return _parse(text, path, _Loader)
    try:
        return _parse(text, path, _FastLoader)
    except InputError as fast_error:
        try:
            return _parse(text, path, _Loader)
        except InputError as error:
            if error.line is None and fast_error.line is not None:
                raise fast_error from None
            raise


# libyaml composes recursively in C: about 30,000 nested brackets (a 60 kB line)
# overflow the C stack and kill the process, before any Python check can run.
MAX_NESTING = 1000


def _too_deep_line(text: str) -> int | None:
    """The first line where the YAML may nest deeper than MAX_NESTING, or None.

    Each level needs an open bracket, more indentation or a block indicator
    (`- `, `? `, `: `) on its line, so counting those bounds the depth from
    above; brackets inside strings can only inflate it, and no real file
    comes near the limit.
    """
    flow = 0
    for number, line in enumerate(text.split("\n"), start=1):
        opened = line.count("[") + line.count("{")
        indicators = line.count("- ") + line.count("? ") + line.count(": ")
        indent = len(line) - len(line.lstrip(" "))
        if flow + opened + indent + indicators + 1 > MAX_NESTING:
            return number
        flow = max(0, flow + opened - line.count("]") - line.count("}"))
    return None


def _parse(text: str, path: str, loader_class: type[yaml.SafeLoader]) -> Any:
    try:
        loader = loader_class(text)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, path) from None
    try:
        node = loader.get_single_node()
        if node is None or _is_empty(node):
            raise InputError("file is empty", path=path, line=1)
        _refuse_duplicate_keys(loader, node, path)
        return loader.construct_document(node)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, path) from None
    except yaml.MarkedYAMLError as exc:
        raise _marked_error(exc, path) from None
    except yaml.YAMLError as exc:
        one_line = " ".join(str(exc).split())
        raise InputError(f"invalid YAML: {one_line}", path=path) from None
    except (ValueError, IndexError, KeyError, TypeError, OverflowError) as exc:
        # PyYAML's own slips: its pure-Python scanner calls chr() on any `\U` escape
        # (`"\U00110000"` is a ValueError). No line: libyaml's message has one, and wins.
        one_line = " ".join(str(exc).split())
        raise InputError(f"invalid YAML: {one_line}", path=path) from None
    except RecursionError:
        raise InputError("YAML nesting is too deep", path=path) from None
    finally:
        loader.dispose()


class _Loader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences are LineMap and LineList."""


class _CLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same, on libyaml's parser; only used where libyaml is installed."""


_FastLoader: type[yaml.SafeLoader] = _CLoader if hasattr(yaml, "CSafeLoader") else _Loader


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _construct_map(loader: _Loader, node: MappingNode) -> Iterator[LineMap]:
    _expect(node, MappingNode, "mapping")
    data = LineMap(_line(node))
    yield data  # yielded first, filled after: aliases may refer back to it
    loader.flatten_mapping(node)  # resolves `<<` merges; later pairs win
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)
        data[key] = loader.construct_object(value_node)
        data._key_lines[key] = _line(key_node)
        if isinstance(value_node, ScalarNode):
            data._texts[key] = value_node.value
        else:
            data._texts.pop(key, None)


def _construct_seq(loader: _Loader, node: SequenceNode) -> Iterator[LineList]:
    _expect(node, SequenceNode, "sequence")
    data = LineList(_line(node))
    yield data
    data.extend(loader.construct_object(child) for child in node.value)
    data._item_lines = [_line(child) for child in node.value]


def _expect(node: Node, kind: type[Node], what: str) -> None:
    """An explicit tag can put `!!map` on a scalar (`!!map x`): a marked error, not a crash."""
    if not isinstance(node, kind):
        found = {ScalarNode: "scalar", SequenceNode: "sequence", MappingNode: "mapping"}
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"expected a {what} node, but found {found.get(type(node), 'something else')}",
            node.start_mark,
        )


def _construct_int(loader: _Loader, node: ScalarNode) -> int:
    """safe_load's int, but a number too long for int() is a marked error, not a ValueError."""
    try:
        return yaml.SafeLoader.construct_yaml_int(loader, node)
    except ValueError:
        digits = sys.get_int_max_str_digits()
        if sum(c.isdigit() for c in str(node.value)) <= digits:
            raise  # not a number at all (`!!int abc`): _typed says so
        raise yaml.constructor.ConstructorError(
            None, None, f"integer too long (more than {digits} digits)", node.start_mark
        ) from None


def _typed(kind: str, construct: Callable[[Any, ScalarNode], Any]) -> Callable[..., Any]:
    """`construct`, but a scalar it cannot read is a marked error, not a traceback.

    PyYAML trusts its resolver: a plain `12` reaches the int constructor only
    when it looks like one, but an explicit tag sends anything there, and
    `!!int` on an empty value is an IndexError, `!!bool maybe` a KeyError,
    `!!int abc` a ValueError, `!!timestamp x` a TypeError.
    """

    def constructor(loader: Any, node: Node) -> Any:
        try:
            return construct(loader, node)  # type: ignore[arg-type]
        except yaml.MarkedYAMLError:
            raise
        except (ValueError, IndexError, KeyError, TypeError, OverflowError, AttributeError):
            shown = " ".join(str(node.value).split())[:40]
            raise yaml.constructor.ConstructorError(
                None, None, f"not a valid {kind}: {shown!r}", node.start_mark
            ) from None

    return constructor


_SCALARS = {
    "int": ("integer", _construct_int),
    "float": ("number", yaml.SafeLoader.construct_yaml_float),
    "bool": ("boolean", yaml.SafeLoader.construct_yaml_bool),
    "timestamp": ("timestamp", yaml.SafeLoader.construct_yaml_timestamp),
    "binary": ("base64 value", yaml.SafeLoader.construct_yaml_binary),
}

for _loader_class in (_Loader, _CLoader):
    _loader_class.add_constructor("tag:yaml.org,2002:map", _construct_map)
    _loader_class.add_constructor("tag:yaml.org,2002:seq", _construct_seq)
    for _tag, (_kind, _construct) in _SCALARS.items():
        _loader_class.add_constructor(f"tag:yaml.org,2002:{_tag}", _typed(_kind, _construct))


def _is_empty(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL_TAG and node.value == ""


def _refuse_duplicate_keys(loader: _Loader, root: Node, path: str) -> None:
    """Check every mapping's own keys before construction merges them away.

    Keys are compared by their constructed value, so `1` and `0x1`, or `a`
    and `"a"`, are the same key, as they would be in the resulting dict.
    Aliases can make the node graph cyclic, hence the visited set.
    """
    seen_nodes: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, MappingNode):
            keys: dict[Any, int] = {}
            for key_node, value_node in node.value:
                stack.append(value_node)
                if key_node.tag == _MERGE_TAG:
                    continue
                if not isinstance(key_node, ScalarNode):
                    raise InputError(
                        "a mapping key must be a plain value, not a list or mapping",
                        path=path,
                        line=_line(key_node),
                    )
                key = loader.construct_object(key_node)
                try:
                    hash(key)
                except TypeError:  # a tagged scalar: `? !!set x`, `? !!omap x`
                    raise InputError(
                        "a mapping key must be a plain value, not a list or mapping",
                        path=path,
                        line=_line(key_node),
                    ) from None
                if key in keys:
                    raise InputError(
                        f"duplicate key {key!r} (first at line {keys[key]})",
                        path=path,
                        line=_line(key_node),
                    )
                keys[key] = _line(key_node)


def _marked_error(exc: yaml.MarkedYAMLError, path: str) -> InputError:
    """One line from PyYAML's multi-line report: context, problem, problem line."""
    mark = exc.problem_mark or exc.context_mark
    line = None if mark is None else mark.line + 1
    parts = []
    if exc.context:
        where = exc.context
        if exc.context_mark is not None and exc.context_mark.line + 1 != line:
            where += f" (line {exc.context_mark.line + 1})"
        parts.append(where)
    if exc.problem:
        parts.append(exc.problem)
    return InputError("invalid YAML: " + ", ".join(parts), path=path, line=line)


def _reader_error(exc: yaml.reader.ReaderError, text: str, path: str) -> InputError:
    line = text.count("\n", 0, exc.position) + 1
    return InputError(
        f"invalid YAML: character #x{exc.character:04x} is not allowed", path=path, line=line
    )

"""Loading and validating a hooks file (docs/spec.md: hooks file and value types).

The whole file is checked before anything runs, and the first problem in
file order is reported as one `FILE:LINE: job 'x': problem` line pointing at
the offending key. Values are checked strictly: YAML turns `yes`, `3.10` or
an empty value into a bool, a float or null without a word, and a hook that
silently runs the wrong command is worse than one that refuses to start.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from coordinator import graph
from coordinator.model import HooksFile, InputError, JobSpec, Settings, Strategy
from coordinator.yamlsrc import (
    LineList,
    LineMap,
    describe,
    did_you_mean,
    parse_yaml,
    quote,
    read_source,
)

_TOP_KEYS = ("coordinator", "hooks")
_SETTINGS_KEYS = ("strategy", "max_parallel", "kill_grace")
_HOOK_KEYS = ("jobs",)
_JOB_KEYS = ("name", "run", "needs", "background", "env", "cwd", "timeout", "skip", "only")


def load_hooks_file(path: str | Path) -> HooksFile:
    """Read and validate a hooks file; any problem is an InputError."""
    return loads_hooks(read_source(Path(path)), str(path))


def loads_hooks(text: str, path: str) -> HooksFile:
    """Validate hooks-file text; `path` is only used to name the file in messages."""
    return _Checker(path).hooks_file(parse_yaml(text, path))


def select_hook(hooks: HooksFile, name: str) -> tuple[JobSpec, ...]:
    """The jobs of hook `name`; a hook the file does not define is an input error."""
    if name in hooks.hooks:
        return hooks.hooks[name]
    defined = ", ".join(quote(hook) for hook in hooks.hooks) or "none"
    hint = did_you_mean(name, hooks.hooks)
    message = f"hook {quote(name)} is not defined{hint}; defined hooks: {defined}"
    raise InputError(message, path=hooks.path, line=hooks.line)


class _Checker:
    """Walks the parsed document in file order and stops at the first problem."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, line: int, message: str) -> NoReturn:
        raise InputError(message, path=self.path, line=line)

    def mapping(self, value: Any, line: int, message: str) -> LineMap:
        if not isinstance(value, LineMap):
            self.fail(line, f"{message}, got {describe(value)}")
        return value

    def unknown_key(self, owner: LineMap, key: Any, label: str, allowed: tuple[str, ...]) -> None:
        hint = did_you_mean(key, allowed)
        self.fail(owner.key_line(key), f"{label}: unknown key {_shown_key(key)}{hint}")

    # -- levels ---------------------------------------------------------------

    def hooks_file(self, doc: Any) -> HooksFile:
        top = self.mapping(
            doc, getattr(doc, "line", 1), "top level: must be a mapping with a 'hooks:' key"
        )
        settings = Settings()
        hooks: dict[str, tuple[JobSpec, ...]] = {}
        for key in top:
            if key == "coordinator":
                settings = self.settings(top, key)
            elif key == "hooks":
                hooks = self.hooks(top, key)
            else:
                self.unknown_key(top, key, "top level", _TOP_KEYS)
        if "hooks" not in top:
            self.fail(top.line, "top level: missing 'hooks:' (the hooks and their jobs)")
        return HooksFile(
            path=Path(self.path), settings=settings, hooks=hooks, line=top.key_line("hooks")
        )

    def settings(self, top: LineMap, key: str) -> Settings:
        block = self.mapping(top[key], top.key_line(key), "'coordinator' must be a mapping")
        fields: dict[str, Any] = {}
        for name in block:
            if name not in _SETTINGS_KEYS:
                self.unknown_key(block, name, "coordinator", _SETTINGS_KEYS)
            fields[name] = _SETTINGS_FIELDS[name](self, block, name, "coordinator")
        return Settings(**fields)

    def hooks(self, top: LineMap, key: str) -> dict[str, tuple[JobSpec, ...]]:
        block = self.mapping(
            top[key], top.key_line(key), "'hooks' must be a mapping of hook names to hooks"
        )
        hooks: dict[str, tuple[JobSpec, ...]] = {}
        for name, hook in block.items():
            line = block.key_line(name)
            if not isinstance(name, str) or not name:
                self.fail(line, f"a hook name must be a non-empty string, got {describe(name)}")
            label = f"hook {quote(name)}"
            body = self.mapping(hook, line, f"{label}: must be a mapping with a 'jobs:' list")
            hooks[name] = self.hook(body, label)
        return hooks

    def hook(self, body: LineMap, label: str) -> tuple[JobSpec, ...]:
        for key in body:
            if key not in _HOOK_KEYS:
                self.unknown_key(body, key, label, _HOOK_KEYS)
        if "jobs" not in body:
            self.fail(body.line, f"{label}: missing 'jobs:' (a list, possibly empty)")
        items = body["jobs"]
        if not isinstance(items, LineList):
            self.fail(
                body.key_line("jobs"), f"{label}: 'jobs' must be a list, got {describe(items)}"
            )
        jobs = tuple(self.job(items, index) for index in range(len(items)))
        graph.validate_graph(jobs, path=self.path)
        return jobs

    def job(self, items: LineList, index: int) -> JobSpec:
        item = items[index]
        name = item.get("name") if isinstance(item, LineMap) else None
        label = f"job {quote(name)}" if isinstance(name, str) and name else f"job #{index + 1}"
        job = self.mapping(
            item, items.item_line(index), f"{label}: must be a mapping with 'name:' and 'run:'"
        )
        fields: dict[str, Any] = {}
        for key in job:
            if key not in _JOB_KEYS:
                self.unknown_key(job, key, label, _JOB_KEYS)
            fields[key] = _JOB_FIELDS[key](self, job, key, label)
        for required in ("name", "run"):
            if required not in job:
                self.fail(job.line, f"{label}: missing '{required}:'")
        return JobSpec(**fields, line=job.line)

    # -- values ---------------------------------------------------------------

    def string(self, owner: LineMap, key: str, label: str) -> str:
        value = owner[key]
        line = owner.key_line(key)
        if not isinstance(value, str):
            self.fail(line, f"{label}: '{key}' must be a string, got {describe(value)}")
        if not value:
            self.fail(line, f"{label}: '{key}' must not be empty")
        if "\0" in value:
            self.fail(line, f"{label}: '{key}' must not contain a NUL character")
        return value

    def needs(self, owner: LineMap, key: str, label: str) -> tuple[str, ...]:
        value = owner[key]
        if not isinstance(value, LineList):
            # Not for a value that would break the one-line message (a newline in it).
            suggest = isinstance(value, str) and value.isprintable()
            hint = f" (write needs: [{value}])" if suggest else ""
            got = describe(value)
            self.fail(
                owner.key_line(key),
                f"{label}: 'needs' must be a list of job names, got {got}{hint}",
            )
        for index, need in enumerate(value):
            if not isinstance(need, str) or not need:
                got = describe(need)
                self.fail(
                    value.item_line(index),
                    f"{label}: needs entry #{index + 1} must be a job name, got {got}",
                )
        return tuple(value)

    def boolean(self, owner: LineMap, key: str, label: str) -> bool:
        value = owner[key]
        if not isinstance(value, bool):
            self.fail(
                owner.key_line(key),
                f"{label}: '{key}' must be true or false, got {describe(value)}",
            )
        return value

    def env(self, owner: LineMap, key: str, label: str) -> dict[str, str]:
        block = self.mapping(owner[key], owner.key_line(key), f"{label}: 'env' must be a mapping")
        env: dict[str, str] = {}
        for name, value in block.items():
            line = block.key_line(name)
            # Spec (scheduling): a non-empty string without '=' (execve cannot pass NUL either).
            if not isinstance(name, str) or not name or "=" in name or "\0" in name:
                self.fail(line, f"{label}: env: {describe(name)} is not a valid variable name")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = str(value)  # the parsed value's text: `1.50` gives "1.5"
            if not isinstance(value, str):
                got = describe(value)
                self.fail(
                    line, f"{label}: env {quote(name)} must be a string or a number, got {got}"
                )
            if "\0" in value:
                self.fail(line, f"{label}: env {quote(name)} must not contain a NUL character")
            env[name] = value
        return env

    def timeout(self, owner: LineMap, key: str, label: str) -> float:
        value = self.seconds(owner, key, label)
        if not value > 0:
            self.fail(owner.key_line(key), f"{label}: '{key}' must be greater than 0, got {value}")
        return _float(value)

    def kill_grace(self, owner: LineMap, key: str, label: str) -> float:
        value = self.seconds(owner, key, label)
        if value < 0:
            self.fail(owner.key_line(key), f"{label}: '{key}' must be 0 or more, got {value}")
        return _float(value)

    def seconds(self, owner: LineMap, key: str, label: str) -> float:
        """A number of seconds as written (int or float), so messages echo the input.

        Any size is fine, `.inf` included: the run loop never waits longer
        than it can (engine.MAX_WAIT at a time), so a huge value means "never".
        """
        value = owner[key]
        line = owner.key_line(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or _is_nan(value):
            self.fail(line, f"{label}: '{key}' must be a number of seconds, got {describe(value)}")
        return value

    def condition(self, owner: LineMap, key: str, label: str) -> bool | str:
        value = owner[key]
        if not isinstance(value, bool) and not _is_env_name(value):
            dollar = isinstance(value, str) and value.startswith("$")
            hint = " (write the name without '$')" if dollar else ""
            expected = "true, false or an environment variable name"
            self.fail(
                owner.key_line(key),
                f"{label}: '{key}' must be {expected}, got {describe(value)}{hint}",
            )
        return value

    def strategy(self, owner: LineMap, key: str, label: str) -> Strategy:
        value = owner[key]
        choices = [strategy.value for strategy in Strategy]
        if not isinstance(value, str) or value not in choices:
            hint = did_you_mean(value, choices)
            got = describe(value)
            self.fail(
                owner.key_line(key),
                f"{label}: 'strategy' must be 'eager' or 'wave', got {got}{hint}",
            )
        return Strategy(value)

    def max_parallel(self, owner: LineMap, key: str, label: str) -> int:
        value = owner[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            got = describe(value)
            self.fail(
                owner.key_line(key), f"{label}: 'max_parallel' must be an integer >= 1, got {got}"
            )
        return value


def _float(value: float) -> float:
    """`float(value)`, but an int too large for a float is infinity rather than an error."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _is_nan(value: float) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _shown_key(key: Any) -> str:
    return quote(key) if isinstance(key, str) else repr(key)


def _is_env_name(name: Any) -> bool:
    """A `skip:`/`only:` variable name: execve refuses '=' and NUL, and `$X` is an expansion.

    Stricter than an `env` key (the spec (scheduling) asks only for no '=' there): a
    condition names a variable to test, and `$CI` is a typo for `CI`.
    """
    return isinstance(name, str) and bool(name) and not any(c in name for c in "=\0$")


_Field = Callable[[_Checker, LineMap, str, str], Any]

_JOB_FIELDS: dict[str, _Field] = {
    "name": _Checker.string,
    "run": _Checker.string,
    "needs": _Checker.needs,
    "background": _Checker.boolean,
    "env": _Checker.env,
    "cwd": _Checker.string,
    "timeout": _Checker.timeout,
    "skip": _Checker.condition,
    "only": _Checker.condition,
}

_SETTINGS_FIELDS: dict[str, _Field] = {
    "strategy": _Checker.strategy,
    "max_parallel": _Checker.max_parallel,
    "kill_grace": _Checker.kill_grace,
}

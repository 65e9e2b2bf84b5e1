"""Tests for `coordinator.timefmt`: record timestamps and the human formats of the CLI."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from coordinator.timefmt import (
    human_ago,
    human_duration,
    now,
    parse_duration,
    parse_rfc3339,
    rfc3339,
)

FROZEN = datetime(2026, 5, 2, 9, 46, 14, 588257, tzinfo=timezone.utc)


def test_now_is_rfc3339_utc_with_microseconds() -> None:
    with freeze_time(FROZEN):
        stamp, _ = now()
    assert stamp == "2026-05-02T09:46:14.588257Z"


def test_now_pairs_the_wall_clock_with_the_monotonic_clock() -> None:
    before = time.monotonic_ns()
    stamp, mono = now()
    after = time.monotonic_ns()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
    assert before <= mono <= after


@pytest.mark.parametrize(
    "moment",
    [
        FROZEN,
        FROZEN.replace(microsecond=0),
        FROZEN.astimezone(timezone(timedelta(hours=-7))),  # converted to UTC
    ],
)
def test_rfc3339_round_trips(moment: datetime) -> None:
    text = rfc3339(moment)
    assert text.endswith("Z") and re.search(r"\.\d{6}Z$", text)
    assert parse_rfc3339(text) == moment


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-02T09:46:14Z", FROZEN.replace(microsecond=0)),
        ("2026-05-02T09:46:14.588257Z", FROZEN),
        ("2026-05-02T09:46:14.5Z", FROZEN.replace(microsecond=500000)),
        ("2026-05-02T09:46:14.588257123Z", FROZEN),  # nanoseconds, cut to microseconds
        ("2026-05-02t09:46:14.588257z", FROZEN),
        ("2026-05-02 09:46:14.588257Z", FROZEN),
        ("2026-05-02T09:46:14.588257+00:00", FROZEN),
        ("2026-05-02T11:46:14.588257+02:00", FROZEN),
        ("2016-12-31T23:59:60Z", datetime(2017, 1, 1, tzinfo=timezone.utc)),  # a leap second
    ],
)
def test_parse_rfc3339_reads_any_rfc3339_time(text: str, expected: datetime) -> None:
    # the spec (records): "a reader accepts any RFC 3339 UTC time, with or without a fraction".
    parsed = parse_rfc3339(text)
    assert parsed == expected and parsed.tzinfo == timezone.utc


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-05-02",
        "2026-05-02T09:46:14",
        "2026-05-02T09:46Z",
        "2026-13-02T09:46:14Z",
        "2026-05-02T09:46:14.Z",
        "9999-12-31T23:59:60Z",
        " 2026-05-02T09:46:14Z",
    ],
)
def test_parse_rfc3339_refuses_anything_else_with_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339(text)


def test_now_uses_clock_monotonic() -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    _, mono = now()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    assert before <= mono <= after


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "just now"),
        (0.5, "just now"),
        (1, "1s ago"),
        (42, "42s ago"),
        (59.9, "59s ago"),
        (60, "1m ago"),
        (3 * 60 + 59, "3m ago"),
        (5 * 3600 + 1, "5h ago"),
        (2 * 86400 + 3600, "2d ago"),
        (400 * 86400, "400d ago"),
        (-5, "in the future"),
    ],
)
def test_human_ago_against_a_frozen_clock(seconds: float, expected: str) -> None:
    with freeze_time(FROZEN):
        assert human_ago(FROZEN - timedelta(seconds=seconds)) == expected


def test_human_ago_with_an_explicit_reference() -> None:
    moment = datetime(2020, 1, 1, tzinfo=timezone.utc)
    assert human_ago(moment, moment + timedelta(minutes=3)) == "3m ago"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0.00s"),
        (0.123, "0.12s"),
        (4.5, "4.50s"),
        (12.34, "12.3s"),
        (59.94, "59.9s"),
        (60, "1m00s"),
        (184, "3m04s"),
        (3599, "59m59s"),
        (3600, "1h00m"),
        (7500, "2h05m"),
        (100 * 3600, "100h00m"),
    ],
)
def test_human_duration(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("12h", 43200),
        ("7d", 604800),
        ("2w", 1209600),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("0s", 0),
        (" 7d ", 604800),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "7", "7x", "h", "1h 30m", "-1d", "1h30", "d7", "1.h", "7D"])
def test_parse_duration_rejects_bad_text(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)

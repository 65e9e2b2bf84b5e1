"""The harness's own record reader (harness/records.py), against docs/spec.md's `record.*`.

Lenient where the spec says readers must be (any RFC 3339 UTC time), strict
about everything else: a field of the wrong type is a `record.fields`
problem, reported and never guessed at, and nothing a run left on disk can
make the reader raise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import SYNTHETIC_PID, SYNTHETIC_T0_NS, synthetic_meta
from harness.records import Stamp, parse_record, parse_time, read_records, started_names

S = 1_000_000_000
WHEN = "2026-05-02T09:46:14"
WHEN_NS = 1_777_715_174 * S  # WHEN as ns since the epoch


# -- times -------------------------------------------------------------------------------


def test_a_time_without_a_fraction_is_whole_seconds() -> None:
    assert parse_time(f"{WHEN}Z") == Stamp(WHEN_NS, S)
    assert parse_time("1970-01-01T00:00:00Z") == Stamp(0, S)


@pytest.mark.parametrize(
    ("fraction", "ns", "precision"),
    [
        (".5", 500_000_000, 100_000_000),
        (".588", 588_000_000, 1_000_000),
        (".588257", 588_257_000, 1_000),  # what the spec asks writers for
        (".588257123", 588_257_123, 1),
        (".000000001", 1, 1),
    ],
)
def test_a_fraction_of_any_precision_gives_ns_and_how_coarse_it_was(
    fraction: str, ns: int, precision: int
) -> None:
    assert parse_time(f"{WHEN}{fraction}Z") == Stamp(WHEN_NS + ns, precision)


def test_a_fraction_longer_than_nanoseconds_is_accepted_too() -> None:
    # record.time-format: readers accept "a fraction of any length"; beyond
    # nanoseconds the extra digits cannot matter to any check.
    assert parse_time(f"{WHEN}.5882571234Z").ns == WHEN_NS + 588_257_123
    assert parse_time(f"{WHEN}.588257123456789Z").ns == WHEN_NS + 588_257_123


def test_a_microsecond_time_near_the_epoch() -> None:
    assert parse_time("1970-01-01T00:00:01.000002Z").ns == 1_000_002_000


@pytest.mark.parametrize("offset", ["Z", "z", "+00:00", "-00:00"])
def test_every_way_of_writing_utc_is_accepted(offset: str) -> None:
    assert parse_time(f"{WHEN}.25{offset}") == Stamp(WHEN_NS + S // 4, S // 100)


def test_a_lowercase_t_is_rfc_3339_too() -> None:
    assert parse_time(f"{WHEN.replace('T', 't')}Z").ns == WHEN_NS


@pytest.mark.parametrize("offset", ["+02:00", "-05:00", "+00:30", "-00:01"])
def test_a_non_utc_offset_is_rejected(offset: str) -> None:
    with pytest.raises(ValueError, match=r"^not a UTC time: "):
        parse_time(f"{WHEN}.588257{offset}")


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "",
        "2026-05-02",
        f"{WHEN}",  # no offset
        "2026-05-02T09:46Z",  # no seconds
        f"{WHEN}.Z",  # an empty fraction
        f"{WHEN}+0000",  # offset without a colon
        f" {WHEN}Z",
        f"{WHEN}Z\n",
        "1777715174",
    ],
)
def test_what_is_not_rfc_3339_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match=r"^not an RFC 3339 time: "):
        parse_time(text)


def test_an_impossible_date_is_rejected() -> None:
    with pytest.raises(ValueError):
        parse_time("2026-13-02T09:46:14Z")


# -- one record ----------------------------------------------------------------------------


def test_a_record_as_the_spec_table_says_is_read_without_problems() -> None:
    data = synthetic_meta("db-seed", 0, 100, needs=["db-migrate"], command="make seed")
    record, problems = parse_record(data, "db-seed")
    assert problems == []
    assert record is not None
    assert (record.name, record.status, record.job_dir) == ("db-seed", "completed", "db-seed")
    assert record.started_at == Stamp(SYNTHETIC_T0_NS, 1)
    assert record.finished_at == Stamp(SYNTHETIC_T0_NS + 100_000_000, 1)
    assert (record.started_mono_ns, record.finished_mono_ns) == (0, 100_000_000)
    assert (record.exit_code, record.pid) == (0, SYNTHETIC_PID)
    assert record.needs == ("db-migrate",) and record.command == "make seed"
    assert record.started and record.final
    assert record.raw == data


def test_fields_not_in_the_table_are_ignored() -> None:
    record, problems = parse_record({**synthetic_meta("a", 0, 1), "attempt": 2}, "a")
    assert record is not None and problems == []


def test_a_record_that_never_started_and_one_still_running() -> None:
    skipped, problems = parse_record(
        synthetic_meta("a", status="skipped", skip_cause="needs", reason="need 'b' failed"), "a"
    )
    assert problems == [] and skipped is not None
    assert not skipped.started and skipped.final and skipped.skip_cause == "needs"
    running, problems = parse_record(synthetic_meta("b", 0, None, "running"), "b")
    assert problems == [] and running is not None
    assert running.started and not running.final and running.finished_at is None


@pytest.mark.parametrize(
    ("key", "value", "attribute", "read_as", "words"),
    [
        ("started_mono_ns", "soon", "started_mono_ns", None, "must be an integer or null"),
        ("finished_mono_ns", 1.5, "finished_mono_ns", None, "must be an integer or null"),
        ("exit_code", True, "exit_code", None, "must be an integer or null, got True"),
        ("exit_code", "0", "exit_code", None, "must be an integer or null, got '0'"),
        ("pid", 12.0, "pid", None, "must be an integer or null"),
        ("started_at", 1777715174, "started_at", None, "must be a string or null"),
        ("reason", ["x"], "reason", None, "must be a string or null"),
        ("needs", "db-migrate", "needs", (), "'needs' must be a list of strings"),
        ("needs", ["a", 1], "needs", (), "'needs' must be a list of strings"),
        ("needs", None, "needs", (), "'needs' must be a list of strings"),
        ("background", "false", "background", False, "'background' must be true or false"),
        ("background", 0, "background", False, "'background' must be true or false"),
        ("command", None, "command", "", "'command' must be a string"),
        ("skip_cause", "later", "skip_cause", "later", "'skip_cause' must be condition, needs"),
        ("skip_cause", 1, "skip_cause", None, "'skip_cause' must be a string or null"),
    ],
)
def test_a_field_of_the_wrong_type_is_a_record_fields_problem(
    key: str, value: Any, attribute: str, read_as: Any, words: str
) -> None:
    record, problems = parse_record({**synthetic_meta("a", 0, 1), key: value}, "a")
    assert record is not None, "a record with a usable name and status is still judged"
    assert getattr(record, attribute) == read_as
    ((rule, text),) = problems
    assert rule == "record.fields" and words in text, text


def test_a_missing_field_is_a_record_fields_problem() -> None:
    data = synthetic_meta("a", 0, 1)
    del data["reason"], data["pid"]
    record, problems = parse_record(data, "a")
    assert record is not None and (record.reason, record.pid) == (None, None)
    assert problems == [
        ("record.fields", "missing field 'reason'"),
        ("record.fields", "missing field 'pid'"),
    ]


def test_a_badly_written_time_is_a_time_format_problem() -> None:
    data = {**synthetic_meta("a", 0, 1), "finished_at": "2026-05-02T11:46:14.588257+02:00"}
    record, problems = parse_record(data, "a")
    assert record is not None and record.finished_at is None
    assert problems == [
        ("record.time-format", "'finished_at': not a UTC time: '2026-05-02T11:46:14.588257+02:00'")
    ]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ([1, 2], "a record must be a JSON object, got list"),
        ("completed", "a record must be a JSON object, got str"),
        ({"status": "completed"}, "'name' must be a string, got None"),
        ({"name": 7, "status": "completed"}, "'name' must be a string, got 7"),
        ({"name": "a", "status": "done"}, "'status' must be one of running, completed"),
        ({"name": "a"}, "got None"),
    ],
)
def test_a_record_without_a_usable_name_or_status_cannot_be_judged(data: Any, words: str) -> None:
    record, problems = parse_record(data, "a")
    assert record is None
    ((rule, text),) = problems
    assert rule == "record.fields" and words in text, text


# -- a run's records --------------------------------------------------------------------------


def write_record(run_dir: Path, directory: str, content: str | bytes, log: bool = True) -> None:
    (run_dir / directory).mkdir(parents=True, exist_ok=True)
    meta = run_dir / directory / "meta.json"
    if isinstance(content, bytes):
        meta.write_bytes(content)
    else:
        meta.write_text(content, encoding="utf-8")
    if log:
        (run_dir / directory / "output.log").write_text(f"{directory} says hi\n")


def test_records_are_keyed_by_name_not_by_directory(tmp_path: Path) -> None:
    write_record(tmp_path, "a", json.dumps(synthetic_meta("a", 0, 1)))
    write_record(tmp_path, "enc~2f", json.dumps(synthetic_meta("x/y", 0, 1)))
    found = read_records(tmp_path)
    assert found.problems == []
    assert sorted(found.records) == ["a", "x/y"]
    assert found.records["x/y"].job_dir == "enc~2f"
    assert found.outputs["x/y"] == tmp_path / "enc~2f" / "output.log"


def test_a_torn_or_partial_file_is_reported_and_the_others_still_read(tmp_path: Path) -> None:
    whole = json.dumps(synthetic_meta("a", 0, 1))
    write_record(tmp_path, "a", whole)
    write_record(tmp_path, "b", whole.replace('"a"', '"b"')[: len(whole) // 2])  # cut short
    write_record(tmp_path, "c", "")  # created, not written yet
    write_record(tmp_path, "d", b'{"name": "d\xe9"}')  # not UTF-8
    found = read_records(tmp_path)
    assert list(found.records) == ["a"]
    assert [rule for rule, _ in found.problems] == ["record.fields"] * 3
    assert [text.split(" is not readable JSON: ")[0] for _, text in found.problems] == [
        "b/meta.json",
        "c/meta.json",
        "d/meta.json",
    ]


def test_two_records_for_one_name_are_reported_and_the_first_is_kept(tmp_path: Path) -> None:
    write_record(tmp_path, "a", json.dumps(synthetic_meta("a", 0, 1)))
    write_record(tmp_path, "b", json.dumps(synthetic_meta("a", 5, 6, "failed", exit_code=3)))
    found = read_records(tmp_path)
    assert list(found.records) == ["a"]
    assert found.records["a"].job_dir == "a" and found.records["a"].status == "completed"
    assert found.problems == [("record.every-job", "two records for job 'a' (a, b/meta.json)")]


def test_field_problems_name_the_file_and_the_job(tmp_path: Path) -> None:
    write_record(tmp_path, "a", json.dumps({**synthetic_meta("a", 0, 1), "pid": "12"}))
    found = read_records(tmp_path)
    assert found.problems == [
        ("record.fields", "a/meta.json ('a'): 'pid' must be an integer or null, got '12'")
    ]
    assert found.records["a"].pid is None


def test_a_record_without_its_output_log_is_a_location_problem(tmp_path: Path) -> None:
    write_record(tmp_path, "a", json.dumps(synthetic_meta("a", 0, 1)), log=False)
    found = read_records(tmp_path)
    assert list(found.records) == ["a"] and found.outputs == {}
    assert found.problems == [("record.location", "no output.log beside a/meta.json")]


def test_only_meta_json_is_read(tmp_path: Path) -> None:
    write_record(tmp_path, "a", json.dumps(synthetic_meta("a", 0, 1)))
    (tmp_path / "a" / "meta.json.tmp").write_text('{"name": "a", "sta')  # a write under way
    (tmp_path / "stray.json").write_text("{")
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "meta.json").write_text("{")
    found = read_records(tmp_path)
    assert list(found.records) == ["a"] and found.problems == []


def test_no_run_dir_is_no_records(tmp_path: Path) -> None:
    found = read_records(tmp_path / "never-created")
    assert (found.records, found.problems, found.outputs) == ({}, [], {})


def test_started_names_during_a_run_count_partial_reads(tmp_path: Path) -> None:
    write_record(tmp_path, "a", json.dumps(synthetic_meta("a", 0, None, "running")))
    write_record(tmp_path, "b", json.dumps(synthetic_meta("b", status="skipped")))
    write_record(tmp_path, "c", '{"name": "c", "started_at": "2026')
    assert started_names(tmp_path) == ({"a"}, 1)
    assert started_names(tmp_path / "not-yet") == (set(), 0)

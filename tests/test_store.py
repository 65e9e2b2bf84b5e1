"""Tests for `coordinator.store`: job directory names and atomic record writes (spec: records)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator import Record, SkipCause, Status
from coordinator.store import RunDir, dir_name, iter_runs, name_of_dir, read_records

# No example database: nothing is written outside the test's temp dirs.
PROPERTY = settings(deadline=None, database=None)
# Any text a YAML job name could hold: no lone surrogates (they cannot be encoded).
NAMES = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)


def record(name: str, status: Status = Status.COMPLETED) -> Record:
    return Record(
        name=name,
        status=status,
        command="true",
        needs=["x"],
        background=False,
        started_at="2026-05-02T09:46:14.588257Z",
        finished_at="2026-05-02T09:46:16.963859Z",
        started_mono_ns=1,
        finished_mono_ns=2,
        exit_code=0,
        pid=42,
    )


def assert_safe_component(directory: str) -> None:
    assert directory and "/" not in directory and "\0" not in directory
    assert directory not in (".", "..")
    assert len(directory.encode()) <= 255


@pytest.mark.parametrize("name", ["db-migrate", "a.b_c-1", "X" * 201, "X" * 255, "..."])
def test_safe_names_are_used_as_they_are(name: str) -> None:
    # Spec (records): the name itself whenever it matches [A-Za-z0-9._-]+ (and fits a file name).
    assert dir_name(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "é", "a b", "X" * 256, "%41", "#x"])
def test_other_names_are_encoded_into_one_safe_component(name: str) -> None:
    directory = dir_name(name)
    assert directory != name
    assert_safe_component(directory)


@PROPERTY
@given(st.sets(NAMES, min_size=2, max_size=20))
def test_dir_name_is_injective_and_safe(names: set[str]) -> None:
    directories = [dir_name(name) for name in names]
    assert len(set(directories)) == len(names)
    for directory in directories:
        assert_safe_component(directory)


@PROPERTY
@given(st.lists(st.sampled_from("ab/.%#é -"), min_size=1, max_size=250))
def test_dir_name_is_injective_on_look_alike_names(chars: list[str]) -> None:
    # Names built from the characters most likely to collide once encoded.
    name = "".join(chars)
    for other in (name + "a", name[:-1], name.replace("/", "%2F"), name.replace("%", "/")):
        if other != name:
            assert dir_name(other) != dir_name(name)
    assert_safe_component(dir_name(name))


def test_run_dir_encodes_invocation_and_worktree(tmp_path: Path) -> None:
    run_dir = RunDir.at(tmp_path, "../up", "my tree")
    assert run_dir.path.parent.parent == tmp_path / "jobs"
    assert tmp_path / "jobs" in run_dir.path.resolve().parents


def test_write_is_atomic_and_leaves_no_temp_file(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "run")
    first = record("a/b", Status.RUNNING)
    run_dir.write(first)
    run_dir.write(record("a/b"))
    directory = Path(run_dir.prepare("a/b"))
    assert sorted(p.name for p in directory.iterdir()) == ["meta.json"]
    data = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    assert data["name"] == "a/b" and data["status"] == "completed"


def test_failed_write_keeps_the_old_record_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = RunDir(tmp_path / "run")
    run_dir.write(record("a", Status.RUNNING))

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        run_dir.write(record("a"))
    monkeypatch.undo()
    directory = Path(run_dir.prepare("a"))
    assert sorted(p.name for p in directory.iterdir()) == ["meta.json"]
    assert run_dir.read()["a"].status is Status.RUNNING


def test_records_round_trip_keyed_by_name(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "run")
    written = [record("a/b"), record("é x", Status.SKIPPED), record("..", Status.FAILED)]
    written[1].skip_cause = SkipCause.CONDITION
    for item in written:
        run_dir.write(item)
    assert read_records(run_dir.path) == {item.name: item for item in written}


def test_iter_runs_lists_each_invocation_and_worktree(tmp_path: Path) -> None:
    for invocation, worktree in [("inv1", "wt1"), ("inv1", "wt2"), ("inv2", "wt1")]:
        RunDir.at(tmp_path, invocation, worktree).write(record(f"{invocation}-{worktree}"))
    listed = [(run.invocation, run.worktree, list(run.records)) for run in iter_runs(tmp_path)]
    assert listed == [
        ("inv1", "wt1", ["inv1-wt1"]),
        ("inv1", "wt2", ["inv1-wt2"]),
        ("inv2", "wt1", ["inv2-wt1"]),
    ]
    assert list(iter_runs(tmp_path / "missing")) == []


def test_iter_runs_skips_only_the_unreadable_record(tmp_path: Path) -> None:
    run_dir = RunDir.at(tmp_path, "inv", "wt")
    run_dir.write(record("good"))
    (run_dir.path / "broken").mkdir()
    (run_dir.path / "broken" / "meta.json").write_text("{not json")
    runs = list(iter_runs(tmp_path))
    assert [list(run.records) for run in runs] == [["good"]]
    assert list(runs[0].unreadable) == ["broken"] and "not a record" in runs[0].unreadable["broken"]


def test_a_directory_name_dir_name_never_writes_is_shown_as_it_is() -> None:
    assert name_of_dir("%%zz") == "%%zz" and name_of_dir("%a%4") == "%a%4"
    assert name_of_dir(dir_name("a b")) == "a b"

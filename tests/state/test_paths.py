"""Run ids and run paths: sortable unique ids, log files that never leave logs/."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowctl.errors import StateError
from flowctl.state.paths import RunPaths, allocate_run, list_run_dirs, new_run_id

RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")


def test_run_id_is_utc_time_plus_six_hex_digits() -> None:
    run_id = new_run_id(datetime(2026, 11, 25, 16, 34, 0, tzinfo=UTC))
    assert RUN_ID.fullmatch(run_id)
    assert run_id.startswith("20261125T163400Z-")
    assert RUN_ID.fullmatch(new_run_id())


def test_run_id_converts_other_time_zones_and_treats_naive_time_as_utc() -> None:
    cet = timezone(timedelta(hours=1))
    assert new_run_id(datetime(2026, 1, 1, 0, 30, tzinfo=cet)).startswith("20251231T233000Z-")
    assert new_run_id(datetime(2026, 1, 1, 0, 30)).startswith("20260101T003000Z-")


def test_run_ids_sort_by_time() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    ids = [new_run_id(start + timedelta(seconds=s)) for s in (0, 1, 59, 3600, 86400 * 40)]
    assert sorted(ids) == ids


def test_allocated_runs_are_unique_even_at_the_same_instant(tmp_path: Path) -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    runs = [allocate_run(tmp_path, now) for _ in range(200)]
    assert len({r.run_id for r in runs}) == 200
    assert all(r.logs_dir.is_dir() for r in runs)


def test_run_paths_layout(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path, "20261125T163400Z-3fa9c1")
    run_dir = tmp_path / "runs" / "20261125T163400Z-3fa9c1"
    assert paths.run_dir == run_dir
    assert paths.audit == run_dir / "audit.jsonl"
    assert paths.logs_dir == run_dir / "logs"
    assert paths.report == run_dir / "report.json"
    assert paths.log("build") == run_dir / "logs" / "build.log"
    assert paths.log("loop[3].child") == run_dir / "logs" / "loop[3].child.log"
    assert not run_dir.exists()
    paths.create()
    paths.create()  # idempotent
    assert paths.logs_dir.is_dir()


@pytest.mark.parametrize("run_id", ["../escape", "a/b", "..", ".", "", "/abs", "x\x00y", "-rf"])
def test_hostile_run_ids_are_refused(tmp_path: Path, run_id: str) -> None:
    with pytest.raises(StateError, match=r"^invalid run id "):
        RunPaths(tmp_path, run_id)


HOSTILE_NAMES = [
    "../../../etc/passwd",
    "/etc/passwd",
    "a/b",
    "..",
    ".",
    "",
    ".hidden",
    "nul\x00byte",
    "back\\slash",
    "new\nline",
    "%2e%2e%2f",
    "x" * 1000,
    "é" * 300,
    "loop[1].inner[2].leaf",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_log_paths_stay_inside_logs_dir_and_can_be_written(tmp_path: Path, name: str) -> None:
    paths = RunPaths(tmp_path, "run1")
    paths.create()
    log = paths.log(name)
    assert log.parent == paths.logs_dir
    assert log.resolve().parent == paths.logs_dir.resolve()
    assert not log.name.startswith(".")
    assert len(os.fsencode(log.name)) <= 255
    log.write_text("output\n")
    assert [p.name for p in paths.logs_dir.iterdir()] == [log.name]


def test_distinct_names_in_the_hostile_list_get_distinct_logs(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path, "run1")
    logs = {paths.log(n) for n in HOSTILE_NAMES}
    assert len(logs) == len(HOSTILE_NAMES)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(a=st.text(max_size=40), b=st.text(max_size=40))
def test_log_names_are_one_to_one_and_contained(a: str, b: str) -> None:
    paths = RunPaths(Path("/state"), "run1")
    log_a, log_b = paths.log(a), paths.log(b)
    assert log_a.parent == paths.logs_dir
    assert "/" not in log_a.name and "\x00" not in log_a.name
    assert (log_a == log_b) == (a == b)


def test_list_run_dirs_is_newest_first_and_ignores_files(tmp_path: Path) -> None:
    assert list_run_dirs(tmp_path) == []
    base = datetime(2026, 5, 1, tzinfo=UTC)
    ids = [new_run_id(base + timedelta(minutes=m)) for m in (5, 1, 30, 12)]
    for run_id in ids:
        RunPaths(tmp_path, run_id).create()
    (tmp_path / "runs" / "stray.txt").write_text("not a run")
    listed = list_run_dirs(tmp_path)
    assert [p.name for p in listed] == sorted(ids, reverse=True)
    assert all(p.is_dir() for p in listed)

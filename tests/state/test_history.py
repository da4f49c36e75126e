"""history.jsonl: locked appends from many processes, and a reader that survives damage."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowctl.errors import ExitCode, HistoryError
from flowctl.state import history
from flowctl.state.history import (
    HistoryIssue,
    HistoryReader,
    append_record,
    iter_history,
    read_record_at,
    recent_records,
)
from flowctl.state.records import RunRecord, StepRecord


def record(index: int, workflow: str = "wf") -> RunRecord:
    return RunRecord(
        run_id=f"run-{index}",
        workflow=workflow,
        status="completed",
        started_at="2026-01-01T00:00:00Z",
        finished_at="2026-01-01T00:00:01Z",
        duration=1.5,
        steps=(
            StepRecord(
                id="a",
                type="action",
                status="completed",
                started_at="2026-01-01T00:00:00Z",
                finished_at="2026-01-01T00:00:01Z",
                duration=1.0,
                attempts=1,
                metrics={"rows": 3.0},
            ),
        ),
        edges=(("a", "b"),),
        max_parallel_steps=4,
    )


def test_append_then_read_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "history.jsonl"
    records = [record(i) for i in range(3)]
    for r in records:
        append_record(path, r)
    issues: list[HistoryIssue] = []
    assert list(iter_history(path, issues)) == records
    assert issues == []
    assert path.read_bytes().count(b"\n") == 3


def test_a_torn_last_line_is_skipped_and_noted(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    append_record(path, record(1))
    with path.open("ab") as f:
        f.write(b'{"format": 1, "run_id": "run-2", "work')  # a writer killed mid-line
    issues: list[HistoryIssue] = []
    assert [r.run_id for r in iter_history(path, issues)] == ["run-1"]
    assert issues == [HistoryIssue(2, "torn last line ignored (an interrupted write)", torn=True)]


def test_the_next_writer_starts_on_a_new_line_after_a_torn_one(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    append_record(path, record(1))
    with path.open("ab") as f:
        f.write(b'{"format": 1, "run_id": "run-2", "work')
    append_record(path, record(3))
    issues: list[HistoryIssue] = []
    assert [r.run_id for r in iter_history(path, issues)] == ["run-1", "run-3"]
    # The torn line is now a whole (bad) line in the middle: reported, not torn.
    assert len(issues) == 1
    assert issues[0].line == 2 and not issues[0].torn
    assert issues[0].message.startswith("not valid JSON (")


def test_bad_lines_are_reported_by_number_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    good = json.dumps(record(1).to_json())
    newer = dict(record(2).to_json(), format=99)
    no_steps = {k: v for k, v in record(3).to_json().items() if k != "steps"}
    lines = [
        good,
        "this is not json",
        "[1, 2, 3]",
        json.dumps(no_steps),
        "",
        json.dumps(newer),
        '{"duration": NaN}',
        good,
    ]
    path.write_text("\n".join(lines) + "\n")
    issues: list[HistoryIssue] = []
    assert [r.run_id for r in iter_history(path, issues)] == ["run-1", "run-1"]
    assert [(i.line, i.message) for i in issues] == [
        (2, "not valid JSON (Expecting value)"),
        (3, "the line is not a JSON object"),
        (4, "missing field 'steps'"),
        (6, "written by a newer flowctl (format 99; this one reads up to 1)"),
        (7, "not valid JSON (NaN is not a JSON number)"),
    ]


def test_nesting_too_deep_for_the_decoder_is_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n" + json.dumps(record(1).to_json()) + "\n")
    issues: list[HistoryIssue] = []
    assert len(list(iter_history(path, issues))) == 1
    assert issues == [HistoryIssue(1, "nested too deeply")]


def test_invalid_utf8_is_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_bytes(b'{"a": "\xff\xfe"}\n' + json.dumps(record(1).to_json()).encode() + b"\n")
    issues: list[HistoryIssue] = []
    assert len(list(iter_history(path, issues))) == 1
    assert issues == [HistoryIssue(1, "not valid UTF-8")]


def test_a_line_over_the_size_limit_is_skipped_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "MAX_LINE_BYTES", 4096)
    monkeypatch.setattr(history, "_SKIP_CHUNK", 1000)
    path = tmp_path / "history.jsonl"
    path.write_text('{"x": "' + "a" * 20_000 + '"}\n' + json.dumps(record(1).to_json()) + "\n")
    issues: list[HistoryIssue] = []
    assert [r.run_id for r in iter_history(path, issues)] == ["run-1"]
    assert issues == [HistoryIssue(1, "line longer than 4096 bytes")]


def test_records_of_an_older_writer_without_optional_fields_are_read(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    minimal = {
        "run_id": "old",
        "workflow": "wf",
        "status": "failed",
        "started_at": "2025-01-01T00:00:00Z",
        "finished_at": "2025-01-01T00:00:02Z",
        "duration": 2,
        "steps": [{"id": "a", "status": "failed"}],
    }
    path.write_text(json.dumps(minimal) + "\n")
    (only,) = iter_history(path)
    assert only.format == 1 and only.steps[0].duration == 0.0 and only.edges == ()


def test_a_missing_file_raises_at_once(tmp_path: Path) -> None:
    path = tmp_path / "nope.jsonl"
    with pytest.raises(HistoryError) as info:
        iter_history(path)
    assert str(info.value) == f"{path}: no such file"
    assert info.value.exit_code is ExitCode.USAGE


def test_a_directory_is_not_a_history_file(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="is a directory"):
        iter_history(tmp_path)


def test_an_empty_file_has_no_records(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text("")
    assert list(iter_history(path)) == []


def test_nan_is_never_written(tmp_path: Path) -> None:
    bad = RunRecord(
        run_id="x",
        workflow="wf",
        status="completed",
        started_at="s",
        finished_at="f",
        duration=float("nan"),
        steps=(),
    )
    with pytest.raises(ValueError):
        append_record(tmp_path / "h.jsonl", bad)


def test_read_record_at_an_offset(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    for i in range(3):
        append_record(path, record(i))
    offsets = [entry.offset for entry in HistoryReader(path)]
    assert [read_record_at(path, o).run_id for o in reversed(offsets)] == [
        "run-2",
        "run-1",
        "run-0",
    ]


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_byte_ranges_read_every_line_exactly_once(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    path = tmp_path_factory.mktemp("ranges") / "history.jsonl"
    texts = data.draw(st.lists(st.sampled_from(["{}", "[]", "", "x", '{"k": 1}']), max_size=12))
    path.write_text("".join(t + "\n" for t in texts))
    size = path.stat().st_size
    cuts = sorted(data.draw(st.lists(st.integers(0, size), max_size=4)))
    bounds = [0, *cuts, size]
    seen: list[int] = []
    total_lines = 0
    for start, end in itertools.pairwise(bounds):
        reader = HistoryReader(path, start=start, end=end)
        seen += [entry.offset for entry in reader]
        total_lines += reader.lines
    whole = HistoryReader(path)
    assert seen == [entry.offset for entry in whole]
    assert total_lines == whole.lines == len(texts)


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from flowctl.state.history import append_record
    from flowctl.state.records import RunRecord, StepRecord

    path, who = Path(sys.argv[1]), sys.argv[2]
    steps = tuple(
        StepRecord(id=f"s{i}", type="action", status="completed", started_at=None,
                   finished_at=None, duration=0.5, error="x" * 2000)
        for i in range(20)
    )
    for n in range(40):
        append_record(path, RunRecord(run_id=f"{who}-{n}", workflow="wf", status="completed",
                                      started_at="s", finished_at="f", duration=1.0,
                                      steps=steps))
    """
)


def test_eight_concurrent_writer_processes_lose_and_tear_nothing(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"w{i}"]) for i in range(8)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 8
    issues: list[HistoryIssue] = []
    ids = [r.run_id for r in iter_history(path, issues)]
    assert issues == []
    assert sorted(ids) == sorted(f"w{i}-{n}" for i in range(8) for n in range(40))


def _mixed_history(path: Path, count: int) -> None:
    """Runs of "wf" (failed every third) between runs of other workflows."""
    for i in range(count):
        append_record(path, record(1000 + i, workflow="other"))
        mine = record(i)
        if i % 3 == 2:
            mine = msgspec.structs.replace(mine, status="failed")
        append_record(path, mine)


@pytest.mark.parametrize("block", [7, 64, 256 * 1024])
def test_recent_records_reads_the_newest_matching_runs_backwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    # Blocks smaller than a line make every line straddle reads.
    monkeypatch.setattr(history, "_BACK_BLOCK", block)
    path = tmp_path / "history.jsonl"
    _mixed_history(path, 30)
    with path.open("ab") as stream:
        stream.write(b"not json\n" + b'{"workflow": "wf"}\n' + b'{"run_id": "torn')

    newest = recent_records(path, "wf", limit=5)
    assert [r.run_id for r in newest] == ["run-29", "run-28", "run-27", "run-26", "run-25"]
    completed = recent_records(path, "wf", limit=4, status="completed")
    assert [r.run_id for r in completed] == ["run-28", "run-27", "run-25", "run-24"]
    everything = recent_records(path, "wf", limit=1000)
    assert [r.run_id for r in everything] == [f"run-{i}" for i in reversed(range(30))]
    assert recent_records(path, "nobody", limit=3) == []


def test_recent_records_reads_no_further_back_than_its_byte_bound(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    _mixed_history(path, 10)
    lines = path.read_bytes().splitlines(keepends=True)
    # The bound reaches into the middle of run-7's line: only the runs after it are read.
    bound = sum(map(len, lines[-4:])) + len(lines[-5]) // 2
    found = recent_records(path, "wf", limit=100, max_bytes=bound)
    assert [r.run_id for r in found] == ["run-9", "run-8"]


def test_recent_records_of_a_missing_file_raise(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="no such file"):
        recent_records(tmp_path / "none.jsonl", "wf", limit=1)

"""`flowctl runs` and `flowctl runs show`: past runs read back from their real files."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pytest
from rich.console import Console

from flowctl.commands.runs import list_runs, show_run
from flowctl.errors import StateError
from flowctl.state.audit import AuditJournal
from flowctl.state.paths import RunPaths
from flowctl.state.runs import RunState, load_run, load_run_steps, resolve_run_dir
from flowctl.status import StepStatus

Event = tuple[str, str | None, int | None, Mapping[str, Any]]


def dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)


def make_run(state: Path, run_id: str, events: list[Event]) -> RunPaths:
    """A run directory whose audit.jsonl is written by the real journal."""
    paths = RunPaths(state, run_id)
    paths.create()
    journal = AuditJournal(paths.audit, run_id, durable=False)
    for name, step, attempt, data in events:
        journal.append(name, step=step, attempt=attempt, data=data)
    journal.close()
    return paths


def raw_journal(paths: RunPaths, lines: list[dict[str, Any] | str]) -> None:
    """An audit.jsonl written by hand, for exact times and broken lines."""
    paths.create()
    text = "".join(
        line if isinstance(line, str) else json.dumps({"run_id": paths.run_id, **line}) + "\n"
        for line in lines
    )
    paths.audit.write_text(text)


def capture(width: int = 160) -> Console:
    return Console(file=io.StringIO(), width=width, force_terminal=False)


def text(console: Console) -> str:
    return cast(io.StringIO, console.file).getvalue()


FAILED_RUN: list[Event] = [
    ("run_started", None, None, {"workflow": "docs", "pid": 1}),
    ("step_started", "extract", 1, {}),
    ("step_completed", "extract", 1, {"duration": 1.25}),
    ("step_started", "ocr", 1, {"agent": "fast_ocr"}),
    ("step_retrying", "ocr", 1, {"error": "HTTP 503", "delay": 1.0}),
    ("step_started", "ocr", 2, {"agent": "fast_ocr"}),
    ("step_failed", "ocr", 2, {"error": "exit code 3: no text\nmore", "duration": 2.5}),
    ("step_started", "loop[0].body", 1, {}),
    ("step_completed", "loop[0].body", 1, {"duration": 0.1, "cached": True}),
    ("step_skipped", "review", None, {"reason": "dependency ocr failed"}),
    ("rollback_started", "extract", None, {}),
    ("rollback_finished", "extract", None, {}),
    ("run_finished", None, None, {"status": "failed", "duration": 4.5, "error": "ocr failed"}),
]


def test_no_runs_is_said_plainly(tmp_path: Path) -> None:
    out = capture()
    assert list_runs(tmp_path / "state", console=out) == 0
    assert text(out) == f"no runs in {tmp_path / 'state' / 'runs'}\n"


def test_list_shows_each_run_newest_first_from_report_or_journal(tmp_path: Path) -> None:
    state = tmp_path / ".flowctl"
    make_run(state, "20260101T000000Z-aaaaaa", FAILED_RUN)
    done = make_run(state, "20260102T000000Z-bbbbbb", [("run_started", None, None, {})])
    done.report.write_text(
        json.dumps(
            {
                "run_id": done.run_id,
                "workflow": "billing",
                "status": "completed",
                "started_at": "2026-01-02T00:00:00Z",
                "finished_at": "2026-01-02T00:01:05.5Z",
            }
        )
    )
    make_run(
        state,
        "20260103T000000Z-cccccc",
        [("run_started", None, None, {"workflow": "etl", "pid": dead_pid()})],
    )
    make_run(
        state,
        "20260104T000000Z-dddddd",
        [("run_started", None, None, {"workflow": "etl", "pid": os.getpid()})],
    )
    out = capture()
    assert list_runs(state, console=out) == 0
    lines = text(out).splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == [
        "run id",
        "workflow",
        "status",
        "started (UTC)",
        "duration",
    ]
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[1:]]
    assert [row[:3] for row in rows] == [
        ["20260104T000000Z-dddddd", "etl", "running"],
        ["20260103T000000Z-cccccc", "etl", "interrupted"],
        ["20260102T000000Z-bbbbbb", "billing", "completed"],
        ["20260101T000000Z-aaaaaa", "docs", "failed"],
    ]
    assert rows[2][3:] == ["2026-01-02 00:00:00Z", "1m05.5s"]
    assert rows[3][4] == "4.50s"


def test_list_limit_says_how_many_are_hidden(tmp_path: Path) -> None:
    for day in range(1, 6):
        make_run(tmp_path, f"202601{day:02d}T000000Z-00000{day}", FAILED_RUN[:1])
    out = capture()
    list_runs(tmp_path, limit=2, console=out)
    lines = text(out).splitlines()
    assert [line.split()[0] for line in lines[1:3]] == [
        "20260105T000000Z-000005",
        "20260104T000000Z-000004",
    ]
    assert lines[-1] == "2 of 5 runs shown; --limit N shows more"


def test_a_report_older_than_the_journal_is_not_trusted(tmp_path: Path) -> None:
    paths = make_run(tmp_path, "20260101T000000Z-aaaaaa", FAILED_RUN)
    paths.report.write_text(json.dumps({"status": "failed", "workflow": "docs"}))
    os.utime(paths.report, ns=(1, 1))  # the run was resumed after this report was written
    journal = AuditJournal(paths.audit, paths.run_id, durable=False, next_seq=100)
    journal.append("run_started", data={"workflow": "docs", "pid": os.getpid(), "resumed": True})
    journal.close()
    run = load_run(paths.run_dir)
    assert (run.status, run.source) == (RunState.RUNNING, "audit.jsonl")


def test_a_broken_report_falls_back_to_the_journal(tmp_path: Path) -> None:
    paths = make_run(tmp_path, "20260101T000000Z-aaaaaa", FAILED_RUN)
    paths.report.write_text("{not json")
    run = load_run(paths.run_dir)
    assert (run.status, run.workflow, run.error) == (RunState.FAILED, "docs", "ocr failed")


def test_show_prints_the_run_step_by_step(tmp_path: Path) -> None:
    paths = make_run(tmp_path, "20260101T000000Z-aaaaaa", FAILED_RUN)
    out = capture()
    assert show_run(tmp_path, "20260101T000000Z-aaaaaa", console=out) == 0
    lines = [line.rstrip() for line in text(out).splitlines()]
    header = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in lines[:7])
    assert header == {
        "run": "20260101T000000Z-aaaaaa",
        "workflow": "docs",
        "status": "failed",
        "started": header["started"],
        "duration": "4.50s",
        "error": "ocr failed",
        "files": str(paths.run_dir),
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", header["started"])
    rows = [re.split(r"\s{2,}|(?<=^.) ", line.strip()) for line in lines[8:]]
    assert rows == [
        ["↺", "extract", "rolled_back", "1", "1.25s"],
        ["✗", "ocr", "failed", "2", "2.50s", "on fast_ocr: exit code 3: no text | more"],
        ["✓", "loop[0].body", "completed", "1", "0.10s", "cached"],
        ["⏭", "review", "skipped", "-", "-", "dependency ocr failed"],
    ]


def test_steps_in_flight_when_a_run_died_show_as_interrupted(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path, "20260101T000000Z-aaaaaa")
    raw_journal(
        paths,
        [
            {"ts": "2026-01-01T00:00:00Z", "seq": 1, "event": "run_started", "data": {}},
            {
                "ts": "2026-01-01T00:00:01Z",
                "seq": 2,
                "event": "step_started",
                "step": "a",
                "attempt": 1,
                "data": {},
            },
            {
                "ts": "2026-01-01T00:00:03.5Z",
                "seq": 3,
                "event": "approval_requested",
                "step": "gate",
                "data": {},
            },
        ],
    )
    run, steps = load_run_steps(paths.run_dir)
    assert (run.status, run.duration) == (RunState.INTERRUPTED, 3.5)
    assert [(s.id, s.status) for s in steps] == [
        ("a", StepStatus.RUNNING),
        ("gate", StepStatus.WAITING),
    ]
    out = capture()
    show_run(tmp_path, "2026", console=out)
    shown = text(out)
    assert re.search(r"^! +a +interrupted +1 +- *$", shown, re.MULTILINE)
    assert re.search(r"^⏸ +gate +waiting +- +- *$", shown, re.MULTILINE)


def test_approval_decisions_are_shown(tmp_path: Path) -> None:
    events: list[Event] = [
        ("run_started", None, None, {"workflow": "w"}),
        ("approval_requested", "gate", None, {}),
        ("approval_decided", "gate", None, {"approved": False, "by": "ann", "comment": "no"}),
        ("step_failed", "gate", None, {"error": "rejected"}),
        ("run_finished", None, None, {"status": "failed"}),
    ]
    make_run(tmp_path, "20260101T000000Z-aaaaaa", events)
    _, steps = load_run_steps(tmp_path / "runs" / "20260101T000000Z-aaaaaa")
    assert steps[0].note == "rejected by ann: no"
    assert steps[0].status is StepStatus.FAILED


def test_a_broken_journal_is_read_with_warnings(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path, "20260101T000000Z-aaaaaa")
    good = {
        "ts": "2026-01-01T00:00:00Z",
        "seq": 1,
        "event": "run_started",
        "data": {"workflow": "w"},
    }
    raw_journal(paths, [good, "garbage\n", '{"ts": 1}\n', '{"ts": "2026-01-01T00:00:01Z", "se'])
    out = capture()
    show_run(tmp_path, "20260101", console=out)
    shown = text(out)
    assert "warning: audit.jsonl: skipped unreadable lines 2, 3" in shown
    assert "warning: audit.jsonl: dropped a torn last line (the run was probably killed)" in shown
    assert "no step has started" in shown


def test_a_run_with_only_a_report_is_shown_from_it(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path, "20260101T000000Z-aaaaaa")
    paths.create()
    paths.report.write_text(
        json.dumps(
            {
                "workflow": {"name": "docs"},
                "status": "completed",
                "started_at": 1_767_225_600,
                "duration": 3,
                "steps": [
                    {"id": "a", "status": "completed", "attempts": 1, "duration": 1.5},
                    {"id": "b", "status": "weird"},
                    "junk",
                ],
            }
        )
    )
    run, steps = load_run_steps(paths.run_dir)
    assert (run.workflow, run.status, run.duration) == ("docs", RunState.COMPLETED, 3.0)
    assert run.started_at is not None and run.started_at.isoformat() == "2026-01-01T00:00:00+00:00"
    assert [(s.id, s.status, s.attempts, s.duration) for s in steps] == [
        ("a", StepStatus.COMPLETED, 1, 1.5)
    ]


def test_a_run_directory_with_no_files_cannot_be_shown(tmp_path: Path) -> None:
    RunPaths(tmp_path, "20260101T000000Z-aaaaaa").create()
    with pytest.raises(StateError, match=r"has no readable report\.json or audit\.jsonl"):
        show_run(tmp_path, "20260101T000000Z-aaaaaa", console=capture())
    out = capture()
    list_runs(tmp_path, console=out)
    assert re.search(r"20260101T000000Z-aaaaaa +\? +unknown +- +-", text(out))


def test_run_ids_resolve_by_unique_prefix_only(tmp_path: Path) -> None:
    for run_id in ("20260101T000000Z-aaaaaa", "20260101T000000Z-aaaabb", "20260102T000000Z-cc"):
        RunPaths(tmp_path, run_id).create()
    runs = tmp_path / "runs"
    assert resolve_run_dir(tmp_path, "20260102") == runs / "20260102T000000Z-cc"
    assert resolve_run_dir(tmp_path, "20260101T000000Z-aaaaaa") == runs / "20260101T000000Z-aaaaaa"
    with pytest.raises(StateError) as ambiguous:
        resolve_run_dir(tmp_path, "20260101T000000Z-aaaa")
    assert str(ambiguous.value) == (
        "run id prefix '20260101T000000Z-aaaa' is ambiguous: it matches "
        "20260101T000000Z-aaaabb, 20260101T000000Z-aaaaaa"
    )
    with pytest.raises(StateError) as unknown:
        resolve_run_dir(tmp_path, "20260101T000000Z-aaaaax")
    assert str(unknown.value) == (
        f"no run '20260101T000000Z-aaaaax' in {runs}; did you mean "
        "20260101T000000Z-aaaaaa, 20260101T000000Z-aaaabb, 20260102T000000Z-cc?"
    )
    with pytest.raises(StateError, match=r"no run 'zzz' in .*; `flowctl runs` lists them"):
        resolve_run_dir(tmp_path, "zzz")
    with pytest.raises(StateError, match="there are no runs"):
        resolve_run_dir(tmp_path / "elsewhere", "x")


def test_a_hostile_run_id_names_nothing_outside_the_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "state"
    RunPaths(state, "20260101T000000Z-aaaaaa").create()
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "audit.jsonl").write_text("")
    for hostile in ("../../secret", str(outside), "", "."):
        with pytest.raises(StateError, match="no run"):
            resolve_run_dir(state, hostile)


@pytest.mark.slow
def test_the_cli_lists_shows_and_refuses_unknown_ids(tmp_path: Path) -> None:
    make_run(tmp_path, "20260101T000000Z-aaaaaa", FAILED_RUN)

    def flowctl(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in {"FORCE_COLOR", "COLUMNS"}}
        return subprocess.run(
            [sys.executable, "-m", "flowctl", *args, "--state-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )

    listed = flowctl("runs")
    assert listed.returncode == 0, listed.stderr
    assert "20260101T000000Z-aaaaaa  docs" in listed.stdout
    shown = flowctl("runs", "show", "20260101T")
    assert shown.returncode == 0, shown.stderr
    assert "exit code 3: no text" in shown.stdout
    # Off a terminal the table fits 100 columns; only the files path may run longer.
    table = [line for line in shown.stdout.splitlines() if not line.startswith("files ")]
    assert all(len(line) <= 100 for line in table)
    missing = flowctl("runs", "show", "nope")
    assert missing.returncode == 2
    assert missing.stdout == ""
    assert missing.stderr == (
        f"error: no run 'nope' in {tmp_path / 'runs'}; `flowctl runs` lists them\n"
    )

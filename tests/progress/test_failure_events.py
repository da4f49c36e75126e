"""Progress views and the events of failure handling: approvals, circuits, rollback, resume."""

from __future__ import annotations

import io
import os
import re
import select
import time
from collections.abc import Iterator
from typing import cast

import pytest
from rich.console import Console

from flowctl.progress import LiveProgress, PlainProgress
from flowctl.progress.board import RunBoard, Tag
from flowctl.runner.events import (
    ApprovalDecided,
    ApprovalRequested,
    CircuitChanged,
    RollbackActionDone,
    RollbackFinished,
    RollbackStarted,
    RunEvent,
    RunFinished,
    RunStarted,
    RunStatusChanged,
    StepFinished,
    StepStarted,
    StepWaiting,
)
from flowctl.status import RunStatus, StepStatus

T0 = 1_700_000_000.0  # 22:13:20 UTC
ERASE_LINE = "\x1b[1A\x1b[2K"  # cursor up, erase line: how Rich takes a frame away


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def run_started(*steps: str, resumed: bool = False) -> RunStarted:
    return RunStarted(run_id="r1", workflow="shop", step_ids=steps, ts=T0, resumed=resumed)


def started(step: str, ts: float = T0, step_type: str = "action") -> StepStarted:
    return StepStarted(step=step, step_type=step_type, attempt=1, ts=ts)


def finished(
    step: str,
    ts: float = T0,
    status: StepStatus = StepStatus.COMPLETED,
    *,
    error: str | None = None,
    reason: str | None = None,
    cached: bool = False,
    handled: bool = False,
    restored: bool = False,
    attempts: int = 1,
) -> StepFinished:
    return StepFinished(
        step=step,
        step_type="action",
        status=status,
        attempts=attempts,
        duration=0 if status is StepStatus.SKIPPED else 0.5,
        ts=ts,
        error=error,
        reason=reason,
        cached=cached,
        handled=handled,
        restored=restored,
    )


def requested(step: str = "review", ts: float = T0 + 1) -> ApprovalRequested:
    return ApprovalRequested(
        step=step,
        message="Ship 1.4?\nall tests green",
        approvers=("alice", "bob"),
        timeout=14400,
        ts=ts,
    )


def decided(
    step: str = "review",
    *,
    approved: bool = True,
    by: str = "alice",
    comment: str | None = "looks good",
    source: str = "tty",
    ts: float = T0 + 2,
) -> ApprovalDecided:
    data = {"approved": approved, "by": by, "comment": comment, "source": source}
    return ApprovalDecided(step=step, data=data, ts=ts)


def rollback_story() -> list[RunEvent]:
    return [
        run_started("reserve", "charge", "ship"),
        finished("reserve", T0 + 1),
        finished("charge", T0 + 2),
        finished("ship", T0 + 3, StepStatus.FAILED, error="exit code 7"),
        RunStatusChanged(
            run_id="r1", status=RunStatus.ROLLBACK, ts=T0 + 3.1, reason="step 'ship' failed"
        ),
        RollbackStarted(reason="step 'ship' failed", steps=("charge", "reserve"), ts=T0 + 3.1),
        RollbackActionDone(step="charge", index=0, ok=True, error=None, duration=0.1, ts=T0 + 3.2),
        RollbackActionDone(
            step="charge",
            index=1,
            ok=False,
            error="refund refused\nby bank",
            duration=0.1,
            ts=T0 + 3.3,
        ),
        RollbackActionDone(step="reserve", index=0, ok=True, error=None, duration=0.1, ts=T0 + 3.4),
        finished("reserve", T0 + 3.4, StepStatus.ROLLED_BACK),
        RollbackFinished(failed=1, ts=T0 + 3.5),
    ]


def lines_of(events: list[RunEvent], progress: PlainProgress | None = None) -> list[str]:
    out = io.StringIO()
    progress = progress or PlainProgress(out)
    for event in events:
        progress.handle(event)
    progress.close()
    return cast(io.StringIO, progress.stream).getvalue().splitlines()


# --- plain lines -------------------------------------------------------------------------


def test_a_paused_human_task_is_told_once_with_its_message_and_approvers() -> None:
    events: list[RunEvent] = [
        run_started("build", "review"),
        started("review", T0 + 0.5, "human_task"),
        requested(),
        StepWaiting(step="review", step_type="human_task", ts=T0 + 1.1),
        RunFinished(run_id="r1", status=RunStatus.WAITING_APPROVAL, duration=1.2, ts=T0 + 1.2),
    ]
    assert lines_of(events)[1:] == [
        "22:13:20.500 ▶ review (attempt 1)",
        "22:13:21.000 ⏸ review waiting for approval: Ship 1.4? | all tests green "
        "(approvers: alice, bob; timeout 4h00m)",
        "22:13:21.200 ● run r1 waiting_approval after 1.20s",
    ]


def test_a_step_still_waiting_after_a_resume_is_told_without_a_request() -> None:
    # The request was made (and shown) by an earlier session; this one only sees the wait.
    events: list[RunEvent] = [StepWaiting(step="review", step_type="human_task", ts=T0)]
    assert lines_of(events) == ["22:13:20.000 ⏸ review waiting for approval"]


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (decided(), "✓ review approved by alice: looks good"),
        (
            decided(approved=False, by="bob", comment="not\nyet"),
            "✗ review rejected by bob: not | yet",
        ),
        (decided(by="ci", comment=None, source="auto"), "✓ review approved by ci (--auto-approve)"),
        (decided(by="ci", comment=None, source="flag"), "✓ review approved by ci (--approve)"),
        (decided(by="carol", comment="  ", source="cli"), "✓ review approved by carol"),
    ],
)
def test_approval_decisions(event: ApprovalDecided, line: str) -> None:
    assert PlainProgress(io.StringIO()).format(event) == line


def test_circuit_transitions() -> None:
    progress = PlainProgress(io.StringIO())
    states = [
        progress.format(CircuitChanged(name="payments", state=state, step="pay", ts=T0))
        for state in ("open", "half_open", "closed")
    ]
    assert states == [
        "⚡ circuit 'payments' open (step pay)",
        "⚡ circuit 'payments' half-open (step pay)",
        "⚡ circuit 'payments' closed (step pay)",
    ]


def test_the_rollback_phase_in_lines() -> None:
    assert [line[13:] for line in lines_of(rollback_story())[1:]] == [
        "✓ reserve 0.50s",
        "✓ charge 0.50s",
        "✗ ship failed: exit code 7",
        "↺ rolling back 2 steps: step 'ship' failed",
        "✗ charge rollback action 2 failed: refund refused | by bank",
        "↺ reserve undone",
        "✗ rollback finished: 1 action failed",
    ]
    progress = PlainProgress(io.StringIO())
    one = RollbackStarted(reason="cancelled by SIGINT", steps=("a",), ts=T0)
    assert progress.format(one) == "↺ rolling back 1 step: cancelled by SIGINT"
    assert progress.format(RollbackFinished(failed=0, ts=T0)) == "↺ rollback finished"
    other = RunStatusChanged(run_id="r1", status=RunStatus.RUNNING, ts=T0, reason="resumed")
    assert progress.format(other) == "● run r1 running: resumed"


def test_a_handled_failure_says_the_run_goes_on_and_is_not_a_failure_to_tail() -> None:
    progress = PlainProgress(io.StringIO())
    handled = finished("ocr", T0, StepStatus.FAILED, error="exit 3", handled=True, attempts=2)
    progress.handle(handled)
    progress.handle(finished("load", T0 + 1, StepStatus.FAILED, error="disk full"))
    assert progress.format(handled) == (
        "✗ ocr failed (handled by its error handlers, the run goes on): exit 3 (2 attempts)"
    )
    assert [f.step for f in progress.failures] == ["load"]


def test_a_resume_tells_restored_steps_in_one_line_per_series() -> None:
    restored = [finished(f"s{i}", T0 + i / 1000, restored=True) for i in range(1000)]
    restored.append(finished("gate", T0 + 1, StepStatus.SKIPPED, restored=True, reason="x"))
    restored.append(
        finished("ocr", T0 + 1.1, StepStatus.FAILED, error="e", handled=True, restored=True)
    )
    events: list[RunEvent] = [
        run_started("a", resumed=True),
        *restored,
        started("next", T0 + 2),
        finished("load", T0 + 3, restored=True),  # a series of one is named
        started("after", T0 + 4),
        finished("x", T0 + 5, restored=True),
        finished("y", T0 + 5.5, restored=True),
        RunFinished(run_id="r1", status=RunStatus.COMPLETED, duration=6, ts=T0 + 6),
    ]
    assert lines_of(events) == [
        "22:13:20.000 ● run r1 resumed: workflow shop, 1 step",
        "22:13:21.100 ✓ restored 1002 steps from the journal: "
        "1000 completed, 1 skipped, 1 failed (handled)",
        "22:13:22.000 ▶ next (attempt 1)",
        "22:13:23.000 ✓ load (restored)",
        "22:13:24.000 ▶ after (attempt 1)",
        "22:13:25.500 ✓ restored 2 completed steps from the journal",
        "22:13:26.000 ● run r1 completed in 6.00s",
    ]
    tail: list[RunEvent] = [finished(f"t{i}", T0, restored=True) for i in range(3)]
    assert lines_of(tail) == ["22:13:20.000 ✓ restored 3 completed steps from the journal"]


def test_ascii_marks_for_the_new_events() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii", newline="\n")
    progress = PlainProgress(stream)
    long_message = "é" * 400  # cut by one_line with an ellipsis, spelled "..." here
    events: list[RunEvent] = [
        ApprovalRequested(step="review", message=long_message, approvers=(), timeout=None, ts=T0),
        decided(approved=False, by="bøb", comment=None),
        CircuitChanged(name="payments", state="open", step="pay", ts=T0),
        *rollback_story()[5:],
        finished("a", T0, restored=True),
        finished("b", T0, restored=True),
    ]
    for event in events:
        progress.handle(event)
    progress.close()
    stream.flush()
    got = [line[13:] for line in raw.getvalue().decode("ascii").splitlines()]
    assert got == [
        "[waiting] review waiting for approval: " + "?" * 299 + "...",
        "[FAIL] review rejected by b?b",
        "[circuit] circuit 'payments' open (step pay)",
        "[undo] rolling back 2 steps: step 'ship' failed",
        "[FAIL] charge rollback action 2 failed: refund refused | by bank",
        "[undo] reserve undone",
        "[FAIL] rollback finished: 1 action failed",
        "[ok] restored 2 completed steps from the journal",
    ]


class _Pty:
    """A real pseudo-terminal: the progress stream is its terminal end, read at the other."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        self.stream = os.fdopen(slave, "w", encoding="utf-8")

    def read(self) -> str:
        data = b""
        while select.select([self.master], [], [], 0.05)[0]:
            data += os.read(self.master, 65536)
        return data.decode("utf-8").replace("\r\n", "\n")

    def close(self) -> None:
        self.stream.close()
        os.close(self.master)


def test_plain_lines_to_a_terminal_wait_while_a_question_is_asked() -> None:
    tty = _Pty()
    try:
        progress = PlainProgress(tty.stream)
        progress.handle(started("docs"))
        progress.handle(requested())  # the gate asks on the terminal right after this
        progress.handle(finished("docs", T0 + 1.5))
        assert (
            tty.read()
            .splitlines()[-1]
            .endswith(
                "⏸ review waiting for approval: Ship 1.4? | "
                "all tests green (approvers: alice, bob; "
                "timeout 4h00m)"
            )
        )
        with progress.paused():  # the runner's own pause, nested in the request's
            progress.handle(decided())
            progress.handle(started("deploy", T0 + 3))
            assert tty.read() == ""
        assert [line[13:] for line in tty.read().splitlines()] == [
            "✓ docs 0.50s",
            "✓ review approved by alice: looks good",
            "▶ deploy (attempt 1)",
        ]
        progress.resume()  # unmatched: ignored
        progress.handle(finished("deploy", T0 + 4))
        assert tty.read().endswith("✓ deploy 0.50s\n")
    finally:
        tty.close()


def test_plain_lines_to_a_file_are_never_held() -> None:
    out = io.StringIO()
    progress = PlainProgress(out)
    with progress.paused():
        progress.handle(started("a"))
        assert out.getvalue().endswith("▶ a (attempt 1)\n")


# --- the board ---------------------------------------------------------------------------


def test_the_board_counts_waiting_cached_restored_and_handled_steps() -> None:
    board = RunBoard()
    events: list[RunEvent] = [
        run_started("fetch", "load", "ocr", "fix", "review", "deploy", resumed=True),
        finished("load", T0, restored=True),
        finished("old", T0, cached=True, restored=True),  # a hit of the earlier session
        started("fetch", T0 + 1),
        finished("fetch", T0 + 1, cached=True),
        started("ocr", T0 + 1),
        started("fix", T0 + 2),
        finished("fix", T0 + 2.5),
        finished("ocr", T0 + 3, StepStatus.FAILED, error="exit 3", handled=True),
        started("review", T0 + 3, "human_task"),
        requested(ts=T0 + 3),
        started("deploy", T0 + 4),
    ]
    for event in events:
        board.apply(event)
    snap = board.snapshot(max_rows=30, now=T0 + 10)
    assert (snap.total, snap.finished, snap.running, snap.waiting) == (7, 5, 1, 1)
    assert snap.tags == {Tag.RESTORED: 2, Tag.CACHED: 1, Tag.HANDLED: 1}
    assert snap.failed == 0 and snap.counts[StepStatus.FAILED] == 1
    rows = {row.step: row for row in snap.rows}
    assert list(rows) == ["fetch", "fix", "ocr", "review", "deploy"]  # restored ones counted
    assert rows["review"].status is StepStatus.WAITING
    assert rows["review"].note == (
        "for approval: Ship 1.4? | all tests green (approvers: alice, bob; timeout 4h00m)"
    )
    assert rows["ocr"].handled and rows["ocr"].note == "handled: exit 3"
    assert rows["fetch"].note == "cached"

    board.apply(decided(ts=T0 + 5))
    board.apply(finished("review", T0 + 5))
    snap = board.snapshot(max_rows=30, now=T0 + 10)
    assert (snap.finished, snap.running, snap.waiting) == (6, 1, 0)
    assert {row.step: row.note for row in snap.rows}["review"] == "approved by alice: looks good"


def test_a_step_waiting_without_a_request_this_session() -> None:
    board = RunBoard()
    board.apply(run_started("review", resumed=True))
    board.apply(started("review", T0, "human_task"))
    board.apply(StepWaiting(step="review", step_type="human_task", ts=T0 + 1))
    snap = board.snapshot(max_rows=30, now=T0 + 2)
    assert (snap.running, snap.waiting, snap.finished) == (0, 1, 0)
    assert [(r.status, r.note) for r in snap.rows] == [(StepStatus.WAITING, "for approval")]


def test_the_board_follows_the_rollback_and_the_circuits() -> None:
    board = RunBoard()
    for event in rollback_story()[:6]:
        board.apply(event)
    board.apply(CircuitChanged(name="payments", state="open", step="pay", ts=T0))
    board.apply(CircuitChanged(name="carrier", state="half_open", step="ship", ts=T0))
    snap = board.snapshot(max_rows=30)
    assert (snap.phase, snap.phase_reason) == (RunStatus.ROLLBACK, "step 'ship' failed")
    assert snap.rollback is not None and not snap.rollback.finished
    assert [(c.name, c.state) for c in snap.circuits] == [
        ("payments", "open"),
        ("carrier", "half_open"),
    ]
    for event in rollback_story()[6:]:
        board.apply(event)
    board.apply(CircuitChanged(name="payments", state="closed", step="pay", ts=T0))
    snap = board.snapshot(max_rows=30)
    rollback = snap.rollback
    assert rollback is not None
    assert (rollback.steps, rollback.undone, rollback.actions, rollback.failed) == (2, 1, 3, 1)
    assert rollback.finished
    assert rollback.errors == ("charge rollback action 2 failed: refund refused | by bank",)
    assert [c.name for c in snap.circuits] == ["carrier"]
    assert snap.counts == {
        StepStatus.COMPLETED: 1,
        StepStatus.FAILED: 1,
        StepStatus.ROLLED_BACK: 1,
    }
    assert [row.step for row in snap.rows] == ["charge", "reserve", "ship"]  # reserve once


def test_a_resume_of_a_thousand_steps_lists_none_of_them() -> None:
    board = RunBoard()
    ids = tuple(f"s{i}" for i in range(1000))
    board.apply(run_started(*ids, resumed=True))
    for step in ids[:999]:
        board.apply(finished(step, T0, restored=True))
    board.apply(started("s999", T0))
    snap = board.snapshot(max_rows=30, now=T0 + 1)
    assert (snap.total, snap.finished, snap.running) == (1000, 999, 1)
    assert [row.step for row in snap.rows] == ["s999"]
    assert snap.tags == {Tag.RESTORED: 999}


# --- the live view -----------------------------------------------------------------------


def _terminal(encoding: str | None = None) -> Console:
    console = Console(file=io.StringIO(), force_terminal=True, width=110, height=40)
    if encoding is not None:
        console.file = io.TextIOWrapper(io.BytesIO(), encoding=encoding)
    return console


def written(console: Console) -> str:
    return cast(io.StringIO, console.file).getvalue()


def without_styles(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def frame_of(progress: LiveProgress) -> str:
    plain = Console(file=io.StringIO(), width=200, force_terminal=False)
    plain.print(progress.render())
    return written(plain)


def test_the_live_frame_shows_waiting_rollback_and_circuits() -> None:
    progress = LiveProgress(_terminal(), refresh_per_second=50, appear_after=0)
    events: list[RunEvent] = [
        run_started("fetch", "ocr", "review", "reserve", "charge", "ship"),
        started("fetch"),
        finished("fetch", T0 + 0.1, cached=True),
        finished("ocr", T0 + 0.2, StepStatus.FAILED, error="exit 3", handled=True),
        started("review", T0 + 0.3, "human_task"),
        requested(ts=T0 + 0.3),
        started("charge", T0 + 0.4),
    ]
    for event in events:
        progress.handle(event)
    frame = frame_of(progress)
    assert "2/6 steps · 1 running · 1 waiting · 1 cached · 1 handled" in frame
    assert "failed" not in frame.splitlines()[1]  # a handled failure does not fail the run
    assert "⏸ review" in frame and "waiting" in frame
    assert "for approval: Ship 1.4? | all tests green (approvers: alice, bob; timeout" in frame
    assert "✗ ocr" in frame and "handled: exit 3" in frame
    assert "✓ fetch" in frame and "cached" in frame
    progress.handle(StepWaiting(step="review", step_type="human_task", ts=T0 + 0.5))
    progress.handle(CircuitChanged(name="carrier", state="open", step="ship", ts=T0 + 1))
    for event in rollback_story()[3:8]:
        progress.handle(event)
    frame = frame_of(progress)
    assert "● shop  run r1  rollback: step 'ship' failed" in frame
    assert "⚡ circuit 'carrier' open (step ship)" in frame
    assert "↺ rolling back 2 steps: step 'ship' failed · 0 undone · 1 action failed" in frame
    assert "  ✗ charge rollback action 2 failed: refund refused | by bank" in frame
    for event in rollback_story()[8:]:
        progress.handle(event)
    progress.handle(
        RunFinished(run_id="r1", status=RunStatus.FAILED, duration=4, ts=T0 + 4, error="ship")
    )
    final = frame_of(progress)
    assert "● shop  run r1  failed: ship" in final
    assert "↺ rollback of 2 steps finished · 1 undone · 1 action failed" in final
    assert "1 failed · 1 handled · 1 rolled back" in final
    assert "↺ reserve" in final and "undone" in final
    assert [f.step for f in progress.failures] == ["ship"]


def test_the_live_view_steps_aside_while_an_approval_is_asked() -> None:
    console = _terminal()
    progress = LiveProgress(console, refresh_per_second=50, appear_after=0)
    progress.handle(run_started("build", "review", "docs"))
    progress.handle(started("docs"))
    time.sleep(0.05)
    progress.handle(requested())  # the gate asks on the terminal right after this event
    assert not progress._live.is_started
    before = written(console)
    assert before.endswith(ERASE_LINE) and "\x1b[?25h" in before  # erased, cursor shown
    progress.handle(finished("docs", T0 + 2))  # the run goes on while the person thinks
    time.sleep(0.1)  # five refresh periods: nothing may be drawn under the question
    assert written(console) == before
    with progress.paused():  # the runner's pause around the question, nested
        progress.handle(decided())  # ends the request's pause, not the runner's
        time.sleep(0.1)
        assert written(console) == before
    assert progress._live.is_started
    after = written(console)[len(before) :]
    assert "\x1b[?25l" in after and "approved by alice: looks good" in after
    assert "✓ docs" in without_styles(after)
    progress.handle(RunFinished(run_id="r1", status=RunStatus.COMPLETED, duration=3, ts=T0 + 3))
    assert not progress._live.is_started and written(console).endswith("\x1b[?25h")


def test_a_run_that_ends_during_a_pause_still_shows_its_last_frame() -> None:
    console = _terminal()
    progress = LiveProgress(console, appear_after=0)
    progress.handle(run_started("review"))
    progress.pause()
    progress.handle(RunFinished(run_id="r1", status=RunStatus.CANCELLED, duration=1, ts=T0 + 1))
    assert "● shop  run r1  cancelled" in without_styles(written(console))
    progress.resume()  # after the run: draws nothing
    assert not progress._live.is_started


def test_a_wait_without_a_terminal_question_only_blinks() -> None:
    # Without a person at the terminal the gate emits the request, then the step waits.
    console = _terminal()
    progress = LiveProgress(console, appear_after=0)
    progress.handle(run_started("review"))
    progress.handle(requested())
    progress.handle(StepWaiting(step="review", step_type="human_task", ts=T0 + 1))
    assert progress._live.is_started
    progress.close()


def test_the_live_view_on_an_ascii_terminal() -> None:
    console = _terminal(encoding="ascii")
    progress = LiveProgress(console, refresh_per_second=50, appear_after=0)
    events: list[RunEvent] = [
        run_started("café", "ship"),
        started("café"),
        finished("café", T0 + 1, StepStatus.FAILED, error="漢字 … broken", handled=True),
        CircuitChanged(name="payé", state="open", step="ship", ts=T0 + 2),
        *rollback_story()[4:8],
        RunFinished(run_id="r1", status=RunStatus.FAILED, duration=3, ts=T0 + 3),
    ]
    for event in events:
        progress.handle(event)
    frame = frame_of(progress)
    assert "[circuit] circuit 'pay?' open (step ship)" in frame
    assert "[undo] rolling back 2 steps: step 'ship' failed | 0 undone | 1 action failed" in frame
    assert "[FAIL]    caf?" in frame and "handled: ?? ... broken" in frame
    console.file.flush()
    output = cast(io.BytesIO, cast(io.TextIOWrapper, console.file).buffer).getvalue()
    assert b"[circuit] circuit 'pay?' open" in output
    output.decode("ascii")  # nothing outside ASCII reached the terminal


def test_the_board_takes_every_new_event_of_a_thousand_step_run() -> None:
    board = RunBoard()
    events: list[RunEvent] = [run_started(*(f"s{i}" for i in range(1000)))]
    for i in range(1000):
        step = f"s{i}"
        events.append(started(step, T0 + i, "human_task" if i % 10 == 0 else "action"))
        if i % 10 == 0:
            events += [requested(step), decided(step)]
        if i % 7 == 0:
            events.append(CircuitChanged(name=f"c{i % 5}", state="open", step=step, ts=T0))
        events.append(finished(step, T0 + i, cached=i % 3 == 0))
    events += rollback_story()[4:]
    for event in events:  # what an event costs: benchmarks/bench_progress.py
        with board.lock:
            board.apply(event)
    snapshot = board.snapshot(max_rows=30)
    assert snapshot.total == snapshot.finished == 1001  # with the rollback story's "reserve"
    assert len(snapshot.rows) <= 30  # bounded, whatever the run
    assert snapshot.rollback is not None

"""Progress views: plain CI lines, the live table, the choice between them."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from typing import cast

import pytest
from rich.console import Console

from flowctl.progress import LiveProgress, PlainProgress, choose_progress
from flowctl.progress.board import RunBoard
from flowctl.progress.format import clock, format_duration
from flowctl.runner.events import (
    RunEvent,
    RunFinished,
    RunStarted,
    StepFinished,
    StepRetrying,
    StepStarted,
)
from flowctl.status import RunStatus, StepStatus

T0 = 1_700_000_000.0  # 22:13:20 UTC


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def started(step: str, ts: float, attempt: int = 1, agent: str | None = None) -> StepStarted:
    return StepStarted(step=step, step_type="action", attempt=attempt, ts=ts, agent=agent)


def finished(
    step: str,
    ts: float,
    status: StepStatus = StepStatus.COMPLETED,
    *,
    duration: float = 1.2,
    attempts: int = 1,
    error: str | None = None,
    reason: str | None = None,
    cached: bool = False,
    log_path: str | None = None,
) -> StepFinished:
    return StepFinished(
        step=step,
        step_type="action",
        status=status,
        attempts=attempts,
        duration=duration,
        ts=ts,
        error=error,
        reason=reason,
        cached=cached,
        log_path=log_path,
    )


def story() -> list[RunEvent]:
    return [
        RunStarted(run_id="r1", workflow="docs", step_ids=("extract", "ocr", "review"), ts=T0),
        started("extract", T0 + 1.234),
        finished("extract", T0 + 2.434, duration=1.2),
        started("ocr", T0 + 2.5, agent="fast_ocr"),
        StepRetrying(step="ocr", attempt=1, error="HTTP 503\nretry later", delay=2.0, ts=T0 + 3),
        started("ocr", T0 + 5, attempt=2, agent="fast_ocr"),
        finished("ocr", T0 + 6, StepStatus.FAILED, attempts=2, error="exit code 3: no text"),
        finished("review", T0 + 6.1, StepStatus.SKIPPED, duration=0, reason="ocr failed"),
        RunFinished(run_id="r1", status=RunStatus.FAILED, duration=6.2, ts=T0 + 6.2, error="ocr"),
    ]


# --- plain lines -------------------------------------------------------------------------


def test_plain_progress_writes_one_timestamped_line_per_event() -> None:
    out = io.StringIO()
    progress = PlainProgress(out)
    for event in story():
        progress.handle(event)
    assert out.getvalue().splitlines() == [
        "22:13:20.000 ● run r1 started: workflow docs, 3 steps",
        "22:13:21.234 ▶ extract (attempt 1)",
        "22:13:22.434 ✓ extract 1.20s",
        "22:13:22.500 ▶ ocr (attempt 1) on fast_ocr",
        "22:13:23.000 ↻ ocr retrying in 2.0s: HTTP 503 | retry later",
        "22:13:25.000 ▶ ocr (attempt 2) on fast_ocr",
        "22:13:26.000 ✗ ocr failed: exit code 3: no text (2 attempts)",
        "22:13:26.100 ⏭ review skipped: ocr failed",
        "22:13:26.200 ● run r1 failed after 6.20s: ocr",
    ]
    assert [f.step for f in progress.failures] == ["ocr"]


def test_plain_progress_other_final_statuses() -> None:
    progress = PlainProgress(io.StringIO())
    assert progress.format(finished("a", T0, cached=True, duration=0)) == "✓ a (cached)"
    assert progress.format(finished("a", T0, StepStatus.CANCELLED, reason="run timed out")) == (
        "⊘ a cancelled: run timed out"
    )
    assert progress.format(finished("a", T0, StepStatus.ROLLED_BACK)) == "↺ a undone"
    assert progress.format(finished("a", T0, StepStatus.FAILED)) == "✗ a failed: no error message"
    done = RunFinished(run_id="r", status=RunStatus.COMPLETED, duration=75, ts=T0)
    assert progress.format(done) == "● run r completed in 1m15.0s"


def test_plain_progress_falls_back_to_ascii_when_the_stream_is_not_utf8() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii", newline="\n")
    progress = PlainProgress(stream)
    progress.handle(finished("ocr", T0, StepStatus.FAILED, error="café ✗ 漢字"))
    progress.handle(finished("extract", T0 + 1))
    assert raw.getvalue().decode("ascii").splitlines() == [
        "22:13:20.000 [FAIL] ocr failed: caf? ? ??",
        "22:13:21.000 [ok] extract 1.20s",
    ]


def test_plain_progress_escapes_terminal_control_codes_from_step_output() -> None:
    out = io.StringIO()
    PlainProgress(out).handle(finished("a", T0, StepStatus.FAILED, error="\x1b[2J\x1b]0;owned\x07"))
    assert "\x1b" not in out.getvalue()
    assert "\\x1b[2J" in out.getvalue()


def test_plain_progress_survives_a_closed_pipe() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    stream = os.fdopen(write_fd, "w", encoding="utf-8")
    progress = PlainProgress(stream)
    for event in story():
        progress.handle(event)  # EPIPE on the first flush; the run must not notice
    assert [f.step for f in progress.failures] == ["ocr"]
    with pytest.raises(BrokenPipeError):
        stream.close()


# --- the board behind the live view ------------------------------------------------------


def test_board_counts_steps_that_appear_during_the_run() -> None:
    board = RunBoard()
    board.apply(RunStarted(run_id="r", workflow="w", step_ids=("loop", "after"), ts=T0))
    board.apply(started("loop", T0))
    for i in range(3):
        board.apply(started(f"loop[{i}].body", T0 + i))
        board.apply(finished(f"loop[{i}].body", T0 + i + 0.5))
    snap = board.snapshot(max_rows=30, now=T0 + 10)
    assert (snap.total, snap.finished, snap.running) == (5, 3, 1)
    assert [row.step for row in snap.rows] == [
        "loop[0].body",
        "loop[1].body",
        "loop[2].body",
        "loop",
    ]
    assert snap.rows[-1].elapsed == 10


def test_board_counts_a_step_that_finishes_twice_once() -> None:
    board = RunBoard()
    board.apply(RunStarted(run_id="r", workflow="w", step_ids=("a",), ts=T0))
    board.apply(started("a", T0))
    board.apply(finished("a", T0 + 1))
    board.apply(finished("a", T0 + 2, StepStatus.ROLLED_BACK))
    snap = board.snapshot(max_rows=30)
    assert (snap.total, snap.finished) == (1, 1)
    assert snap.counts == {StepStatus.ROLLED_BACK: 1}
    board.apply(started("a", T0 + 3))  # run again (resume --from)
    snap = board.snapshot(max_rows=30)
    assert (snap.finished, snap.running, snap.counts) == (0, 1, {})


def test_board_snapshot_is_bounded_and_keeps_failures_in_view() -> None:
    board = RunBoard()
    ids = tuple(f"s{i}" for i in range(1000))
    board.apply(RunStarted(run_id="r", workflow="w", step_ids=ids, ts=T0))
    for i, step in enumerate(ids[:500]):
        board.apply(started(step, T0 + i))
        status = StepStatus.FAILED if i % 50 == 0 else StepStatus.COMPLETED
        board.apply(finished(step, T0 + i + 0.1, status, error="boom"))
    for i, step in enumerate(ids[500:900]):
        board.apply(started(step, T0 + 600 + i))
    snap = board.snapshot(max_rows=30, now=T0 + 2000)
    assert len(snap.rows) == 30
    failed = [r for r in snap.rows if r.status is StepStatus.FAILED]
    assert [r.step for r in failed] == [f"s{i}" for i in range(100, 500, 50)]
    assert snap.hidden_failed == 2
    assert snap.hidden_running == 400 - 22
    assert (snap.total, snap.finished, snap.running) == (1000, 500, 400)


# --- the live view -----------------------------------------------------------------------


def _terminal(*, no_color: bool = False) -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=100, no_color=no_color)


def written(console: Console) -> str:
    return cast(io.StringIO, console.file).getvalue()


def _text(renderable: object) -> str:
    plain = Console(file=io.StringIO(), width=100, force_terminal=False)
    plain.print(renderable)
    return written(plain)


def test_live_progress_draws_steps_and_stops_with_the_run() -> None:
    console = _terminal()
    progress = LiveProgress(console, refresh_per_second=50, appear_after=0)
    events = story()
    for event in events[:4]:
        progress.handle(event)
    assert progress._live.is_started
    time.sleep(0.1)  # a few frames from Rich's refresh thread
    frame = _text(progress.render())
    assert "● docs  run r1" in frame
    assert "1/3 steps · 1 running" in frame
    assert "✓ extract" in frame and "1.20s" in frame
    assert "▶ ocr" in frame and "fast_ocr" in frame
    for event in events[4:]:
        progress.handle(event)
    assert not progress._live.is_started
    final = _text(progress.render())
    assert "failed: ocr" in final
    assert "✗ ocr" in final and "exit code 3: no text" in final
    assert "⏭ review" in final and "ocr failed" in final
    assert "3/3 steps · 1 failed · 1 skipped · 6.20s" in final
    output = written(console)
    assert "\x1b[?25l" in output  # the cursor was hidden while live ...
    assert output.endswith("\x1b[?25h")  # ... and given back at the end
    assert "exit code 3: no text" in output
    assert [f.step for f in progress.failures] == ["ocr"]


def test_live_progress_close_without_run_finished_releases_the_terminal() -> None:
    console = _terminal()
    with LiveProgress(console, appear_after=0) as progress:
        progress.handle(story()[0])
        assert progress._live.is_started
    assert not progress._live.is_started
    progress.close()  # twice is fine
    for thread in threading.enumerate():
        if "Refresh" in type(thread).__name__:
            thread.join(timeout=2)  # Live.stop signals its thread without joining it
            assert not thread.is_alive()


def test_live_progress_shows_how_many_rows_are_hidden() -> None:
    progress = LiveProgress(_terminal(), max_rows=5, appear_after=0)
    ids = tuple(f"s{i}" for i in range(12))
    progress.handle(RunStarted(run_id="r", workflow="w", step_ids=ids, ts=T0))
    for i, step in enumerate(ids):
        progress.handle(started(step, T0 + i))
    progress.handle(finished("s0", T0 + 20, StepStatus.FAILED, error="bad"))
    frame = _text(progress.render())
    progress.close()
    assert "… 7 more running" in frame
    assert frame.count("▶ s") == 4


def test_live_progress_fits_a_short_terminal() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=100, height=10)
    progress = LiveProgress(console, appear_after=0)
    ids = tuple(f"s{i}" for i in range(50))
    progress.handle(RunStarted(run_id="r", workflow="w", step_ids=ids, ts=T0))
    for i, step in enumerate(ids):
        progress.handle(started(step, T0 + i))
    frame = _text(progress.render())
    progress.close()
    assert len(frame.splitlines()) <= 9
    assert "… 44 more running" in frame


def test_live_progress_without_colour_keeps_only_cursor_control() -> None:
    console = _terminal(no_color=True)
    progress = LiveProgress(console, appear_after=0)
    for event in story():
        progress.handle(event)
    output = written(console)
    assert "\x1b[31m" not in output and "\x1b[32m" not in output
    assert "ocr" in output and "exit code 3: no text" in output


def test_live_progress_uses_ascii_marks_on_a_non_utf8_terminal() -> None:
    console = _terminal()
    raw = io.BytesIO()
    console.file = io.TextIOWrapper(raw, encoding="latin-1")
    progress = LiveProgress(console, appear_after=0)
    for event in story()[:3]:
        progress.handle(event)
    frame = _text(progress.render())
    progress.close()
    assert "[ok]      extract" in frame
    console.file.flush()
    output = raw.getvalue().decode("latin-1")
    assert "[ok]" in output and "extract" in output


def test_a_frame_of_a_thousand_step_run_is_bounded() -> None:
    """However many steps run, a frame fits the terminal: its cost does not grow with the run.

    What a frame and an event cost in time is measured by benchmarks/bench_progress.py.
    """
    progress = LiveProgress(_terminal(), appear_after=0)
    ids = tuple(f"step_{i}" for i in range(1000))
    events: list[RunEvent] = [RunStarted(run_id="r", workflow="w", step_ids=ids, ts=T0)]
    for i, step in enumerate(ids):
        events.append(started(step, T0 + i, agent="pool"))
        if i >= 10:
            status = StepStatus.FAILED if i % 40 == 0 else StepStatus.COMPLETED
            events.append(finished(ids[i - 10], T0 + i, status, error="x" * 200))
    board = progress._board
    for event in events:
        with board.lock:
            board.apply(event)
    frame = _text(progress.render()).splitlines()
    assert 3 <= len(frame) <= progress.console.height
    assert all(len(line) <= 100 for line in frame)
    assert any("step_999" in line for line in frame)  # the newest steps are the ones shown


# --- choosing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terminal", "no_progress", "env", "expected"),
    [
        (True, False, {}, LiveProgress),
        (True, True, {}, PlainProgress),
        (False, False, {}, PlainProgress),
        (True, False, {"CI": "true"}, PlainProgress),
        (True, False, {"CI": "true", "TTY_INTERACTIVE": "1"}, LiveProgress),
        (True, False, {"TERM": "dumb"}, PlainProgress),
    ],
)
def test_choose_progress(
    monkeypatch: pytest.MonkeyPatch,
    terminal: bool,
    no_progress: bool,
    env: dict[str, str],
    expected: type,
) -> None:
    for name in ("CI", "TTY_INTERACTIVE", "TERM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    console = Console(file=io.StringIO(), force_terminal=terminal)
    with choose_progress(no_progress, console) as progress:
        assert type(progress) is expected


def test_format_helpers() -> None:
    assert [format_duration(s) for s in (0.349, 12.3, 125, 3723, -1)] == [
        "0.35s",
        "12.30s",
        "2m05.0s",
        "1h02m03s",
        "0.00s",
    ]
    assert clock(T0 + 0.9996) == "22:13:21.000"


HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"


def _short_run() -> list[RunStarted | StepStarted | StepFinished | RunFinished]:
    return [
        RunStarted(run_id="r1", workflow="wf", step_ids=("a",), ts=1.0),
        StepStarted(step="a", step_type="action", attempt=1, ts=1.0),
        StepFinished(
            step="a", step_type="action", status=StepStatus.COMPLETED, attempts=1,
            duration=0.01, ts=1.01,
        ),
        RunFinished(run_id="r1", status=RunStatus.COMPLETED, duration=0.01, ts=1.01),
    ]  # fmt: skip


def test_a_run_shorter_than_appear_after_draws_only_its_final_frame() -> None:
    console = _terminal()
    progress = LiveProgress(console, appear_after=5)
    for event in _short_run()[:-1]:
        progress.handle(event)
    assert written(console) == ""  # nothing flashed on the screen during the run
    progress.handle(_short_run()[-1])
    final = written(console)
    assert "a" in final and "1/1" in final
    assert HIDE_CURSOR not in final  # printed once, not a live region


def test_the_live_view_appears_once_the_run_has_lasted_appear_after() -> None:
    console = _terminal()
    progress = LiveProgress(console, appear_after=0.05, refresh_per_second=50)
    events = _short_run()
    progress.handle(events[0])
    progress.handle(events[1])
    deadline = time.monotonic() + 5
    while HIDE_CURSOR not in written(console) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert HIDE_CURSOR in written(console)  # Rich's live region is up
    for event in events[2:]:
        progress.handle(event)
    assert SHOW_CURSOR in written(console)  # and gave the terminal back at the end

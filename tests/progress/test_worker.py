"""Progress views name the remote worker of an attempt (StepPlaced, from --executor dask)."""

from __future__ import annotations

import io

from flowctl.progress import PlainProgress
from flowctl.progress.board import RunBoard
from flowctl.runner.events import RunEvent, RunStarted, StepPlaced, StepRetrying
from flowctl.status import StepStatus
from tests.progress.test_views import T0, finished, started

WORKER_A = "tcp://10.0.0.5:40705"
WORKER_B = "tcp://10.0.0.6:32979"


def _events() -> list[RunEvent]:
    return [
        started("crunch", T0),
        StepPlaced(step="crunch", attempt=1, worker=WORKER_A, ts=T0 + 1),
        StepRetrying(step="crunch", attempt=1, error="worker died", delay=0.5, ts=T0 + 1),
        started("crunch", T0 + 2, attempt=2),
        StepPlaced(step="crunch", attempt=2, worker=WORKER_B, ts=T0 + 3),
        finished("crunch", T0 + 3, attempts=2, duration=3.0),
        started("local", T0 + 4),
        finished("local", T0 + 5, duration=1.0),
    ]


def test_plain_lines_name_the_worker_of_the_attempt_they_report() -> None:
    out = io.StringIO()
    progress = PlainProgress(out)
    for event in _events():
        progress.handle(event)
    lines = [line.split(" ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines == [
        "▶ crunch (attempt 1)",
        f"↻ crunch retrying in 0.5s: worker died (on {WORKER_A})",
        "▶ crunch (attempt 2)",
        f"✓ crunch 3.00s (on {WORKER_B})",
        "▶ local (attempt 1)",
        "✓ local 1.00s",  # no worker: it ran in flowctl's process
    ]


def test_the_board_keeps_the_latest_worker_of_each_step() -> None:
    board = RunBoard()
    board.apply(RunStarted(run_id="r1", workflow="w", step_ids=("crunch", "local"), ts=T0))
    for event in _events():
        board.apply(event)
    rows = {row.step: row for row in board.snapshot(max_rows=10, now=T0 + 6).rows}
    assert rows["crunch"].worker == WORKER_B
    assert rows["local"].worker is None
    assert StepStatus.COMPLETED is rows["crunch"].status

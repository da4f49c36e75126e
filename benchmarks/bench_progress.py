"""What the live progress view costs per event and per frame, on a 1,000-step run.

    .venv/bin/python benchmarks/bench_progress.py

Targets (the 15% budget of the progress issue): applying an event to the board costs under
20 µs, and drawing a frame of a 1,000-step run (200-character errors, a failure every 40
steps) under 12 ms, the median of 11 frames. At 8 frames a second, 12 ms keeps the view
under 10% of one core whatever the run does. These were timed unit tests until issue 15:
timing limits live here, where a busy machine makes a number worse, not a test flaky.
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402

from flowctl.progress import LiveProgress  # noqa: E402
from flowctl.runner.events import RunEvent, RunStarted, StepFinished, StepStarted  # noqa: E402
from flowctl.status import StepStatus  # noqa: E402

T0 = 1_700_000_000.0
MAX_PER_EVENT = 20e-6
MAX_PER_FRAME = 12e-3


def events(n: int = 1000) -> list[RunEvent]:
    ids = tuple(f"step_{i}" for i in range(n))
    out: list[RunEvent] = [RunStarted(run_id="r", workflow="w", step_ids=ids, ts=T0)]
    for i, step in enumerate(ids):
        out.append(StepStarted(step=step, step_type="action", attempt=1, ts=T0 + i, agent="pool"))
        if i >= 10:
            status = StepStatus.FAILED if i % 40 == 0 else StepStatus.COMPLETED
            out.append(
                StepFinished(
                    step=ids[i - 10],
                    step_type="action",
                    status=status,
                    attempts=1,
                    duration=1.2,
                    ts=T0 + i,
                    error="x" * 200,
                )
            )
    return out


def main() -> int:
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    progress = LiveProgress(console, appear_after=0)
    story = events()
    board = progress._board
    begin = time.perf_counter()
    for event in story:
        with board.lock:
            board.apply(event)
    per_event = (time.perf_counter() - begin) / len(story)
    frames = []
    for _ in range(11):
        begin = time.perf_counter()
        progress.console.print(progress.render())
        frames.append(time.perf_counter() - begin)
    per_frame = statistics.median(frames)
    ok = per_event < MAX_PER_EVENT and per_frame < MAX_PER_FRAME
    print(f"per event: {per_event * 1e6:.2f} µs (target < {MAX_PER_EVENT * 1e6:.0f} µs)")
    print(
        f"per frame: {per_frame * 1e3:.2f} ms median of 11 (target < {MAX_PER_FRAME * 1e3:.0f} ms)"
    )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

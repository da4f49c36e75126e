"""After a failed run: the last lines of each failing step's log, root cause first."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from flowctl.runner.events import StepFinished
from flowctl.runner.results import StepResult
from flowctl.status import StepStatus
from flowctl.textout import Output, text_out

TAIL_LINES = 20
MAX_TAIL_BYTES = 64 * 1024  # a log of one giant line must not be read whole
MAX_STEPS_SHOWN = 5


def read_log_tail(path: Path, lines: int = TAIL_LINES, *, max_bytes: int = MAX_TAIL_BYTES) -> str:
    """The last `lines` lines of a log file ("" if it is missing or unreadable).

    Only the last `max_bytes` are read, so a multi-gigabyte log costs the same as a small
    one; a line cut by that window is dropped rather than shown half.
    """
    if lines <= 0:
        return ""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            start = max(size - max_bytes, 0)
            # One byte before the window tells whether it begins on a line boundary.
            f.seek(max(start - 1, 0))
            data = f.read(max_bytes + 1 if start > 0 else max_bytes)
    except OSError:
        return ""
    cut = False
    if start > 0:
        cut = data[:1] != b"\n"
        data = data[1:]
    parts = data.decode("utf-8", errors="replace").splitlines()
    if cut:
        parts = parts[1:]
    return "\n".join(parts[-lines:])


def _failed_log(item: StepFinished | StepResult) -> tuple[str, Path] | None:
    if item.status is not StepStatus.FAILED or not item.log_path:
        return None
    step = item.step if isinstance(item, StepFinished) else item.id
    return step, Path(item.log_path)


def print_failure_tails(
    failures: Iterable[StepFinished | StepResult],
    console: Output,
    *,
    lines: int = TAIL_LINES,
    max_steps: int = MAX_STEPS_SHOWN,
    root_cause: str | None = None,
) -> int:
    """Print the log tail of each failed step, in the order given; returns how many.

    Takes the progress view's `failures` (StepFinished events) or a RunResult's step
    results; `root_cause` (a step id) is shown first. Steps without a log (containers,
    expression failures) are passed over: their error line already says everything. After
    `max_steps` logs one line counts the rest, so a loop with a thousand failing
    iterations does not bury the first, which is usually the cause. Off a terminal
    `console` is a PlainOut, and no Rich is loaded.
    """
    out = text_out(console)
    logs = [found for item in failures if (found := _failed_log(item)) is not None]
    logs.sort(key=lambda found: found[0] != root_cause)  # stable: keeps the given order
    shown = 0
    more = 0
    seen: set[str] = set()
    for step, path in logs:
        if step in seen:
            continue
        seen.add(step)
        if shown >= max_steps:
            more += 1  # not read: counting is enough, and cheap for a thousand failures
            continue
        tail = read_log_tail(path, lines)
        if not tail.strip():
            continue
        shown += 1
        tail_lines = tail.splitlines()
        out.rule(f"{step}: last {len(tail_lines)} lines of {path}", "red")
        for line in tail_lines:
            out.say(line)
    if more:
        out.say(f"… and the logs of {more} more failed steps (see `flowctl runs show`)", "dim")
    return shown

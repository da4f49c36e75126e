"""Small display helpers shared by the progress views and `flowctl runs`: symbols, times."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import IO, Any

from msgspec import Struct

from flowctl.status import RunStatus, StepStatus
from flowctl.textout import encodable as encodable
from flowctl.textout import is_utf_encoding as is_utf_encoding


class Symbols(Struct, frozen=True):
    """The marks printed before a step; ASCII words where the output cannot take Unicode."""

    start: str
    run: str
    retry: str
    status: Mapping[StepStatus, str]
    ellipsis: str
    circuit: str
    sep: str  # between the counts of the live view's header

    def of(self, status: StepStatus) -> str:
        return self.status.get(status, "?")


UNICODE = Symbols(
    start="▶",
    run="●",
    retry="↻",
    ellipsis="…",
    circuit="⚡",
    sep=" · ",
    status={
        StepStatus.PENDING: "·",
        StepStatus.WAITING: "⏸",
        StepStatus.RUNNING: "▶",
        StepStatus.RETRYING: "↻",
        StepStatus.COMPLETED: "✓",
        StepStatus.FAILED: "✗",
        StepStatus.SKIPPED: "⏭",
        StepStatus.CANCELLED: "⊘",
        StepStatus.ROLLED_BACK: "↺",
    },
)

ASCII = Symbols(
    start="[start]",
    run="[run]",
    retry="[retry]",
    ellipsis="...",
    circuit="[circuit]",
    sep=" | ",
    status={
        StepStatus.PENDING: "[pending]",
        StepStatus.WAITING: "[waiting]",
        StepStatus.RUNNING: "[start]",
        StepStatus.RETRYING: "[retry]",
        StepStatus.COMPLETED: "[ok]",
        StepStatus.FAILED: "[FAIL]",
        StepStatus.SKIPPED: "[skip]",
        StepStatus.CANCELLED: "[cancel]",
        StepStatus.ROLLED_BACK: "[undo]",
    },
)

STEP_STYLES: dict[StepStatus, str] = {
    StepStatus.PENDING: "dim",
    StepStatus.WAITING: "magenta",
    StepStatus.RUNNING: "cyan",
    StepStatus.RETRYING: "yellow",
    StepStatus.COMPLETED: "green",
    StepStatus.FAILED: "bold red",
    StepStatus.SKIPPED: "dim",
    StepStatus.CANCELLED: "yellow",
    StepStatus.ROLLED_BACK: "magenta",
}

RUN_STYLES: dict[RunStatus, str] = {
    RunStatus.RUNNING: "cyan",
    RunStatus.WAITING_APPROVAL: "magenta",
    RunStatus.COMPLETED: "bold green",
    RunStatus.FAILED: "bold red",
    RunStatus.CANCELLED: "yellow",
    RunStatus.TIMEOUT: "bold red",
    RunStatus.ROLLBACK: "magenta",
}


def symbols_for(stream: IO[str] | Any) -> Symbols:
    """Unicode marks when the stream's encoding can carry them, ASCII otherwise."""
    return UNICODE if is_utf_encoding(getattr(stream, "encoding", None)) else ASCII


def format_duration(seconds: float) -> str:
    """`0.35s`, `12.30s`, `2m05.0s`, `1h02m03s`: short, and sortable by eye."""
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.2f}s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{int(minutes)}m{rest:04.1f}s"
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s"


# The last second clock() formatted: a run's lines mostly fall in the same second as the
# line before, and localtime + strftime are most of the cost of a line. time.tzset()
# makes a new time.tzname, which makes the cached text stale.
_last_second: tuple[int, object, str] = (-1, None, "")


def clock(ts: float) -> str:
    """Local wall-clock time of a `time.time()` value with milliseconds: `12:00:01.234`."""
    global _last_second
    whole, millis = divmod(round(ts * 1000), 1000)
    second, zone, text = _last_second
    if second != whole or zone is not time.tzname:
        text = time.strftime("%H:%M:%S", time.localtime(whole))
        _last_second = (whole, time.tzname, text)
    return f"{text}.{millis:03d}"

"""How a run looks while it happens: a live table on a terminal, timestamped lines elsewhere."""

from __future__ import annotations

import os
import sys
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from flowctl.progress.plain import PlainProgress
from flowctl.progress.tails import print_failure_tails, read_log_tail
from flowctl.runner.events import RunEvent, StepFinished
from flowctl.textout import Output, PlainOut

if TYPE_CHECKING:
    from flowctl.progress.live import LiveProgress

__all__ = [
    "LiveProgress",
    "PlainProgress",
    "ProgressObserver",
    "choose_progress",
    "is_live",
    "print_failure_tails",
    "read_log_tail",
]

_TRUE = {"1", "true", "yes"}


class ProgressObserver(Protocol):
    """A RunObserver that also remembers failures and must be closed after the run.

    `failures` are the unhandled ones (a failure whose error handlers completed is not).
    `paused()` makes the view step aside while flowctl asks a question on the terminal:
    the live table stops drawing and is erased; plain lines to a terminal are held.
    """

    failures: list[StepFinished]

    def handle(self, event: RunEvent) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def paused(self) -> AbstractContextManager[None]: ...

    def close(self) -> None: ...

    def __enter__(self) -> ProgressObserver: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def wants_live(console: Output) -> bool:
    """True on an interactive terminal that is not a CI job's log.

    CI runners that set FORCE_COLOR make Rich believe it writes to a terminal; redrawing a
    table there fills the log with frames, so CI=true means plain lines unless the user
    insists with TTY_INTERACTIVE=1.
    """
    if not console.is_interactive:
        return False
    in_ci = os.environ.get("CI", "").strip().lower() in _TRUE
    return not in_ci or os.environ.get("TTY_INTERACTIVE") == "1"


def choose_progress(no_progress: bool, console: Output) -> ProgressObserver:
    """The live view on an interactive terminal, plain lines otherwise or with --no-progress.

    Both write to `console`'s stream; give it a stderr console (make_output(stderr=True))
    so that `--output json` on stdout stays machine-readable. A PlainOut (no terminal) is
    never interactive: its run loads no Rich.
    """
    if not no_progress and not isinstance(console, PlainOut) and wants_live(console):
        # Imported here: the live table's Rich parts cost a plain run tens of milliseconds.
        from flowctl.progress.live import LiveProgress

        return LiveProgress(console)
    return PlainProgress(console.file)


def is_live(progress: object) -> bool:
    """Whether `progress` is the live view (a module never imported made none)."""
    live = sys.modules.get("flowctl.progress.live")
    return live is not None and isinstance(progress, live.LiveProgress)


def __getattr__(name: str) -> Any:
    if name == "LiveProgress":
        from flowctl.progress.live import LiveProgress

        return LiveProgress
    raise AttributeError(f"module 'flowctl.progress' has no attribute {name!r}")

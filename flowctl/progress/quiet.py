"""`--quiet`: no progress at all while the run lasts; only the summary at the end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flowctl.closing import Closing
from flowctl.runner.events import RunEvent, StepFinished
from flowctl.status import StepStatus


class QuietProgress(Closing):
    """A progress observer that prints nothing and remembers the unhandled failures."""

    def __init__(self) -> None:
        self.failures: list[StepFinished] = []

    def handle(self, event: RunEvent) -> None:
        if (
            isinstance(event, StepFinished)
            and event.status is StepStatus.FAILED
            and not event.handled
        ):
            self.failures.append(event)

    def pause(self) -> None:
        """Nothing is drawn, so nothing steps aside."""

    def resume(self) -> None:
        """Nothing is drawn, so nothing comes back."""

    @contextmanager
    def paused(self) -> Iterator[None]:
        yield

    def close(self) -> None:
        """Nothing is held back."""

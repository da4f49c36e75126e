"""Who asked a progress view to step aside while a question is on the terminal, counted."""

from __future__ import annotations

from collections.abc import Callable

from flowctl.runner.events import (
    ApprovalDecided,
    ApprovalRequested,
    RunEvent,
    StepFinished,
    StepWaiting,
)


class PauseCount:
    """Nested pauses of one view: `on_pause` at the first, `on_resume` when the last ends.

    Two callers pause a view. The runner, around the question it asks on the terminal
    (`LiveProgress.paused()`); and the view itself, from an approval_requested event until
    its step moves on (decided, waiting or finished), because the gate emits that event
    right before it asks. The second covers a runner that does not call the first; both
    together are counted, so neither resumes drawing under the other's question.
    """

    def __init__(self, on_pause: Callable[[], None], on_resume: Callable[[], None]) -> None:
        self._on_pause = on_pause
        self._on_resume = on_resume
        self._depth = 0
        self._asking: set[str] = set()  # steps with an approval request not yet settled

    @property
    def paused(self) -> bool:
        return self._depth > 0

    def pause(self) -> None:
        self._depth += 1
        if self._depth == 1:
            self._on_pause()

    def resume(self) -> None:
        if self._depth == 0:
            return  # an unmatched resume must not start drawing under someone's question
        self._depth -= 1
        if self._depth == 0:
            self._on_resume()

    def observe(self, event: RunEvent) -> None:
        """Pause on an approval request; resume when its step is decided, waits or ends."""
        if isinstance(event, ApprovalRequested):
            if event.step not in self._asking:
                self._asking.add(event.step)
                self.pause()
        elif (
            self._asking
            and isinstance(event, ApprovalDecided | StepWaiting | StepFinished)
            and event.step in self._asking
        ):
            self._asking.discard(event.step)
            self.resume()

    def reset(self) -> None:
        """Forget every pause (the run is over) without calling `on_resume`."""
        self._depth = 0
        self._asking.clear()

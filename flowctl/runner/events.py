"""Typed events the engine emits; the journal, history writer and progress view subscribe.

The engine never imports rich or writes files for display: it calls `RunObserver.handle`
for each event, in order, on the event loop thread. Observers must be quick (no blocking
I/O beyond a single append) because they run inline with scheduling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from flowctl.status import RunStatus, StepStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted:
    run_id: str
    workflow: str
    step_ids: tuple[str, ...]  # qualified ids known before the run (loop iterations are not)
    ts: float  # time.time()
    resumed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StepStarted:
    step: str  # qualified id: "a", "loop[2].child"
    step_type: str
    attempt: int
    ts: float
    parent: str | None = None
    agent: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRetrying:
    step: str
    attempt: int  # the attempt that failed
    error: str  # masked
    delay: float  # seconds before the next attempt
    ts: float


@dataclass(frozen=True, slots=True, kw_only=True)
class StepFinished:
    """A step reached a final status (completed, failed, skipped, cancelled, rolled_back)."""

    step: str
    step_type: str
    status: StepStatus
    attempts: int
    duration: float  # seconds of execution; 0 for skipped
    ts: float
    error: str | None = None  # masked
    reason: str | None = None  # why skipped/cancelled, in plain words
    cached: bool = False
    log_path: str | None = None
    parent: str | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished:
    run_id: str
    status: RunStatus
    duration: float
    ts: float
    error: str | None = None


RunEvent = RunStarted | StepStarted | StepRetrying | StepFinished | RunFinished


class RunObserver(Protocol):
    """Anything that wants to see a run as it happens."""

    def handle(self, event: RunEvent) -> None: ...

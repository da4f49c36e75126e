"""Typed events the engine emits; the journal, history writer and progress view subscribe.

The engine never imports rich or writes files for display: it calls `RunObserver.handle`
for each event, in order, on the event loop thread. Observers must be quick (no blocking
I/O beyond a single append) because they run inline with scheduling.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from msgspec import Struct, field

from flowctl.runner.steps.base import FailureKind
from flowctl.status import RunStatus, StepStatus


class RunStarted(Struct, frozen=True, kw_only=True):
    run_id: str
    workflow: str
    step_ids: tuple[str, ...]  # qualified ids known before the run (loop iterations are not)
    ts: float  # time.time()
    resumed: bool = False
    steps_in_file: int | None = None  # every step of the file, loop bodies included, once


class StepStarted(Struct, frozen=True, kw_only=True):
    step: str  # qualified id: "a", "loop[2].child"
    step_type: str
    attempt: int
    ts: float
    parent: str | None = None
    agent: str | None = None
    capability: str | None = None
    routing: Mapping[str, Any] | None = None  # the routing decision, when one was made


class LoopLabelled(Struct, frozen=True, kw_only=True):
    """A for_each loop named its iterations: `labels[i]` names `<step>[i]` in views.

    Ids stay index-based everywhere (journal, resume); views show the labels.
    """

    step: str  # the loop's qualified id
    labels: tuple[str, ...]
    ts: float


class AgentFailover(Struct, frozen=True, kw_only=True):
    """Every attempt of `step` on `agent` failed; the next capable agent is asked for."""

    step: str
    attempt: int  # the last attempt on `agent`
    agent: str
    error: str  # masked
    ts: float


class StepPlaced(Struct, frozen=True, kw_only=True):
    """An attempt ran (or runs) on this worker of a remote executor (a Dask address)."""

    step: str
    attempt: int
    worker: str
    ts: float


class StepProcess(Struct, frozen=True, kw_only=True):
    """An attempt started a local process group: `pgid` (its leader's pid) and the
    leader's start time in clock ticks since boot, so a later resume can tell the group
    from another that reuses the number."""

    step: str
    attempt: int
    pgid: int
    start: int | None
    ts: float


class StepRetrying(Struct, frozen=True, kw_only=True):
    step: str
    attempt: int  # the attempt that failed
    error: str  # masked
    delay: float  # seconds before the next attempt
    ts: float


class StepFinished(Struct, frozen=True, kw_only=True):
    """A step reached a final status (completed, failed, skipped, cancelled, rolled_back).

    `restored` marks a step that finished in an earlier session of a resumed run: it is
    shown and recorded in the history again, but the journal already holds it. `params`
    and `variables` (of a step with rollback_actions) and `writes` (the workflow data its
    output_mapping wrote) are what a later resume needs to compensate the step and
    rebuild the workflow data without running it.
    """

    step: str
    step_type: str
    status: StepStatus
    attempts: int
    duration: float  # seconds of execution; 0 for skipped
    ts: float
    error: str | None = None  # masked
    error_kind: FailureKind | None = None
    error_exit_code: int | None = None  # with error_kind exit_code: the process's exit code
    reason: str | None = None  # why skipped/cancelled, in plain words
    cached: bool = False
    up_to_date: bool = False  # sources and definition unchanged: not run (flowctl.files)
    handled: bool = False  # a failure whose error handlers all completed
    by_condition: bool = False  # skipped because its own `condition` was false
    restored: bool = False
    log_path: str | None = None
    parent: str | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] | None = None
    variables: Mapping[str, Any] | None = None  # loop variables (item, index) it saw
    writes: tuple[tuple[tuple[str, ...], Any], ...] | None = None
    agent: str | None = None  # the agent of the last attempt


class StepWaiting(Struct, frozen=True, kw_only=True):
    """A human_task step paused: nobody can decide now; `flowctl approve` then `resume`."""

    step: str
    step_type: str
    ts: float
    parent: str | None = None


class ApprovalRequested(Struct, frozen=True, kw_only=True):
    step: str
    message: str  # rendered, masked
    approvers: tuple[str, ...]
    timeout: float | None
    ts: float


class ApprovalDecided(Struct, frozen=True, kw_only=True):
    step: str
    data: Mapping[str, Any]  # ApprovalDecision.to_data()
    ts: float


class CircuitChanged(Struct, frozen=True, kw_only=True):
    """A circuit breaker changed state (open, half_open, closed) on an attempt of `step`."""

    name: str
    state: str
    step: str
    ts: float


class RunStatusChanged(Struct, frozen=True, kw_only=True):
    """The run's status changed while it goes on, e.g. to `rollback` while compensating."""

    run_id: str
    status: RunStatus
    ts: float
    reason: str | None = None


class RollbackStarted(Struct, frozen=True, kw_only=True):
    reason: str
    steps: tuple[str, ...]  # the steps to compensate, newest first
    ts: float


class RollbackActionDone(Struct, frozen=True, kw_only=True):
    step: str
    index: int  # position in the step's rollback_actions
    ok: bool
    error: str | None  # masked
    duration: float
    ts: float


class RollbackFinished(Struct, frozen=True, kw_only=True):
    failed: int  # actions that failed
    ts: float


class RunFinished(Struct, frozen=True, kw_only=True):
    run_id: str
    status: RunStatus
    duration: float
    ts: float
    error: str | None = None
    failures: tuple[str, ...] = ()  # the failed steps that failed the run, root cause first


RunEvent = (
    RunStarted
    | StepStarted
    | LoopLabelled
    | StepRetrying
    | StepPlaced
    | StepProcess
    | AgentFailover
    | StepFinished
    | StepWaiting
    | ApprovalRequested
    | ApprovalDecided
    | CircuitChanged
    | RunStatusChanged
    | RollbackStarted
    | RollbackActionDone
    | RollbackFinished
    | RunFinished
)


class RunObserver(Protocol):
    """Anything that wants to see a run as it happens."""

    def handle(self, event: RunEvent) -> None: ...


@runtime_checkable
class PausingObserver(Protocol):
    """An observer that draws on the terminal (the live view): it must step aside while
    flowctl asks a question there."""

    def paused(self) -> AbstractContextManager[None]: ...

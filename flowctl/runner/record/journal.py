"""The audit journal as a run observer: every event a line, every step boundary a checkpoint."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from flowctl.runner.events import (
    AgentFailover,
    ApprovalDecided,
    ApprovalRequested,
    CircuitChanged,
    LoopLabelled,
    RollbackActionDone,
    RollbackFinished,
    RollbackStarted,
    RunEvent,
    RunFinished,
    RunStarted,
    StepFinished,
    StepPlaced,
    StepProcess,
    StepRetrying,
    StepStarted,
    StepWaiting,
)
from flowctl.runner.leftovers import PROCESS_EVENT
from flowctl.runner.loop_outputs import FROM_CHILDREN, MARKER, journal_marker
from flowctl.runner.looplabels import JOURNAL_EVENT as LABELS_EVENT
from flowctl.runner.steps.base import failure_tag
from flowctl.runner.stored_outputs import OutputShelf, Spot
from flowctl.state.audit import AuditJournal, format_utc
from flowctl.status import StepStatus

CHECKPOINT_INTERVAL = 0.05  # seconds between fsync requests on a run of fast steps

_FINISH_EVENTS = {
    StepStatus.COMPLETED: "step_completed",
    StepStatus.FAILED: "step_failed",
    StepStatus.SKIPPED: "step_skipped",
    StepStatus.CANCELLED: "step_cancelled",
    StepStatus.ROLLED_BACK: "step_rolled_back",
}


def iso(ts: float | None) -> str | None:
    """ISO 8601 UTC with microseconds and Z, as the audit log writes its `ts`."""
    if ts is None:
        return None
    return format_utc(ts)


class AuditObserver:
    """Writes every run event to the audit journal; a step boundary is a checkpoint.

    The journal is what `resume` replays, so a finished step carries everything needed to
    restore it: status, outputs, error, attempts, duration, and when they matter the
    params (for its rollback) and the workflow data its output_mapping wrote. Steps
    restored from an earlier session are already in the journal and are not written again.
    """

    def __init__(
        self,
        journal: AuditJournal,
        *,
        run_data: Mapping[str, Any],
        shelf: OutputShelf | None = None,
    ) -> None:
        self._journal = journal
        self._shelf = shelf  # told where each finished step's outputs went (stored_outputs)
        self._run_data = dict(run_data)
        self._last_checkpoint = 0.0
        self._deferred: asyncio.TimerHandle | None = None

    def _checkpoint(self, *, now: bool = False) -> None:
        """Ask for an fsync at a step boundary, at most once per CHECKPOINT_INTERVAL.

        Every request wakes the journal's sync thread, and on a run of fast steps those
        wake-ups (not the fsyncs, which are grouped) cost half the run's time. A boundary
        that comes sooner is covered by a request made when the interval is over, so every
        event is synced within about CHECKPOINT_INTERVAL. A kill -9 loses nothing either
        way: written lines are in the page cache; fsync guards against power loss only.
        """
        moment = time.monotonic()
        if now or moment - self._last_checkpoint >= CHECKPOINT_INTERVAL:
            self._last_checkpoint = moment
            if self._deferred is not None:
                self._deferred.cancel()
                self._deferred = None
            self._journal.checkpoint()
            return
        if self._deferred is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._journal.checkpoint()
                return
            self._deferred = loop.call_later(CHECKPOINT_INTERVAL, self._deferred_checkpoint)

    def _deferred_checkpoint(self) -> None:
        self._deferred = None
        self._checkpoint(now=True)

    def handle(self, event: RunEvent) -> None:
        journal = self._journal
        if isinstance(event, StepStarted):
            data: dict[str, Any] = {"type": event.step_type}
            if event.parent is not None:
                data["parent"] = event.parent
            if event.agent is not None:
                data["agent"] = event.agent
                data["capability"] = event.capability
                if event.routing is not None:
                    data["routing"] = event.routing
            journal.append("step_started", step=event.step, attempt=event.attempt, data=data)
        elif isinstance(event, LoopLabelled):
            journal.append(LABELS_EVENT, step=event.step, data={"labels": list(event.labels)})
        elif isinstance(event, StepFinished):
            if not event.restored:
                self._finished(event)
        elif isinstance(event, StepPlaced):
            journal.append(
                "step_placed", step=event.step, attempt=event.attempt, data={"worker": event.worker}
            )
        elif isinstance(event, StepProcess):
            journal.append(
                PROCESS_EVENT,
                step=event.step,
                attempt=event.attempt,
                data={"pgid": event.pgid, "start": event.start},
            )
        elif isinstance(event, StepRetrying):
            journal.append(
                "step_retrying",
                step=event.step,
                attempt=event.attempt,
                data={"error": event.error, "delay": round(event.delay, 6)},
            )
        elif isinstance(event, StepWaiting):
            data = {"type": event.step_type, "status": "waiting"}
            if event.parent is not None:
                data["parent"] = event.parent
            journal.append("step_waiting", step=event.step, data=data)
            self._checkpoint()
        elif isinstance(event, ApprovalRequested):
            journal.append(
                "approval_requested",
                step=event.step,
                data={
                    "message": event.message,
                    "approvers": list(event.approvers),
                    "timeout": event.timeout,
                },
            )
            self._checkpoint(now=True)
        elif isinstance(event, ApprovalDecided):
            journal.append("approval_decided", step=event.step, data=event.data)
            self._checkpoint(now=True)
        elif isinstance(event, AgentFailover):
            journal.append(
                "agent_failover",
                step=event.step,
                attempt=event.attempt,
                data={"agent": event.agent, "error": event.error},
            )
        elif isinstance(event, CircuitChanged):
            journal.append(
                "circuit_state", step=event.step, data={"name": event.name, "state": event.state}
            )
        else:
            self._run_event(event)

    def _finished(self, event: StepFinished) -> None:
        data: dict[str, Any] = {"type": event.step_type, "status": event.status.value}
        if event.parent is not None:
            data["parent"] = event.parent
        if event.status is StepStatus.SKIPPED:
            data["reason"] = event.reason
            if event.by_condition:
                data["by_condition"] = True
        elif event.status is StepStatus.ROLLED_BACK:
            pass
        else:
            data["duration"] = round(event.duration, 6)
            data["attempts"] = event.attempts
            data["outputs"] = event.outputs
            if journal_marker(event.step_type, event.outputs):
                data[MARKER] = FROM_CHILDREN
            if event.error is not None:
                data["error"] = event.error
            if event.error_kind is not None:
                data["error_kind"] = failure_tag(event.error_kind, event.error_exit_code)
            if event.status is StepStatus.FAILED:
                data["handled"] = event.handled
            if event.reason is not None:
                data["reason"] = event.reason
            if event.cached:
                data["cached"] = True
            if event.agent is not None:
                data["agent"] = event.agent
            if event.up_to_date:
                data["up_to_date"] = True
            if event.params is not None:
                data["params"] = event.params
            if event.variables:
                data["vars"] = event.variables
            if event.writes:
                data["writes"] = [[list(path), value] for path, value in event.writes]
        written, offset, length = self._journal.append_at(
            _FINISH_EVENTS.get(event.status, "step_finished"),
            step=event.step,
            attempt=event.attempts or None,
            data=data,
        )
        if self._shelf is not None and "outputs" in data:
            self._shelf.note(event.step, Spot(offset, length, written.seq))
        self._checkpoint()

    def _run_event(self, event: RunEvent) -> None:
        journal = self._journal
        if isinstance(event, RollbackStarted):
            journal.append(
                "rollback_started", data={"reason": event.reason, "steps": list(event.steps)}
            )
        elif isinstance(event, RollbackActionDone):
            journal.append(
                "rollback_action",
                step=event.step,
                data={
                    "index": event.index,
                    "ok": event.ok,
                    "error": event.error,
                    "duration": round(event.duration, 6),
                },
            )
            self._checkpoint()
        elif isinstance(event, RollbackFinished):
            journal.append("rollback_finished", data={"failed": event.failed})
            self._checkpoint(now=True)
        elif isinstance(event, RunStarted):
            journal.append(
                "run_started",
                data={**self._run_data, "step_ids": list(event.step_ids), "resumed": event.resumed},
            )
            self._checkpoint(now=True)
        elif isinstance(event, RunFinished):
            data = {"status": event.status.value, "duration": round(event.duration, 6)}
            if event.error is not None:
                data["error"] = event.error
            journal.append("run_finished", data=data)
            self._checkpoint(now=True)

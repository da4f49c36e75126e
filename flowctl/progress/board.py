"""The live view's model of a run: updated in O(1) per event, read as a bounded snapshot."""

from __future__ import annotations

import enum
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from itertools import islice
from typing import Any

from msgspec import Struct, field

from flowctl.progress import words
from flowctl.runner.events import (
    AgentFailover,
    ApprovalDecided,
    ApprovalRequested,
    CircuitChanged,
    RollbackActionDone,
    RollbackFinished,
    RollbackStarted,
    RunEvent,
    RunFinished,
    RunStarted,
    RunStatusChanged,
    StepFinished,
    StepPlaced,
    StepRetrying,
    StepStarted,
    StepWaiting,
)
from flowctl.status import RunStatus, StepStatus

MAX_CIRCUITS = 4  # circuits named in the header; more are counted
ROLLBACK_ERRORS = 3  # failed rollback actions shown, the latest


class Tag(enum.Enum):
    """What a finished step's count says besides its status."""

    CACHED = "cached"  # completed from the step cache, without running
    UP_TO_DATE = "up to date"  # completed without running: its files had not changed
    RESTORED = "restored"  # finished in an earlier session of a resumed run
    HANDLED = "handled"  # failed, and its error handlers all completed


class _Row(Struct):
    """Mutable per-step state; only the board touches it, under its lock."""

    step: str
    status: StepStatus
    attempt: int = 0
    started: float | None = None
    duration: float | None = None
    agent: str | None = None
    worker: str | None = None  # the remote worker of its latest attempt
    note: str | None = None
    decision: str | None = None  # a human_task's `approved by alice`, kept once it is done
    tags: frozenset[Tag] = frozenset()


class RowView(Struct, frozen=True):
    """One step as the view shows it at the moment of the snapshot."""

    step: str
    status: StepStatus
    attempt: int
    elapsed: float | None  # running: time since it started; finished: its duration
    agent: str | None
    note: str | None
    handled: bool = False  # a failure that did not fail the run
    worker: str | None = None  # the remote worker of its latest attempt


class _Rollback(Struct):
    reason: str
    steps: int
    undone: int = 0
    actions: int = 0
    failed: int = 0
    finished: bool = False
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=ROLLBACK_ERRORS))


class RollbackView(Struct, frozen=True):
    """The run's compensation: how far it got and what failed (the latest few)."""

    reason: str
    steps: int  # steps to undo
    undone: int  # steps whose actions all succeeded
    actions: int  # actions done so far
    failed: int  # actions that failed
    finished: bool
    errors: tuple[str, ...]  # `charge rollback action 2 failed: ...`, oldest first


class CircuitView(Struct, frozen=True):
    """A circuit breaker that is not closed, and the step whose attempt changed it."""

    name: str
    state: str
    step: str


class BoardSnapshot(Struct, frozen=True):
    """Everything one frame of the live view needs; bounded in size whatever the run."""

    run_id: str | None
    workflow: str | None
    resumed: bool
    elapsed: float
    total: int
    finished: int
    running: int
    counts: dict[StepStatus, int]  # finished steps by final status
    rows: tuple[RowView, ...]
    hidden_running: int
    hidden_failed: int
    run_status: RunStatus | None  # final, once the run ended
    run_error: str | None
    waiting: int = 0
    hidden_waiting: int = 0
    tags: dict[Tag, int] = field(default_factory=dict)  # finished steps cached/restored/handled
    phase: RunStatus | None = None  # a status the run passes through, e.g. rollback
    phase_reason: str | None = None
    rollback: RollbackView | None = None
    circuits: tuple[CircuitView, ...] = ()
    hidden_circuits: int = 0

    @property
    def failed(self) -> int:
        """Failed steps that fail the run: handled failures are not among them."""
        return self.counts.get(StepStatus.FAILED, 0) - self.tags.get(Tag.HANDLED, 0)


class RunBoard:
    """Per-step state of one run, fed by events on the engine's thread, read by a renderer.

    `apply` does a constant amount of work per event (dict and deque updates), so a view
    never slows the scheduler down however many steps a run has; `snapshot` costs at most
    `max_rows` rows however many steps are running, waiting, failed or done. Steps restored
    by a resume are counted, not listed: a resumed run of a thousand steps would otherwise
    fill the recent rows with work done yesterday.
    """

    def __init__(self, *, recent: int = 12, failed_rows: int = 8) -> None:
        self.lock = threading.Lock()
        self._rows: dict[str, _Row] = {}
        self._running: dict[str, _Row] = {}  # insertion order = start order
        self._waiting: dict[str, _Row] = {}  # human_tasks waiting for a decision
        self._failed: deque[_Row] = deque()
        self._recent: deque[_Row] = deque(maxlen=recent)
        self._failed_rows = failed_rows
        self._counts: Counter[StepStatus] = Counter()  # finished steps by final status
        self._tags: Counter[Tag] = Counter()  # finished steps by tag
        self._known: set[str] = set()
        self._total = 0
        self._finished = 0
        self._run_id: str | None = None
        self._workflow: str | None = None
        self._resumed = False
        self._started: float | None = None
        self._ended: RunFinished | None = None
        self._phase: RunStatusChanged | None = None
        self._rollback: _Rollback | None = None
        self._circuits: dict[str, CircuitView] = {}
        # One dict lookup per event instead of a chain of isinstance tests.
        self._appliers: dict[type, Callable[[Any], None]] = {
            StepStarted: self._step_started,
            StepRetrying: self._step_retrying,
            StepPlaced: self._step_placed,
            StepFinished: self._finish,
            StepWaiting: self._step_waiting,
            ApprovalRequested: self._approval_requested,
            ApprovalDecided: self._approval_decided,
            CircuitChanged: self._circuit_changed,
            RunStatusChanged: self._status_changed,
            RollbackStarted: self._rollback_started,
            RollbackActionDone: self._rollback_action,
            RollbackFinished: self._rollback_finished,
            AgentFailover: self._failed_over,
            RunStarted: self._run_started,
            RunFinished: self._run_finished,
        }

    @property
    def started(self) -> bool:
        return self._started is not None

    def apply(self, event: RunEvent) -> None:
        """Fold one event into the board; the caller holds `lock`."""
        applier = self._appliers.get(type(event))
        if applier is not None:
            applier(event)

    # -- steps ------------------------------------------------------------------------------

    def _step_started(self, event: StepStarted) -> None:
        row = self._row(event.step)
        self._unfinish(row)
        self._waiting.pop(row.step, None)
        row.status = StepStatus.RUNNING
        row.attempt = event.attempt
        row.agent = event.agent or row.agent
        row.note = None
        if row.started is None or event.attempt <= 1:
            row.started = event.ts
        self._running[row.step] = row

    def _step_placed(self, event: StepPlaced) -> None:
        self._row(event.step).worker = event.worker

    def _step_retrying(self, event: StepRetrying) -> None:
        row = self._row(event.step)
        row.status = StepStatus.RETRYING
        row.attempt = event.attempt
        row.note = f"retry in {event.delay:.1f}s: {event.error}"
        self._running.setdefault(row.step, row)

    def _failed_over(self, event: AgentFailover) -> None:
        row = self._row(event.step)
        row.note = f"failing over from {event.agent}: {event.error}"

    def _finish(self, event: StepFinished) -> None:
        row = self._row(event.step)
        if row.status.finished:
            self._uncount(row)
        else:
            self._finished += 1
        self._running.pop(row.step, None)
        self._waiting.pop(row.step, None)
        row.status = event.status
        row.attempt = max(row.attempt, event.attempts)
        row.duration = event.duration
        row.tags = _tags(event)
        if event.status is StepStatus.FAILED and not event.handled:
            row.note = event.error
            self._failed.append(row)
        else:
            row.note = _finished_note(event, row.decision)
            if event.status is StepStatus.ROLLED_BACK and self._rollback is not None:
                self._rollback.undone += 1
            if not event.restored:
                self._recent.append(row)
        self._counts[row.status] += 1
        if row.tags:
            self._tags.update(row.tags)

    def _step_waiting(self, event: StepWaiting) -> None:
        row = self._row(event.step)
        if row.status is not StepStatus.WAITING:
            row.note = "for approval"  # no request this session: a resumed, still paused run
        self._wait(row, event.ts)

    def _approval_requested(self, event: ApprovalRequested) -> None:
        row = self._row(event.step)
        asked = words.approval_request(event.message, event.approvers, event.timeout)
        row.note = f"for approval: {asked}"
        self._wait(row, event.ts)

    def _wait(self, row: _Row, ts: float) -> None:
        self._unfinish(row)
        self._running.pop(row.step, None)
        row.status = StepStatus.WAITING
        if row.started is None:
            row.started = ts
        self._waiting[row.step] = row

    def _approval_decided(self, event: ApprovalDecided) -> None:
        row = self._row(event.step)
        _, row.decision = words.decision(event.data)
        row.note = row.decision
        if not row.status.finished:
            # Decided now: the step goes on (and finishes at once) rather than waiting.
            self._waiting.pop(row.step, None)
            row.status = StepStatus.RUNNING
            self._running[row.step] = row

    def _row(self, step: str) -> _Row:
        row = self._rows.get(step)
        if row is None:
            row = self._rows[step] = _Row(step, StepStatus.PENDING)
            if step not in self._known:
                # Loop iterations and fan-out children appear only as the run unfolds.
                self._known.add(step)
                self._total += 1
        return row

    def _unfinish(self, row: _Row) -> None:
        if row.status.finished:
            # The same step again (resume --from, or a loop body re-entered): count it once.
            self._uncount(row)
            self._finished -= 1

    def _uncount(self, row: _Row) -> None:
        self._counts[row.status] -= 1
        if row.tags:
            self._tags.subtract(row.tags)
            row.tags = _NO_TAGS

    # -- the run ----------------------------------------------------------------------------

    def _run_started(self, event: RunStarted) -> None:
        self._run_id = event.run_id
        self._workflow = event.workflow
        self._resumed = event.resumed
        if self._started is None:
            self._started = event.ts
        self._ended = None
        self._phase = None
        for step in event.step_ids:
            if step not in self._known:
                self._known.add(step)
                self._total += 1

    def _run_finished(self, event: RunFinished) -> None:
        self._ended = event

    def _status_changed(self, event: RunStatusChanged) -> None:
        self._phase = event

    def _circuit_changed(self, event: CircuitChanged) -> None:
        self._circuits.pop(event.name, None)  # re-inserted below: the latest change last
        if event.state != "closed":
            self._circuits[event.name] = CircuitView(event.name, event.state, event.step)

    def _rollback_started(self, event: RollbackStarted) -> None:
        self._rollback = _Rollback(reason=event.reason, steps=len(event.steps))

    def _rollback_action(self, event: RollbackActionDone) -> None:
        rollback = self._rollback
        if rollback is None:
            return
        rollback.actions += 1
        if not event.ok:
            rollback.failed += 1
            rollback.errors.append(
                words.rollback_action_failed(event.step, event.index, event.error)
            )

    def _rollback_finished(self, event: RollbackFinished) -> None:
        if self._rollback is not None:
            self._rollback.finished = True
            self._rollback.failed = max(self._rollback.failed, event.failed)

    # -- reading ----------------------------------------------------------------------------

    def banner_lines(self) -> int:
        """Lines the view draws above the rows for circuits and the rollback; caller locks."""
        lines = 1 if self._circuits else 0
        if self._rollback is not None:
            lines += 1 + len(self._rollback.errors)
        return lines

    def snapshot(self, *, max_rows: int, now: float | None = None) -> BoardSnapshot:
        """A bounded copy: failures first in budget, then waiting, running, recent; caller
        locks."""
        now = time.time() if now is None else now
        budget = max(max_rows, 1)
        failed_n = min(len(self._failed), self._failed_rows, budget)
        waiting_n = min(len(self._waiting), budget - failed_n)
        running_n = min(len(self._running), budget - failed_n - waiting_n)
        recent_n = min(len(self._recent), budget - failed_n - waiting_n - running_n)
        failed = [
            row
            for row in islice(reversed(self._failed), failed_n)
            # A failed step run again, or handled since, is no longer a failure to show.
            if row.status is StepStatus.FAILED and Tag.HANDLED not in row.tags
        ][::-1]
        waiting = list(islice(self._waiting.values(), waiting_n))
        running = list(islice(self._running.values(), running_n))
        shown = {row.step for row in (*failed, *waiting, *running)}
        recent: list[_Row] = []
        for row in reversed(self._recent):  # newest first; a step finished twice shows once
            if len(recent) == recent_n:
                break
            if row.step not in shown and _settled(row):
                shown.add(row.step)
                recent.append(row)
        recent.reverse()
        rows = tuple(self._view(row, now) for row in (*recent, *failed, *waiting, *running))
        ended = self._ended
        start = self._started if self._started is not None else now
        counts = {status: n for status, n in self._counts.items() if n > 0}
        tags = {tag: n for tag, n in self._tags.items() if n > 0}
        unhandled = counts.get(StepStatus.FAILED, 0) - tags.get(Tag.HANDLED, 0)
        phase = self._phase
        circuits = tuple(islice(reversed(self._circuits.values()), MAX_CIRCUITS))[::-1]
        return BoardSnapshot(
            run_id=self._run_id,
            workflow=self._workflow,
            resumed=self._resumed,
            elapsed=(ended.ts if ended is not None else now) - start,
            total=self._total,
            finished=self._finished,
            running=len(self._running),
            counts=counts,
            rows=rows,
            hidden_running=len(self._running) - running_n,
            hidden_failed=max(unhandled - len(failed), 0),
            run_status=ended.status if ended is not None else None,
            run_error=ended.error if ended is not None else None,
            waiting=len(self._waiting),
            hidden_waiting=len(self._waiting) - waiting_n,
            tags=tags,
            phase=phase.status if phase is not None else None,
            phase_reason=phase.reason if phase is not None else None,
            rollback=_rollback_view(self._rollback),
            circuits=circuits,
            hidden_circuits=len(self._circuits) - len(circuits),
        )

    @staticmethod
    def _view(row: _Row, now: float) -> RowView:
        if row.status is StepStatus.SKIPPED:
            elapsed = None  # it never ran: a "0.00s" would suggest it did
        elif row.status.finished:
            elapsed = row.duration
        else:
            elapsed = now - row.started if row.started is not None else None
        return RowView(
            row.step,
            row.status,
            row.attempt,
            elapsed,
            row.agent,
            row.note,
            handled=Tag.HANDLED in row.tags,
            worker=row.worker,
        )


def _settled(row: _Row) -> bool:
    """Finished, and not a failure that fails the run (those have rows of their own)."""
    return row.status.finished and (row.status is not StepStatus.FAILED or Tag.HANDLED in row.tags)


_NO_TAGS: frozenset[Tag] = frozenset()


def _tags(event: StepFinished) -> frozenset[Tag]:
    if not (event.restored or event.cached or event.handled or event.up_to_date):
        return _NO_TAGS  # the common case, on every step: no list, no set
    tags = []
    if event.restored:
        tags.append(Tag.RESTORED)  # a cache hit of an earlier session is not one of this
    elif event.cached:
        tags.append(Tag.CACHED)
    elif event.up_to_date:
        tags.append(Tag.UP_TO_DATE)
    if event.handled and event.status is StepStatus.FAILED:
        tags.append(Tag.HANDLED)
    return frozenset(tags)


def _finished_note(event: StepFinished, decision: str | None) -> str | None:
    """The note of a finished step that is not an unhandled failure."""
    if event.status is StepStatus.FAILED:
        return f"handled: {event.error or 'no error message'}"
    if event.status is StepStatus.ROLLED_BACK:
        return "undone"
    if event.status is not StepStatus.COMPLETED:
        return event.reason or event.error
    if event.cached:
        return "cached"
    if event.up_to_date:
        return "up to date"
    return decision  # a human_task says who approved it; other steps need no note


def _rollback_view(rollback: _Rollback | None) -> RollbackView | None:
    if rollback is None:
        return None
    return RollbackView(
        reason=rollback.reason,
        steps=rollback.steps,
        undone=rollback.undone,
        actions=rollback.actions,
        failed=rollback.failed,
        finished=rollback.finished,
        errors=tuple(rollback.errors),
    )

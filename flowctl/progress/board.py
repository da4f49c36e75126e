"""The live view's model of a run: updated in O(1) per event, read as a bounded snapshot."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from itertools import islice

from flowctl.runner.events import (
    RunEvent,
    RunFinished,
    RunStarted,
    StepFinished,
    StepRetrying,
    StepStarted,
)
from flowctl.status import RunStatus, StepStatus


@dataclass(slots=True)
class _Row:
    """Mutable per-step state; only the board touches it, under its lock."""

    step: str
    status: StepStatus
    attempt: int = 0
    started: float | None = None
    duration: float | None = None
    agent: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class RowView:
    """One step as the view shows it at the moment of the snapshot."""

    step: str
    status: StepStatus
    attempt: int
    elapsed: float | None  # running: time since it started; finished: its duration
    agent: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class BoardSnapshot:
    """Everything one frame of the live view needs; bounded in size whatever the run."""

    run_id: str | None
    workflow: str | None
    resumed: bool
    elapsed: float
    total: int
    finished: int
    running: int
    counts: dict[StepStatus, int]
    rows: tuple[RowView, ...]
    hidden_running: int
    hidden_failed: int
    run_status: RunStatus | None
    run_error: str | None


class RunBoard:
    """Per-step state of one run, fed by events on the engine's thread, read by a renderer.

    `apply` does a constant amount of work per event (dict and deque updates), so a view
    never slows the scheduler down however many steps a run has; `snapshot` costs at most
    `max_rows` rows however many steps are running, failed or done.
    """

    def __init__(self, *, recent: int = 12, failed_rows: int = 8) -> None:
        self.lock = threading.Lock()
        self._rows: dict[str, _Row] = {}
        self._running: dict[str, _Row] = {}  # insertion order = start order
        self._failed: deque[_Row] = deque()
        self._recent: deque[_Row] = deque(maxlen=recent)
        self._failed_rows = failed_rows
        self._counts: Counter[StepStatus] = Counter()  # finished steps by final status
        self._known: set[str] = set()
        self._total = 0
        self._finished = 0
        self._run_id: str | None = None
        self._workflow: str | None = None
        self._resumed = False
        self._started: float | None = None
        self._ended: RunFinished | None = None

    @property
    def started(self) -> bool:
        return self._started is not None

    def apply(self, event: RunEvent) -> None:
        """Fold one event into the board; the caller holds `lock`."""
        if isinstance(event, StepStarted):
            row = self._row(event.step)
            self._unfinish(row)
            row.status = StepStatus.RUNNING
            row.attempt = event.attempt
            row.agent = event.agent or row.agent
            row.note = None
            if row.started is None or event.attempt <= 1:
                row.started = event.ts
            self._running[row.step] = row
        elif isinstance(event, StepRetrying):
            row = self._row(event.step)
            row.status = StepStatus.RETRYING
            row.attempt = event.attempt
            row.note = f"retry in {event.delay:.1f}s: {event.error}"
            self._running.setdefault(row.step, row)
        elif isinstance(event, StepFinished):
            self._finish(event)
        elif isinstance(event, RunStarted):
            self._run_id = event.run_id
            self._workflow = event.workflow
            self._resumed = event.resumed
            if self._started is None:
                self._started = event.ts
            self._ended = None
            for step in event.step_ids:
                if step not in self._known:
                    self._known.add(step)
                    self._total += 1
        elif isinstance(event, RunFinished):
            self._ended = event

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
            self._counts[row.status] -= 1
            self._finished -= 1

    def _finish(self, event: StepFinished) -> None:
        row = self._row(event.step)
        if row.status.finished:
            self._counts[row.status] -= 1
        else:
            self._finished += 1
        self._running.pop(row.step, None)
        row.status = event.status
        row.attempt = max(row.attempt, event.attempts)
        row.duration = event.duration
        if event.status is StepStatus.FAILED:
            row.note = event.error
            self._failed.append(row)
        else:
            row.note = event.reason if event.status is not StepStatus.COMPLETED else None
            if event.cached:
                row.note = "cached"
            self._recent.append(row)
        self._counts[event.status] += 1

    def snapshot(self, *, max_rows: int, now: float | None = None) -> BoardSnapshot:
        """A bounded copy: failures first in budget, then running, then recent; caller locks."""
        now = time.time() if now is None else now
        budget = max(max_rows, 1)
        failed_n = min(len(self._failed), self._failed_rows, budget)
        running_n = min(len(self._running), budget - failed_n)
        recent_n = min(len(self._recent), budget - failed_n - running_n)
        failed = [
            row
            for row in islice(reversed(self._failed), failed_n)
            if row.status is StepStatus.FAILED  # a failed step run again no longer is
        ][::-1]
        running = list(islice(self._running.values(), running_n))
        shown = {row.step for row in failed} | {row.step for row in running}
        recent = [
            row
            for row in list(self._recent)[len(self._recent) - recent_n :]
            if row.step not in shown and row.status.finished and row.status is not StepStatus.FAILED
        ]
        rows = tuple(self._view(row, now) for row in (*recent, *failed, *running))
        ended = self._ended
        start = self._started if self._started is not None else now
        return BoardSnapshot(
            run_id=self._run_id,
            workflow=self._workflow,
            resumed=self._resumed,
            elapsed=(ended.ts if ended is not None else now) - start,
            total=self._total,
            finished=self._finished,
            running=len(self._running),
            counts={status: n for status, n in self._counts.items() if n > 0},
            rows=rows,
            hidden_running=len(self._running) - running_n,
            hidden_failed=max(self._counts[StepStatus.FAILED] - len(failed), 0),
            run_status=ended.status if ended is not None else None,
            run_error=ended.error if ended is not None else None,
        )

    @staticmethod
    def _view(row: _Row, now: float) -> RowView:
        if row.status is StepStatus.SKIPPED:
            elapsed = None  # it never ran: a "0.00s" would suggest it did
        elif row.status.finished:
            elapsed = row.duration
        else:
            elapsed = now - row.started if row.started is not None else None
        return RowView(row.step, row.status, row.attempt, elapsed, row.agent, row.note)

"""Progress as plain timestamped lines, one per event: for CI logs and --no-progress."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from flowctl.closing import Closing
from flowctl.progress import words
from flowctl.progress.format import (
    ASCII,
    UNICODE,
    clock,
    encodable,
    format_duration,
    is_utf_encoding,
)
from flowctl.progress.pausing import PauseCount
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
from flowctl.textout import one_line, safe_text


class PlainProgress(Closing):
    """Writes `12:00:01.234 ✓ extract 1.20s`-style lines and flushes each one.

    Marks fall back to ASCII words (`[ok]`, `[FAIL]`) when the stream's encoding is not
    UTF-8, and text the encoding cannot hold is replaced rather than raising mid-run.
    Steps restored from the journal by a resume are told in one line per uninterrupted
    series (`restored 998 completed steps from the journal`), not one line each. While
    paused (a question on the terminal) lines to a terminal are held, then written.
    """

    def __init__(self, stream: IO[str], *, ascii_only: bool | None = None) -> None:
        self.stream = stream
        self.failures: list[StepFinished] = []  # unhandled failures, for the log tails
        encoding = getattr(stream, "encoding", None)
        unicode_ok = is_utf_encoding(encoding) if ascii_only is None else not ascii_only
        self._symbols = UNICODE if unicode_ok else ASCII
        self._encoding = None if unicode_ok else (encoding or "ascii")
        self._broken = False
        self._announced: set[str] = set()  # steps whose approval request has a line
        self._restored: list[StepFinished] = []  # the current series, at most 2 kept
        self._restored_counts: Counter[StepStatus] = Counter()
        self._held: list[str] = []
        self._hold = _is_terminal(stream)  # a log file gets its lines as they come
        self._pauses = PauseCount(lambda: None, self._release)
        self._workers: dict[str, str] = {}  # step -> the remote worker of its last attempt

    def handle(self, event: RunEvent) -> None:
        if isinstance(event, StepPlaced):
            # No line of its own: the step's next line (done, failed, retrying) names it.
            self._workers[event.step] = event.worker
            return
        if isinstance(event, StepFinished):
            if event.status is StepStatus.FAILED and not event.handled:
                self.failures.append(event)
            if event.restored:
                self._add_restored(event)
                self._pauses.observe(event)
                return
        self._flush_restored()
        if isinstance(event, RunFinished):
            self._pauses.reset()  # nobody is asked any more: held lines first, then the end
            self._release()
        if isinstance(event, ApprovalRequested):
            self._announced.add(event.step)
            self._emit(event.ts, self.format(event))
        elif isinstance(event, StepWaiting) and event.step in self._announced:
            pass  # its approval_requested line already said so, with the message
        else:
            self._emit(event.ts, self.format(event))
        self._pauses.observe(event)

    def format(self, event: RunEvent) -> str | None:
        """The text of the line for `event`, without the timestamp (None: no line)."""
        sym = self._symbols
        if isinstance(event, StepStarted):
            agent = f" on {safe_text(event.agent)}" if event.agent else ""
            return f"{sym.start} {safe_text(event.step)} (attempt {event.attempt}){agent}"
        if isinstance(event, StepRetrying):
            return (
                f"{sym.retry} {safe_text(event.step)} retrying in {event.delay:.1f}s: "
                f"{one_line(event.error)}{self._where(event.step)}"
            )
        if isinstance(event, StepFinished):
            line = self._finished(event)
            if event.status in (StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.CANCELLED):
                line += self._where(event.step)
            self._workers.pop(event.step, None)
            return line
        if isinstance(event, StepWaiting):
            return f"{sym.of(StepStatus.WAITING)} {safe_text(event.step)} waiting for approval"
        if isinstance(event, ApprovalRequested):
            asked = words.approval_request(event.message, event.approvers, event.timeout)
            waiting = sym.of(StepStatus.WAITING)
            return f"{waiting} {safe_text(event.step)} waiting for approval: {asked}"
        if isinstance(event, ApprovalDecided):
            approved, text = words.decision(event.data)
            mark = sym.of(StepStatus.COMPLETED if approved else StepStatus.FAILED)
            return f"{mark} {safe_text(event.step)} {text}"
        if isinstance(event, AgentFailover):
            return (
                f"{sym.retry} {safe_text(event.step)} failing over from agent "
                f"{safe_text(event.agent)}: {one_line(event.error)}"
            )
        if isinstance(event, CircuitChanged):
            return f"{sym.circuit} {words.circuit(event.name, event.state, event.step)}"
        if isinstance(event, RollbackStarted | RollbackActionDone | RollbackFinished):
            return self._rollback(event)
        if isinstance(event, RunStatusChanged):
            if event.status is RunStatus.ROLLBACK:
                return None  # the rollback_started line that follows says it, with the steps
            why = f": {one_line(event.reason)}" if event.reason else ""
            return f"{sym.run} run {safe_text(event.run_id)} {event.status.value}{why}"
        if isinstance(event, RunStarted):
            verb = "resumed" if event.resumed else "started"
            # Counted as validate counts them: `validate` said "4 steps in the file".
            count = (
                words.plural(len(event.step_ids), "step")
                if event.steps_in_file is None
                else f"{words.plural(event.steps_in_file, 'step')} in the file"
            )
            return (
                f"{sym.run} run {safe_text(event.run_id)} {verb}: workflow "
                f"{safe_text(event.workflow)}, {count}"
            )
        if isinstance(event, RunFinished):
            return self._run_finished(event)
        return None

    def _where(self, step: str) -> str:
        worker = self._workers.get(step)
        return f" (on {safe_text(worker)})" if worker else ""

    def _finished(self, event: StepFinished) -> str:
        mark = self._symbols.of(event.status)
        step = safe_text(event.step)
        if event.status is StepStatus.COMPLETED:
            if event.restored:
                return f"{mark} {step} (restored)"
            if event.cached:
                return f"{mark} {step} (cached)"
            if event.up_to_date:
                return f"{mark} {step} (up to date)"
            return f"{mark} {step} {format_duration(event.duration)}"
        if event.status is StepStatus.FAILED:
            tries = f" ({event.attempts} attempts)" if event.attempts > 1 else ""
            # A handled failure is shown as one, so nobody reads it as the run's end.
            handled = " (handled by its error handlers, the run goes on)" if event.handled else ""
            error = one_line(event.error or "no error message")
            return f"{mark} {step} failed{handled}: {error}{tries}"
        if event.status is StepStatus.ROLLED_BACK:
            return f"{mark} {step} undone"
        why = event.reason or event.error
        detail = f": {one_line(why)}" if why else ""
        restored = " (restored)" if event.restored else ""
        return f"{mark} {step} {event.status.value.replace('_', ' ')}{restored}{detail}"

    def _rollback(
        self, event: RollbackStarted | RollbackActionDone | RollbackFinished
    ) -> str | None:
        undo = self._symbols.of(StepStatus.ROLLED_BACK)
        fail = self._symbols.of(StepStatus.FAILED)
        if isinstance(event, RollbackStarted):
            n = words.plural(len(event.steps), "step")
            return f"{undo} rolling back {n}: {one_line(event.reason)}"
        if isinstance(event, RollbackActionDone):
            if event.ok:
                return None  # the step's `undone` line follows when all its actions are done
            return f"{fail} {words.rollback_action_failed(event.step, event.index, event.error)}"
        if event.failed:
            return f"{fail} rollback finished: {words.plural(event.failed, 'action')} failed"
        return f"{undo} rollback finished"

    def _run_finished(self, event: RunFinished) -> str:
        head = f"{self._symbols.run} run {safe_text(event.run_id)} {event.status.value}"
        took = format_duration(event.duration)
        if event.status is RunStatus.COMPLETED:
            return f"{head} in {took}"
        if event.failures:
            # The failures' own lines gave their errors; the summary gives them once more.
            named = words.plural(len(event.failures), "step")
            return f"{head} after {took}: {named} failed ({_names(event.failures)})"
        detail = f": {one_line(event.error)}" if event.error else ""
        return f"{head} after {took}{detail}"

    # -- restored steps: one line per series -----------------------------------------------

    def _add_restored(self, event: StepFinished) -> None:
        self._restored_counts[event.status] += 1
        if len(self._restored) < 2:
            self._restored.append(event)
        else:
            self._restored[1] = event  # the last one gives the summary its time

    def _flush_restored(self) -> None:
        if not self._restored:
            return
        first, last = self._restored[0], self._restored[-1]
        if len(self._restored) == 1:
            self._emit(first.ts, self.format(first))
        else:
            mark = self._symbols.of(StepStatus.COMPLETED)
            self._emit(last.ts, f"{mark} {words.restored_summary(self._restored_counts)}")
        self._restored.clear()
        self._restored_counts.clear()

    # -- pausing ----------------------------------------------------------------------------

    def pause(self) -> None:
        """Hold lines (to a terminal) while flowctl asks a question there."""
        self._flush_restored()
        self._pauses.pause()

    def resume(self) -> None:
        """Write the held lines and go on writing as events come."""
        self._pauses.resume()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """`pause()` for the duration of a `with` block."""
        self.pause()
        try:
            yield
        finally:
            self.resume()

    # -- output -----------------------------------------------------------------------------

    def _emit(self, ts: float, text: str | None) -> None:
        if text is None:
            return
        line = f"{clock(ts)} {text}\n"
        if self._hold and self._pauses.paused:
            self._held.append(line)
        else:
            self._write(line)

    def _release(self) -> None:
        if self._held:
            held, self._held = "".join(self._held), []
            self._write(held)

    def _write(self, line: str) -> None:
        line = encodable(line, self._encoding)
        if self._broken:
            return
        try:
            self.stream.write(line)
            self.stream.flush()
        except (OSError, ValueError):
            # A closed pipe (`flowctl run … | head`) must not fail the run it describes.
            self._broken = True

    def close(self) -> None:
        """Write what is still pending (a series of restored steps, held lines)."""
        self._flush_restored()
        self._pauses.reset()
        self._release()


def _names(ids: tuple[str, ...], limit: int = 5) -> str:
    shown = ", ".join(safe_text(i) for i in ids[:limit])
    return f"{shown}, +{len(ids) - limit} more" if len(ids) > limit else shown


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False

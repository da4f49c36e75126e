"""Progress as plain timestamped lines, one per event: for CI logs and --no-progress."""

from __future__ import annotations

from types import TracebackType
from typing import IO

from flowctl.console import one_line, safe_text
from flowctl.progress.format import ASCII, UNICODE, clock, format_duration, is_utf_encoding
from flowctl.runner.events import (
    RunEvent,
    RunFinished,
    RunStarted,
    StepFinished,
    StepRetrying,
    StepStarted,
)
from flowctl.status import RunStatus, StepStatus


class PlainProgress:
    """Writes `12:00:01.234 ✓ extract 1.20s`-style lines and flushes each one.

    Marks fall back to ASCII words (`[ok]`, `[FAIL]`) when the stream's encoding is not
    UTF-8, and text the encoding cannot hold is replaced rather than raising mid-run.
    """

    def __init__(self, stream: IO[str], *, ascii_only: bool | None = None) -> None:
        self.stream = stream
        self.failures: list[StepFinished] = []
        encoding = getattr(stream, "encoding", None)
        unicode_ok = is_utf_encoding(encoding) if ascii_only is None else not ascii_only
        self._symbols = UNICODE if unicode_ok else ASCII
        self._encoding = None if unicode_ok else (encoding or "ascii")
        self._broken = False

    def handle(self, event: RunEvent) -> None:
        line = self.format(event)
        if isinstance(event, StepFinished) and event.status is StepStatus.FAILED:
            self.failures.append(event)
        if line is not None:
            self._write(f"{clock(event.ts)} {line}\n")

    def format(self, event: RunEvent) -> str | None:
        """The text of the line for `event`, without the timestamp."""
        sym = self._symbols
        if isinstance(event, StepStarted):
            agent = f" on {safe_text(event.agent)}" if event.agent else ""
            return f"{sym.start} {safe_text(event.step)} (attempt {event.attempt}){agent}"
        if isinstance(event, StepRetrying):
            return (
                f"{sym.retry} {safe_text(event.step)} retrying in {event.delay:.1f}s: "
                f"{one_line(event.error)}"
            )
        if isinstance(event, StepFinished):
            return self._finished(event)
        if isinstance(event, RunStarted):
            verb = "resumed" if event.resumed else "started"
            return (
                f"{sym.run} run {safe_text(event.run_id)} {verb}: workflow "
                f"{safe_text(event.workflow)}, {len(event.step_ids)} steps"
            )
        if isinstance(event, RunFinished):
            return self._run_finished(event)
        return None

    def _finished(self, event: StepFinished) -> str:
        mark = self._symbols.of(event.status)
        step = safe_text(event.step)
        if event.status is StepStatus.COMPLETED:
            cached = " (cached)" if event.cached else ""
            return f"{mark} {step}{cached} {format_duration(event.duration)}"
        if event.status is StepStatus.FAILED:
            tries = f" ({event.attempts} attempts)" if event.attempts > 1 else ""
            return f"{mark} {step} failed: {one_line(event.error or 'no error message')}{tries}"
        why = event.reason or event.error
        detail = f": {one_line(why)}" if why else ""
        return f"{mark} {step} {event.status.value.replace('_', ' ')}{detail}"

    def _run_finished(self, event: RunFinished) -> str:
        head = f"{self._symbols.run} run {safe_text(event.run_id)} {event.status.value}"
        took = format_duration(event.duration)
        if event.status is RunStatus.COMPLETED:
            return f"{head} in {took}"
        detail = f": {one_line(event.error)}" if event.error else ""
        return f"{head} after {took}{detail}"

    def _write(self, line: str) -> None:
        if self._encoding is not None:
            line = line.encode(self._encoding, "replace").decode(self._encoding)
        if self._broken:
            return
        try:
            self.stream.write(line)
            self.stream.flush()
        except (OSError, ValueError):
            # A closed pipe (`flowctl run … | head`) must not fail the run it describes.
            self._broken = True

    def close(self) -> None:
        """Nothing to release; present so both views can be used the same way."""

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

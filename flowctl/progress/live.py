"""The terminal view of a run: a Rich Live table redrawn at a fixed rate, never per event."""

from __future__ import annotations

from types import TracebackType

from rich.cells import cell_len, set_cell_size
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from flowctl.console import one_line, safe_text
from flowctl.progress.board import BoardSnapshot, RowView, RunBoard
from flowctl.progress.format import (
    ASCII,
    RUN_STYLES,
    STEP_STYLES,
    UNICODE,
    format_duration,
    is_utf_encoding,
)
from flowctl.runner.events import RunEvent, RunFinished, RunStarted, StepFinished
from flowctl.status import StepStatus

DEFAULT_MAX_ROWS = 30
_NOTE_LIMIT = 120
_STEP_WIDTH = 48
_AGENT_WIDTH = 20
_STATUS_WIDTH = 12
_TIME_WIDTH = 9


class LiveProgress:
    """A live table of the run: running, failed and recently finished steps, and a bar.

    `handle` only folds the event into a `RunBoard` under a lock; Rich's refresh thread
    draws `refresh_per_second` frames a second from a bounded snapshot, so the cost of the
    view does not grow with the number of steps or the rate of events.
    """

    def __init__(
        self,
        console: Console,
        *,
        refresh_per_second: float = 8,
        max_rows: int = DEFAULT_MAX_ROWS,
    ) -> None:
        self.console = console
        self.failures: list[StepFinished] = []
        self._board = RunBoard()
        self._max_rows = max_rows
        self._symbols = UNICODE if is_utf_encoding(console.encoding) else ASCII
        self._mark_w = max(cell_len(mark) for mark in self._symbols.status.values())
        self._live = Live(
            console=console,
            refresh_per_second=refresh_per_second,
            auto_refresh=True,
            transient=False,
            get_renderable=self.render,
        )
        self._active = False

    def handle(self, event: RunEvent) -> None:
        with self._board.lock:
            self._board.apply(event)
        if isinstance(event, StepFinished) and event.status is StepStatus.FAILED:
            self.failures.append(event)
        elif isinstance(event, RunStarted) and not self._active:
            self._active = True
            self._live.start()
        elif isinstance(event, RunFinished):
            self.close()

    def close(self) -> None:
        """Draw the last frame and give the terminal back; safe to call more than once."""
        if self._active:
            self._active = False
            self._live.stop()

    def __enter__(self) -> LiveProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def snapshot(self) -> BoardSnapshot:
        # A frame taller than the terminal cannot be redrawn in place: leave room for the
        # header (2 lines), the "… more" line and the cursor.
        rows = max(min(self._max_rows, self.console.height - 4), 3)
        with self._board.lock:
            return self._board.snapshot(max_rows=rows)

    def render(self) -> RenderableType:
        """One frame, built from a snapshot (called by Rich's refresh thread)."""
        snap = self.snapshot()
        parts: list[RenderableType] = [self._header(snap), self._table(snap)]
        more = []
        if snap.hidden_running:
            more.append(f"{snap.hidden_running} more running")
        if snap.hidden_failed:
            more.append(f"{snap.hidden_failed} more failed")
        if more:
            parts.append(Text(f"{self._symbols.ellipsis} " + " · ".join(more), style="dim"))
        return Group(*parts)

    def _header(self, snap: BoardSnapshot) -> RenderableType:
        title = Text()
        title.append(f"{self._symbols.run} ", style="bold")
        title.append(safe_text(snap.workflow or "workflow"), style="bold")
        if snap.run_id:
            title.append(f"  {'resumed ' if snap.resumed else ''}run {safe_text(snap.run_id)}")
        if snap.run_status is not None:
            title.append("  ")
            title.append(snap.run_status.value, style=RUN_STYLES.get(snap.run_status, ""))
            if snap.run_error:
                title.append(f": {one_line(snap.run_error, limit=_NOTE_LIMIT)}")
        counts = [f"{snap.finished}/{snap.total} steps"]
        if snap.running:
            counts.append(f"{snap.running} running")
        for status in (StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED):
            if snap.counts.get(status):
                counts.append(f"{snap.counts[status]} {status.value}")
        counts.append(format_duration(snap.elapsed))
        bar = Table.grid(padding=(0, 1))
        bar.add_row(
            ProgressBar(total=max(snap.total, 1), completed=snap.finished, width=30),
            Text(" · ".join(counts)),
        )
        return Group(title, bar)

    def _table(self, snap: BoardSnapshot) -> RenderableType:
        # Laid out by hand rather than with rich.table.Table: a Table measures every cell
        # on every frame (~10 ms for 30 rows), which a run of fast steps would feel; fixed
        # columns of pre-cut Text cost a tenth of that.
        if not snap.rows:
            return Text("")
        step_w = min(max(cell_len(safe_text(r.step)) for r in snap.rows), _STEP_WIDTH)
        agent_w = min(max(cell_len(safe_text(r.agent or "")) for r in snap.rows), _AGENT_WIDTH)
        lines = [self._line(row, step_w, agent_w) for row in snap.rows]
        return Group(*lines)

    def _line(self, row: RowView, step_w: int, agent_w: int) -> Text:
        style = STEP_STYLES.get(row.status, "")
        line = Text(no_wrap=True, overflow="ellipsis", end="\n")
        line.append(_fit(self._symbols.of(row.status), self._mark_w), style=style)
        line.append(" ")
        line.append(_fit(safe_text(row.step), step_w))
        line.append("  ")
        line.append(_fit(row.status.value, _STATUS_WIDTH), style=style)
        elapsed = format_duration(row.elapsed) if row.elapsed is not None else ""
        line.append(elapsed.rjust(_TIME_WIDTH))
        line.append(f" #{row.attempt}" if row.attempt else "   ", style="dim")
        if agent_w:
            line.append("  ")
            line.append(_fit(safe_text(row.agent or ""), agent_w), style="blue")
        if row.note:
            line.append("  ")
            note_style = "red" if row.status is StepStatus.FAILED else "dim"
            line.append(one_line(row.note, limit=_NOTE_LIMIT), style=note_style)
        return line


def _fit(text: str, width: int) -> str:
    """`text` cut or padded to exactly `width` terminal cells."""
    if cell_len(text) > width:
        return set_cell_size(text, max(width - 1, 0)) + "…"
    return set_cell_size(text, width)

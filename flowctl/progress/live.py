"""The terminal view of a run: a Rich Live table redrawn at a fixed rate, never per event."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rich.cells import cell_len, set_cell_size
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from flowctl.closing import Closing
from flowctl.console import one_line, safe_text
from flowctl.progress import words
from flowctl.progress.board import BoardSnapshot, RollbackView, RowView, RunBoard, Tag
from flowctl.progress.format import (
    ASCII,
    RUN_STYLES,
    STEP_STYLES,
    UNICODE,
    encodable,
    format_duration,
    is_utf_encoding,
)
from flowctl.progress.pausing import PauseCount
from flowctl.runner.events import RunEvent, RunFinished, RunStarted, StepFinished
from flowctl.status import StepStatus

DEFAULT_MAX_ROWS = 30
_NOTE_LIMIT = 120
_STEP_WIDTH = 48
_AGENT_WIDTH = 20
_STATUS_WIDTH = 12
_TIME_WIDTH = 9
_HANDLED_STYLE = "yellow"

# Header counts, in this order, after running/waiting: finished steps by tag, then status.
_TAG_COUNTS = (Tag.CACHED, Tag.UP_TO_DATE, Tag.RESTORED)
_STATUS_COUNTS = (StepStatus.SKIPPED, StepStatus.CANCELLED, StepStatus.ROLLED_BACK)


# A run that ends sooner gets only its final frame: no flash of a table for a blink.
APPEAR_AFTER = 0.3


class LiveProgress(Closing):
    """A live table of the run: running, waiting, failed and recently finished steps, a bar.

    `handle` only folds the event into a `RunBoard` under a lock; Rich's refresh thread
    draws `refresh_per_second` frames a second from a bounded snapshot, so the cost of the
    view does not grow with the number of steps or the rate of events.

    While flowctl asks an approval on the terminal the view must not draw over the
    question: `paused()` (or `pause()`/`resume()`) stops the refresh and erases the table;
    events still update the board, and the table comes back, current, on resume.
    """

    def __init__(
        self,
        console: Console,
        *,
        refresh_per_second: float = 8,
        max_rows: int = DEFAULT_MAX_ROWS,
        appear_after: float = APPEAR_AFTER,
    ) -> None:
        self.console = console
        self.failures: list[StepFinished] = []  # unhandled failures, for the log tails
        self._board = RunBoard()
        self._max_rows = max_rows
        self._refresh_per_second = refresh_per_second
        unicode_ok = is_utf_encoding(console.encoding)
        self._symbols = UNICODE if unicode_ok else ASCII
        self._encoding = None if unicode_ok else console.encoding or "ascii"
        self._mark_w = max(cell_len(mark) for mark in self._symbols.status.values())
        self._live = self._new_live()
        self._live_used = False
        self._active = False  # between RunStarted and close
        self._pauses = PauseCount(self._stop_drawing, lambda: self._draw(refresh=True))
        self._appear_after = appear_after
        self._timer: threading.Timer | None = None
        self._drawing = threading.Lock()  # the timer thread may start drawing as we close

    def _new_live(self) -> Live:
        # A Live remembers the height of its last frame and erases that many lines when it
        # draws again, which after a pause would eat the question and its answer: every
        # start gets a fresh one.
        return Live(
            console=self.console,
            refresh_per_second=self._refresh_per_second,
            auto_refresh=True,
            transient=False,
            get_renderable=self.render,
        )

    def handle(self, event: RunEvent) -> None:
        with self._board.lock:
            self._board.apply(event)
        if isinstance(event, StepFinished):
            if event.status is StepStatus.FAILED and not event.handled:
                self.failures.append(event)
        elif isinstance(event, RunStarted) and not self._active:
            self._active = True
            if self._appear_after > 0:
                self._timer = threading.Timer(self._appear_after, self._appear)
                self._timer.daemon = True
                self._timer.start()
            elif not self._pauses.paused:
                self._draw(refresh=False)
        self._pauses.observe(event)
        if isinstance(event, RunFinished):
            self.close()

    # -- pausing ----------------------------------------------------------------------------

    def pause(self) -> None:
        """Stop drawing and erase the table, so that a question can use the terminal.

        Pauses nest: drawing resumes when every `pause()` has had its `resume()`.
        """
        self._pauses.pause()

    def resume(self) -> None:
        """End one `pause()`; after the last, the table is drawn again at once."""
        self._pauses.resume()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """`pause()` for the duration of a `with` block, e.g. around `ask_on_tty`."""
        self.pause()
        try:
            yield
        finally:
            self.resume()

    def _appear(self) -> None:
        """The run has lasted `appear_after`: start drawing (on the timer's thread)."""
        if not self._pauses.paused:
            self._draw(refresh=True)

    def _draw(self, *, refresh: bool) -> None:
        with self._drawing:
            if not self._active or self._live.is_started:
                return
            if self._live_used:
                self._live = self._new_live()
            self._live_used = True
            self._live.start(refresh=refresh)

    def _stop_drawing(self) -> None:
        with self._drawing:
            if self._live.is_started:
                self._live.transient = True  # erase: the question takes the table's place
                self._live.stop()

    def close(self) -> None:
        """Draw the last frame and give the terminal back; safe to call more than once."""
        if self._timer is not None:
            self._timer.cancel()
        with self._drawing:
            if self._active:
                self._active = False
                if self._live.is_started:
                    self._live.stop()
                else:
                    # Never drawn (a run shorter than appear_after), or paused to the end
                    # (stopped during a question): print the final state once.
                    self.console.print(self.render())
        self._pauses.reset()

    # -- drawing ----------------------------------------------------------------------------

    def snapshot(self) -> BoardSnapshot:
        # A frame taller than the terminal cannot be redrawn in place: leave room for the
        # header (2 lines), the circuit and rollback lines, the "… more" line and the cursor.
        with self._board.lock:
            room = self.console.height - 4 - self._board.banner_lines()
            return self._board.snapshot(max_rows=max(min(self._max_rows, room), 3))

    def render(self) -> RenderableType:
        """One frame, built from a snapshot (called by Rich's refresh thread)."""
        snap = self.snapshot()
        parts: list[RenderableType] = [self._header(snap)]
        if snap.circuits:
            parts.append(self._circuits(snap))
        if snap.rollback is not None:
            parts.extend(self._rollback(snap.rollback))
        parts.append(self._table(snap))
        more = []
        if snap.hidden_running:
            more.append(f"{snap.hidden_running} more running")
        if snap.hidden_waiting:
            more.append(f"{snap.hidden_waiting} more waiting")
        if snap.hidden_failed:
            more.append(f"{snap.hidden_failed} more failed")
        if more:
            text = f"{self._symbols.ellipsis} " + self._symbols.sep.join(more)
            parts.append(Text(text, style="dim"))
        return Group(*parts)

    def _header(self, snap: BoardSnapshot) -> RenderableType:
        title = Text()
        title.append(f"{self._symbols.run} ", style="bold")
        title.append(self._text(snap.workflow or "workflow"), style="bold")
        if snap.run_id:
            title.append(f"  {'resumed ' if snap.resumed else ''}run {self._text(snap.run_id)}")
        status = snap.run_status or snap.phase
        if status is not None:
            error = snap.run_error if snap.run_status is not None else snap.phase_reason
            title.append("  ")
            title.append(status.value, style=RUN_STYLES.get(status, ""))
            if error:
                title.append(f": {self._line_text(error)}")
        bar = Table.grid(padding=(0, 1))
        bar.add_row(
            ProgressBar(total=max(snap.total, 1), completed=snap.finished, width=30),
            Text(self._symbols.sep.join(_counts(snap))),
        )
        return Group(title, bar)

    def _circuits(self, snap: BoardSnapshot) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        for i, circuit in enumerate(snap.circuits):
            if i:
                line.append(self._symbols.sep)
            style = "bold red" if circuit.state == "open" else "yellow"
            text = self._text(words.circuit(circuit.name, circuit.state, circuit.step))
            line.append(f"{self._symbols.circuit} {text}", style=style)
        if snap.hidden_circuits:
            line.append(f"{self._symbols.sep}+{snap.hidden_circuits} more", style="dim")
        return line

    def _rollback(self, rollback: RollbackView) -> list[Text]:
        undo = self._symbols.of(StepStatus.ROLLED_BACK)
        steps = words.plural(rollback.steps, "step")
        head = Text(no_wrap=True, overflow="ellipsis")
        if rollback.finished:
            head.append(f"{undo} rollback of {steps} finished", style="magenta")
        else:
            head.append(f"{undo} rolling back {steps}", style="magenta")
            head.append(f": {self._line_text(rollback.reason)}")
        head.append(f"{self._symbols.sep}{rollback.undone} undone")
        if rollback.failed:
            failed = words.plural(rollback.failed, "action")
            head.append(f"{self._symbols.sep}{failed} failed", style="red")
        lines = [head]
        fail = self._symbols.of(StepStatus.FAILED)
        for error in rollback.errors:
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(f"  {fail} {self._line_text(error)}", style="red")
            lines.append(line)
        return lines

    def _table(self, snap: BoardSnapshot) -> RenderableType:
        # Laid out by hand rather than with rich.table.Table: a Table measures every cell
        # on every frame (~10 ms for 30 rows), which a run of fast steps would feel; fixed
        # columns of pre-cut Text cost a tenth of that.
        if not snap.rows:
            return Text("")
        steps = [self._text(r.step) for r in snap.rows]
        # One "where" column: the agent of an agent step, else a remote worker.
        agents = [self._text(r.agent or (r.worker or "").removeprefix("tcp://")) for r in snap.rows]
        step_w = min(max(cell_len(step) for step in steps), _STEP_WIDTH)
        agent_w = min(max(cell_len(agent) for agent in agents), _AGENT_WIDTH)
        lines = [
            self._line(row, step, agent, step_w, agent_w)
            for row, step, agent in zip(snap.rows, steps, agents, strict=True)
        ]
        return Group(*lines)

    def _line(self, row: RowView, step: str, agent: str, step_w: int, agent_w: int) -> Text:
        style = _HANDLED_STYLE if row.handled else STEP_STYLES.get(row.status, "")
        cut = self._symbols.ellipsis
        line = Text(no_wrap=True, overflow="ellipsis", end="\n")
        line.append(_fit(self._symbols.of(row.status), self._mark_w, cut), style=style)
        line.append(" ")
        line.append(_fit(step, step_w, cut))
        line.append("  ")
        line.append(_fit(row.status.value, _STATUS_WIDTH, cut), style=style)
        elapsed = format_duration(row.elapsed) if row.elapsed is not None else ""
        line.append(elapsed.rjust(_TIME_WIDTH))
        line.append(f" #{row.attempt}" if row.attempt else "   ", style="dim")
        if agent_w:
            line.append("  ")
            line.append(_fit(agent, agent_w, cut), style="blue")
        if row.note:
            line.append("  ")
            line.append(self._line_text(row.note), style=_note_style(row))
        return line

    def _text(self, text: str) -> str:
        """Run data (ids, names) made safe for the terminal and its encoding."""
        return encodable(safe_text(text), self._encoding)

    def _line_text(self, text: str) -> str:
        """Run data that may span lines (errors, messages) as one cut, safe line."""
        return encodable(one_line(text, limit=_NOTE_LIMIT), self._encoding)


def _counts(snap: BoardSnapshot) -> list[str]:
    """`5/8 steps · 1 running · 1 waiting · 2 cached · 1 failed · 1 handled · 3.20s`."""
    counts = [f"{snap.finished}/{snap.total} steps"]
    if snap.running:
        counts.append(f"{snap.running} running")
    if snap.waiting:
        counts.append(f"{snap.waiting} waiting")
    counts.extend(f"{snap.tags[tag]} {tag.value}" for tag in _TAG_COUNTS if snap.tags.get(tag))
    if snap.failed:
        counts.append(f"{snap.failed} failed")
    if snap.tags.get(Tag.HANDLED):
        counts.append(f"{snap.tags[Tag.HANDLED]} handled")
    counts.extend(
        f"{snap.counts[status]} {status.value.replace('_', ' ')}"
        for status in _STATUS_COUNTS
        if snap.counts.get(status)
    )
    counts.append(format_duration(snap.elapsed))
    return counts


def _note_style(row: RowView) -> str:
    if row.handled:
        return _HANDLED_STYLE
    if row.status is StepStatus.FAILED:
        return "red"
    if row.status is StepStatus.WAITING:
        return "magenta"
    return "dim"


def _fit(text: str, width: int, cut: str) -> str:
    """`text` cut (ending in `cut`) or padded to exactly `width` terminal cells."""
    if cell_len(text) > width:
        return set_cell_size(set_cell_size(text, max(width - cell_len(cut), 0)) + cut, width)
    return set_cell_size(text, width)

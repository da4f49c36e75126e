"""`flowctl runs` and `flowctl runs show RUN_ID`: past runs printed (`state.runs` reads them)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from flowctl.console import make_console, one_line, safe_text
from flowctl.errors import ExitCode, StateError
from flowctl.progress.format import ASCII, STEP_STYLES, UNICODE, format_duration, is_utf_encoding
from flowctl.runner.leftovers import reap_run
from flowctl.state.audit import read_journal
from flowctl.state.paths import list_run_dirs, safe_file_stem
from flowctl.state.runs import RunState, StepSummary, load_run, load_run_steps, resolve_run_dir
from flowctl.status import StepStatus

_STATE_STYLES = {
    RunState.RUNNING: "cyan",
    RunState.WAITING_APPROVAL: "magenta",
    RunState.COMPLETED: "green",
    RunState.FAILED: "bold red",
    RunState.CANCELLED: "yellow",
    RunState.TIMEOUT: "bold red",
    RunState.ROLLBACK: "magenta",
    RunState.INTERRUPTED: "yellow",
    RunState.UNKNOWN: "dim",
}


# --- printing ----------------------------------------------------------------------------


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


def _took(seconds: float | None) -> str:
    return format_duration(seconds) if seconds is not None else "-"


def _state_text(state: RunState) -> Text:
    return Text(state.value, style=_STATE_STYLES[state])


def list_runs(
    state_dir: Path, *, limit: int = 20, console: Console | None = None, now: float | None = None
) -> int:
    """Print the newest `limit` runs under `state_dir` as a table; exit code 0."""
    out = console if console is not None else make_console()
    dirs = list_run_dirs(state_dir)
    if not dirs:
        from flowctl.state.locate import where_looked

        looked = where_looked(state_dir)
        out.print(f"no runs in {safe_text(str(state_dir / 'runs'))}{looked}", markup=False)
        return ExitCode.OK
    moment = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    shown = dirs[: max(limit, 1)]
    table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold")
    table.add_column("run id", no_wrap=True)
    table.add_column("workflow", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("started (UTC)", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    reaped: list[str] = []
    for run_dir in shown:
        run = load_run(run_dir, now=moment)
        if run.status is RunState.INTERRUPTED:
            reaped.extend(reap_run(run_dir, run.run_id))
        table.add_row(
            Text(run.run_id),
            Text(safe_text(run.workflow or "?")),
            _state_text(run.status),
            Text(_when(run.started_at)),
            Text(_took(run.duration)),
        )
    out.print(table)
    for line in reaped:
        out.print(Text(safe_text(line), style="yellow"))
    # A kill after run_finished but before the history line loses that line: put it back.
    from flowctl.runner.resume.history_repair import repair_listed_runs

    listed = [(run_dir, run_dir.name) for run_dir in shown]
    for run_id in repair_listed_runs(listed, state_dir):
        line = f"repaired the missing history record of run {run_id}"
        out.print(Text(safe_text(line), style="yellow"))
    if len(dirs) > len(shown):
        out.print(
            Text(f"{len(shown)} of {len(dirs)} runs shown; --limit N shows more", style="dim")
        )
    return ExitCode.OK


def _labelled_steps(
    steps: list[StepSummary], run_dir: Path, only: str | None = None
) -> list[tuple[str, StepSummary]]:
    """(stable id, step) with loop iterations named by their labels (compile[lapi.c].cc),
    read from the journal; with `only` (a step id, loop iterations by label or index), that
    step and the steps inside it. StateError (exit 2) when the run has no such step."""
    from msgspec.structs import replace

    from flowctl.runner.looplabels import journal_labels, labelled, unlabelled

    labels = journal_labels(run_dir / "audit.jsonl")
    if only is not None:
        stable = unlabelled(only, labels)
        inside = (f"{stable}[", f"{stable}.")
        chosen = [s for s in steps if s.id == stable or s.id.startswith(inside)]
        if not chosen:
            raise StateError(_no_step(only, [labelled(s.id, labels) for s in steps]))
        steps = chosen
    if not labels:
        return [(step.id, step) for step in steps]
    return [(step.id, replace(step, id=labelled(step.id, labels))) for step in steps]


def _print_log_tails(out: Console, run_dir: Path, steps: list[tuple[str, StepSummary]]) -> None:
    """The end of each chosen step's log, under its name (logs hold no raw secret: the
    run masked them before writing)."""
    from flowctl.progress.tails import TAIL_LINES, read_log_tail

    for stable, step in steps:
        tail = read_log_tail(run_dir / "logs" / f"{safe_file_stem(stable)}.log")
        if not tail:
            continue
        out.print(
            Text(f"log of {safe_text(step.id)} (last {TAIL_LINES} lines at most):", style="bold"),
            soft_wrap=True,
        )
        for line in tail.splitlines():
            out.print(Text("  " + safe_text(line)), soft_wrap=True)


def _no_step(step: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(step, known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"the run has no step {safe_text(step)!r}{hint}"


def show_run(
    state_dir: Path, run_id: str, *, console: Console | None = None, only: str | None = None
) -> int:
    """Print one run step by step (with `only`, that step and the steps inside it);
    StateError (exit 2) for an unknown or ambiguous run id or an unknown step."""
    out = console if console is not None else make_console()
    run_dir = resolve_run_dir(state_dir, run_id)
    run, found = load_run_steps(run_dir)
    chosen = _labelled_steps(found, run_dir, only)
    steps = [step for _, step in chosen]
    live = run.status is RunState.RUNNING
    error = one_line(run.error, limit=500) if run.error else None
    fields: list[tuple[str, Text | None]] = [
        ("run", Text(run.run_id)),
        ("workflow", Text(safe_text(run.workflow or "?"))),
        ("status", _state_text(run.status)),
        ("started", Text(_when(run.started_at))),
        ("duration", Text(_took(run.duration) + (" so far" if live else ""))),
        ("error", Text(error) if error else None),
        ("files", Text(safe_text(str(run_dir)))),
    ]
    for label, value in fields:
        if value is not None:
            # Not a grid: a grid would cut a long path to the console's width.
            out.print(Text(f"{label:<10}", style="bold") + value, soft_wrap=True)
    _print_sessions(out, run_dir)
    for warning in run.warnings:
        out.print(Text(f"warning: {safe_text(warning)}", style="yellow"), soft_wrap=True)
    if not steps:
        out.print(Text("no step has started", style="dim"))
        return ExitCode.OK
    symbols = UNICODE if is_utf_encoding(out.encoding) else ASCII
    table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold")
    table.add_column("", no_wrap=True)
    longest = max(len(step.id) for step in steps)
    table.add_column("step", overflow="fold", min_width=min(longest, 32))
    table.add_column("status", no_wrap=True)
    table.add_column("attempts", justify="right", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("error / note", overflow="fold")
    for step in steps:
        status = step.status.value
        style = STEP_STYLES.get(step.status, "")
        if not step.status.finished and not live and step.status is not StepStatus.WAITING:
            status, style = "interrupted", "yellow"  # it was in flight when the run died
        detail = step.error or step.note or ""
        where = step.agent or step.worker
        if where:
            detail = f"on {where}" + (f": {detail}" if detail else "")
        table.add_row(
            Text(symbols.of(step.status) if status != "interrupted" else "!", style=style),
            Text(safe_text(step.id)),
            Text(status, style=style),
            Text(str(step.attempts) if step.attempts else "-"),
            Text(_took(step.duration)),
            Text(one_line(detail, limit=500), style="red" if step.error else "dim"),
        )
    out.print(table)
    if only is not None:
        _print_log_tails(out, run_dir, chosen)
    return ExitCode.OK


def _print_sessions(out: Console, run_dir: Path) -> None:
    """A resumed run's history: every session and decision, and the span from the first
    start (the fields above describe the last session only)."""
    from flowctl.state.sessions import run_history, total_span

    try:
        events = read_journal(run_dir / "audit.jsonl").events
    except StateError:
        return
    moments = run_history(events)
    if len(moments) < 2:
        return
    for n, moment in enumerate(moments):
        when = _clock(moment.start)
        text = f"{when} {safe_text(moment.what)}"
        if moment.status is not None:
            took = (
                f" after {_took(moment.end - moment.start)}"
                if moment.end is not None and moment.start is not None
                else ""
            )
            text += f", {moment.status.replace('_', ' ')}{took}"
        label = "sessions" if n == 0 else ""
        out.print(Text(f"{label:<10}", style="bold") + Text(text), soft_wrap=True)
    span = total_span(moments)
    if span is not None:
        first, last = span
        out.print(
            Text(f"{'span':<10}", style="bold")
            + Text(
                f"{_clock(first)} to {_clock(last)}: {_took(last - first)} from the first start"
            ),
            soft_wrap=True,
        )


def _clock(ts: float | None) -> str:
    return _when(datetime.fromtimestamp(ts, UTC)) if ts is not None else "-"

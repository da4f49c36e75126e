"""`flowctl optimize HISTORY`: analyse, render in the chosen format, write or print."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import TextIO

from flowctl.commands.optimize_view import render_rich
from flowctl.errors import ExitCode, UsageError
from flowctl.optimize.analyze import analyze_history
from flowctl.optimize.render import render_json, render_markdown, safe
from flowctl.optimize.report import OptimizationReport

FORMATS = ("table", "json", "markdown")
# Malformed lines are listed one by one up to this many; the rest are counted.
MAX_WARNINGS = 20
FILE_WIDTH = 120


def run_optimize(
    history: Path,
    *,
    workflow: str | None,
    top: int,
    fmt: str,
    output: Path | None,
    spec_path: Path | None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the command; returns the exit code.

    User errors raise FlowctlError (HistoryError, SpecError, UsageError: exit 2), which the
    CLI reports as one line. Malformed history lines are warned about on stderr as
    `<file>:<line>: <message>`.
    """
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if top < 0:
        raise UsageError(f"--top must be 0 or more, not {top}")
    spec = None
    if spec_path is not None:
        from flowctl.spec.load import load_workflow

        spec = load_workflow(spec_path)
    report = analyze_history(history, workflow=workflow, spec=spec, top=top)
    bad = [issue for issue in report.issues if not issue.torn]
    for issue in bad[:MAX_WARNINGS]:
        err.write(f"{safe(str(history))}:{issue.line}: {safe(issue.message)}\n")
    if len(bad) > MAX_WARNINGS:
        err.write(f"{safe(str(history))}: ... and {len(bad) - MAX_WARNINGS} more malformed lines\n")
    if fmt == "json":
        text = render_json(report)
    elif fmt == "markdown":
        text = render_markdown(report)
    elif output is not None:
        text = _rich_text(report)
    else:
        from rich.console import Console

        console = Console(file=out, highlight=False)
        if not console.is_terminal:
            # Piped or captured: no terminal width to follow, so use a width that fits.
            console = Console(file=out, highlight=False, width=FILE_WIDTH)
        render_rich(report, console)
        return ExitCode.OK
    if output is None:
        out.write(text)
        out.flush()
        return ExitCode.OK
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    return ExitCode.OK


def _rich_text(report: OptimizationReport) -> str:
    """The table view as plain text (no colour, a fixed width) for a file."""
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(
        file=buffer, width=FILE_WIDTH, no_color=True, color_system=None, highlight=False
    )
    render_rich(report, console)
    return buffer.getvalue()

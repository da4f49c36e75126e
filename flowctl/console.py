"""The shared Rich console factory and the one place that prints FlowctlError problems."""

from __future__ import annotations

import os
from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from flowctl.errors import FlowctlError, Problem, Severity
from flowctl.textout import NON_TERMINAL_WIDTH, one_line, safe_text

__all__ = [
    "NON_TERMINAL_WIDTH",
    "RichOut",
    "format_problem",
    "make_console",
    "one_line",
    "print_problems",
    "report_error",
    "safe_text",
]


def make_console(*, stderr: bool = False) -> Console:
    """A console for stdout (or stderr) that behaves on terminals, in pipes and in CI.

    Rich itself drops colour and control codes when the stream is not a terminal and
    honours NO_COLOR, FORCE_COLOR and TTY_COMPATIBLE; this adds a fixed width of 100
    columns off a terminal (unless COLUMNS says otherwise), so CI logs wrap the same
    everywhere instead of at Rich's default of 80.
    """
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = NON_TERMINAL_WIDTH
    return console


class RichOut:
    """A Rich console as a `flowctl.textout.TextOut`: safe, unwrapped lines in their
    styles, and rules."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def say(self, text: str, style: str = "") -> None:
        self.console.print(Text(safe_text(text), style=style), soft_wrap=True)

    def rule(self, title: str, style: str = "") -> None:
        self.console.rule(Text(safe_text(title)), style=style, align="left")


def format_problem(problem: Problem) -> Text:
    """One problem as one line: `file:line:col: error: message (at path)`."""
    text = Text()
    if problem.location is not None:
        text.append(safe_text(str(problem.location)), style="bold")
        text.append(": ")
    if problem.severity is Severity.WARNING:
        text.append("warning", style="bold yellow")
    else:
        text.append("error", style="bold red")
    text.append(": ")
    text.append(safe_text(problem.message))
    if problem.path:
        text.append(f" (at {safe_text(problem.path)})", style="dim")
    return text


def print_problems(problems: Sequence[Problem], *, console: Console | None = None) -> None:
    """Print each problem on its own line (stderr unless a console is given).

    Messages never pass through Rich markup, so a `[red]` in a user's file stays literal,
    and lines are not wrapped, so each problem stays on one line for grep and editors.
    """
    out = console if console is not None else make_console(stderr=True)
    for problem in problems:
        out.print(format_problem(problem), soft_wrap=True, highlight=False)


def report_error(err: FlowctlError, *, console: Console | None = None) -> int:
    """Print a FlowctlError the way every command does and return its exit code."""
    print_problems(err.problems, console=console)
    return int(err.exit_code)

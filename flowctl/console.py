"""The shared Rich console factory and the one place that prints FlowctlError problems.

Rich is imported where a console is made or used, not with this module: a command's
error off a terminal is printed through a `textout.PlainOut`, without Rich.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from flowctl.errors import FlowctlError, Problem, Severity
from flowctl.textout import (
    NON_TERMINAL_WIDTH,
    Output,
    make_output,
    one_line,
    safe_text,
    text_out,
)

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "NON_TERMINAL_WIDTH",
    "RichOut",
    "make_console",
    "one_line",
    "print_problems",
    "problem_parts",
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
    from rich.console import Console

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
        from rich.text import Text

        self.console.print(Text(safe_text(text), style=style), soft_wrap=True)

    def say_parts(self, parts: Sequence[tuple[str, str]]) -> None:
        from rich.text import Text

        line = Text.assemble(*((safe_text(text), style) for text, style in parts))
        self.console.print(line, soft_wrap=True)

    def rule(self, title: str, style: str = "") -> None:
        from rich.text import Text

        self.console.rule(Text(safe_text(title)), style=style, align="left")


def problem_parts(problem: Problem) -> list[tuple[str, str]]:
    """One problem as one line of (text, style) parts: `file:line:col: error: message (at
    path)`."""
    parts = []
    if problem.location is not None:
        parts += [(str(problem.location), "bold"), (": ", "")]
    if problem.severity is Severity.WARNING:
        parts.append(("warning", "bold yellow"))
    else:
        parts.append(("error", "bold red"))
    parts += [(": ", ""), (problem.message, "")]
    if problem.path:
        parts.append((f" (at {problem.path})", "dim"))
    return parts


def print_problems(problems: Sequence[Problem], *, console: Output | None = None) -> None:
    """Print each problem on its own line (stderr unless a console is given).

    Messages never pass through Rich markup, so a `[red]` in a user's file stays literal,
    and lines are not wrapped, so each problem stays on one line for grep and editors.
    """
    out = text_out(console if console is not None else make_output(stderr=True))
    for problem in problems:
        out.say_parts(problem_parts(problem))


def report_error(err: FlowctlError, *, console: Output | None = None) -> int:
    """Print a FlowctlError the way every command does and return its exit code."""
    print_problems(err.problems, console=console)
    return int(err.exit_code)

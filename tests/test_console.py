"""The console factory and the one way FlowctlError problems reach a user."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from typing import cast

import pytest
from rich.console import Console

from flowctl.console import one_line, print_problems, report_error, safe_text
from flowctl.errors import (
    ExitCode,
    InputError,
    Location,
    Problem,
    Severity,
    SpecError,
    StateError,
)


def _capture() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=False, width=40), buf


def test_problem_lines_have_location_severity_message_and_path() -> None:
    console, buf = _capture()
    print_problems(
        [
            Problem("unknown dependency 'b'", Location("wf.yaml", 12, 7), path="steps[1]"),
            Problem("output never used", Location("wf.yaml", 3, 1), severity=Severity.WARNING),
            Problem("no location here"),
        ],
        console=console,
    )
    assert buf.getvalue().splitlines() == [
        "wf.yaml:12:7: error: unknown dependency 'b' (at steps[1])",
        "wf.yaml:3:1: warning: output never used",
        "error: no location here",
    ]


def test_a_long_problem_stays_on_one_line_even_in_a_narrow_console() -> None:
    console, buf = _capture()
    message = "x" * 200
    print_problems([Problem(message, Location("a.yaml", 1, 1))], console=console)
    assert buf.getvalue() == f"a.yaml:1:1: error: {message}\n"


def test_markup_and_terminal_escapes_in_messages_are_shown_literally() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    print_problems([Problem("bad [red]value[/red] \x1b]0;pwned\x07")], console=console)
    out = cast(io.StringIO, console.file).getvalue()
    assert "[red]value[/red]" in out
    assert "\x1b]0;" not in out
    assert "\\x1b]0;pwned\\x07" in out


def test_report_error_prints_every_problem_and_returns_the_exit_code() -> None:
    console, buf = _capture()
    err = SpecError(
        [
            Problem("first", Location("w.yaml", 1, 2)),
            Problem("second", Location("w.yaml", 3, 4), path="steps[0].id"),
        ]
    )
    assert report_error(err, console=console) == ExitCode.USAGE
    assert buf.getvalue().splitlines() == [
        "w.yaml:1:2: error: first",
        "w.yaml:3:4: error: second (at steps[0].id)",
    ]


@pytest.mark.parametrize(
    ("err", "code"),
    [
        (InputError("missing input 'document'"), 2),
        (StateError("no run 'x'"), 2),
    ],
)
def test_report_error_exit_codes(err: InputError | StateError, code: int) -> None:
    console, buf = _capture()
    assert report_error(err, console=console) == code
    assert buf.getvalue() == f"error: {err.message}\n"


def test_report_error_defaults_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    report_error(StateError("nothing here"))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "error: nothing here\n"


def test_safe_text_and_one_line() -> None:
    assert safe_text("a\tb\nc\x1b[2J\x9b") == "a\tb\nc\\x1b[2J\\x9b"
    assert one_line("  first\n\n second \n") == "first | second"
    assert one_line("y" * 50, limit=10) == "y" * 9 + "…"


def _child(code: str, env: dict[str, str]) -> str:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"COLUMNS", "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE"}
    }
    clean.update(env)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=clean, check=True
    )
    return done.stdout


_DESCRIBE = (
    "from flowctl.console import make_console\n"
    "c = make_console()\n"
    "print(c.width, c.is_terminal, c.color_system)\n"
)
_RED = "from flowctl.console import make_console\nmake_console().print('[red]x[/red]')\n"


def test_off_a_terminal_the_console_is_100_wide_without_colour() -> None:
    assert _child(_DESCRIBE, {}).split() == ["100", "False", "None"]
    assert _child(_RED, {}) == "x\n"


def test_columns_overrides_the_default_width() -> None:
    assert _child(_DESCRIBE, {"COLUMNS": "132"}).split()[0] == "132"


def test_forced_colour_is_coloured_unless_no_color_is_set() -> None:
    assert "\x1b[31m" in _child(_RED, {"FORCE_COLOR": "1"})
    assert "\x1b[" not in _child(_RED, {"FORCE_COLOR": "1", "NO_COLOR": "1"})

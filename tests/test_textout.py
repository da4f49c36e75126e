"""PlainOut writes off a terminal what a Rich console writes there, without loading Rich."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from flowctl.console import RichOut, print_problems
from flowctl.errors import Location, Problem, Severity
from flowctl.progress import print_failure_tails
from flowctl.runner.events import StepFinished
from flowctl.status import StepStatus
from flowctl.textout import (
    PlainOut,
    TextOut,
    line_printer,
    make_output,
    plain_width,
    rich_terminal,
    rule_line,
    text_out,
)

LINES = [
    "plain words",
    "a\tb",
    "ab\tc\td",
    "日本\tx",
    "trailing spaces   ",
    "x" * 150,  # longer than the console: never wrapped
    "two\nlines\tx",
    "",
    "  leading",
    "e\u0301\tz",  # a combining accent takes no column
    "\u200bzero\tq",
    "[bold]not markup[/bold] :smile:",
    "\x1b[31mred\x1b[0m \x07bell",  # control characters shown as escapes
    "\u2026 and the logs",
]
TITLES = [
    "short",
    "tab\there",
    "a very long title that cannot fit in a narrow console at all",
    "日本語のタイトルがとても長いです",
    "two\nlines",
    "\x1b]0;title\x07",
]


def both(width: int) -> tuple[RichOut, Console, PlainOut, io.StringIO]:
    rich = Console(file=io.StringIO(), width=width, force_terminal=False, highlight=False)
    buffer = io.StringIO()
    return RichOut(rich), rich, PlainOut(buffer, width=width), buffer


def written(console: Console) -> str:
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


@pytest.mark.parametrize("text", LINES)
def test_a_line_is_what_rich_prints_off_a_terminal(text: str) -> None:
    styled, rich, plain, buffer = both(100)
    styled.say(text, "bold red")
    plain.say(text, "bold red")
    assert buffer.getvalue() == written(rich)


@pytest.mark.parametrize("width", [0, 1, 2, 3, 10, 20, 100])
@pytest.mark.parametrize("title", TITLES)
def test_a_rule_is_what_rich_draws_off_a_terminal(title: str, width: int) -> None:
    styled, rich, plain, buffer = both(width)
    styled.rule(title, "red")
    plain.rule(title, "red")
    assert buffer.getvalue() == written(rich)


def test_an_ascii_stream_gets_ascii_rules_and_replaced_characters() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    out = PlainOut(stream, width=12)
    out.rule("ok")
    out.say("✗ failed … 日本")
    stream.flush()
    assert raw.getvalue().decode("ascii") == "ok ---------\n? failed ... ??\n"
    assert rule_line("ok", 12) == "ok " + "─" * 9


def test_failure_tails_are_the_same_through_either_console(tmp_path: Path) -> None:
    log = tmp_path / "compile.log"
    log.write_text("gcc -c x.c\n\tx.c:1: error: \x1b[1mno\x1b[0m\n", encoding="utf-8")
    event = StepFinished(
        step="compile",
        step_type="action",
        status=StepStatus.FAILED,
        attempts=1,
        duration=0.1,
        ts=0.0,
        error="boom",
        log_path=str(log),
    )
    _, rich, plain, buffer = both(100)
    assert print_failure_tails([event], rich) == print_failure_tails([event], plain) == 1
    assert buffer.getvalue() == written(rich)
    assert buffer.getvalue().splitlines()[2] == "        x.c:1: error: \\x1b[1mno\\x1b[0m"


def test_text_out_wraps_a_rich_console_and_keeps_a_plain_one() -> None:
    plain = PlainOut(io.StringIO())
    assert text_out(plain) is plain
    rich = Console(file=io.StringIO())
    wrapped: TextOut = text_out(rich)
    assert isinstance(wrapped, RichOut) and wrapped.console is rich


@pytest.mark.parametrize(
    ("env", "tty", "expected"),
    [
        ({}, False, False),
        ({}, True, True),
        ({"FORCE_COLOR": "1"}, False, True),
        ({"FORCE_COLOR": ""}, True, False),  # set but empty: Rich says no terminal
        ({"TTY_COMPATIBLE": "1"}, False, True),
        ({"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"}, True, False),
        ({"TTY_INTERACTIVE": "1"}, False, True),  # Rich would draw the live view
    ],
)
def test_rich_is_chosen_where_rich_would_see_a_terminal(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], tty: bool, expected: bool
) -> None:
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    assert rich_terminal(Stream()) is expected
    rich = Console(file=Stream())
    assert (rich.is_terminal or rich.is_interactive) is expected


def test_width_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert plain_width() == 100
    monkeypatch.setenv("COLUMNS", "132")
    assert plain_width() == 132


def test_the_console_of_a_pipe_is_plain_and_reads_the_stream_at_each_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    out = make_output(stderr=True)
    assert isinstance(out, PlainOut)
    out.say("to stderr")
    line_printer()("to stdout", "bold")
    assert capsys.readouterr() == ("to stdout\n", "to stderr\n")


def test_writing_plain_lines_loads_no_rich() -> None:
    code = (
        "import sys\n"
        "from flowctl.textout import make_output, text_out\n"
        "out = text_out(make_output())\n"
        "out.say('a\\tline'); out.rule('title')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env.pop("TTY_INTERACTIVE", None)
    env.pop("COLUMNS", None)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.splitlines() == ["a       line", "title " + "─" * 94, "[]"]


def test_problems_are_the_same_through_either_console() -> None:
    problems = [
        Problem("unknown dependency 'b'\tnow", Location("wf.yaml", 12, 7), path="steps[1]"),
        Problem("output never used", Location("wf.yaml", 3, 1), severity=Severity.WARNING),
        Problem("bad [red]value[/red] \x1b]0;pwned\x07 " + "y" * 120),
    ]
    _, rich, plain, buffer = both(40)
    print_problems(problems, console=rich)
    print_problems(problems, console=plain)
    assert buffer.getvalue() == written(rich)
    assert buffer.getvalue().splitlines()[1] == "wf.yaml:3:1: warning: output never used"


@pytest.mark.parametrize(("command", "exit_code"), [("true", 0), ("exit 4", 1)])
def test_a_reader_that_went_away_leaves_the_run_its_own_exit_code(
    tmp_path: Path, command: str, exit_code: int
) -> None:
    # `flowctl run … | head -1`, made certain: the pipe's reading end is closed before the
    # run writes its first line.
    (tmp_path / "wf.yaml").write_text(f"name: wf\nsteps:\n  - id: a\n    run: '{command}'\n")
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env.pop("TTY_INTERACTIVE", None)
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "flowctl", "run", "wf.yaml", "--state-dir", "state"],
            cwd=tmp_path,
            env=env,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write)
    assert done.returncode == exit_code
    assert done.stderr == ""  # no traceback, no "Exception ignored" at exit

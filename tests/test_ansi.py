"""Step output on a console: colour kept or stripped, every other control sequence removed."""

from __future__ import annotations

import pytest

from flowctl.progress.ansi import clean_output, colour_allowed

RED = "\x1b[91m"
RESET = "\x1b[0m"


def test_colour_passes_through_when_allowed_and_is_stripped_otherwise() -> None:
    text = f"{RED}ERROR{RESET} bad\n"
    assert clean_output(text, keep_sgr=True) == text
    assert clean_output(text, keep_sgr=False) == "ERROR bad\n"


def test_a_colour_left_on_is_reset_at_the_end_of_the_block() -> None:
    assert clean_output(f"{RED}still red", keep_sgr=True) == f"{RED}still red{RESET}"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a\x1b[2Jb", "ab"),  # clear screen
        ("a\x1b[10;5Hb", "ab"),  # cursor move
        ("a\x1b]0;owned title\x07b", "ab"),  # window title (OSC, BEL)
        ("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),  # hyperlink (OSC, ST)
        ("a\x1bcb", "ab"),  # reset terminal
        ("a\x07\x08\x00b", "ab"),  # bell, backspace, NUL
        ("50%\r100%\n", "100%\n"),  # a progress bar keeps its last state
        ("dos\r\nline\r\n", "dos\nline\n"),
        ("tab\tkept\n", "tab\tkept\n"),
        ("a\x9bb", "ab"),  # C1 CSI
    ],
)
def test_other_control_sequences_are_removed(raw: str, clean: str) -> None:
    assert clean_output(raw, keep_sgr=True) == clean
    assert clean_output(raw, keep_sgr=False) == clean


def test_a_fake_colour_with_cursor_parameters_is_not_sgr() -> None:
    assert clean_output("a\x1b[?25mb", keep_sgr=True) == "ab"


def test_colour_allowed_follows_no_color_force_color_and_the_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert colour_allowed(True) and not colour_allowed(False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert colour_allowed(False)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not colour_allowed(True)

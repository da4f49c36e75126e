"""Lines of text for a console, safe from control characters, styled only where it shows.

Rich costs a command tens of milliseconds to import. Off a terminal it prints no styles
anyway, so a command that only prints lines (`run --dry-run`) writes them directly there
and loads Rich only for a terminal, or when FORCE_COLOR or TTY_COMPATIBLE ask for styles.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Protocol, TextIO

# C0 and C1 control characters other than tab and newline: a step's stderr or a hostile
# file name could otherwise move the cursor, recolour or retitle the user's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class LinePrinter(Protocol):
    def __call__(self, text: str, style: str = "") -> None: ...


def safe_text(text: str) -> str:
    """`text` with every terminal control character shown as an escape such as `\\x1b`."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def line_printer(stream: TextIO | None = None) -> LinePrinter:
    """`say(text, style)`: one safe, unwrapped line on `stream` (stdout by default), in a
    Rich style where styles are shown."""
    out = stream if stream is not None else sys.stdout
    if not _styles_shown(out):

        def plain(text: str, style: str = "") -> None:
            out.write(safe_text(text) + "\n")

        return plain
    from rich.text import Text

    from flowctl.console import make_console

    console = make_console(stderr=out is sys.stderr)

    def styled(text: str, style: str = "") -> None:
        console.print(Text(safe_text(text), style=style), soft_wrap=True)

    return styled


def _styles_shown(stream: TextIO) -> bool:
    if os.environ.get("FORCE_COLOR") or "TTY_COMPATIBLE" in os.environ:
        return True  # Rich decides, as it does for every other command
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False

"""Lines of text for a console, safe from control characters, styled only where it shows.

Rich costs a command tens of milliseconds to import. Off a terminal it prints no styles
anyway, so there a command writes its lines through `PlainOut`, which writes what a Rich
console would (same lines, tabs and rules), and Rich is loaded only for a terminal, or
when FORCE_COLOR, TTY_COMPATIBLE or TTY_INTERACTIVE ask Rich to treat a stream as one.
"""

from __future__ import annotations

import codecs
import os
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, TextIO, TypeAlias

if TYPE_CHECKING:
    from rich.console import Console

# C0 and C1 control characters other than tab and newline: a step's stderr or a hostile
# file name could otherwise move the cursor, recolour or retitle the user's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
NON_TERMINAL_WIDTH = 100  # columns of a console off a terminal, unless COLUMNS says otherwise
_TAB_SIZE = 8  # Rich's, for a Text printed without a tab size of its own


class LinePrinter(Protocol):
    def __call__(self, text: str, style: str = "") -> None: ...


class TextOut(Protocol):
    """Where a view prints its lines: each one safe and unwrapped, in a style where styles
    show (`PlainOut` off a terminal, `flowctl.console.RichOut` on one)."""

    def say(self, text: str, style: str = "") -> None: ...

    def say_parts(self, parts: Sequence[tuple[str, str]]) -> None:
        """One line of (text, style) parts."""
        ...

    def rule(self, title: str, style: str = "") -> None:
        """`title ───…`: the title, then a line to the console's width."""
        ...


# A run's console: a Rich Console on a terminal, a PlainOut elsewhere (see `make_output`).
Output: TypeAlias = "Console | PlainOut"


def safe_text(text: str) -> str:
    """`text` with every terminal control character shown as an escape such as `\\x1b`."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def one_line(text: str, *, limit: int = 300) -> str:
    """`text` as a single safe line: lines joined with " | ", cut at `limit` characters."""
    joined = " | ".join(part.strip() for part in text.splitlines() if part.strip())
    from flowctl.secrets import clip

    return clip(safe_text(joined), limit, marker="…")


def is_utf_encoding(encoding: str | None) -> bool:
    """True when text in `encoding` can hold any character (None: a str-only stream)."""
    if encoding is None:
        return True
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    return name.startswith(("utf-8", "utf-16", "utf-32"))


def encodable(text: str, encoding: str | None) -> str:
    """`text` as `encoding` can hold it: `…` spelled `...`, other characters as `?`.

    Unchanged for a UTF encoding (None included). Step names, errors and messages come
    from the run; on a terminal that is not UTF-8 one of their characters must not stop
    the view (Rich would raise UnicodeEncodeError while drawing).
    """
    if encoding is None:
        return text
    return text.replace("…", "...").encode(encoding, "replace").decode(encoding)


def rich_terminal(stream: TextIO) -> bool:
    """Whether Rich would treat `stream` as a terminal (styles, a live view).

    Rich's own rules (`Console.is_terminal`): TTY_COMPATIBLE=1 or 0 decides, then a set
    FORCE_COLOR (non-empty: yes), then isatty; TTY_INTERACTIVE=1 asks Rich for the live
    view even on a pipe.
    """
    env = os.environ
    if env.get("TTY_INTERACTIVE") == "1":
        return True
    compatible = env.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force = env.get("FORCE_COLOR")
    if force is not None:
        return force != ""
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def plain_width() -> int:
    """The width of a console off a terminal: COLUMNS, else 100 (as `make_console` sets
    it); a COLUMNS that is not a number leaves Rich asking a terminal, else 80."""
    columns = os.environ.get("COLUMNS")
    if columns is None:
        return NON_TERMINAL_WIDTH
    if columns.isdigit():
        return int(columns)
    for fd in (0, 1, 2):
        try:
            return os.get_terminal_size(fd).columns or 80
        except (OSError, ValueError):
            continue
    return 80


class PlainOut:
    """A console off a terminal, without Rich: it writes what a Rich console writes there.

    Lines are not wrapped (Rich's `soft_wrap`), a tab moves to the next multiple of 8
    columns, a rule is the title, a space and `─` up to the width, as `Console.rule(...,
    align="left")` draws it, and styles are dropped: off a terminal Rich shows none. The
    stream is looked up at each write, as Rich does (tests and CliRunner swap sys.stdout).
    Text the stream's encoding cannot hold is replaced, where Rich would raise.
    """

    is_terminal = False
    is_interactive = False

    def __init__(
        self, file: TextIO | None = None, *, stderr: bool = False, width: int | None = None
    ) -> None:
        self._file = file
        self.stderr = stderr
        self.width = plain_width() if width is None else width
        self._closed = False  # the reader went away: nothing more is written

    @property
    def file(self) -> TextIO:
        if self._file is not None:
            return self._file
        return sys.stderr if self.stderr else sys.stdout

    def say(self, text: str, style: str = "") -> None:
        self._write(expand_tabs(safe_text(text)))

    def say_parts(self, parts: Sequence[tuple[str, str]]) -> None:
        self.say("".join(text for text, _ in parts))

    def rule(self, title: str, style: str = "") -> None:
        if self.width <= 0:
            return  # Rich draws nothing, not even an empty line, in no columns
        utf = is_utf_encoding(getattr(self.file, "encoding", None))
        self._write(rule_line(safe_text(title), self.width, "─" if utf else "-"))

    def _write(self, text: str) -> None:
        if self._closed:
            return
        out = self.file
        encoding = getattr(out, "encoding", None)
        try:
            out.write(encodable(text + "\n", None if is_utf_encoding(encoding) else encoding))
            out.flush()
        except BrokenPipeError:
            # `flowctl run … | head`: the reader is gone. The run keeps its own exit code
            # (the progress lines say the same), and the stream's descriptor now points at
            # /dev/null, so the interpreter's last flush of what is buffered cannot fail.
            self._closed = True
            _to_devnull(out)


def _to_devnull(stream: TextIO) -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # a stream without a descriptor has nothing to flush at exit


def make_output(*, stderr: bool = False) -> Output:
    """The console for stdout (or stderr): Rich's where it is a terminal, else a PlainOut."""
    if rich_terminal(sys.stderr if stderr else sys.stdout):
        from flowctl.console import make_console

        return make_console(stderr=stderr)
    return PlainOut(stderr=stderr)


def text_out(out: Output) -> TextOut:
    """`out` as a TextOut (a Rich console wrapped, a PlainOut as it is)."""
    if isinstance(out, PlainOut):
        return out
    from flowctl.console import RichOut

    return RichOut(out)


def line_printer(stream: TextIO | None = None) -> LinePrinter:
    """`say(text, style)`: one safe, unwrapped line on `stream` (stdout by default), in a
    Rich style where styles are shown."""
    out = stream if stream is not None else sys.stdout
    if not rich_terminal(out):
        return PlainOut(out).say
    from flowctl.console import RichOut, make_console

    return RichOut(make_console(stderr=out is sys.stderr)).say


# -- what Rich does to a line off a terminal, for PlainOut ---------------------------------------


def cell_width(text: str) -> int:
    """Columns `text` takes on a terminal: 2 for wide East Asian characters, 0 for
    combining and format characters, 1 for the rest (Rich's tables, approximately)."""
    if text.isascii():
        return len(text)
    import unicodedata  # only for text beyond ASCII

    width = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def expand_tabs(text: str) -> str:
    """Each tab as spaces up to the next multiple of 8 columns, line by line."""
    if "\t" not in text:
        return text
    lines = []
    for line in text.split("\n"):
        column = 0
        parts = line.split("\t")
        out = []
        for part in parts[:-1]:
            column += cell_width(part) + 1  # the tab itself is one space at least
            spaces = (_TAB_SIZE - column % _TAB_SIZE) % _TAB_SIZE
            column += spaces
            out.append(part + " " * (1 + spaces))
        out.append(parts[-1])
        lines.append("".join(out))
    return "\n".join(lines)


def fit_cells(text: str, width: int) -> str:
    """`text` cut or padded with spaces to exactly `width` columns (a wide character that
    would straddle the edge becomes a space)."""
    if width <= 0:
        return ""
    size = cell_width(text)
    if size <= width:
        return text + " " * (width - size)
    out, used = [], 0
    for char in text:
        w = cell_width(char)
        if used + w > width:
            break
        out.append(char)
        used += w
    return "".join(out) + " " * (width - used)


def rule_line(title: str, width: int, character: str = "─") -> str:
    """`title ────`: `width` columns, the title cut with `…` when it leaves no room."""
    title = expand_tabs(title.replace("\n", " "))
    room = max(0, width - 2)  # a space and one rule character at least
    if not room:
        return character * width
    if cell_width(title) > room:
        title = fit_cells(title, room - 1) + "…"
    head = f"{title} "
    return fit_cells(head + character * (width - cell_width(head)), width)

"""Step output made safe for a console: colour (SGR) kept or stripped, every other control gone."""

from __future__ import annotations

import os
import re

# ESC [ params final: a CSI sequence; `m` as the final byte is SGR (colour, bold, reset).
_CSI = re.compile(r"\x1b\[([0-9;:?<=>]*)[ -/]*([@-~])")
# OSC (title, hyperlink) up to BEL or ST, and the other ESC sequences (charset, keypad...).
_OSC = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
_ESC_OTHER = re.compile(r"\x1b[ -/]+[0-~]|\x1b[0-~]|\x1b")
# C0 and C1 controls other than tab and newline (carriage returns are handled first).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SGR_PLACEHOLDER = "\x00"


def clean_output(text: str, *, keep_sgr: bool) -> str:
    """`text` as a step printed it, fit for a console or a CI log.

    SGR sequences (`ESC[…m`: colour, bold, reset) pass through when `keep_sgr`, else
    they are stripped; every other escape sequence (cursor moves, screen clears, titles,
    hyperlinks) and control character is removed, so a step cannot redraw or retitle the
    terminal. A carriage return inside a line (a tool's progress bar) keeps what the
    terminal would have shown last: the text after it.
    """
    text = text.replace(_SGR_PLACEHOLDER, "").replace("\r\n", "\n")
    if "\r" in text:
        text = "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))
    kept: list[str] = []

    def csi(match: re.Match[str]) -> str:
        if keep_sgr and match.group(2) == "m" and _is_sgr_params(match.group(1)):
            kept.append(match.group(0))
            return _SGR_PLACEHOLDER
        return ""

    text = _OSC.sub("", text)
    text = _CSI.sub(csi, text)
    text = _ESC_OTHER.sub("", text)
    pieces = text.split(_SGR_PLACEHOLDER)
    pieces = [_CONTROL.sub("", piece) for piece in pieces]
    out = pieces[0]
    for sgr, piece in zip(kept, pieces[1:], strict=True):
        out += sgr + piece
    if kept and kept[-1] not in ("\x1b[0m", "\x1b[m"):
        out += "\x1b[0m"  # a colour left on must not leak into flowctl's own lines
    return out


def _is_sgr_params(params: str) -> bool:
    return all(c.isdigit() or c in ";:" for c in params)


def colour_allowed(is_terminal: bool) -> bool:
    """Colour from steps passes through on a terminal or with FORCE_COLOR, never with
    NO_COLOR (https://no-color.org, https://force-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return is_terminal

"""Each finished step's output as one block under a header: `--show-output failed|all|none`.

A block is written when its step has finished, from the step's log (already masked), so
the output of steps running together never interleaves. In GitHub Actions a block is a
`::group::`, in GitLab CI a collapsible section; elsewhere a header line.
"""

from __future__ import annotations

import enum
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Protocol

from flowctl.choices import ShowOutput
from flowctl.closing import Closing
from flowctl.progress.ansi import clean_output
from flowctl.progress.format import encodable, format_duration, is_utf_encoding
from flowctl.progress.tails import read_log_tail
from flowctl.runner.events import RunEvent, StepFinished
from flowctl.status import StepStatus
from flowctl.textout import safe_text

BLOCK_LINES = 2000  # lines of a step's log shown in its block (the log file has them all)
BLOCK_BYTES = 512 * 1024
_TRUE = {"1", "true", "yes"}


class CiKind(enum.StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"
    OTHER = "other"  # CI=true and nothing more specific
    NONE = "none"


def ci_kind(environ: Mapping[str, str] | None = None) -> CiKind:
    """Which CI system runs us, from the variables the runners set."""
    env = os.environ if environ is None else environ
    if env.get("GITHUB_ACTIONS", "").strip().lower() == "true":
        return CiKind.GITHUB
    if env.get("GITLAB_CI", "").strip().lower() == "true":
        return CiKind.GITLAB
    if env.get("CI", "").strip().lower() in _TRUE:
        return CiKind.OTHER
    return CiKind.NONE


def default_show_output(environ: Mapping[str, str] | None = None) -> ShowOutput:
    """`all` in CI (a CI log is read afterwards, folded per step), `failed` elsewhere."""
    return ShowOutput.FAILED if ci_kind(environ) is CiKind.NONE else ShowOutput.ALL


def wanted(show: ShowOutput, event: StepFinished) -> bool:
    """Whether `event`'s step gets a block: it ran in this session and has a log."""
    if event.restored or event.cached or not event.log_path:
        return False
    if show is ShowOutput.ALL:
        return event.status in (StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.CANCELLED)
    if show is ShowOutput.FAILED:
        return event.status in (StepStatus.FAILED, StepStatus.CANCELLED)
    return False


class Folding(Protocol):
    """How a CI log folds one block: the lines before and after the step's output."""

    def open(self, event: StepFinished, title: str) -> str: ...

    def close(self, event: StepFinished) -> str: ...


class HeaderFolding:
    """No folding: a header line, the output, nothing after."""

    def open(self, event: StepFinished, title: str) -> str:
        return f"──── {title} ────\n"

    def close(self, event: StepFinished) -> str:
        return ""


class GitHubFolding:
    """`::group::` … `::endgroup::`; the output inside cannot issue workflow commands.

    A step printing `::add-mask::` or `::set-output` would otherwise be obeyed by the
    runner: `::stop-commands::TOKEN` turns commands off until the TOKEN line.
    """

    def open(self, event: StepFinished, title: str) -> str:
        self._token = secrets.token_hex(16)
        return f"::group::{title}\n::stop-commands::{self._token}\n"

    def close(self, event: StepFinished) -> str:
        return f"::{self._token}::\n::endgroup::\n"


class GitLabFolding:
    """GitLab's collapsible sections; a failed step's section starts expanded."""

    def open(self, event: StepFinished, title: str) -> str:
        collapsed = "false" if event.status is StepStatus.FAILED else "true"
        name = _section_name(event.step)
        return (
            f"\x1b[0Ksection_start:{int(time.time())}:{name}[collapsed={collapsed}]\r\x1b[0K"
            f"{title}\n"
        )

    def close(self, event: StepFinished) -> str:
        return f"\x1b[0Ksection_end:{int(time.time())}:{_section_name(event.step)}\r\x1b[0K\n"


def _section_name(step: str) -> str:
    """GitLab section names allow letters, digits, `_`, `.` and `-` only."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "_.-") else "_" for c in step)


def folding_for(kind: CiKind) -> Folding:
    if kind is CiKind.GITHUB:
        return GitHubFolding()
    if kind is CiKind.GITLAB:
        return GitLabFolding()
    return HeaderFolding()


def block_title(event: StepFinished) -> str:
    """`compile (failed, 1.20s)`: the step, how it ended and how long it took."""
    return f"{safe_text(event.step)} ({event.status.value}, {format_duration(event.duration)})"


class OutputBlocks(Closing):
    """An observer that writes the output of finished steps as blocks to `stream`.

    With `deferred` (under the live view, which owns the terminal while the run lasts)
    the blocks are written on close, in the order the steps finished.
    """

    def __init__(
        self,
        stream: IO[str],
        *,
        show: ShowOutput,
        folding: Folding,
        keep_sgr: bool,
        deferred: bool = False,
        lines: int = BLOCK_LINES,
    ) -> None:
        self.stream = stream
        self.show = show
        self._folding = folding
        self._keep_sgr = keep_sgr
        self._deferred = deferred
        self._pending: list[StepFinished] = []
        self._lines = lines
        encoding = getattr(stream, "encoding", None)
        self._encoding = None if is_utf_encoding(encoding) else (encoding or "ascii")
        self._broken = False
        self.shown: list[str] = []  # steps whose block was written

    def handle(self, event: RunEvent) -> None:
        if not isinstance(event, StepFinished) or not wanted(self.show, event):
            return
        if self._deferred:
            self._pending.append(event)
        else:
            self._block(event)

    def _block(self, event: StepFinished) -> None:
        assert event.log_path is not None
        path = Path(event.log_path)
        text = read_log_tail(path, self._lines, max_bytes=BLOCK_BYTES)
        if not text.strip():
            return
        body = clean_output(text, keep_sgr=self._keep_sgr)
        shown = len(text.splitlines())
        note = ""
        if shown >= self._lines or _size(path) > BLOCK_BYTES:
            total = _line_count(path)  # read only for a log longer than its block
            if total > shown:
                note = f"(last {shown} of {total} lines; all in {path})\n"
        self._write(
            self._folding.open(event, block_title(event))
            + note
            + body.rstrip("\n")
            + "\n"
            + self._folding.close(event)
        )
        self.shown.append(event.step)

    def _write(self, text: str) -> None:
        if self._broken:
            return
        try:
            self.stream.write(encodable(text, self._encoding))
            self.stream.flush()
        except (OSError, ValueError):
            self._broken = True  # a closed pipe must not fail the run it shows

    def close(self) -> None:
        pending, self._pending = self._pending, []
        for event in pending:
            self._block(event)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _line_count(path: Path) -> int:
    """Lines in the log, counted in chunks (a huge log is not read into memory at once)."""
    count = 0
    last = b"\n"
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                count += chunk.count(b"\n")
                last = chunk[-1:]
    except OSError:
        return 0
    return count + (last != b"\n")

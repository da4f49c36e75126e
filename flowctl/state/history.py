"""history.jsonl: one locked append per finished run, and a streaming, forgiving reader.

Writers (many concurrent runs) each append one whole line under an exclusive flock with a
single O_APPEND write, so records never interleave. A writer killed mid-write leaves a torn
last line; the next writer starts on a fresh line and readers skip the torn one. Readers
stream line by line (memory does not grow with the file) and report each bad line by number.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from msgspec import Struct

from flowctl.errors import HistoryError
from flowctl.state.nofollow import describe_open_error, open_state_file
from flowctl.state.records import RecordError, RunRecord

# A line longer than this is refused unread (a hostile or corrupt file must not exhaust
# memory); a real record of a thousand-step run is a few megabytes.
MAX_LINE_BYTES = 64 * 1024 * 1024
_SKIP_CHUNK = 1024 * 1024


class HistoryIssue(Struct, frozen=True):
    """A line of a history file that was skipped, and why (line is 1-based)."""

    line: int
    message: str
    torn: bool = False  # the unfinished last line of an interrupted write: expected, benign


class HistoryLine(NamedTuple):
    """One decoded JSON line: its number, its byte offset, and the JSON value."""

    line: int
    offset: int
    data: Any


def append_record(path: Path, record: RunRecord) -> None:
    """Append one record as one line, safely against concurrent writers and torn tails.

    Raises ValueError for a record holding NaN or infinity (never valid JSON) and
    HistoryError when the file cannot be written.
    """
    payload = json.dumps(
        record.to_json(), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = open_state_file(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
    except OSError as exc:
        raise HistoryError(f"{path}: cannot append: {describe_open_error(path, exc)}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        # Under the lock no other writer can be mid-line, so a missing newline at the end
        # is a crashed writer's torn line: close it off so ours starts on a line of its own.
        torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
        data = (b"\n" if torn else b"") + payload + b"\n"
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    except OSError as exc:
        raise HistoryError(f"{path}: cannot append: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)  # closing releases the lock


def iter_history(path: Path, issues: list[HistoryIssue] | None = None) -> Iterator[RunRecord]:
    """Stream the valid records of a history file, in file order.

    Malformed lines are skipped and appended to `issues` (with their line number); a torn
    last line is skipped and noted with `torn=True`. A missing file raises HistoryError at
    once, before the first record is asked for.
    """
    _open(path).close()
    return _records(HistoryReader(path, issues))


def _records(reader: HistoryReader) -> Iterator[RunRecord]:
    for entry in reader:
        try:
            yield RunRecord.from_json(entry.data)
        except RecordError as exc:
            reader.issues.append(HistoryIssue(entry.line, str(exc)))


class HistoryReader:
    """Streams the JSON values of the lines that begin in the byte range [start, end).

    The building block of `iter_history` and of readers that split a large file into ranges
    read in parallel: line numbers count from 1 at the first line that begins in the range,
    and `lines` tells, once iterated, how many lines the range held. Lines that are not JSON
    go to `issues`; blank lines are ignored.
    """

    def __init__(
        self,
        path: Path,
        issues: list[HistoryIssue] | None = None,
        *,
        start: int = 0,
        end: int | None = None,
    ) -> None:
        self.path = path
        self.issues: list[HistoryIssue] = [] if issues is None else issues
        self.start = start
        self.end = end
        self.lines = 0

    def __iter__(self) -> Iterator[HistoryLine]:
        issues = self.issues
        end = self.end
        with _open(self.path) as stream:
            offset = _align(stream, self.start)
            while end is None or offset < end:
                raw = stream.readline(MAX_LINE_BYTES + 1)
                if not raw:
                    return
                self.lines += 1
                number = self.lines
                here = offset
                offset += len(raw)
                if len(raw) > MAX_LINE_BYTES:
                    offset += _skip_rest_of_line(stream)
                    issues.append(HistoryIssue(number, f"line longer than {MAX_LINE_BYTES} bytes"))
                    continue
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    issues.append(_bad(number, raw, "not valid UTF-8"))
                    continue
                if text.isspace():
                    continue
                try:
                    data = _DECODER.decode(text)
                except json.JSONDecodeError as exc:
                    issues.append(_bad(number, raw, f"not valid JSON ({exc.msg})"))
                    continue
                except ValueError as exc:  # NaN or Infinity, which JSON does not have
                    issues.append(_bad(number, raw, f"not valid JSON ({exc})"))
                    continue
                except RecursionError:
                    issues.append(_bad(number, raw, "nested too deeply"))
                    continue
                yield HistoryLine(number, here, data)


def read_record_at(path: Path, offset: int) -> RunRecord:
    """The record on the line that starts at `offset` (found by an earlier pass)."""
    with _open(path) as stream:
        stream.seek(offset)
        raw = stream.readline(MAX_LINE_BYTES + 1)
    try:
        return RunRecord.from_json(_DECODER.decode(raw.decode("utf-8")))
    except (ValueError, RecordError) as exc:
        raise HistoryError(f"{path}: the record at byte {offset} changed while reading") from exc


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise HistoryError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise HistoryError(f"{path}: is a directory, not a history file") from None
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _align(stream: BinaryIO, start: int) -> int:
    """Seek to the first line that begins at or after `start`; return its offset."""
    if start <= 0:
        return 0
    stream.seek(start - 1)
    if stream.read(1) == b"\n":
        return start
    return start + _skip_rest_of_line(stream)


def _skip_rest_of_line(stream: BinaryIO) -> int:
    """Consume up to and including the next newline; return the number of bytes consumed."""
    skipped = 0
    while True:
        chunk = stream.readline(_SKIP_CHUNK)
        skipped += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return skipped


def _bad(number: int, raw: bytes, message: str) -> HistoryIssue:
    # Every complete line ends with a newline (one write per record); a last line without
    # one is the remains of a writer that died mid-write.
    if not raw.endswith(b"\n"):
        return HistoryIssue(number, "torn last line ignored (an interrupted write)", torn=True)
    return HistoryIssue(number, message)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


# One decoder for every line: json.loads with options would build a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


# What a reader of the latest runs scans at most, from the end: enough for dozens of records
# of a thousand-step workflow, and a bound on the time a long shared history can cost.
RECENT_MAX_BYTES = 16 * 1024 * 1024
_BACK_BLOCK = 256 * 1024


def recent_records(
    path: Path,
    workflow: str,
    *,
    limit: int,
    status: str | None = None,
    max_bytes: int = RECENT_MAX_BYTES,
) -> list[RunRecord]:
    """The newest `limit` valid records of `workflow` (with `status`, when given), newest
    first, read backwards from the end of the file: the cost depends on how recent those runs
    are, never on the file's size.

    Bad and torn lines are skipped silently; lines that begin more than `max_bytes` before
    the end are not read. A missing or unreadable file raises HistoryError.
    """
    # Records are written compactly, so the name appears as its JSON string in the line:
    # lines without it are skipped undecoded (most of a history shared by many workflows).
    needle = json.dumps(workflow, ensure_ascii=False).encode("utf-8")
    found: list[RunRecord] = []

    def take(raw: bytes) -> bool:
        if needle not in raw:
            return False
        try:
            record = RunRecord.from_json(json.loads(raw))
        except (ValueError, RecordError):  # UnicodeDecodeError is a ValueError
            return False
        if record.workflow != workflow or (status is not None and record.status != status):
            return False
        found.append(record)
        return len(found) >= limit

    with _open(path) as stream:
        position = os.fstat(stream.fileno()).st_size
        floor = max(0, position - max_bytes)
        partial = b""  # the start of a line whose beginning is in a block not read yet
        while position > floor:
            size = min(_BACK_BLOCK, position - floor)
            position -= size
            stream.seek(position)
            lines = (stream.read(size) + partial).split(b"\n")
            partial = lines[0]
            if len(partial) > MAX_LINE_BYTES:
                partial = b""  # refused unread, as the forward reader does
            for raw in reversed(lines[1:]):
                if raw and take(raw):
                    return found
        if position == 0 and partial:
            take(partial)
    return found

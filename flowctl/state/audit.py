"""The audit journal: one JSON event per line, crash-safe, the source of truth for resume."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from msgspec import Struct, field

from flowctl.closing import Closing
from flowctl.errors import StateError
from flowctl.secrets import SecretMasker
from flowctl.state.nofollow import describe_open_error, open_state_file
from flowctl.state.strictjson import dumps_strict, loads_strict

# Every event that ends a step in a journal (`step_finished`: a status with no event name
# of its own). Readers of journals use this set rather than a list of their own.
STEP_END_EVENTS = frozenset(
    {
        "step_completed",
        "step_failed",
        "step_skipped",
        "step_cancelled",
        "step_rolled_back",
        "step_finished",
    }
)


def utc_timestamp(moment: datetime | None = None) -> str:
    """ISO 8601 UTC with microseconds and "Z", e.g. 2026-11-25T16:34:00.123456Z."""
    if moment is None:
        return format_utc(time.time())
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# The whole-second part of the last timestamp formatted: every event of a run writes one,
# and most fall in the same second as the one before (strftime is most of the cost).
_last_second: tuple[int, str] = (-1, "")


def format_utc(ts: float) -> str:
    """A time.time() value as utc_timestamp writes it, rounded to the microsecond as
    datetime.fromtimestamp rounds (half to even)."""
    global _last_second
    if not 0 <= ts < 253402300799:  # outside years 1970..9999: the general path
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fraction, whole = math.modf(ts)
    micros = round(fraction * 1e6)
    second = int(whole)
    if micros >= 1_000_000:
        micros -= 1_000_000
        second += 1
    cached_second, prefix = _last_second
    if cached_second != second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _last_second = (second, prefix)
    return f"{prefix}.{micros:06d}Z"


def parse_ts(text: str) -> float | None:
    """An audit `ts` (ISO 8601 UTC, "Z") as time.time() seconds; None if malformed."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class AuditEvent(Struct, frozen=True):
    """One line of audit.jsonl. `step` is a qualified id such as "loop[2].child"."""

    ts: str
    seq: int
    run_id: str
    event: str
    step: str | None
    attempt: int | None
    data: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "seq": self.seq,
            "run_id": self.run_id,
            "event": self.event,
            "step": self.step,
            "attempt": self.attempt,
            "data": self.data,
        }


# One encoder for every line (json.dumps with options builds a new one per call).
_LINE_ENCODER = json.JSONEncoder(
    default=str, ensure_ascii=False, separators=(",", ":"), allow_nan=False
)


def _encode_with(value: Any, **options: Any) -> str:
    """dumps_strict's `dumps` for the shared line encoder (options are its own)."""
    return _LINE_ENCODER.encode(value)


def _encode_line(record: Mapping[str, Any]) -> bytes:
    text = dumps_strict(record, dumps=_encode_with)
    # A lone surrogate (from an undecodable file name or env value) becomes a \udcXX
    # escape, which is valid JSON, instead of failing the write.
    return (text + "\n").encode("utf-8", "backslashreplace")


class _GroupSync:
    """A background thread that fsyncs once for every batch of checkpoint requests."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._cond = threading.Condition()
        self._requested = 0
        self._synced = 0
        self._stopping = False
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="flowctl-audit-fsync", daemon=True)
        self._thread.start()

    def request(self) -> None:
        with self._cond:
            if self._error is not None:
                error, self._error = self._error, None
                raise StateError(f"cannot sync the audit journal: {error}") from error
            self._requested += 1
            self._cond.notify()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every request made so far is on disk; True unless timed out."""
        with self._cond:
            target = self._requested
            return self._cond.wait_for(
                lambda: self._synced >= target or self._error is not None or self._stopping,
                timeout,
            )

    def stop(self) -> None:
        """End the thread without a last fsync: the journal's close does that one, and it
        covers every line written, requested or not."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._requested > self._synced or self._stopping)
                if self._stopping:
                    return  # close() syncs next, whatever is pending
                target = self._requested
            # Outside the lock: appenders keep writing while the disk works, and their
            # requests are all covered by the next single fsync.
            try:
                os.fsync(self._fd)
            except OSError as exc:
                with self._cond:
                    self._error = exc
                    self._synced = target
                    self._cond.notify_all()
                continue
            with self._cond:
                self._synced = target
                self._cond.notify_all()


class AuditJournal(Closing):
    """Appends events to a run's audit.jsonl; safe to use from several threads.

    Every event is one os.write of one whole line on an O_APPEND descriptor, so a kill -9
    loses at most a line being written, never a completed one. `checkpoint()` asks for an
    fsync without waiting for it: a background thread serves all pending requests with one
    fsync (group commit), so step boundaries cost microseconds, not milliseconds.
    """

    def __init__(
        self,
        path: Path,
        run_id: str,
        *,
        masker: SecretMasker | None = None,
        durable: bool = True,
        next_seq: int = 1,
    ) -> None:
        self.path = path
        self.run_id = run_id
        self._masker = masker
        self._durable = durable
        self._seq = next_seq
        self._lock = threading.Lock()
        self._sync: _GroupSync | None = None
        self._closed = False
        try:
            self._fd = open_state_file(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
        except OSError as exc:
            reason = describe_open_error(path, exc)
            raise StateError(f"cannot open audit journal {path}: {reason}") from exc
        try:
            self._end_torn_line()
        except OSError as exc:
            os.close(self._fd)
            raise StateError(f"cannot repair audit journal {path}: {exc}") from exc

    def _end_torn_line(self) -> None:
        # A crash mid-write leaves a last line without "\n"; the next event must not be
        # glued to it, or the reader would lose that event too.
        size = os.fstat(self._fd).st_size
        if size and os.pread(self._fd, 1, size - 1) != b"\n":
            self._write(b"\n")

    def _write(self, payload: bytes) -> None:
        view = memoryview(payload)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    @property
    def next_seq(self) -> int:
        return self._seq

    def append(
        self,
        event: str,
        *,
        step: str | None = None,
        attempt: int | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        """Write one event (its data masked) and return it as written."""
        return self.append_at(event, step=step, attempt=attempt, data=data)[0]

    def append_at(
        self,
        event: str,
        *,
        step: str | None = None,
        attempt: int | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> tuple[AuditEvent, int, int]:
        """append, and where the line went: (the event, its offset, its length in bytes)."""
        payload: Mapping[str, Any] = data if data is not None else {}
        if self._masker:
            payload = self._masker.mask_json(payload)
            step = self._masker.mask(step) if step is not None else None
        with self._lock:
            if self._closed:
                raise ValueError(f"audit journal {self.path} is closed")
            entry = AuditEvent(
                ts=utc_timestamp(),
                seq=self._seq,
                run_id=self.run_id,
                event=event,
                step=step,
                attempt=attempt,
                data=payload,
            )
            line = _encode_line(entry.to_json())
            try:
                self._write(line)
                # O_APPEND leaves the offset at the end of this line, even when another
                # process appended to the file in between.
                end = os.lseek(self._fd, 0, os.SEEK_CUR)
            except OSError as exc:
                raise StateError(f"cannot write audit journal {self.path}: {exc}") from exc
            self._seq += 1
        return entry, end - len(line), len(line)

    def checkpoint(self) -> None:
        """Mark a step boundary: everything written so far should reach the disk soon."""
        if not self._durable:
            return
        with self._lock:
            if self._closed:
                return
            if self._sync is None:
                self._sync = _GroupSync(self._fd)
            sync = self._sync
        sync.request()

    def sync(self, timeout: float | None = None) -> bool:
        """Checkpoint and wait until it is on disk (before reporting a run as saved)."""
        self.checkpoint()
        if self._sync is None:
            return True
        return self._sync.wait(timeout)

    def close(self) -> None:
        """Final fsync (when durable) and close; calling it again does nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            sync, self._sync = self._sync, None
        try:
            if sync is not None:
                sync.stop()
            if self._durable:
                os.fsync(self._fd)
        except OSError as exc:
            raise StateError(f"cannot sync audit journal {self.path}: {exc}") from exc
        finally:
            os.close(self._fd)


class JournalContents(Struct, frozen=True):
    """What read_journal found. bad_lines are 1-based numbers of skipped garbage lines."""

    events: list[AuditEvent]
    torn_tail: bool = False
    bad_lines: list[int] = field(default_factory=list)

    @property
    def next_seq(self) -> int:
        """The seq a journal reopened for this run continues from."""
        return max((e.seq for e in self.events), default=0) + 1


def _int_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def _parse_event(raw: bytes) -> AuditEvent | None:
    try:
        obj = loads_strict(raw)
    except (ValueError, RecursionError):  # includes UnicodeDecodeError, NaN and Infinity
        return None
    if not isinstance(obj, dict):
        return None
    ts, seq, run_id, event = obj.get("ts"), obj.get("seq"), obj.get("run_id"), obj.get("event")
    step, attempt, data = obj.get("step"), obj.get("attempt"), obj.get("data", {})
    if not (
        isinstance(ts, str)
        and isinstance(seq, int)
        and not isinstance(seq, bool)
        and isinstance(run_id, str)
        and isinstance(event, str)
        and (step is None or isinstance(step, str))
        and _int_or_none(attempt)
        and isinstance(data, dict)
    ):
        return None
    # Unknown keys are ignored so that journals written by newer versions stay readable.
    return AuditEvent(ts, seq, run_id, event, step, attempt, data)


BigLine = Callable[[AuditEvent, int, int], AuditEvent]


def read_journal(path: Path, *, big: BigLine | None = None, big_bytes: int = 0) -> JournalContents:
    """Read every complete event; drop a torn last line, skip and report garbage lines.

    Lines are read one at a time: a journal holding gigabytes of step outputs is never
    in memory twice (its bytes and its lines) besides the events parsed from it. `big`,
    when given, gets each event whose line is at least `big_bytes` long with the line's
    offset and length, and returns the event to keep (resume keeps a reference to a big
    step's outputs instead of the outputs: runner/stored_outputs.py).
    """
    events: list[AuditEvent] = []
    bad_lines: list[int] = []
    torn_tail = False
    last_content = -1  # index of the last complete line that is not blank
    offset = 0
    try:
        with open(path, "rb") as handle:
            for index, raw in enumerate(handle):
                start, offset = offset, offset + len(raw)
                if not raw.endswith(b"\n"):
                    # What follows the final "\n": the torn remainder of an interrupted write.
                    torn_tail = raw.strip() != b""
                    break
                if not raw.strip():
                    continue  # the newline written after a torn line, or an editor's blank line
                last_content = index
                parsed = _parse_event(raw)
                if parsed is None:
                    bad_lines.append(index + 1)
                    continue
                if big is not None and len(raw) >= big_bytes:
                    parsed = big(parsed, start, len(raw))
                events.append(parsed)
    except FileNotFoundError as exc:
        raise StateError(f"no audit journal at {path}") from exc
    except OSError as exc:
        raise StateError(f"cannot read audit journal {path}: {exc}") from exc
    if not torn_tail and bad_lines and bad_lines[-1] == last_content + 1:
        # A crash can also leave a newline-terminated fragment as the last line (the
        # final write of a line that was split by the kernel): same as torn.
        bad_lines.pop()
        torn_tail = True
    return JournalContents(events=events, torn_tail=torn_tail, bad_lines=bad_lines)


def read_events_named(path: Path, *names: str) -> list[AuditEvent]:
    """The complete, readable events of the given kinds, reading one line at a time.

    For readers that want a few small lines of a journal that may hold gigabytes of
    step outputs: a line is parsed only when it contains one of the names.
    """
    needles = [f'"event":"{name}"'.encode() for name in names]
    events: list[AuditEvent] = []
    try:
        with os.fdopen(open_state_file(path, os.O_RDONLY), "rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n") or not any(n in raw for n in needles):
                    continue  # a torn last line, or another kind of event
                parsed = _parse_event(raw)
                if parsed is not None and parsed.event in names:
                    events.append(parsed)
    except FileNotFoundError as exc:
        raise StateError(f"no audit journal at {path}") from exc
    except OSError as exc:
        reason = describe_open_error(path, exc)
        raise StateError(f"cannot read audit journal {path}: {reason}") from exc
    return events

"""Run one subprocess in its own process group: stream, mask and log its output; kill on cancel."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msgspec import Struct

if TYPE_CHECKING:
    from flowctl.runner.steps.base import StepLog
    from flowctl.secrets import SecretMasker

CAPTURE_LIMIT = 1024 * 1024  # characters of each stream kept in memory (the log has all)
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL of a cancelled process group
PIPE_GRACE = 1.0  # seconds to wait for pipes held open by background children after exit
_MAX_PENDING_LINE = 1024 * 1024  # a longer line is written to the log in parts (bounded memory)


class ProcessResult(Struct, frozen=True, kw_only=True):
    """How a finished process ended and what it printed (masked)."""

    returncode: int  # as subprocess reports it: negative = killed by that signal
    stdout: str
    stderr: str
    stdout_truncated: bool = False  # only the last CAPTURE_LIMIT characters are kept
    stderr_truncated: bool = False
    detached: bool = False  # background children still held the pipes; output after exit lost

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + N for a process killed by signal N."""
        return 128 - self.returncode if self.returncode < 0 else self.returncode

    @property
    def signal_name(self) -> str | None:
        if self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"


class _Tail:
    """The last `limit` characters of a stream, in amortised O(1) per append."""

    __slots__ = ("_limit", "_pieces", "_size", "truncated")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._pieces: list[str] = []
        self._size = 0
        self.truncated = False

    def append(self, text: str) -> None:
        if not text:
            return
        self._pieces.append(text)
        self._size += len(text)
        if self._size > 2 * self._limit:
            self._compact()

    def _compact(self) -> None:
        joined = "".join(self._pieces)
        if len(joined) > self._limit:
            joined = joined[-self._limit :]
            self.truncated = True
        self._pieces = [joined]
        self._size = len(joined)

    def text(self) -> str:
        self._compact()
        return self._pieces[0] if self._pieces else ""


class _StreamCapture(asyncio.Protocol):
    """Reads one pipe: decode, mask, log whole lines, keep the tail."""

    def __init__(
        self, log: StepLog | None, masker: SecretMasker, limit: int, closed: asyncio.Future[None]
    ) -> None:
        self._log = log
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._masker = masker.stream()
        self._tail = _Tail(limit)
        self._line = ""  # text after the last newline, not yet written to the log
        self._closed = closed
        self._finished = False
        self.transport: asyncio.ReadTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.ReadTransport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._emit(self._masker.feed(self._decoder.decode(data)))

    def eof_received(self) -> bool:
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.finish()
        if not self._closed.done():
            self._closed.set_result(None)

    def finish(self) -> None:
        """Flush everything held back; idempotent (also used when we stop reading early)."""
        if self._finished:
            return
        self._finished = True
        self._emit(self._masker.feed(self._decoder.decode(b"", final=True)) + self._masker.flush())
        if self._line:
            self._write(self._line + "\n")
            self._line = ""

    def _emit(self, text: str) -> None:
        if not text:
            return
        self._tail.append(text)
        cut = text.rfind("\n") + 1
        if cut:
            self._write(self._line + text[:cut])
            self._line = text[cut:]
        else:
            self._line += text
        if len(self._line) > _MAX_PENDING_LINE:
            # Bounded memory beats a perfect log for a gigantic line without newlines.
            self._write(self._line + "\n")
            self._line = ""

    def _write(self, text: str) -> None:
        if self._log is not None:
            self._log.write(text)

    @property
    def text(self) -> str:
        return self._tail.text()

    @property
    def truncated(self) -> bool:
        return self._tail.truncated


class _ExitWatch:
    """Resolves a future when the process exits (and reaps it), without a thread if possible."""

    def __init__(self, proc: subprocess.Popen[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._proc = proc
        self._loop = loop
        self.exited: asyncio.Future[int] = loop.create_future()
        self._pidfd: int | None = None
        self._waiter: asyncio.Future[int] | None = None
        try:
            self._pidfd = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            # No pidfds (not Linux, or an old kernel): a waiter thread per process instead.
            # Held here: the loop keeps only weak references to tasks.
            self._waiter = asyncio.ensure_future(asyncio.to_thread(proc.wait))
            self._waiter.add_done_callback(self._thread_done)
        else:
            loop.add_reader(self._pidfd, self._check)

    def _check(self) -> None:
        if self._proc.poll() is not None:
            self._settle()

    def _thread_done(self, waiter: asyncio.Future[int]) -> None:
        if not waiter.cancelled() and waiter.exception() is None:
            self._settle()

    def _settle(self) -> None:
        self.close()
        if not self.exited.done():
            assert self._proc.returncode is not None
            self.exited.set_result(self._proc.returncode)

    def close(self) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Send `sig` to a process group; False when no process of the group is left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        # A member changed its credentials (setuid); nothing more we are allowed to do.
        return False
    return True


async def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    masker: SecretMasker,
    log: StepLog | None = None,
    capture_limit: int = CAPTURE_LIMIT,
    kill_grace: float = KILL_GRACE,
    pipe_grace: float = PIPE_GRACE,
    spawned: Callable[[int], None] | None = None,
) -> ProcessResult:
    """Run `argv` in a new session (its own process group) and return how it ended.

    No threads and no asyncio child watcher: the exit is noticed through a pidfd on the
    event loop (a waiter thread only where pidfds do not exist), and both pipes are read
    by protocol callbacks, so a process costs a fork/exec and a handful of callbacks.
    Each stream goes bytes -> UTF-8 (invalid bytes replaced) -> the masker's stream
    (which holds back a tail that may start a secret split across reads) -> whole lines
    to `log` (stdout and stderr never break each other's lines) and the last
    `capture_limit` characters kept in memory.

    Spawn errors (no such program, bad cwd, NUL in env) raise OSError/ValueError for the
    caller to translate. On cancellation the whole group gets SIGTERM, then SIGKILL after
    `kill_grace` seconds; the process is reaped and CancelledError re-raised.
    `spawned` is told the child's pid (its process group id) as soon as it exists.
    """
    loop = asyncio.get_running_loop()
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    if spawned is not None:
        spawned(proc.pid)
    assert proc.stdout is not None and proc.stderr is not None
    watch = _ExitWatch(proc, loop)
    out_closed: asyncio.Future[None] = loop.create_future()
    err_closed: asyncio.Future[None] = loop.create_future()
    out = _StreamCapture(log, masker, capture_limit, out_closed)
    err = _StreamCapture(log, masker, capture_limit, err_closed)
    detached = False
    try:
        await loop.connect_read_pipe(lambda: out, proc.stdout)
        await loop.connect_read_pipe(lambda: err, proc.stderr)
        returncode = await watch.exited
        pipes = {out_closed, err_closed}
        if not all(p.done() for p in pipes):
            _, pending = await asyncio.wait(pipes, timeout=pipe_grace)
            detached = bool(pending)
    except BaseException:
        await _terminate(proc, (watch.exited, out_closed, err_closed), kill_grace)
        raise
    finally:
        watch.close()
        for capture, stream in ((out, proc.stdout), (err, proc.stderr)):
            if capture.transport is not None:
                capture.transport.close()
            else:
                stream.close()
            capture.finish()
    if detached and log is not None:
        log.write(
            "[flowctl] the command exited but background processes still hold its output "
            "open; their further output is not captured (redirect it to a file)\n"
        )
    return ProcessResult(
        returncode=returncode,
        stdout=out.text,
        stderr=err.text,
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
        detached=detached,
    )


async def _terminate(
    proc: subprocess.Popen[bytes], ends: tuple[asyncio.Future[Any], ...], grace: float
) -> None:
    """SIGTERM the group, give it `grace` seconds, SIGKILL whatever is left, reap the leader.

    `ends` are the exit and the pipes' closing: once all happened, nothing that could still
    write our output is alive, so the wait ends early.
    """
    try:
        if _signal_group(proc.pid, signal.SIGTERM):
            await asyncio.wait(ends, timeout=grace)
    finally:
        # Grandchildren may ignore SIGTERM or outlive the leader: the group goes regardless.
        _signal_group(proc.pid, signal.SIGKILL)
        if proc.returncode is None:
            # SIGKILL cannot be caught, so this blocks only for the kernel to tear it down
            # (bounded: a process stuck in uninterruptible I/O must not hang the run).
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
    # The rest of the group dies asynchronously; give it a moment so nothing that could
    # still write our output outlives the attempt.
    pending = [end for end in ends if not end.done()]
    if pending:
        await asyncio.wait(pending, timeout=0.5)

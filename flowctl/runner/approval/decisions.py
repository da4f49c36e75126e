"""Approval decisions of human_task steps: asked on the terminal, or recorded by `approve`.

A decision is an `approval_decided` event in the run's audit journal (who, when, why and
how it was given), so the journal stays the single source of truth that `resume` replays.
A step waits for approval when its latest `approval_requested` has no later
`approval_decided`; a later request (a step run again with `resume --from`) asks anew.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import enum
import errno
import fcntl
import os
import re
import select
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from msgspec import Struct
from msgspec.structs import replace

from flowctl.errors import StateError
from flowctl.runner.approval.identity import Identity, who_is_here
from flowctl.state.audit import AuditEvent, AuditJournal, read_journal, utc_timestamp
from flowctl.state.paths import RunPaths

REQUESTED = "approval_requested"
DECIDED = "approval_decided"
TERMINAL = "/dev/tty"
MAX_ANSWER = 4096  # characters of a typed answer kept (a comment, a name)

# Terminal control characters in a message rendered from run data could move the cursor
# or retitle the terminal: they are shown escaped (tab and newline are kept).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class DecisionSource(enum.StrEnum):
    """How a decision was given."""

    TTY = "tty"  # answered on the terminal of the run
    FLAG = "flag"  # `flowctl run --approve STEP`
    AUTO = "auto"  # `flowctl run --auto-approve`
    CLI = "cli"  # `flowctl approve RUN_ID STEP`


class ApprovalDecision(Struct, frozen=True, kw_only=True):
    step: str  # qualified id
    approved: bool
    by: str
    comment: str | None
    ts: str  # ISO 8601 UTC, when it was decided
    source: DecisionSource
    identity: Identity | None = None  # what the machine vouches for (identity.py)
    claimed_by: str | None = None  # a name given (--by, typed) that is not `by`

    def to_data(self) -> dict[str, Any]:
        """The `data` of its approval_decided event."""
        data: dict[str, Any] = {
            "approved": self.approved,
            "decision": "approved" if self.approved else "rejected",
            "by": self.by,
            "comment": self.comment,
            "decided_at": self.ts,
            "source": self.source.value,
        }
        if self.identity is not None:
            data.update(self.identity.to_data())
        if self.claimed_by is not None:
            data["claimed_by"] = self.claimed_by
        return data

    def describe(self) -> str:
        """The decision as people read it, e.g. `approved by alice: looks good`."""
        verdict = "approved" if self.approved else "rejected"
        claimed = f" (claimed: {self.claimed_by})" if self.claimed_by else ""
        return f"{verdict} by {self.by}{claimed}" + (f": {self.comment}" if self.comment else "")


def decider(identity: Identity, claimed: str | None) -> tuple[str, str | None]:
    """`(by, claimed_by)` of a decision: the verified name when there is one, else the claim.

    A claimed name is kept beside a verified one only when it differs; it never replaces it.
    """
    by = identity.verified or claimed or "unknown"
    return by, (claimed if claimed and claimed != by else None)


def decision_from_event(event: AuditEvent) -> ApprovalDecision | None:
    """The decision an approval_decided event records; None for a malformed one."""
    data = event.data
    approved, by = data.get("approved"), data.get("by")
    if event.event != DECIDED or event.step is None:
        return None
    if not isinstance(approved, bool) or not isinstance(by, str):
        return None
    comment = data.get("comment")
    decided_at = data.get("decided_at")
    raw_source = data.get("source")
    claimed = data.get("claimed_by")
    try:
        source = DecisionSource(raw_source if isinstance(raw_source, str) else "cli")
    except ValueError:
        source = DecisionSource.CLI
    return ApprovalDecision(
        step=event.step,
        approved=approved,
        by=by,
        comment=comment if isinstance(comment, str) else None,
        ts=decided_at if isinstance(decided_at, str) else event.ts,
        source=source,
        identity=Identity.from_data(data),
        claimed_by=claimed if isinstance(claimed, str) else None,
    )


def decisions_from_journal(events: Iterable[AuditEvent]) -> dict[str, ApprovalDecision]:
    """The standing decision of every step, by qualified id.

    The last decision after a step's latest request counts; a request made after a
    decision (the step runs again) cancels it. Malformed decision events are ignored.
    """
    decisions: dict[str, ApprovalDecision] = {}
    for event in events:
        if event.step is None:
            continue
        if event.event == REQUESTED:
            decisions.pop(event.step, None)
        elif event.event == DECIDED:
            decision = decision_from_event(event)
            if decision is not None:
                decisions[event.step] = decision
    return decisions


def pending_approvals(events: Iterable[AuditEvent]) -> dict[str, AuditEvent]:
    """Steps waiting for a decision: their latest approval_requested, by qualified id."""
    pending: dict[str, AuditEvent] = {}
    for event in events:
        if event.step is None:
            continue
        if event.event == REQUESTED:
            pending[event.step] = event
        elif event.event == DECIDED and decision_from_event(event) is not None:
            pending.pop(event.step, None)
    return pending


def _approvers(request: AuditEvent) -> tuple[str, ...]:
    listed = request.data.get("approvers")
    if not isinstance(listed, list):
        return ()
    return tuple(a for a in listed if isinstance(a, str))


def _step_ids(events: Iterable[AuditEvent]) -> Iterator[str]:
    """Every step the run knows: listed by run_started, or named by any event."""
    for event in events:
        if event.event == "run_started":
            listed = event.data.get("step_ids")
            if isinstance(listed, list):
                yield from (s for s in listed if isinstance(s, str))
        if event.step is not None:
            yield event.step


def _live_writer(events: Sequence[AuditEvent]) -> int | None:
    """The pid of a flowctl process still writing this run on this host, if any.

    A decision appended beside a live writer would share its seq numbers; the run reads
    the decision on resume anyway, so waiting for it to stop loses nothing.
    """
    started: AuditEvent | None = None
    for event in events:
        if event.event == "run_started":
            started = event
        elif event.event == "run_finished":
            started = None
    if started is None:
        return None
    pid, host = started.data.get("pid"), started.data.get("host")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    if isinstance(host, str) and host != socket.gethostname():
        return None  # cannot be checked from here
    try:
        os.kill(pid, 0)  # signal 0: an existence check
    except ProcessLookupError:
        return None
    except OSError:
        return pid  # it exists, owned by someone else
    return pid


def _check_decidable(run_id: str, events: Sequence[AuditEvent], decision: ApprovalDecision) -> None:
    step = decision.step
    writer = _live_writer(events)
    if writer is not None:
        raise StateError(
            f"run {run_id} is still running (pid {writer}); decide once it has stopped "
            "(it exits 4 when only approvals are left)"
        )
    pending = pending_approvals(events)
    if step in pending:
        approvers = _approvers(pending[step])
        if approvers and decision.by not in approvers:
            # Which names would pass is not said: it would only tell someone what to claim.
            claim = (
                f" (the claimed name {decision.claimed_by!r} does not count when the user is known)"
                if decision.claimed_by
                else ""
            )
            raise StateError(
                f"{decision.by!r} is not an approver of step {step!r} of run {run_id}{claim}"
            )
        return
    decided = decisions_from_journal(events).get(step)
    if decided is not None:
        verdict = "approved" if decided.approved else "rejected"
        raise StateError(
            f"step {step!r} of run {run_id} was already {verdict} by {decided.by} at "
            f"{decided.ts}; continue it with `flowctl resume {run_id}`"
        )
    known = list(dict.fromkeys(_step_ids(events)))
    if step not in known:
        candidates = list(pending) or known
        close = difflib.get_close_matches(step, candidates, n=3, cutoff=0.6)
        if close:
            hint = f"; did you mean {', '.join(close)}?"
        elif pending:
            hint = f"; waiting for approval: {', '.join(pending)}"
        else:
            hint = ""
        raise StateError(f"run {run_id} has no step {step!r}{hint}")
    waiting = f"; waiting for approval: {', '.join(pending)}" if pending else ""
    raise StateError(f"step {step!r} of run {run_id} is not waiting for approval{waiting}")


def _by_stable_id(decision: ApprovalDecision, events: Sequence[AuditEvent]) -> ApprovalDecision:
    """The decision for the step's index-based id: a loop iteration may be named by its
    label (`reviews[contract.pdf].sign` is `reviews[2].sign`)."""
    from flowctl.runner.looplabels import labels_from_journal, unlabelled

    if "[" not in decision.step:
        return decision
    stable = unlabelled(decision.step, labels_from_journal(events))
    return decision if stable == decision.step else replace(decision, step=stable)


def record_decision(run_paths: RunPaths, decision: ApprovalDecision) -> None:
    """Append the decision to the run's audit journal, durably.

    Refuses with StateError (exit 2) when the run does not exist or is still running
    here, the step is unknown to it, is not waiting for approval, was already decided,
    or lists approvers that do not include `decision.by`. Concurrent `approve` commands
    are serialised by a lock on the journal, so only one of them can decide a step.
    """
    run_id = run_paths.run_id
    path = run_paths.audit
    if not run_paths.run_dir.is_dir():
        from flowctl.state.locate import where_looked

        where = run_paths.state_dir / "runs"
        raise StateError(f"no run {run_id!r} in {where}{where_looked(run_paths.state_dir)}")
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise StateError(f"run {run_id} has no audit journal ({path})") from None
    except OSError as exc:
        raise StateError(f"cannot read audit journal {path}: {exc}") from exc
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        contents = read_journal(path)
        decision = _by_stable_id(decision, contents.events)
        _check_decidable(run_id, contents.events, decision)
        with AuditJournal(path, run_id, next_seq=contents.next_seq) as journal:
            journal.append(DECIDED, step=decision.step, data=decision.to_data())


# --- asking on the terminal -----------------------------------------------------------------


class _Terminal:
    """Line I/O on a terminal descriptor, reading through the event loop (no thread).

    A thread blocked in read() cannot be cancelled, and would keep the process alive after
    a timeout; a reader callback on a non-blocking descriptor can simply be removed.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""
        self._eof = False

    def write(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        while data:
            try:
                written = os.write(self._fd, data)
            except BlockingIOError:
                select.select([], [self._fd], [], 1.0)  # output stopped (Ctrl-S): brief wait
                continue
            data = data[written:]

    async def read_line(self) -> str | None:
        """The next line typed, without its newline; None at end of input (Ctrl-D)."""
        while b"\n" not in self._buffer:
            if self._eof:
                if not self._buffer:
                    return None
                line, self._buffer = self._buffer, b""
                return _clean(line)
            await self._readable()
            try:
                chunk = os.read(self._fd, 4096)
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno == errno.EIO:  # the terminal went away (hang-up)
                    self._eof = True
                    continue
                raise
            if chunk:
                self._buffer += chunk
            else:
                self._eof = True
        line, _, self._buffer = self._buffer.partition(b"\n")
        return _clean(line)

    async def _readable(self) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(self._fd, wake)
        try:
            await ready
        finally:
            loop.remove_reader(self._fd)


def _clean(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").strip()
    return _CONTROL.sub("", text)[:MAX_ANSWER]


def _safe(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


_YES = frozenset({"y", "yes"})
_NO = frozenset({"n", "no"})


async def _converse(
    term: _Terminal,
    step: str,
    message: str,
    approvers: Sequence[str],
    identity: Identity,
    run_id: str,
) -> ApprovalDecision | None:
    term.write(f"\nApproval needed for step {_safe(step)!r}: {_safe(message)}\n")
    if approvers:
        term.write(f"Approvers: {_safe(', '.join(approvers))}\n")
    by = identity.verified
    if by is not None and approvers and by not in approvers:
        term.write(
            f"You ({_safe(by)}) are not an approver of this step; the run will wait for "
            f"`flowctl approve {_safe(run_id)} {_safe(step)}` by one of them.\n"
        )
        return None
    while by is None and approvers:  # nothing to check: the typed name is all there is
        term.write("Your name: ")
        answer = await term.read_line()
        if answer is None:
            return None
        by = answer if answer in approvers else None
    while True:
        term.write("Approve? [y/n]: ")
        answer = await term.read_line()
        if answer is None:
            return None
        if answer.lower() in _YES | _NO:
            approved = answer.lower() in _YES
            break
        term.write("Please answer y or n.\n")
    term.write("Comment (optional, Enter to skip): ")
    comment = await term.read_line()
    decision = ApprovalDecision(
        step=step,
        approved=approved,
        by=by or "unknown",
        comment=comment or None,
        ts=utc_timestamp(),
        source=DecisionSource.TTY,
        identity=identity,
    )
    term.write(f"Step {_safe(step)!r} {_safe(decision.describe())}.\n")
    return decision


def current_user(environ: Mapping[str, str] | None = None) -> str:
    """Who is deciding when nobody says: the CI actor, else the OS user, else "unknown"."""
    return who_is_here(environ).verified or "unknown"


async def ask_on_tty(
    message: str,
    approvers: Sequence[str],
    timeout: float | None,
    *,
    step: str,
    run_id: str = "RUN_ID",
    terminal: str = TERMINAL,
    identity: Identity | None = None,
) -> ApprovalDecision | None:
    """Ask on the controlling terminal (y/n, then an optional comment) without blocking the
    event loop. `identity` (default: this process's, `who_is_here`) decides who answers:
    when approvers are listed and its verified name is not one of them, nothing is asked
    (None); only when there is no verified name is a name asked, and it must be listed.
    Returns None when there is no terminal, on end of input, or when nobody answered
    within `timeout` seconds: the run then waits for `flowctl approve`.
    `message` is shown as given: mask it first.
    """
    try:
        fd = os.open(terminal, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    term = _Terminal(fd)
    try:
        async with asyncio.timeout(timeout):
            who = who_is_here() if identity is None else identity
            return await _converse(term, step, message, approvers, who, run_id)
    except TimeoutError:
        with contextlib.suppress(OSError):
            term.write(
                f"\nNo answer within {timeout:g} s; the run will wait for "
                f"`flowctl approve {_safe(run_id)} {_safe(step)}`.\n"
            )
        return None
    finally:
        os.close(fd)

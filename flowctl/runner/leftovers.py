"""Process groups a killed run left behind: recorded per attempt, killed on resume.

Each shell attempt runs in its own session, so its pid is its process group id; the
journal records it (`process_started`: `pgid`, and the leader's start time in clock ticks
since boot from /proc/<pid>/stat). A `kill -9` of flowctl cannot take the group with it.
`resume` and `flowctl runs`, holding the run's lock (so no session of the run is alive),
kill the groups of attempts that never finished, but only a group proven to be the
run's own: its leader still alive with the recorded start time, or a member whose
environment carries `FLOWCTL_RUN_ID=<run>`. Linux gives a pid that is a live group's id
to no new process, so a member proven ours proves the group; a number reused after the
group ended matches neither test and is left alone. Only Linux has /proc: elsewhere nothing
is killed.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path

from msgspec import Struct

from flowctl.state.audit import STEP_END_EVENTS, AuditEvent

PROCESS_EVENT = "process_started"
# After these a step has no process of its own left running.
_FINISHED = STEP_END_EVENTS | {"step_retrying", "step_waiting"}
_PROC = Path("/proc")


class Leftover(Struct, frozen=True):
    step: str
    attempt: int | None
    pgid: int
    start: int | None


def start_ticks(pid: int, proc: Path = _PROC) -> int | None:
    """The process's start time in clock ticks since boot (None when unreadable)."""
    stat = _stat(pid, proc)
    return stat[1] if stat is not None else None


def _stat(pid: int, proc: Path) -> tuple[int, int] | None:
    """(process group id, start time) from /proc/<pid>/stat; None for a zombie (it is dead,
    only not reaped yet) or when unreadable."""
    try:
        # os.open rather than pathlib: this runs once for every process a step spawns.
        fd = os.open(f"{proc}/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        text = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    # The command name (field 2) may hold spaces and parentheses: fields follow the last ')'.
    fields = text[text.rfind(b")") + 2 :].split()
    if not fields or fields[0] in (b"Z", b"X"):
        return None
    try:
        return int(fields[2]), int(fields[19])  # fields 5 (pgrp) and 22 (starttime)
    except (IndexError, ValueError):
        return None


def unfinished(events: Iterable[AuditEvent]) -> list[Leftover]:
    """The process groups of attempts the journal never saw finish, from any session."""
    groups: dict[str, Leftover] = {}
    for event in events:
        if event.step is None:
            continue
        if event.event == PROCESS_EVENT:
            pgid, start = event.data.get("pgid"), event.data.get("start")
            if isinstance(pgid, int) and not isinstance(pgid, bool) and pgid > 1:
                groups[f"{event.step}\0{pgid}"] = Leftover(
                    event.step,
                    event.attempt,
                    pgid,
                    start if isinstance(start, int) and not isinstance(start, bool) else None,
                )
        elif event.event in _FINISHED:
            for key in [k for k, g in groups.items() if g.step == event.step]:
                del groups[key]
    return list(groups.values())


def _members(pgid: int, proc: Path) -> Iterator[int]:
    try:
        entries = [entry.name for entry in proc.iterdir()]
    except OSError:
        return
    for name in entries:
        if name.isdigit():
            stat = _stat(int(name), proc)
            if stat is not None and stat[0] == pgid:
                yield int(name)


def owned(group: Leftover, run_id: str, proc: Path = _PROC) -> bool:
    """Whether the live group `group.pgid` is the one the run started (see the module)."""
    marker = f"FLOWCTL_RUN_ID={run_id}".encode()
    for pid in _members(group.pgid, proc):
        if pid == group.pgid and group.start is not None and start_ticks(pid, proc) == group.start:
            return True
        try:
            environ = (proc / str(pid) / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            return True
    return False


def kill_leftovers(
    events: list[AuditEvent], run_id: str, proc: Path = _PROC
) -> list[tuple[Leftover, bool]]:
    """Kill (SIGKILL) the run's leftover groups that are alive and proven its own.

    The caller holds the run's lock. Returns each group found alive and the verdict:
    True when killed, False when it was left alone (not proven the run's own).
    """
    if not proc.is_dir():
        return []
    host = next((e.data.get("host") for e in reversed(events) if e.event == "run_started"), None)
    if isinstance(host, str) and host != socket.gethostname():
        return []  # the groups live on another machine
    found = []
    for group in unfinished(events):
        if not any(True for _ in _members(group.pgid, proc)):
            continue
        mine = owned(group, run_id, proc)
        if mine:
            try:
                os.killpg(group.pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                continue
        found.append((group, mine))
    return found


def describe(found: list[tuple[Leftover, bool]]) -> list[str]:
    """One line per group found alive, for stderr."""
    lines = []
    for group, killed in found:
        what = f"process group {group.pgid} of step '{group.step}'"
        if group.attempt is not None:
            what += f" (attempt {group.attempt})"
        if killed:
            lines.append(f"killed {what}, left running by the killed run")
        else:
            lines.append(
                f"left {what} alone: process group {group.pgid} is alive but no longer "
                "provably this run's (its leader is gone and no member carries the run id)"
            )
    return lines


def reap_run(run_dir: Path, run_id: str) -> list[str]:
    """`kill_leftovers` for a run directory, under the run's lock; nothing while a live
    session of the run holds it."""
    from flowctl.errors import StateError
    from flowctl.runner.runlock import run_lock
    from flowctl.state.audit import read_journal

    audit = run_dir / "audit.jsonl"
    if not audit.is_file():
        return []
    try:
        with run_lock(run_dir, run_id):
            return describe(kill_leftovers(read_journal(audit).events, run_id))
    except StateError:
        return []

"""Past runs read back from their directories: report.json, else the audit journal folded."""

from __future__ import annotations

import difflib
import enum
import json
import os
import socket
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from msgspec import Struct
from msgspec.structs import replace

from flowctl.errors import StateError
from flowctl.state.audit import AuditEvent, read_journal
from flowctl.state.paths import list_run_dirs
from flowctl.status import RunStatus, StepStatus

_RUN_STATUSES = frozenset(s.value for s in RunStatus)
_STEP_STATUSES = frozenset(s.value for s in StepStatus)
_MAX_REPORT_BYTES = 64 * 1024 * 1024  # a report.json bigger than this is not one of ours


class RunState(enum.StrEnum):
    """A run's status as `flowctl runs` shows it: a RunStatus, or what its files imply."""

    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    ROLLBACK = "rollback"
    INTERRUPTED = "interrupted"  # started, never finished, its process is gone
    UNKNOWN = "unknown"  # the files do not say

    @classmethod
    def parse(cls, value: object) -> RunState:
        if isinstance(value, str) and value in _RUN_STATUSES:
            return cls(value)
        return cls.UNKNOWN


class StepSummary(Struct, frozen=True, kw_only=True):
    """One step of a past run (a loop iteration's child is a step of its own)."""

    id: str
    status: StepStatus
    attempts: int = 0
    duration: float | None = None
    error: str | None = None
    note: str | None = None  # why skipped, an approval decision, "cached", ...
    agent: str | None = None
    worker: str | None = None  # the remote worker of its latest attempt


class RunSummary(Struct, frozen=True, kw_only=True):
    """One past run as read from its directory."""

    run_id: str
    run_dir: Path
    workflow: str | None = None
    status: RunState = RunState.UNKNOWN
    started_at: datetime | None = None
    duration: float | None = None
    error: str | None = None
    source: str = "none"  # "report.json", "audit.jsonl" or "none"
    warnings: tuple[str, ...] = ()


def _parse_time(value: object) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return None


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value == value:
        return float(value)
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _read_report(path: Path) -> Mapping[str, Any] | None:
    """report.json as a mapping, or None when it is missing, too big or not a JSON object."""
    try:
        if path.stat().st_size > _MAX_REPORT_BYTES:
            return None
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _summary_from_report(run_dir: Path, report: Mapping[str, Any]) -> RunSummary | None:
    status = RunState.parse(report.get("status"))
    if status is RunState.UNKNOWN:
        return None  # not a report this version understands: the audit log decides
    workflow = report.get("workflow")
    if isinstance(workflow, dict):
        workflow = workflow.get("name")
    started = _parse_time(report.get("started_at"))
    duration = _number(report.get("duration"))
    if duration is None and started is not None:
        finished = _parse_time(report.get("finished_at"))
        duration = (finished - started).total_seconds() if finished else None
    return RunSummary(
        run_id=run_dir.name,
        run_dir=run_dir,
        workflow=_text(workflow),
        status=status,
        started_at=started,
        duration=duration,
        error=_text(report.get("error")),
        source="report.json",
    )


def _steps_from_report(report: Mapping[str, Any]) -> list[StepSummary]:
    raw = report.get("steps")
    entries: list[tuple[str, Any]] = []
    if isinstance(raw, dict):
        entries = [(str(k), v) for k, v in raw.items()]
    elif isinstance(raw, list):
        entries = [(str(v.get("id")), v) for v in raw if isinstance(v, dict) and v.get("id")]
    steps = []
    for step_id, entry in entries:
        if not isinstance(entry, dict):
            continue
        raw_status = entry.get("status")
        if not isinstance(raw_status, str) or raw_status not in _STEP_STATUSES:
            continue
        status = StepStatus(raw_status)
        attempts = entry.get("attempts")
        steps.append(
            StepSummary(
                id=step_id,
                status=status,
                attempts=attempts if isinstance(attempts, int) and attempts > 0 else 0,
                duration=_number(entry.get("duration")),
                error=_text(entry.get("error")),
                note=_text(entry.get("reason"))
                or ("cached" if entry.get("cached") else None)
                or ("up to date" if entry.get("up_to_date") else None),
                agent=_text(entry.get("agent")),
            )
        )
    return steps


def _process_alive(data: Mapping[str, Any]) -> bool | None:
    """Is the process that wrote run_started still there? None when the journal can't say."""
    pid = data.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    host = data.get("host")
    if isinstance(host, str) and host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    except OSError:
        return None
    return True


def _summary_from_audit(run_dir: Path, events: Sequence[AuditEvent], now: datetime) -> RunSummary:
    workflow: str | None = None
    started: datetime | None = None
    finished: AuditEvent | None = None
    last_start: AuditEvent | None = None
    last_ts: datetime | None = None
    for event in events:
        ts = _parse_time(event.ts)
        last_ts = ts or last_ts
        if event.event == "run_started":
            workflow = _text(event.data.get("workflow")) or workflow
            started = started or ts
            last_start = event
            finished = None  # a resumed run is unfinished again until its next run_finished
        elif event.event == "run_finished":
            finished = event
    if finished is not None:
        status = RunState.parse(finished.data.get("status"))
        duration = _number(finished.data.get("duration"))
        end = _parse_time(finished.ts)
        error = _text(finished.data.get("error"))
    else:
        status = _unfinished_state(last_start)
        duration = None
        end = now if status is RunState.RUNNING else last_ts
        error = None
    if duration is None and started is not None and end is not None:
        duration = max((end - started).total_seconds(), 0.0)
    return RunSummary(
        run_id=run_dir.name,
        run_dir=run_dir,
        workflow=workflow,
        status=status,
        started_at=started,
        duration=duration,
        error=error,
        source="audit.jsonl",
    )


def _unfinished_state(run_started: AuditEvent | None) -> RunState:
    """Running or interrupted: asks whether the pid in run_started is still alive."""
    if run_started is None:
        return RunState.UNKNOWN
    alive = _process_alive(run_started.data)
    if alive is not None:
        return RunState.RUNNING if alive else RunState.INTERRUPTED
    # A pid on another host cannot be checked from here. No pid at all: the files alone
    # cannot tell a live run from a dead one, and a run without run_finished that is not
    # being watched right now was almost always killed.
    return RunState.UNKNOWN if "pid" in run_started.data else RunState.INTERRUPTED


def _journal_warnings(name: str, torn: bool, bad_lines: Sequence[int]) -> tuple[str, ...]:
    warnings = []
    if bad_lines:
        shown = ", ".join(str(n) for n in bad_lines[:10])
        more = f" and {len(bad_lines) - 10} more" if len(bad_lines) > 10 else ""
        warnings.append(f"{name}: skipped unreadable lines {shown}{more}")
    if torn:
        warnings.append(f"{name}: dropped a torn last line (the run was probably killed)")
    return tuple(warnings)


def _report_is_current(run_dir: Path) -> bool:
    """False when the journal changed after the report: the run was resumed since."""
    try:
        report = (run_dir / "report.json").stat().st_mtime_ns
    except OSError:
        return False
    try:
        audit = (run_dir / "audit.jsonl").stat().st_mtime_ns
    except OSError:
        return True
    return report >= audit


def load_run(run_dir: Path, *, now: datetime | None = None) -> RunSummary:
    """A run's summary from report.json when it is there and sound, else from audit.jsonl."""
    now = now or datetime.now(UTC)
    report = _read_report(run_dir / "report.json") if _report_is_current(run_dir) else None
    if report is not None:
        summary = _summary_from_report(run_dir, report)
        if summary is not None:
            return summary
    try:
        journal = read_journal(run_dir / "audit.jsonl")
    except StateError:
        return RunSummary(run_id=run_dir.name, run_dir=run_dir)
    summary = _summary_from_audit(run_dir, journal.events, now)
    warnings = _journal_warnings("audit.jsonl", journal.torn_tail, journal.bad_lines)
    return replace(summary, warnings=warnings)


def _fold_steps(events: Sequence[AuditEvent]) -> list[StepSummary]:
    """Each step's latest state from the journal, in the order steps first appeared."""
    steps: dict[str, StepSummary] = {}
    started_at: dict[str, datetime] = {}
    for event in events:
        if event.step is None:
            continue
        step = steps.get(event.step) or StepSummary(id=event.step, status=StepStatus.PENDING)
        data = event.data
        kind = event.event
        if kind == "step_started":
            ts = _parse_time(event.ts)
            if ts is not None and (event.step not in started_at or (event.attempt or 1) <= 1):
                started_at[event.step] = ts
            step = replace(
                step,
                status=StepStatus.RUNNING,
                attempts=max(step.attempts, event.attempt or 1),
                agent=_text(data.get("agent")) or step.agent,
                error=None,
            )
        elif kind == "step_placed":
            step = replace(step, worker=_text(data.get("worker")) or step.worker)
        elif kind == "step_retrying":
            step = replace(step, status=StepStatus.RETRYING, error=_text(data.get("error")))
        elif kind in _FINAL_EVENTS or _final_status(data) is not None:
            duration = _number(data.get("duration"))
            begun, ended = started_at.get(event.step), _parse_time(event.ts)
            if duration is None and begun is not None and ended is not None:
                duration = max((ended - begun).total_seconds(), 0.0)
            attempts = data.get("attempts")
            step = replace(
                step,
                status=_FINAL_EVENTS.get(kind) or _final_status(data) or StepStatus.FAILED,
                attempts=max(step.attempts, attempts if isinstance(attempts, int) else 0),
                duration=duration,
                error=_text(data.get("error")),
                note=(
                    _text(data.get("reason"))
                    or ("cached" if data.get("cached") else None)
                    or ("up to date" if data.get("up_to_date") else None)
                    or step.note  # an approval decision stays worth showing
                ),
            )
        elif kind == "approval_requested":
            step = replace(step, status=StepStatus.WAITING)
        elif kind == "approval_decided":
            step = replace(step, note=_decision(data))
        elif kind == "rollback_finished":
            error = _text(data.get("error"))
            if error:
                step = replace(step, note=f"rollback failed: {error}")
            else:
                step = replace(step, status=StepStatus.ROLLED_BACK)
        steps[event.step] = step
    return list(steps.values())


_FINAL_EVENTS = {
    "step_completed": StepStatus.COMPLETED,
    "step_failed": StepStatus.FAILED,
    "step_skipped": StepStatus.SKIPPED,
    "step_cancelled": StepStatus.CANCELLED,
    "step_rolled_back": StepStatus.ROLLED_BACK,
}


def _final_status(data: Mapping[str, Any]) -> StepStatus | None:
    """The final status a step event names in its data (newer event kinds carry one)."""
    raw = data.get("status")
    if isinstance(raw, str) and raw in _STEP_STATUSES and StepStatus(raw).finished:
        return StepStatus(raw)
    return None


def _decision(data: Mapping[str, Any]) -> str:
    approved = data.get("approved")
    if approved is None:
        approved = data.get("decision") in ("approved", "approve")
    verdict = "approved" if approved else "rejected"
    by = _text(data.get("by"))
    comment = _text(data.get("comment"))
    return verdict + (f" by {by}" if by else "") + (f": {comment}" if comment else "")


def load_run_steps(run_dir: Path) -> tuple[RunSummary, list[StepSummary]]:
    """The run and its steps: steps from the journal (the source of truth), else the report."""
    summary = load_run(run_dir)
    try:
        journal = read_journal(run_dir / "audit.jsonl")
    except StateError:
        journal = None
    if journal is not None and journal.events:
        steps = _fold_steps(journal.events)
        warnings = _journal_warnings("audit.jsonl", journal.torn_tail, journal.bad_lines)
        summary = replace(summary, warnings=tuple(dict.fromkeys((*summary.warnings, *warnings))))
    else:
        report = _read_report(run_dir / "report.json")
        steps = _steps_from_report(report) if report is not None else []
    if summary.source == "none" and not steps:
        raise StateError(f"run {summary.run_id} has no readable report.json or audit.jsonl")
    return summary, steps


def resolve_run_dir(state_dir: Path, run_id: str) -> Path:
    """The directory of `run_id` or of the one run whose id starts with it.

    Only names found by listing state_dir/runs are ever used, so a hostile RUN_ID such as
    `../../etc` can name nothing outside it.
    """
    dirs = list_run_dirs(state_dir)
    by_name = {d.name: d for d in dirs}
    if run_id in by_name:
        return by_name[run_id]
    matches = [d for d in dirs if run_id and d.name.startswith(run_id)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = ", ".join(d.name for d in matches[:5])
        more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
        raise StateError(f"run id prefix {run_id!r} is ambiguous: it matches {names}{more}")
    where = state_dir / "runs"
    if not dirs:
        from flowctl.state.locate import where_looked

        raise StateError(
            f"no run {run_id!r}: there are no runs in {where}{where_looked(state_dir)}"
        )
    close = difflib.get_close_matches(run_id, list(by_name), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `flowctl runs` lists them"
    raise StateError(f"no run {run_id!r} in {where}{hint}")

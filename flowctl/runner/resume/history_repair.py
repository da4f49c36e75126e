"""Repair a history record lost to a late kill, from the run's journal, exactly once.

A run appends run_finished to its journal, then its line to history.jsonl. A kill -9
between the two leaves a finished run without a history record, and `resume` of a finished
run used to exit 0 without writing it. Each finished session of a run writes one history
line, so the journal's run_finished events count the lines history must hold for the run:
when it holds fewer, the last session's record is rebuilt from the journal (the step events
hold each step's status, timings, attempts and errors) and appended. A second repair finds
the counts equal and writes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flowctl.errors import HistoryError
from flowctl.runner.resume.restore import Replay
from flowctl.spec.model import Workflow
from flowctl.state.audit import STEP_END_EVENTS, AuditEvent, parse_ts, read_journal
from flowctl.state.history import append_record, iter_history
from flowctl.state.records import RunRecord, StepRecord


def repair_history(wf: Workflow | None, audit: Path, history: Path, run_id: str) -> bool:
    """Append the run's missing history record; True when one was written.

    Without the workflow (`flowctl runs`, which loads no spec) the record takes the
    workflow's name, version and spec digest from the journal's run_started, and knows
    no step's timeout or retry limit (none and 1, as for a step the spec no longer has).
    The caller holds the run's lock, so no live session is about to write the line.
    """
    from flowctl.state.audit import read_events_named

    # The run_finished lines alone say whether a line is missing; the whole journal (which
    # may hold every step's outputs) is read only to rebuild one.
    sessions = len(read_events_named(audit, "run_finished"))
    if not sessions:
        return False
    try:
        recorded = sum(1 for r in iter_history(history) if r.run_id == run_id)
    except HistoryError:
        recorded = 0  # no history file yet: the record is missing
    if recorded >= sessions:
        return False
    events = read_journal(audit).events
    finished = [e for e in events if e.event == "run_finished"]
    if not finished:
        return False
    append_record(history, _record_of(wf, events, finished[-1], run_id))
    return True


def _record_of(
    wf: Workflow | None, events: list[AuditEvent], finish: AuditEvent, run_id: str
) -> RunRecord:
    replay = Replay.of(events)
    first = replay.first_started or events[0]
    steps_by_id = {step.id: step for step, _ in wf.walk()} if wf is not None else {}
    records = []
    for qid, event in replay.latest.items():
        if event.event not in STEP_END_EVENTS:
            continue
        records.append(_step_record(qid, event, steps_by_id))
    began = parse_ts(first.ts) or 0.0
    ended = parse_ts(finish.ts) or began
    duration = finish.data.get("duration")
    started = first.data
    return RunRecord(
        run_id=run_id,
        workflow=wf.name if wf is not None else _text(started.get("workflow")) or "?",
        workflow_version=wf.version if wf is not None else _text(started.get("version")),
        spec_sha256=wf.sha256 if wf is not None else _text(started.get("spec_sha256")),
        status=str(finish.data.get("status", "failed")),
        started_at=first.ts,
        finished_at=finish.ts,
        duration=round(_finite(duration, ended - began), 6),
        steps=tuple(records),
        max_parallel_steps=_int(first.data.get("max_parallel")),
    )


def _step_record(qid: str, event: AuditEvent, steps: Mapping[str, Any]) -> StepRecord:
    data = event.data
    step = steps.get(qid.rsplit(".", 1)[-1].split("[", 1)[0])
    duration = _finite(data.get("duration"), 0.0)
    end = parse_ts(event.ts)
    return StepRecord(
        id=qid,
        type=str(data.get("type", "action")),
        status=str(data.get("status", event.event.removeprefix("step_"))),
        started_at=None,
        finished_at=event.ts if end is not None else None,
        duration=round(duration, 6),
        attempts=_int(data.get("attempts")) or 0,
        cached=bool(data.get("cached", False)),
        error=data.get("error") if isinstance(data.get("error"), str) else None,
        error_kind=data.get("error_kind") if isinstance(data.get("error_kind"), str) else None,
        timeout=getattr(step, "timeout", None),
        max_attempts=step.retry_policy.max_attempts if step is not None else 1,
        parent=data.get("parent") if isinstance(data.get("parent"), str) else None,
    )


def _finite(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if number == number and 0.0 <= number < 1e10:
            return number
    return default


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def repair_listed_runs(runs: Sequence[tuple[Path, str]], state_dir: Path) -> list[str]:
    """`flowctl runs`: repair dead runs' missing history records from their journals alone.

    Only for runs whose last session recorded its history in the state directory's
    history.jsonl (run_started's `history`: not one kept with --history elsewhere, nor
    one written before flowctl recorded that). Cheap when nothing is missing: the history
    is read once, and of each journal only its run_started and run_finished lines. A run
    whose lock is held (a live session, which writes its own line) is left alone.
    Returns the ids of the runs repaired.
    """
    from flowctl.errors import StateError
    from flowctl.runner.runlock import run_lock
    from flowctl.state.audit import read_events_named
    from flowctl.state.paths import HISTORY_FILE
    from flowctl.state.projectroot import project_root

    history = state_dir / HISTORY_FILE
    root = project_root(state_dir)

    try:
        recorded = Counter(r.run_id for r in iter_history(history))
    except HistoryError:
        recorded = Counter()
    repaired = []
    for run_dir, run_id in runs:
        audit = run_dir / "audit.jsonl"
        try:
            if not audit.is_file():
                continue
            sessions = read_events_named(audit, "run_started", "run_finished")
            finished = sum(1 for e in sessions if e.event == "run_finished")
            if finished <= recorded[run_id] or not _recorded_in(sessions, history, root):
                continue
            with run_lock(run_dir, run_id):
                if repair_history(None, audit, history, run_id):
                    repaired.append(run_id)
        except (StateError, HistoryError):
            continue
    return repaired


def _recorded_in(sessions: Sequence[AuditEvent], history: Path, root: Path) -> bool:
    """Whether the last session's run_started says its history line goes to `history`."""
    started = [e for e in sessions if e.event == "run_started"]
    recorded = started[-1].data.get("history") if started else None
    if not isinstance(recorded, str):
        return False
    return (root / recorded).resolve() == history.resolve()

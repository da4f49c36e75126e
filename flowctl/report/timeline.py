"""A run's timeline from its journal: every attempt, backoff, queue wait and approval wait."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from msgspec import Struct, field

from flowctl.state.audit import AuditEvent

_FINAL = {"step_completed", "step_failed", "step_cancelled", "step_skipped", "step_finished"}


class Span(Struct, frozen=True):
    """A stretch of time on one step's row of the chart."""

    kind: str  # "attempt", "backoff", "queue", "wait"
    start: float
    end: float
    attempt: int | None = None
    status: str | None = None  # how an attempt ended: completed, failed, retried...


class StepLine(Struct):
    """One step's row: its spans and the facts the report shows beside them."""

    id: str
    type: str = ""
    status: str = ""
    attempts: int = 0
    duration: float = 0.0
    error: str | None = None
    reason: str | None = None
    agent: str | None = None
    cached: bool = False
    log: str | None = None
    spans: list[Span] = field(default_factory=list)
    label: str = ""  # a loop iteration's labelled id (compile[lapi.c].cc), from report.json

    @property
    def name(self) -> str:
        """What the report calls the step: its labelled id, else its id."""
        return self.label or self.id


def ts(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def build_timeline(
    events: Sequence[AuditEvent], report_steps: Iterable[Mapping[str, Any]]
) -> list[StepLine]:
    """Rows in the order steps first appear; spans from the journal, facts from the report."""
    lines: dict[str, StepLine] = {}
    open_attempt: dict[str, tuple[float, int]] = {}
    backoff_from: dict[str, float] = {}
    waiting_from: dict[str, float] = {}

    def line(step: str) -> StepLine:
        if step not in lines:
            lines[step] = StepLine(step)
        return lines[step]

    for event in events:
        step, when = event.step, ts(event.ts)
        if step is None or when is None:
            continue
        row = line(step)
        if event.event == "step_started":
            row.type = str(event.data.get("type") or row.type)
            if event.data.get("agent"):
                row.agent = str(event.data["agent"])
            if step in backoff_from:
                row.spans.append(Span("backoff", backoff_from.pop(step), when))
            if step in waiting_from:  # an approval that came in a later session
                row.spans.append(Span("wait", waiting_from.pop(step), when))
            open_attempt[step] = (when, event.attempt or 1)
        elif event.event == "step_retrying" and step in open_attempt:
            start, attempt = open_attempt.pop(step)
            row.spans.append(Span("attempt", start, when, attempt, "retried"))
            backoff_from[step] = when
        elif event.event in ("step_waiting", "approval_requested"):
            waiting_from.setdefault(step, when)
            if step in open_attempt and event.event == "step_waiting":
                start, attempt = open_attempt.pop(step)
                row.spans.append(Span("attempt", start, when, attempt, "waiting"))
        elif event.event == "approval_decided" and step in waiting_from:
            row.spans.append(Span("wait", waiting_from.pop(step), when))
        elif event.event in _FINAL:
            status = str(event.data.get("status") or event.event.removeprefix("step_"))
            if step in open_attempt:
                start, attempt = open_attempt.pop(step)
                row.spans.append(Span("attempt", start, when, attempt, status))
    for entry in report_steps:
        row = line(str(entry.get("id")))
        row.label = str(entry.get("label") or "")
        row.type = str(entry.get("type") or row.type)
        row.status = str(entry.get("status") or "")
        row.attempts = int(entry.get("attempts") or 0)
        row.duration = float(entry.get("duration") or 0.0)
        row.error = entry.get("error")
        row.reason = entry.get("reason")
        row.cached = bool(entry.get("cached"))
        row.log = entry.get("log")
        queued = float(entry.get("queued") or 0.0)
        first = next((s for s in row.spans if s.kind == "attempt"), None)
        if queued > 0 and first is not None:
            row.spans.insert(0, Span("queue", first.start - queued, first.start))
    return list(lines.values())


def run_edges(history: Path, run_id: str) -> list[tuple[str, str]]:
    """The run's dependency edges from its history line (the newest session's), if any."""
    edges: list[tuple[str, str]] = []
    try:
        with history.open(encoding="utf-8") as f:
            for raw in f:
                if run_id not in raw:
                    continue
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue
                if record.get("run_id") == run_id:
                    edges = [(str(a), str(b)) for a, b in record.get("edges") or ()]
    except OSError:
        return []
    return edges

"""A run's history from its journal: each session (run or resume) and what happened between."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from msgspec import Struct

from flowctl.state.audit import AuditEvent


class Moment(Struct, frozen=True):
    """One line of a run's history: a session that ran, or a decision between sessions."""

    start: float | None
    end: float | None  # None: still running, or cut short (crash) before run_finished
    what: str  # "started", "resumed", "approved by ada", ...
    status: str | None = None  # how a session ended: failed, waiting_approval, ...


def _ts(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def run_history(events: Sequence[AuditEvent]) -> list[Moment]:
    """Every session of the run in order (started, resumed), with how each ended, and the
    approval decisions recorded between sessions (`flowctl approve`)."""
    moments: list[Moment] = []
    open_start: float | None = None
    open_what = ""
    in_session = False
    for event in events:
        if event.event == "run_started":
            if in_session:  # the previous session never finished: it was killed
                moments.append(Moment(open_start, None, open_what, "interrupted"))
            in_session = True
            open_start = _ts(event.ts)
            open_what = "resumed" if event.data.get("resumed") else "started"
        elif event.event == "run_finished" and in_session:
            status = event.data.get("status")
            moments.append(
                Moment(open_start, _ts(event.ts), open_what, str(status) if status else None)
            )
            in_session = False
        elif event.event == "approval_decided" and not in_session:
            decision = str(event.data.get("decision") or "decided")
            by = event.data.get("by")
            step = f" {event.step}" if event.step else ""
            who = f" by {by}" if by else ""
            moments.append(Moment(_ts(event.ts), None, f"{decision}{step}{who}"))
    if in_session:
        moments.append(Moment(open_start, None, open_what, None))
    return moments


def total_span(moments: Sequence[Moment]) -> tuple[float, float] | None:
    """From the first start to the last recorded moment."""
    times = [t for m in moments for t in (m.start, m.end) if t is not None]
    return (min(times), max(times)) if times else None

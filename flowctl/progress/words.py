"""The phrases both progress views use for approvals, circuits, rollback and restored steps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flowctl.durations import format_duration
from flowctl.status import StepStatus
from flowctl.textout import one_line, safe_text

# How a decision was given, when it was not typed by a person (approvals.DecisionSource).
_SOURCES = {"flag": " (--approve)", "auto": " (--auto-approve)"}
_STATES = {"half_open": "half-open"}


def plural(n: int, noun: str) -> str:
    """`1 step`, `3 steps`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def approval_request(message: str, approvers: Sequence[str], timeout: float | None) -> str:
    """`Deploy v2? (approvers: alice, bob; timeout 4h00m)`: what the person is asked."""
    details = []
    if approvers:
        details.append("approvers: " + ", ".join(safe_text(a) for a in approvers))
    if timeout is not None:
        details.append(f"timeout {format_duration(timeout)}")
    text = one_line(message) if message.strip() else "no message"
    return f"{text} ({'; '.join(details)})" if details else text


def decision(data: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether it was approved, and `approved by alice: looks good` from the event's data."""
    approved = data.get("approved") is True
    by = data.get("by")
    comment = data.get("comment")
    source = data.get("source")
    text = f"{'approved' if approved else 'rejected'} by {safe_text(str(by or 'unknown'))}"
    if isinstance(source, str):
        text += _SOURCES.get(source, "")
    if isinstance(comment, str) and comment.strip():
        text += f": {one_line(comment)}"
    return approved, text


def circuit(name: str, state: str, step: str) -> str:
    """`circuit 'payments' open (step pay)`."""
    shown = _STATES.get(state, state)
    return f"circuit '{safe_text(name)}' {safe_text(shown)} (step {safe_text(step)})"


def rollback_action_failed(step: str, index: int, error: str | None) -> str:
    """`charge rollback action 2 failed: <error>`; actions are numbered from 1 as written."""
    detail = f": {one_line(error)}" if error else ""
    return f"{safe_text(step)} rollback action {index + 1} failed{detail}"


def restored_summary(counts: Mapping[StepStatus, int]) -> str:
    """`restored 12 steps from the journal: 10 completed, 1 skipped, 1 failed (handled)`."""
    total = sum(counts.values())
    parts = [
        f"{n} {'failed (handled)' if status is StepStatus.FAILED else status.value}"
        for status, n in counts.items()
        if n
    ]
    if counts.get(StepStatus.COMPLETED) == total:
        return f"restored {plural(total, 'completed step')} from the journal"
    return f"restored {plural(total, 'step')} from the journal: {', '.join(parts)}"

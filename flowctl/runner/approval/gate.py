"""The run's approval policy: who may decide a human_task now, and what happens if nobody can.

In order: a decision already in the journal (`flowctl approve`, read back on resume); a
decision given up front (`--approve STEP`, `--auto-approve`); a question on the
terminal when the run is interactive; otherwise the step waits and the run ends
`waiting_approval`. `approval.timeout` runs from the step's first approval_requested, so a
paused run resumed too late fails the step, as a terminal left unanswered does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager, nullcontext

from flowctl.durations import format_duration
from flowctl.runner.approval.decisions import (
    ApprovalDecision,
    DecisionSource,
    ask_on_tty,
    decider,
)
from flowctl.runner.approval.identity import Identity, who_is_here
from flowctl.runner.events import ApprovalDecided, ApprovalRequested, RunEvent
from flowctl.runner.steps.base import ApprovalPending, FailureKind, StepContext, StepFailure
from flowctl.spec.model import HumanTaskStep
from flowctl.state.audit import parse_ts, utc_timestamp


class ApprovalGate:
    """Implements steps.base.Approvals for one run (or one resumed session of it)."""

    def __init__(
        self,
        *,
        run_id: str,
        emit: Callable[[RunEvent], None],
        approve: Collection[str] = (),
        auto_approve: bool = False,
        interactive: bool = False,
        decisions: Mapping[str, ApprovalDecision] | None = None,
        requested: Mapping[str, float] | None = None,
        identity: Identity | None = None,
        terminal: str | None = None,
        quiet_display: Callable[[], AbstractContextManager[object]] = nullcontext,
    ) -> None:
        self._run_id = run_id
        self._emit = emit
        self._approve = frozenset(approve)
        self._auto = auto_approve
        self._interactive = interactive
        self._decisions = dict(decisions or {})
        self._requested = dict(requested or {})  # qid -> time of its pending request
        self._identity = who_is_here() if identity is None else identity
        self._terminal = terminal
        self._quiet_display = quiet_display  # the live view must not draw over the question

    async def decide(self, ctx: StepContext, message: str) -> ApprovalDecision:
        step = ctx.step
        if not isinstance(step, HumanTaskStep):
            raise TypeError(f"step {step.id!r} is not a human_task step")
        qid = ctx.qualified_id
        timeout = step.approval.timeout
        requested = self._requested.get(qid)
        decided = self._decisions.get(qid)
        if decided is not None:  # someone decided this very step: that stands
            if timeout is not None and _late(decided, requested, timeout):
                raise _timed_out(timeout, late=True)
            return decided  # already in the journal: not recorded twice
        source = self._up_front(qid, step.id)
        if source is not None:
            return self._record(
                ApprovalDecision(
                    step=qid,
                    approved=True,
                    by=decider(self._identity, None)[0],
                    comment=None,
                    ts=utc_timestamp(),
                    source=source,
                    identity=self._identity,
                )
            )
        now = time.time()
        if requested is None:
            requested = now
            self._requested[qid] = now
            self._emit(
                ApprovalRequested(
                    step=qid,
                    message=message,
                    approvers=step.approval.approvers,
                    timeout=timeout,
                    ts=now,
                )
            )
        elif timeout is not None and now - requested >= timeout:
            raise _timed_out(timeout)
        if self._interactive:
            remaining = None if timeout is None else max(timeout - (now - requested), 0.0)
            options = {"terminal": self._terminal} if self._terminal else {}
            with self._quiet_display():
                answer = await ask_on_tty(
                    message,
                    step.approval.approvers,
                    remaining,
                    step=qid,
                    run_id=self._run_id,
                    identity=self._identity,
                    **options,
                )
            if answer is not None:
                return self._record(answer)
            if timeout is not None and time.time() - requested >= timeout:
                raise _timed_out(timeout)
        raise ApprovalPending((qid,))

    def _up_front(self, qid: str, step_id: str) -> DecisionSource | None:
        if qid in self._approve or step_id in self._approve:
            return DecisionSource.FLAG
        if self._auto:
            return DecisionSource.AUTO
        return None

    def _record(self, decision: ApprovalDecision) -> ApprovalDecision:
        self._decisions[decision.step] = decision
        self._emit(ApprovalDecided(step=decision.step, data=decision.to_data(), ts=time.time()))
        return decision


def _late(decision: ApprovalDecision, requested: float | None, timeout: float) -> bool:
    """A decision given after its approval timed out."""
    moment = parse_ts(decision.ts)
    return requested is not None and moment is not None and moment - requested > timeout


def _timed_out(timeout: float, *, late: bool = False) -> StepFailure:
    detail = " (the decision came later)" if late else ""
    return StepFailure(
        f"approval timed out after {format_duration(timeout)}{detail}",
        kind=FailureKind.TIMEOUT,
        retryable=False,
    )

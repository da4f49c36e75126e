"""The run's saga: remember what completed steps can undo, and undo it when the run fails.

Every completed step with `rollback_actions` is remembered in completion order (steps
restored by resume first, in their original order). On an unhandled failure, a timeout or
a cancel, `compensate` runs their actions newest first through `rollback.run_rollback`,
auditing each action; a step whose actions all succeeded ends `rolled_back`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowctl.errors import StateError
from flowctl.runner.data import step_env
from flowctl.runner.events import (
    RollbackActionDone,
    RollbackFinished,
    RollbackStarted,
    RunStatusChanged,
    StepFinished,
)
from flowctl.runner.rollback import Compensation, RollbackOutcome, compensation_names, run_rollback
from flowctl.runner.steplog import FileStepLog
from flowctl.runner.steps.base import StepContext
from flowctl.spec.model import RollbackAction, Step
from flowctl.status import RunStatus, StepStatus

if TYPE_CHECKING:
    from flowctl.runner.scheduler import Scheduler


@dataclass(frozen=True, slots=True)
class Completed:
    """A completed step that can be undone, with the names its actions' templates see."""

    qid: str
    step: Step
    names: Mapping[str, Any]  # the step's own names, `params` included
    outputs: Mapping[str, Any]
    order: tuple[int, int]  # (0, journal order) if restored, (1, n) if completed now


class Saga:
    """The compensations of one run."""

    def __init__(self) -> None:
        self._done: dict[str, Completed] = {}
        self._count = 0

    def completed(
        self,
        qid: str,
        step: Step,
        names: Mapping[str, Any],
        outputs: Mapping[str, Any],
        *,
        restored_order: int | None = None,
    ) -> None:
        if not step.rollback_actions:
            return
        self._count += 1
        order = (0, restored_order) if restored_order is not None else (1, self._count)
        self._done.pop(qid, None)  # a step run again (loop body) counts at its last completion
        self._done[qid] = Completed(qid, step, names, outputs, order)

    def __bool__(self) -> bool:
        return bool(self._done)

    def in_order(self) -> list[Completed]:
        return sorted(self._done.values(), key=lambda c: c.order)

    async def compensate(self, sched: Scheduler, reason: str) -> int:
        """Undo every remembered step, newest first; returns how many actions failed."""
        done = self.in_order()
        if not done:
            return 0
        by_qid = {c.qid: c for c in done}
        now = time.time()
        sched.emit(
            RunStatusChanged(run_id=sched.run_id, status=RunStatus.ROLLBACK, ts=now, reason=reason)
        )
        sched.emit(
            RollbackStarted(reason=reason, steps=tuple(c.qid for c in reversed(done)), ts=now)
        )
        logs: dict[str, FileStepLog] = {}
        failed_by_step: dict[str, int] = {}

        def make_context(qid: str, action: RollbackAction) -> StepContext:
            try:
                return _context(sched, by_qid[qid], action, logs)
            except OSError as exc:  # no scratch directory: that action fails, the rest run
                raise StateError(f"cannot prepare the rollback of {qid}: {exc}") from exc

        def on_outcome(outcome: RollbackOutcome) -> None:
            sched.emit(
                RollbackActionDone(
                    step=outcome.step,
                    index=outcome.index,
                    ok=outcome.ok,
                    error=outcome.error,
                    duration=outcome.duration,
                    ts=time.time(),
                )
            )
            if not outcome.ok:
                failed_by_step[outcome.step] = failed_by_step.get(outcome.step, 0) + 1
            if outcome.index == len(by_qid[outcome.step].step.rollback_actions) - 1:
                self._finish_step(sched, outcome.step, failed_by_step.get(outcome.step, 0))

        try:
            outcomes = await run_rollback(
                [Compensation(c.qid, c.step.rollback_actions) for c in done],
                make_context=make_context,
                on_outcome=on_outcome,
            )
        finally:
            for log in logs.values():
                log.close()
        failed = sum(1 for o in outcomes if not o.ok)
        sched.emit(RollbackFinished(failed=failed, ts=time.time()))
        return failed

    @staticmethod
    def _finish_step(sched: Scheduler, qid: str, failed: int) -> None:
        """A step whose actions all succeeded is rolled back; one with a failed action stays
        completed (its rollback_action events say what failed)."""
        result = sched.results.get(qid)
        if failed or result is None:
            return
        undone = dataclasses.replace(result, status=StepStatus.ROLLED_BACK, restored=False)
        sched.results[qid] = undone
        sched.emit(
            StepFinished(
                step=qid,
                step_type=undone.step_type.value,
                status=StepStatus.ROLLED_BACK,
                attempts=undone.attempts,
                duration=undone.duration,
                ts=time.time(),
                parent=undone.parent,
            )
        )


def _context(
    sched: Scheduler,
    done: Completed,
    action: RollbackAction,
    logs: dict[str, FileStepLog],
) -> StepContext:
    """The context one rollback action runs in: the step's names, its log, a fresh scratch
    directory and an idempotency key of its own (stable across a resume)."""
    index = done.step.rollback_actions.index(action)
    log = logs.get(done.qid)
    if log is None:
        log = logs[done.qid] = FileStepLog(sched.log_path(done.qid), sched.masker)
    params = done.names.get("params")
    params = params if isinstance(params, Mapping) else {}
    key = f"{sched.run_id}:{done.qid}:rollback:{index}"
    return StepContext(
        step=done.step,
        qualified_id=done.qid,
        run_id=sched.run_id,
        attempt=1,
        params=params,
        names=compensation_names(done.names, done.outputs),
        env=step_env(sched.data, params, qualified_id=done.qid, idempotency_key=key),
        log=log,
        masker=sched.masker,
        workdir=sched.workdir,
        scratch=sched.new_scratch(create=True),
        timeout=done.step.timeout,
        idempotency_key=key,
        http_client=sched.http_client,
    )

"""The run's saga: remember what completed steps can undo, and undo it when the run fails.

Every completed step with `rollback_actions` is remembered in completion order (steps
restored by resume first, in their original order). On an unhandled failure, a timeout or
a cancel, `compensate` undoes them newest first, auditing each action; a step whose actions
all succeeded ends `rolled_back`.

A step's own actions run in the order the author wrote them. Every action runs to its end:
a failing or timed-out action is recorded and the rollback goes on, because leaving the
other steps un-undone would be worse. Actions run with the machinery of the steps
themselves: `run:` through the action step's shell (templates reach the shell as data),
`python:` through its callable resolver, `http:` through the webhook step's client, so they
behave, mask and log the same way. Cancellation (a second Ctrl-C) is not a failure of an
action: it stops the rollback.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from msgspec import Struct
from msgspec.structs import replace

from flowctl.errors import FlowctlError, StateError
from flowctl.runner.engine.rundata import step_env
from flowctl.runner.engine.steplog import FileStepLog
from flowctl.runner.events import (
    RollbackActionDone,
    RollbackFinished,
    RollbackStarted,
    RunStatusChanged,
    StepFinished,
)
from flowctl.runner.steps.action import call_python, run_shell
from flowctl.runner.steps.base import Outputs, StepContext, StepFailure
from flowctl.runner.steps.webhook import send_request
from flowctl.spec.model import RollbackAction, Step
from flowctl.status import RunStatus, StepStatus

if TYPE_CHECKING:
    from flowctl.runner.engine.services import RunServices
    from flowctl.runner.results import StepResult


class Completed(Struct, frozen=True):
    """A completed step that can be undone, with the names its actions' templates see."""

    qid: str
    step: Step
    names: Mapping[str, Any]  # the step's own names, `params` included
    outputs: Mapping[str, Any]
    order: tuple[int, int]  # (0, journal order) if restored, (1, n) if completed now


class Undone(Struct, frozen=True):
    """What a rollback did: the steps it rolled back (their new results), failed actions."""

    undone: dict[str, StepResult]
    failed: int  # rollback actions that failed


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

    async def compensate(
        self, services: RunServices, results: Mapping[str, StepResult], reason: str
    ) -> Undone:
        """Undo every remembered step, newest first. `results` are the run's step results;
        the ones of steps rolled back, replaced, are returned for the scheduler to record."""
        undone: dict[str, StepResult] = {}
        done = self.in_order()
        if not done:
            return Undone(undone, 0)
        by_qid = {c.qid: c for c in done}
        now = time.time()
        services.emit(
            RunStatusChanged(
                run_id=services.run_id, status=RunStatus.ROLLBACK, ts=now, reason=reason
            )
        )
        services.emit(
            RollbackStarted(reason=reason, steps=tuple(c.qid for c in reversed(done)), ts=now)
        )
        logs: dict[str, FileStepLog] = {}
        failed_by_step: dict[str, int] = {}

        def make_context(qid: str, action: RollbackAction) -> StepContext:
            try:
                return _context(services, by_qid[qid], action, logs)
            except OSError as exc:  # no scratch directory: that action fails, the rest run
                raise StateError(f"cannot prepare the rollback of {qid}: {exc}") from exc

        def on_outcome(outcome: RollbackOutcome) -> None:
            services.emit(
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
                result = results.get(outcome.step)
                if result is not None and not failed_by_step.get(outcome.step, 0):
                    undone[outcome.step] = _roll_back(services, result)

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
        services.emit(RollbackFinished(failed=failed, ts=time.time()))
        return Undone(undone, failed)


def _roll_back(services: RunServices, result: StepResult) -> StepResult:
    """A step whose actions all succeeded is rolled back (one with a failed action stays
    completed: its rollback_action events say what failed)."""
    undone = replace(result, status=StepStatus.ROLLED_BACK, restored=False)
    services.emit(
        StepFinished(
            step=result.id,
            step_type=undone.step_type.value,
            status=StepStatus.ROLLED_BACK,
            attempts=undone.attempts,
            duration=undone.duration,
            ts=time.time(),
            parent=undone.parent,
        )
    )
    return undone


def _context(
    services: RunServices,
    done: Completed,
    action: RollbackAction,
    logs: dict[str, FileStepLog],
) -> StepContext:
    """The context one rollback action runs in: the step's names, its log, a fresh scratch
    directory and an idempotency key of its own (stable across a resume)."""
    index = done.step.rollback_actions.index(action)
    log = logs.get(done.qid)
    if log is None:
        log = logs[done.qid] = FileStepLog(services.files.log_path(done.qid), services.masker)
    params = done.names.get("params")
    params = params if isinstance(params, Mapping) else {}
    key = f"{services.run_id}:{done.qid}:rollback:{index}"
    return StepContext(
        step=done.step,
        qualified_id=done.qid,
        run_id=services.run_id,
        attempt=1,
        params=params,
        names=compensation_names(done.names, done.outputs),
        env=step_env(services.data, params, qualified_id=done.qid, idempotency_key=key),
        log=log,
        masker=services.masker,
        workdir=services.workdir,
        scratch=services.files.new_scratch(create=True),
        timeout=done.step.timeout,
        idempotency_key=key,
        http_client=services.http_client,
    )


class Compensation(Struct, frozen=True):
    """What undoes one completed step: its qualified id and its rollback actions."""

    step: str  # qualified id: "charge", "loop[2].child"
    actions: tuple[RollbackAction, ...]


class RollbackOutcome(Struct, frozen=True):
    """How one rollback action ended. `index` is its position in the step's list."""

    step: str
    index: int
    ok: bool
    error: str | None  # masked; None when ok
    duration: float  # seconds


def compensation_names(names: Mapping[str, Any], outputs: Outputs) -> dict[str, Any]:
    """The names a step's rollback templates see: the step's own names (params, steps,
    workflow, item, ...) plus `result`, its outputs, as in `output_mapping`."""
    return {**names, "result": outputs}


def describe(action: RollbackAction) -> str:
    """A short label of an action for logs: `run: ...`, `python: ...` or `http: METHOD url`."""
    if action.command is not None:
        first = action.command.run.strip().splitlines()[0] if action.command.run.strip() else ""
        return f"run: {first[:80]}"
    if action.python is not None:
        return f"python: {action.python}"
    if action.http is not None:
        return f"http: {action.http.method.upper()} {action.http.url[:80]}"
    return "empty action"


async def run_action(ctx: StepContext, action: RollbackAction) -> Outputs:
    """Run one rollback action in `ctx`; raises StepFailure when it fails."""
    if action.command is not None:
        return await run_shell(ctx, action.command)
    if action.python is not None:
        return await call_python(ctx, action.python)
    if action.http is not None:
        return await send_request(ctx, action.http)
    raise StepFailure("rollback action has none of run, python, http", retryable=False)


async def _attempt(ctx: StepContext, action: RollbackAction) -> str | None:
    """Run one action within ctx.timeout; the error message, or None when it succeeded."""
    try:
        async with asyncio.timeout(ctx.timeout):
            await run_action(ctx, action)
    except TimeoutError:
        return f"rollback action timed out after {ctx.timeout:g} s"
    except StepFailure as failure:
        return ctx.masker.mask(failure.message)
    except FlowctlError as err:  # e.g. the step log cannot be written
        return ctx.masker.mask(str(err))
    except Exception as exc:  # an action's failure must never stop the other rollbacks
        return ctx.masker.mask(f"{type(exc).__name__}: {exc}")
    return None


def _note(ctx: StepContext, text: str) -> None:
    # The log is for people; a log that cannot be written must not stop the saga.
    with contextlib.suppress(FlowctlError, OSError):
        ctx.log.write(text)


async def run_rollback(
    completed: Sequence[Compensation],
    *,
    make_context: Callable[[str, RollbackAction], StepContext],
    on_outcome: Callable[[RollbackOutcome], None],
    on_begin: Callable[[Compensation], None] | None = None,
) -> list[RollbackOutcome]:
    """Compensate `completed` (given in completion order) newest first; return every outcome.

    `make_context(step, action)` gives the context an action runs in: names from
    `compensation_names`, its own scratch directory and idempotency key, the step's log,
    and `timeout`, the time the action is allowed. `on_begin` is called before a step's
    first action, `on_outcome` after each action, in order (for the audit journal).
    Steps without actions are passed over.
    """
    outcomes: list[RollbackOutcome] = []
    for compensation in reversed(completed):
        if not compensation.actions:
            continue
        if on_begin is not None:
            on_begin(compensation)
        for index, action in enumerate(compensation.actions):
            started = time.perf_counter()
            try:
                ctx = make_context(compensation.step, action)
            except FlowctlError as err:
                error: str | None = str(err)
            else:
                _note(ctx, f"[flowctl] rollback {index + 1}: {describe(action)}\n")
                error = await _attempt(ctx, action)
                if error is not None:
                    _note(ctx, f"[flowctl] rollback {index + 1} failed: {error}\n")
            outcome = RollbackOutcome(
                step=compensation.step,
                index=index,
                ok=error is None,
                error=error,
                duration=time.perf_counter() - started,
            )
            outcomes.append(outcome)
            on_outcome(outcome)
    return outcomes

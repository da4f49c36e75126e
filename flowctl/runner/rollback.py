"""The saga: undo completed steps with their `rollback_actions`, newest first (SPEC.md 4).

Steps are compensated in reverse completion order; a step's own actions run in the order
the author wrote them. Every action runs to its end: a failing or timed-out action is
recorded and the rollback goes on, because leaving the other steps un-undone would be
worse. Actions run with the machinery of the steps themselves: `run:` through the action
step's shell (templates reach the shell as data), `python:` through its callable resolver,
`http:` through the webhook step's client, so they behave, mask and log the same way.
Cancellation (a second Ctrl-C) is not a failure of an action: it stops the rollback.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flowctl.errors import FlowctlError
from flowctl.runner.steps.action import call_python, run_shell
from flowctl.runner.steps.base import Outputs, StepContext, StepFailure
from flowctl.runner.steps.webhook import send_request
from flowctl.spec.model import RollbackAction


@dataclass(frozen=True, slots=True)
class Compensation:
    """What undoes one completed step: its qualified id and its rollback actions."""

    step: str  # qualified id: "charge", "loop[2].child"
    actions: tuple[RollbackAction, ...]


@dataclass(frozen=True, slots=True)
class RollbackOutcome:
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

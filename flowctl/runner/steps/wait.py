"""The `wait` step: sleep for a duration, or until a point in time (ISO 8601; naive = UTC)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from flowctl.errors import ExpressionError
from flowctl.expressions import is_template
from flowctl.runner.steps.base import FailureKind, Outputs, StepContext, StepFailure
from flowctl.spec.model import WaitStep


class WaitExecutor:
    """Sleeps on the event loop; cancellation simply ends the sleep.

    Outputs `waited`: the seconds actually slept. A time already past waits not at all.
    A wait longer than the step's timeout fails at once, saying so, instead of timing
    out later.
    """

    async def execute(self, ctx: StepContext) -> Outputs:
        step = ctx.step
        if not isinstance(step, WaitStep):
            raise StepFailure(
                f"step {step.id!r} is a {step.type} step, not a wait", retryable=False
            )
        if step.duration is not None:
            seconds = step.duration
        elif step.until is not None:
            seconds = seconds_until(_render_until(ctx, step.until))
        else:
            raise StepFailure(
                f"wait step {step.id!r} has neither duration nor until", retryable=False
            )
        if seconds > ctx.timeout:
            raise StepFailure(
                f"the wait of {seconds:.0f} s is longer than the step's timeout of "
                f"{ctx.timeout:g} s; raise `timeout` on step {step.id!r}",
                kind=FailureKind.VALIDATION,
                retryable=False,
            )
        started = time.monotonic()
        if seconds > 0:
            await asyncio.sleep(seconds)
        return {"waited": round(time.monotonic() - started, 3)}


EXECUTOR = WaitExecutor()


def _render_until(ctx: StepContext, until: str) -> datetime:
    try:
        text = until
        if is_template(until):
            from flowctl.expressions import compile_template

            text = compile_template(until).render(ctx.names)
    except ExpressionError as exc:
        raise StepFailure(
            ctx.masker.mask(str(exc)), kind=FailureKind.EXPRESSION, retryable=False
        ) from None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise StepFailure(
            ctx.masker.mask(f"until: {text!r} is not an ISO 8601 time (e.g. 2030-01-31T09:00:00Z)"),
            kind=FailureKind.VALIDATION,
            retryable=False,
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def seconds_until(moment: datetime, now: datetime | None = None) -> float:
    """Seconds from `now` (default: the current time) to `moment`; 0 when it is past."""
    current = now or datetime.now(UTC)
    return max(0.0, (moment - current).total_seconds())

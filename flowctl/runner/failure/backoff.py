"""The waits between attempts of a retry_policy, and the retry loop, as tenacity parts."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

import tenacity
from tenacity import wait as tw

from flowctl.runner.failure.retry import should_retry
from flowctl.runner.steps.base import StepFailure
from flowctl.spec.model import BackoffStrategy, RetryPolicy

T = TypeVar("T")


class BackoffWait(tw.wait_base):
    """The delay before the next attempt: strategy, optional jitter, capped by max_delay.

    Jitter is "equal jitter": half of the computed delay is kept and the other half drawn
    at random, so retries of many steps spread out without losing the backoff.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        delay = max(0.0, policy.delay)
        cap = policy.max_delay if policy.max_delay is not None else math.inf
        base: tw.wait_base
        if policy.backoff_strategy is BackoffStrategy.EXPONENTIAL:
            base = tw.wait_exponential(multiplier=delay, exp_base=2, min=0, max=cap)
        elif policy.backoff_strategy is BackoffStrategy.LINEAR:
            base = tw.wait_incrementing(start=delay, increment=delay, max=cap)
        else:
            base = tw.wait_fixed(delay)
        self._base = base
        self._jitter = policy.jitter
        self._cap = cap

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        seconds = float(self._base(retry_state))
        if self._jitter and seconds > 0:
            half = seconds / 2
            seconds = half + float(tw.wait_random(0, half)(retry_state))
        return max(0.0, min(seconds, self._cap))


def delays(policy: RetryPolicy) -> list[float]:
    """The waits between attempts without jitter (for docs, dry runs and tests)."""
    plain = RetryPolicy(
        max_attempts=policy.max_attempts,
        backoff_strategy=policy.backoff_strategy,
        delay=policy.delay,
        max_delay=policy.max_delay,
    )
    wait = BackoffWait(plain)
    out = []
    for attempt in range(1, max(1, policy.max_attempts)):
        state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
        state.attempt_number = attempt
        out.append(wait(state))
    return out


async def retry_loop(
    policy: RetryPolicy,
    attempt: Callable[[int], Awaitable[T]],
    *,
    on_retry: Callable[[int, StepFailure, float], None],
) -> T:
    """call_with_retries for a policy of more than one attempt."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        if isinstance(failure, StepFailure):
            on_retry(state.attempt_number, failure, float(delay))

    retrying = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(policy.max_attempts),
        wait=BackoffWait(policy),
        retry=tenacity.retry_if_exception(lambda exc: should_retry(policy, exc)),
        before_sleep=before_sleep,
        reraise=True,
    )
    async for trial in retrying:
        with trial:
            return await attempt(trial.retry_state.attempt_number)
    raise AssertionError("tenacity stopped without an outcome")  # pragma: no cover

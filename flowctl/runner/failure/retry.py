"""retry_policy as tenacity parts: which failures are retried and how long to wait between."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

import tenacity
from tenacity import wait as tw

from flowctl.runner.steps.base import FailureKind, StepFailure
from flowctl.spec.model import BackoffStrategy, RetryPolicy

T = TypeVar("T")

# Failures that cannot heal by trying again, whatever retry_on says.
NEVER_RETRIED = frozenset(
    {
        FailureKind.EXPRESSION,
        FailureKind.VALIDATION,
        FailureKind.UNSUPPORTED,
        FailureKind.CANCELLED,
    }
)


def should_retry(policy: RetryPolicy, failure: BaseException) -> bool:
    """True when `failure` may heal: retryable, and matched by `retry_on` (empty = all).

    `error` matches every failure that is not a timeout (exit codes included);
    `timeout` matches timeouts; `exit_code:N` matches a process that exited with N.
    """
    if not isinstance(failure, StepFailure):
        return False
    if not failure.retryable or failure.kind in NEVER_RETRIED:
        return False
    if not policy.retry_on:
        return True
    tag = failure.retry_tag
    if tag in policy.retry_on:
        return True
    return failure.kind is not FailureKind.TIMEOUT and "error" in policy.retry_on


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


async def call_with_retries(
    policy: RetryPolicy,
    attempt: Callable[[int], Awaitable[T]],
    *,
    on_retry: Callable[[int, StepFailure, float], None],
) -> T:
    """Call `attempt(n)` for n = 1, 2, ... until it returns or the policy gives up.

    The last failure is re-raised. `on_retry(n, failure, delay)` runs before each wait.
    """
    if policy.max_attempts <= 1:
        return await attempt(1)

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

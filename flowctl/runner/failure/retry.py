"""retry_policy: which failures are retried; the waits between attempts are tenacity parts
in flowctl.runner.failure.backoff, imported only by a step that may be tried more than once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from flowctl.runner.steps.base import FailureKind, StepFailure
from flowctl.spec.model import RetryPolicy

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
    from flowctl.runner.failure.backoff import retry_loop

    return await retry_loop(policy, attempt, on_retry=on_retry)

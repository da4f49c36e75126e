"""Wait steps: a duration, or a point in time (naive = UTC, past = no wait)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import time_machine

from flowctl.runner.steps.base import FailureKind, Outputs, StepContext, StepFailure
from flowctl.runner.steps.wait import EXECUTOR, seconds_until
from tests.runner.helpers import make_ctx, run, wait_step


def execute(ctx: StepContext) -> Outputs:
    return run(EXECUTOR.execute(ctx))


def test_duration(tmp_path: Path) -> None:
    outputs = execute(make_ctx(wait_step(duration=0.15), tmp_path))
    assert outputs["waited"] >= 0.15  # a lower bound: a busy machine only makes it longer


# The clock stands still (time-machine) so `until` is an exact number of seconds away; the
# event loop's own clock still runs, so the wait really sleeps.
NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_until_a_naive_time_means_utc(tmp_path: Path) -> None:
    naive = (NOW + timedelta(seconds=0.2)).replace(tzinfo=None)
    with time_machine.travel(NOW, tick=False):
        outputs = execute(make_ctx(wait_step(until=naive.isoformat()), tmp_path))
    assert outputs["waited"] >= 0.2


def test_until_a_templated_time_with_an_offset(tmp_path: Path) -> None:
    plus_two = timezone(timedelta(hours=2))
    at = (NOW + timedelta(seconds=0.2)).astimezone(plus_two)
    step = wait_step(until="{{ inputs.at }}")
    with time_machine.travel(NOW, tick=False):
        outputs = execute(make_ctx(step, tmp_path, names={"inputs": {"at": at.isoformat()}}))
    assert outputs["waited"] >= 0.2


def test_until_beyond_the_timeout_is_measured_against_the_injected_clock(
    tmp_path: Path,
) -> None:
    later = (NOW + timedelta(hours=2)).isoformat()
    with time_machine.travel(NOW, tick=False), pytest.raises(StepFailure) as exc:
        execute(make_ctx(wait_step(until=later), tmp_path, timeout=3600))
    assert exc.value.message == (
        "the wait of 7200 s is longer than the step's timeout of 3600 s; "
        "raise `timeout` on step 'pause'"
    )


def test_a_time_in_the_past_does_not_wait(tmp_path: Path) -> None:
    outputs = execute(make_ctx(wait_step(until="2001-01-01T00:00:00Z"), tmp_path))
    assert outputs == {"waited": 0.0}


def test_an_invalid_time_fails_without_retry(tmp_path: Path) -> None:
    with pytest.raises(StepFailure) as exc:
        execute(make_ctx(wait_step(until="next tuesday"), tmp_path))
    assert exc.value.message == (
        "until: 'next tuesday' is not an ISO 8601 time (e.g. 2030-01-31T09:00:00Z)"
    )
    assert not exc.value.retryable


def test_a_wait_beyond_the_timeout_fails_at_once(tmp_path: Path) -> None:
    with pytest.raises(StepFailure) as exc:  # at once, or pytest-timeout fails the test
        execute(make_ctx(wait_step(duration=600), tmp_path, timeout=300))
    assert exc.value.kind is FailureKind.VALIDATION
    assert exc.value.message == (
        "the wait of 600 s is longer than the step's timeout of 300 s; "
        "raise `timeout` on step 'pause'"
    )


def test_cancellation_ends_the_wait(tmp_path: Path) -> None:
    async def attempt() -> None:
        async with asyncio.timeout(0.1):
            await EXECUTOR.execute(make_ctx(wait_step(duration=3600), tmp_path, timeout=7200))

    with pytest.raises(TimeoutError):  # an hour's wait ended, or pytest-timeout fails the test
        run(attempt())


def test_seconds_until() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert seconds_until(now + timedelta(minutes=1), now) == 60
    assert seconds_until(now - timedelta(minutes=1), now) == 0

"""Circuit breakers: open after N consecutive failures, one half-open trial, close or re-open."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowctl.runner.failure.circuit import (
    CircuitBreakers,
    CircuitOpenError,
    CircuitState,
    counts_against_circuit,
)
from flowctl.runner.steps.base import FailureKind, StepFailure
from flowctl.spec.model import CircuitBreakerSpec


class Clock:
    """A clock the test moves by hand: time is an input of the breaker, not a side effect."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


SPEC = CircuitBreakerSpec(name="payments", failure_threshold=3, reset_timeout=30.0)


def fail(breakers: CircuitBreakers, spec: CircuitBreakerSpec = SPEC) -> CircuitState | None:
    breakers.before_attempt(spec)
    return breakers.record(spec, success=False)


def test_opens_after_threshold_consecutive_failures_and_fails_fast() -> None:
    clock = Clock()
    breakers = CircuitBreakers(clock)
    assert fail(breakers) is None
    assert fail(breakers) is None
    assert breakers.state("payments") is CircuitState.CLOSED
    assert fail(breakers) is CircuitState.OPEN
    assert breakers.state("payments") is CircuitState.OPEN
    clock.now += 17.7
    with pytest.raises(CircuitOpenError) as info:
        breakers.before_attempt(SPEC)
    error = info.value
    assert error.message == "circuit 'payments' is open (3 consecutive failures; retry after 12.3s)"
    assert error.kind is FailureKind.CIRCUIT_OPEN
    assert error.retryable is True
    assert error.retry_after == pytest.approx(12.3)
    assert breakers.retry_after(SPEC) == pytest.approx(12.3)


def test_a_success_resets_the_consecutive_count() -> None:
    breakers = CircuitBreakers(Clock())
    fail(breakers)
    fail(breakers)
    breakers.before_attempt(SPEC)
    assert breakers.record(SPEC, success=True) is None
    fail(breakers)
    fail(breakers)
    assert breakers.state("payments") is CircuitState.CLOSED
    assert fail(breakers) is CircuitState.OPEN


def test_half_open_trial_success_closes() -> None:
    clock = Clock()
    breakers = CircuitBreakers(clock)
    for _ in range(3):
        fail(breakers)
    clock.now += 30.0
    assert breakers.before_attempt(SPEC) is CircuitState.HALF_OPEN
    assert breakers.state("payments") is CircuitState.HALF_OPEN
    assert breakers.record(SPEC, success=True) is CircuitState.CLOSED
    assert breakers.before_attempt(SPEC) is None
    # Closed again with a fresh count: two failures do not re-open it.
    breakers.record(SPEC, success=False)
    assert fail(breakers) is None
    assert breakers.state("payments") is CircuitState.CLOSED


def test_half_open_trial_failure_reopens_for_a_full_reset_timeout() -> None:
    clock = Clock()
    breakers = CircuitBreakers(clock)
    for _ in range(3):
        fail(breakers)
    clock.now += 31.0
    assert breakers.before_attempt(SPEC) is CircuitState.HALF_OPEN
    clock.now += 5.0
    assert breakers.record(SPEC, success=False) is CircuitState.OPEN
    clock.now += 29.0
    with pytest.raises(
        CircuitOpenError, match=r"open \(4 consecutive failures; retry after 1.0s\)"
    ):
        breakers.before_attempt(SPEC)
    clock.now += 1.0
    assert breakers.before_attempt(SPEC) is CircuitState.HALF_OPEN


def test_half_open_lets_only_one_trial_in_flight() -> None:
    clock = Clock()
    breakers = CircuitBreakers(clock)
    for _ in range(3):
        fail(breakers)
    clock.now += 30.0
    assert breakers.before_attempt(SPEC) is CircuitState.HALF_OPEN
    for _ in range(3):  # other steps sharing the circuit, while the trial runs
        with pytest.raises(CircuitOpenError, match="half-open and its one trial"):
            breakers.before_attempt(SPEC)
    # A cancelled trial gives its slot back without a verdict.
    breakers.release(SPEC)
    assert breakers.state("payments") is CircuitState.HALF_OPEN
    assert breakers.before_attempt(SPEC) is None
    with pytest.raises(CircuitOpenError):
        breakers.before_attempt(SPEC)
    assert breakers.record(SPEC, success=True) is CircuitState.CLOSED


def test_late_outcomes_do_not_change_an_open_circuit() -> None:
    clock = Clock()
    breakers = CircuitBreakers(clock)
    for _ in range(3):  # three attempts let through while closed, still running
        breakers.before_attempt(SPEC)
    for _ in range(3):
        breakers.record(SPEC, success=False)
    assert breakers.state("payments") is CircuitState.OPEN
    assert breakers.record(SPEC, success=True) is None  # one that started before it opened
    assert breakers.state("payments") is CircuitState.OPEN
    assert breakers.record(SPEC, success=False) is None
    clock.now += 1.0
    with pytest.raises(CircuitOpenError, match="4 consecutive failures"):
        breakers.before_attempt(SPEC)


def test_circuits_are_shared_by_name_and_independent_across_names() -> None:
    breakers = CircuitBreakers(Clock())
    other_step = CircuitBreakerSpec(name="payments", failure_threshold=3, reset_timeout=30.0)
    search = CircuitBreakerSpec(name="search", failure_threshold=1, reset_timeout=5.0)
    fail(breakers, SPEC)
    fail(breakers, other_step)
    assert fail(breakers, SPEC) is CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        breakers.before_attempt(other_step)
    assert breakers.state("search") is CircuitState.CLOSED
    assert breakers.before_attempt(search) is None
    assert breakers.record(search, success=False) is CircuitState.OPEN
    with pytest.raises(CircuitOpenError, match="'search' is open \\(1 consecutive failure;"):
        breakers.before_attempt(search)


def test_release_outside_half_open_changes_nothing() -> None:
    breakers = CircuitBreakers(Clock())
    breakers.release(SPEC)
    fail(breakers)
    breakers.release(SPEC)
    fail(breakers)
    assert fail(breakers) is CircuitState.OPEN


def test_which_failures_count_against_the_circuit() -> None:
    assert counts_against_circuit(StepFailure("boom"))
    assert counts_against_circuit(StepFailure("slow", kind=FailureKind.TIMEOUT))
    assert counts_against_circuit(StepFailure("503", kind=FailureKind.HTTP))
    assert counts_against_circuit(StepFailure("exit 1", kind=FailureKind.EXIT_CODE, exit_code=1))
    for kind in (
        FailureKind.EXPRESSION,
        FailureKind.VALIDATION,
        FailureKind.UNSUPPORTED,
        FailureKind.CANCELLED,
        FailureKind.CIRCUIT_OPEN,
    ):
        assert not counts_against_circuit(StepFailure("x", kind=kind, retryable=False))


@settings(max_examples=60, deadline=None)
@given(
    threshold=st.integers(min_value=1, max_value=4),
    outcomes=st.lists(st.tuples(st.booleans(), st.floats(0, 20)), max_size=40),
)
def test_model_matches_a_simple_reference(
    threshold: int, outcomes: list[tuple[bool, float]]
) -> None:
    """Against a plain re-statement of the rules, over any sequence of sequential attempts."""
    clock = Clock()
    spec = CircuitBreakerSpec(name="c", failure_threshold=threshold, reset_timeout=10.0)
    breakers = CircuitBreakers(clock)
    state, streak, opened = "closed", 0, 0.0
    for success, pause in outcomes:
        clock.now += pause
        refused = state == "open" and clock.now - opened < 10.0
        if refused:
            with pytest.raises(CircuitOpenError):
                breakers.before_attempt(spec)
            continue
        breakers.before_attempt(spec)
        trial = state == "open"
        breakers.record(spec, success=success)
        if success:
            state, streak = "closed", 0
        else:
            streak += 1
            if trial or streak >= threshold:
                state, opened = "open", clock.now
        assert breakers.state("c").value == state

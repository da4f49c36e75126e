"""Retries: backoff from retry_policy, retry_on, what is never retried, continue_on_failure."""

from __future__ import annotations

from pathlib import Path

import pytest
import tenacity

from flowctl.api import RunStatus, StepStatus
from flowctl.runner.failure.backoff import BackoffWait, delays
from flowctl.runner.failure.retry import should_retry
from flowctl.runner.steps.base import FailureKind, StepFailure
from flowctl.spec.model import BackoffStrategy, RetryPolicy
from tests.runner.sched_kit import FUNCS, events, run_spec, ts


def test_retries_back_off_exponentially_as_the_audit_log_shows(tmp_path: Path) -> None:
    counter = tmp_path / "calls"
    result = run_spec(
        tmp_path,
        f"""
        name: flaky
        steps:
          - id: shaky
            python: {FUNCS}:flaky
            input_mapping: {{counter: "'{counter}'", failures: "2"}}
            retry_policy:
              max_attempts: 4
              backoff_strategy: exponential
              delay: 100ms
        """,
    )
    shaky = result.step("shaky")
    assert result.status is RunStatus.COMPLETED
    assert shaky.attempts == 3
    assert shaky.outputs == {"calls": 3}
    evts = [e for e in events(result) if e.step == "shaky"]
    assert [(e.event, e.attempt) for e in evts] == [
        ("step_started", 1),
        ("step_retrying", 1),
        ("step_started", 2),
        ("step_retrying", 2),
        ("step_started", 3),
        ("step_completed", 3),
    ]
    retrying = [e for e in evts if e.event == "step_retrying"]
    assert [e.data["delay"] for e in retrying] == [0.1, 0.2]
    assert retrying[0].data["error"] == "RuntimeError: flaky failure 1"
    # The waits really happened between the attempts.
    assert ts(evts[2]) - ts(evts[1]) >= 0.099
    assert ts(evts[4]) - ts(evts[3]) >= 0.199
    # One idempotency key for every attempt of the step.
    keys = (tmp_path / "calls.keys").read_text().splitlines()
    assert [line.split()[0] for line in keys] == ["1", "2", "3"]
    assert {tuple(line.split()[1:]) for line in keys} == {
        (f"{result.run_id}:shaky", f"{result.run_id}:shaky")
    }


def test_retries_exhausted_fail_the_step_with_the_last_error(tmp_path: Path) -> None:
    counter = tmp_path / "calls"
    result = run_spec(
        tmp_path,
        f"""
        name: hopeless
        steps:
          - id: shaky
            python: {FUNCS}:flaky
            input_mapping: {{counter: "'{counter}'", failures: "10"}}
            retry_policy: {{max_attempts: 3, delay: 0}}
        """,
    )
    shaky = result.step("shaky")
    assert shaky.status is StepStatus.FAILED
    assert shaky.attempts == 3
    assert shaky.error == "RuntimeError: flaky failure 3"
    assert counter.read_text() == "3"


def test_the_workflow_retry_policy_is_every_step_default(tmp_path: Path) -> None:
    counter = tmp_path / "calls"
    result = run_spec(
        tmp_path,
        f"""
        name: wfpolicy
        retry_policy: {{max_attempts: 2, delay: 0}}
        steps:
          - id: shaky
            python: {FUNCS}:flaky
            input_mapping: {{counter: "'{counter}'", failures: "1"}}
        """,
    )
    assert result.step("shaky").attempts == 2
    assert result.status is RunStatus.COMPLETED


def test_retry_on_timeout_does_not_retry_errors(tmp_path: Path) -> None:
    counter = tmp_path / "calls"
    result = run_spec(
        tmp_path,
        f"""
        name: retryon
        steps:
          - id: shaky
            python: {FUNCS}:flaky
            input_mapping: {{counter: "'{counter}'", failures: "1"}}
            retry_policy: {{max_attempts: 3, delay: 0, retry_on: [timeout]}}
        """,
    )
    assert result.step("shaky").attempts == 1
    assert result.step("shaky").status is StepStatus.FAILED


def test_timeouts_are_retried_when_asked(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: retrytimeout
        steps:
          - id: sleepy
            python: {FUNCS}:sleep
            input_mapping: {{seconds: "5"}}
            timeout: 100ms
            retry_policy: {{max_attempts: 2, delay: 0, retry_on: [timeout]}}
        """,
    )
    sleepy = result.step("sleepy")
    assert sleepy.attempts == 2
    assert sleepy.error_kind == "timeout"


def test_exit_codes_can_be_selected_for_retry(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        """
        name: exitcodes
        steps:
          - id: seventy_five
            run: exit 75
            retry_policy: {max_attempts: 2, delay: 0, retry_on: ["exit_code:75"]}
            continue_on_failure: true
          - id: one
            run: exit 1
            retry_policy: {max_attempts: 2, delay: 0, retry_on: ["exit_code:75"]}
            continue_on_failure: true
        """,
    )
    assert result.step("seventy_five").attempts == 2
    failed = result.step("seventy_five")
    assert failed.error_kind is FailureKind.EXIT_CODE and failed.error_exit_code == 75
    assert failed.error_tag == "exit_code:75"
    assert result.step("one").attempts == 1


def test_continue_on_failure_keeps_the_run_going(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: tolerant
        steps:
          - id: optional
            python: {FUNCS}:fail
            continue_on_failure: true
          - id: main
            python: {FUNCS}:sleep
            input_mapping: {{seconds: "0.1"}}
          - id: report
            python: {FUNCS}:echo
            dependencies: [optional, main]
            trigger_rule: all_done
            input_mapping: {{optional_error: steps.optional.error}}
        """,
    )
    assert result.status is RunStatus.COMPLETED
    assert result.exit_code == 0
    assert result.step("main").status is StepStatus.COMPLETED  # not cancelled
    assert result.step("report").outputs == {"optional_error": "RuntimeError: boom"}


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (RetryPolicy(max_attempts=4, delay=1), [1.0, 1.0, 1.0]),
        (RetryPolicy(max_attempts=4, delay=1, backoff_strategy=BackoffStrategy.LINEAR), [1, 2, 3]),
        (
            RetryPolicy(max_attempts=5, delay=1, backoff_strategy=BackoffStrategy.EXPONENTIAL),
            [1, 2, 4, 8],
        ),
        (
            RetryPolicy(
                max_attempts=5, delay=1, backoff_strategy=BackoffStrategy.EXPONENTIAL, max_delay=3
            ),
            [1, 2, 3, 3],
        ),
    ],
)
def test_backoff_delays(policy: RetryPolicy, expected: list[float]) -> None:
    assert delays(policy) == expected


@pytest.mark.parametrize(
    ("failure", "retry_on", "expected"),
    [
        (StepFailure("x"), (), True),
        (StepFailure("x", kind=FailureKind.EXPRESSION), (), False),
        (StepFailure("x", kind=FailureKind.VALIDATION), (), False),
        (StepFailure("x", kind=FailureKind.UNSUPPORTED), (), False),
        (StepFailure("x", kind=FailureKind.HTTP, retryable=False), (), False),
        (StepFailure("x", kind=FailureKind.TIMEOUT), ("error",), False),
        (StepFailure("x", kind=FailureKind.TIMEOUT), ("timeout",), True),
        (StepFailure("x", kind=FailureKind.EXIT_CODE, exit_code=2), ("error",), True),
        (StepFailure("x", kind=FailureKind.EXIT_CODE, exit_code=2), ("exit_code:3",), False),
        (StepFailure("x", kind=FailureKind.EXIT_CODE, exit_code=3), ("exit_code:3",), True),
    ],
)
def test_what_is_retried(failure: StepFailure, retry_on: tuple[str, ...], expected: bool) -> None:
    assert should_retry(RetryPolicy(max_attempts=3, retry_on=retry_on), failure) is expected


def test_jitter_keeps_at_least_half_the_delay() -> None:
    policy = RetryPolicy(max_attempts=30, delay=1, jitter=True)
    wait = BackoffWait(policy)
    samples = []
    for attempt in range(1, 30):
        state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
        state.attempt_number = attempt
        samples.append(wait(state))
    assert all(0.5 <= s <= 1.0 for s in samples)
    assert len(set(samples)) > 1


def test_the_wait_between_attempts_is_recorded_apart(tmp_path: Path) -> None:
    # One slot. shaky fails at once and backs off 100 ms; hog takes the slot meanwhile and
    # holds it 500 ms, so shaky waits for it again at least 400 ms before its retry.
    counter = tmp_path / "calls"
    result = run_spec(
        tmp_path,
        f"""
        name: waits
        max_parallel_steps: 1
        steps:
          - id: shaky
            python: {FUNCS}:flaky
            input_mapping: {{counter: "'{counter}'", failures: "1"}}
            retry_policy: {{max_attempts: 2, backoff_strategy: fixed, delay: 100ms}}
          - id: hog
            python: {FUNCS}:sleep
            input_mapping: {{seconds: "0.5"}}
        """,
    )
    assert result.status is RunStatus.COMPLETED
    shaky, hog = result.step("shaky"), result.step("hog")
    assert shaky.attempts == 2 and hog.requeued == 0.0 and hog.retry_wait == 0.0
    assert shaky.requeued >= 0.35  # lower bounds of sleeps, with room for clock rounding
    assert shaky.retry_wait >= shaky.requeued + 0.09
    assert shaky.queued >= shaky.requeued
    assert shaky.duration >= shaky.retry_wait

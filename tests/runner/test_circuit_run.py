"""circuit_breaker in a run: shared by name across steps and loop iterations, audited."""

from __future__ import annotations

from pathlib import Path

from flowctl.status import RunStatus, StepStatus
from tests.runner.failure_funcs import calls
from tests.runner.sched_kit import events, run_spec

KIT = "tests.runner.failure_funcs"


def test_the_circuit_opens_in_a_for_each_loop_and_fails_the_rest_fast(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    result = run_spec(
        tmp_path,
        f"""
        name: breaker
        steps:
          - id: each
            type: loop
            loop:
              for_each: [0, 1, 2, 3, 4, 5]
              steps:
                - id: call
                  python: {KIT}:fail_unless
                  input_mapping: {{log: "'{log}'", name: "'call'", flag: "'{tmp_path / "no"}'"}}
                  continue_on_failure: true
                  circuit_breaker: {{name: api, failure_threshold: 3, reset_timeout: 1h}}
          - id: other
            dependencies: [each]
            python: {KIT}:fail_unless
            input_mapping: {{log: "'{log}'", name: "'other'", flag: "'{tmp_path / "no"}'"}}
            continue_on_failure: true
            circuit_breaker: {{name: api}}
        """,
    )
    assert result.status is RunStatus.COMPLETED
    assert calls(log) == {"call": 3}  # iterations 3, 4, 5 and `other` never reached it
    kinds = [result.step(f"each[{i}].call").error_kind for i in range(6)]
    assert kinds == ["error", "error", "error", "circuit_open", "circuit_open", "circuit_open"]
    assert result.step("other").error_kind == "circuit_open"
    assert result.step("other").error is not None
    assert "circuit 'api' is open (3 consecutive failures" in result.step("other").error
    evts = events(result)
    states = [(e.step, e.data) for e in evts if e.event == "circuit_state"]
    assert states == [("each[2].call", {"name": "api", "state": "open"})]
    failed = {e.step: e.data for e in evts if e.event == "step_failed"}
    assert failed["each[4].call"]["error_kind"] == "circuit_open"
    assert [e.attempt for e in evts if e.event == "step_started" and e.step == "other"] == [1]


def test_an_open_circuit_is_retried_half_opens_and_closes(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    flag = tmp_path / "flag"
    result = run_spec(
        tmp_path,
        f"""
        name: recovering
        steps:
          - id: first
            python: {KIT}:fail_unless
            input_mapping: {{log: "'{log}'", name: "'first'", flag: "'{flag}'"}}
            continue_on_failure: true
            circuit_breaker: {{name: svc, failure_threshold: 1, reset_timeout: 300ms}}
          - id: fix
            dependencies: [first]
            trigger_rule: all_done
            run: touch {flag}
          - id: second
            dependencies: [fix]
            python: {KIT}:fail_unless
            input_mapping: {{log: "'{log}'", name: "'second'", flag: "'{flag}'"}}
            circuit_breaker: {{name: svc, failure_threshold: 1, reset_timeout: 300ms}}
            retry_policy: {{max_attempts: 5, delay: 0.2, retry_on: [error]}}
        """,
    )
    assert result.ok, result.error
    second = result.step("second")
    assert second.status is StepStatus.COMPLETED and second.attempts >= 2
    assert calls(log) == {"first": 1, "second": 1}  # refused attempts never reached it
    evts = events(result)
    states = [e.data["state"] for e in evts if e.event == "circuit_state"]
    assert states == ["open", "half_open", "closed"]
    retries = [e.data["error"] for e in evts if e.event == "step_retrying"]
    assert retries and all("circuit 'svc' is open" in r for r in retries)


def test_circuits_are_not_shared_across_runs(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    text = f"""
        name: fresh
        steps:
          - id: call
            python: {KIT}:fail_unless
            input_mapping: {{log: "'{log}'", name: "'call'", flag: "'{tmp_path / "no"}'"}}
            circuit_breaker: {{name: api, failure_threshold: 1, reset_timeout: 1h}}
        """
    first = run_spec(tmp_path, text)
    second = run_spec(tmp_path, text)
    assert first.step("call").error_kind == second.step("call").error_kind == "error"
    assert calls(log) == {"call": 2}

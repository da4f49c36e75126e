"""error_handlers: run when a step fails for good; a handled failure lets dependents go on."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowctl.status import RunStatus, StepStatus
from tests.runner.failure_funcs import calls
from tests.runner.sched_kit import FUNCS, events, names, run_cli, run_spec

KIT = "tests.runner.failure_funcs"


def test_a_handled_failure_lets_dependents_run_with_the_handlers_outputs(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: handled
        steps:
          - id: charge
            python: {FUNCS}:fail
            input_mapping: {{message: "'card declined'"}}
            error_handlers: [refund]
          - id: refund
            python: {FUNCS}:echo
            input_mapping:
              seen_status: steps.charge.status
              seen_error: steps.charge.error
          - id: notify
            dependencies: [charge]
            python: {FUNCS}:echo
            input_mapping: {{why: steps.refund.outputs.seen_error}}
          - id: strict
            dependencies: [charge]
            trigger_rule: all_success
            python: {FUNCS}:noop
        """,
    )
    assert result.status is RunStatus.COMPLETED, result.error
    charge = result.step("charge")
    assert charge.status is StepStatus.FAILED and charge.handled
    refund = result.step("refund").outputs
    assert refund == {"seen_status": "failed", "seen_error": "RuntimeError: card declined"}
    assert result.step("notify").outputs == {"why": "RuntimeError: card declined"}
    assert result.step("strict").status is StepStatus.COMPLETED  # all_success: handled = ok
    evts = events(result)
    failed = next(e for e in evts if e.event == "step_failed")
    assert failed.step == "charge" and failed.data["handled"] is True
    assert failed.data["error_kind"] == "error"
    # The failure is final only once its handler has completed.
    order = [(e.event, e.step) for e in evts if e.step in ("charge", "refund")]
    assert order.index(("step_completed", "refund")) < order.index(("step_failed", "charge"))


def test_handlers_never_run_on_their_own(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    result = run_spec(
        tmp_path,
        f"""
        name: idle
        steps:
          - id: ok
            python: {KIT}:counted
            input_mapping: {{log: "'{log}'", name: "'ok'"}}
            error_handlers: [cleanup]
          - id: cleanup
            python: {KIT}:counted
            input_mapping: {{log: "'{log}'", name: "'cleanup'"}}
          - id: after
            dependencies: [cleanup, ok]
            python: {FUNCS}:noop
        """,
    )
    assert result.ok, result.error
    assert calls(log) == {"ok": 1}
    cleanup = result.step("cleanup")
    assert cleanup.status is StepStatus.SKIPPED
    assert cleanup.reason == "error handler not triggered"
    assert result.step("after").status is StepStatus.COMPLETED  # one dependency completed


def test_a_failing_handler_leaves_the_failure_unhandled(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: unhandled
        steps:
          - id: a
            python: {FUNCS}:fail
            error_handlers: [h1, h2]
          - id: h1
            python: {FUNCS}:noop
          - id: h2
            python: {FUNCS}:fail
            input_mapping: {{message: "'handler broke'"}}
          - id: b
            dependencies: [a]
            python: {FUNCS}:noop
        """,
    )
    assert result.status is RunStatus.FAILED
    assert not result.step("a").handled
    assert result.step("h1").status is StepStatus.COMPLETED
    assert result.step("h2").error == "RuntimeError: handler broke"
    assert result.step("b").status is StepStatus.SKIPPED
    failed = {e.step: e.data for e in events(result) if e.event == "step_failed"}
    assert failed["a"]["handled"] is False
    assert result.root_cause == "a"  # the failure that was not handled, not its handler
    assert result.error == "step 'a' failed: RuntimeError: boom"


def test_a_handler_shared_by_two_steps_runs_once(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    result = run_spec(
        tmp_path,
        f"""
        name: shared
        steps:
          - id: a
            python: {FUNCS}:fail
            error_handlers: [h]
          - id: b
            dependencies: [a]
            python: {FUNCS}:fail
            error_handlers: [h]
          - id: h
            python: {KIT}:counted
            input_mapping: {{log: "'{log}'", name: "'h'"}}
          - id: c
            dependencies: [b]
            python: {FUNCS}:noop
        """,
    )
    assert result.ok, result.error
    assert calls(log) == {"h": 1}
    assert result.step("a").handled and result.step("b").handled
    assert result.step("c").status is StepStatus.COMPLETED


def test_handled_failures_do_not_lower_a_parallel_success_rate(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: par
        steps:
          - id: fan
            type: parallel
            parallel_steps:
              - id: x
                python: {FUNCS}:fail
                error_handlers: [fix]
              - id: fix
                python: {FUNCS}:noop
              - id: y
                python: {FUNCS}:noop
        """,
    )
    assert result.ok, result.error
    outputs = result.step("fan").outputs
    assert outputs["success_rate"] == 1.0 and outputs["failed"] == 1


def test_handlers_inside_loop_iterations(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: loopy
        steps:
          - id: each
            type: loop
            loop:
              for_each: [1, 2]
              steps:
                - id: work
                  python: {FUNCS}:fail
                  error_handlers: [fix]
                - id: fix
                  python: {FUNCS}:echo
                  input_mapping: {{item: item}}
        """,
    )
    assert result.ok, result.error
    assert result.step("each[1].fix").outputs == {"item": 2}
    assert result.step("each[0].work").handled


@pytest.mark.slow
def test_a_handler_waiting_on_the_failure_it_handles_is_a_runtime_deadlock(
    tmp_path: Path,
) -> None:
    proc = run_cli(
        tmp_path,
        f"""
        name: stuck
        steps:
          - id: a
            python: {FUNCS}:fail
            error_handlers: [h]
          - id: b
            dependencies: [a]
            python: {FUNCS}:noop
          - id: h
            dependencies: [b]
            python: {FUNCS}:noop
          - id: long
            python: {FUNCS}:sleep
            input_mapping: {{seconds: 3600}}
        """,
    )  # run_cli's 60 s timeout fails the test if the run waits for the hour-long step
    assert proc.returncode == 1, proc.stderr
    expected = (
        "runtime deadlock: these steps can never start: 'a' waits on its error handlers 'h'; "
        "'h' waits on 'b'; 'b' waits on 'a'"
    )
    assert expected in proc.stdout


def test_handler_steps_are_audited_like_any_other(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: audit
        steps:
          - id: a
            python: {FUNCS}:fail
            error_handlers: [h]
          - id: h
            python: {FUNCS}:noop
        """,
    )
    evts = events(result)
    assert names(evts, "step_started") == ["a", "h"]
    assert names(evts, "step_completed") == ["h"]
    assert names(evts, "step_failed") == ["a"]

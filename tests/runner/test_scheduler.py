"""The scheduler through the Python API: event-driven starts, limits, trigger rules, stops."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from flowctl.api import RunStatus, StepStatus, run_workflow
from flowctl.spec.load import load_workflow_text
from tests.runner.sched_kit import (
    FUNCS,
    attempt_spans,
    events,
    max_overlap,
    names,
    run_spec,
    spans,
)


def test_a_step_starts_when_its_own_dependencies_finish_not_by_waves(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: no-waves
        steps:
          - id: short
            python: {FUNCS}:sleep
            input_mapping: {{seconds: "0.05"}}
          - id: long
            python: {FUNCS}:sleep
            input_mapping: {{seconds: "0.6"}}
          - id: after_short
            python: {FUNCS}:sleep
            input_mapping: {{seconds: "0.05"}}
            dependencies: [short]
          - id: after_both
            python: {FUNCS}:noop
            dependencies: [after_short, long]
        """,
    )
    assert result.status is RunStatus.COMPLETED
    span = spans(events(result))
    # A wave scheduler would start after_short only once `long` (same level) is done.
    assert span["after_short"].start < span["long"].end - 0.3
    assert span["after_short"].start >= span["short"].end
    assert span["after_both"].start >= span["long"].end


@pytest.mark.parametrize("limit", [1, 3])
def test_max_parallel_steps_bounds_running_steps_and_is_reached(tmp_path: Path, limit: int) -> None:
    steps = "\n".join(
        f"""  - id: s{i}
    python: {FUNCS}:sleep
    input_mapping: {{seconds: "0.08"}}"""
        for i in range(7)
    )
    result = run_spec(tmp_path, f"name: limit\nmax_parallel_steps: {limit}\nsteps:\n{steps}\n")
    assert result.status is RunStatus.COMPLETED
    overlap = max_overlap(attempt_spans(events(result)))
    assert overlap == limit
    queued = sum(r.queued for r in result.steps.values())
    assert queued > 0.05  # the steps that waited for a slot say so (history's `queued`)


def test_steps_made_ready_together_start_in_file_order(tmp_path: Path) -> None:
    # One slot: the five independent steps queue for it in the order the spec lists them,
    # which is also the tie-break the optimizer's replay uses.
    steps = "\n".join(f"  - {{id: s{i}, python: '{FUNCS}:noop'}}" for i in (3, 1, 4, 0, 2))
    result = run_spec(tmp_path, f"name: order\nmax_parallel_steps: 1\nsteps:\n{steps}\n")
    started = [e.step for e in events(result) if e.event == "step_started"]
    assert started == ["s3", "s1", "s4", "s0", "s2"]


def test_max_parallel_argument_overrides_the_spec(tmp_path: Path) -> None:
    steps = "\n".join(
        f"""  - id: s{i}
    python: {FUNCS}:sleep
    input_mapping: {{seconds: "0.05"}}"""
        for i in range(4)
    )
    result = run_spec(tmp_path, f"name: lim\nsteps:\n{steps}\n", max_parallel=1)
    assert max_overlap(attempt_spans(events(result))) == 1


def test_a_container_holds_no_slot_so_nesting_cannot_starve_the_pool(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: nested
        max_parallel_steps: 1
        steps:
          - id: outer
            type: parallel
            parallel_steps:
              - id: inner_loop
                type: loop
                loop:
                  for_each: [1, 2]
                  steps:
                    - id: work
                      python: {FUNCS}:noop
              - id: sibling
                python: {FUNCS}:noop
        """,
    )
    assert result.status is RunStatus.COMPLETED, result.error
    assert result.step("inner_loop[1].work").status is StepStatus.COMPLETED


def test_trigger_rules_after_a_tolerated_failure(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: rules
        steps:
          - id: ok
            python: {FUNCS}:noop
          - id: bad
            python: {FUNCS}:fail
            continue_on_failure: true
          - id: default_rule
            python: {FUNCS}:noop
            dependencies: [ok, bad]
          - id: all_success
            python: {FUNCS}:noop
            dependencies: [ok]
            trigger_rule: all_success
          - id: cleanup
            python: {FUNCS}:noop
            dependencies: [ok, bad]
            trigger_rule: all_done
        """,
    )
    assert result.status is RunStatus.COMPLETED  # continue_on_failure: the run goes on
    assert result.step("bad").status is StepStatus.FAILED
    assert result.step("default_rule").status is StepStatus.SKIPPED
    assert result.step("default_rule").reason == "dependency 'bad' failed"
    assert result.step("all_success").status is StepStatus.COMPLETED
    assert result.step("cleanup").status is StepStatus.COMPLETED


def test_all_success_skips_when_a_dependency_was_skipped_but_none_failed_runs(
    tmp_path: Path,
) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: rules2
        steps:
          - id: ran
            python: {FUNCS}:noop
          - id: off
            python: {FUNCS}:noop
            condition: "false"
          - id: tolerant
            python: {FUNCS}:noop
            dependencies: [ran, off]
          - id: strict
            python: {FUNCS}:noop
            dependencies: [ran, off]
            trigger_rule: all_success
        """,
    )
    assert result.step("off").status is StepStatus.SKIPPED
    assert result.step("off").reason == "condition is false: false"
    assert result.step("tolerant").status is StepStatus.COMPLETED
    strict = result.step("strict")
    assert strict.status is StepStatus.SKIPPED
    assert strict.reason == "dependency 'off' skipped (trigger_rule all_success)"


def test_a_skip_propagates_down_a_chain_but_all_done_still_runs(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: propagate
        inputs:
          enabled: {{type: boolean, default: false}}
        steps:
          - id: gate
            python: {FUNCS}:noop
            condition: inputs.enabled
          - id: one
            python: {FUNCS}:noop
            dependencies: [gate]
          - id: two
            python: {FUNCS}:noop
            dependencies: [one]
          - id: always
            python: {FUNCS}:noop
            dependencies: [two]
            trigger_rule: all_done
        """,
    )
    assert result.status is RunStatus.COMPLETED
    assert [result.step(s).status for s in ("gate", "one", "two")] == [StepStatus.SKIPPED] * 3
    assert result.step("two").reason == "dependency 'one' was skipped"
    assert result.step("always").status is StepStatus.COMPLETED
    assert names(events(result), "step_skipped") == ["gate", "one", "two"]


def test_an_unhandled_failure_cancels_running_steps_and_skips_the_rest(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: failfast
        steps:
          - id: slow
            python: {FUNCS}:sleep
            input_mapping: {{seconds: "3600"}}
          - id: broken
            python: {FUNCS}:fail
            input_mapping: {{message: "'disk full'"}}
          - id: later
            python: {FUNCS}:noop
            dependencies: [slow]
          - id: cleanup
            python: {FUNCS}:noop
            dependencies: [broken]
            trigger_rule: all_done
        """,
    )
    assert result.status is RunStatus.FAILED
    assert result.root_cause == "broken"
    assert result.error == "step 'broken' failed: RuntimeError: disk full"
    assert result.step("slow").status is StepStatus.CANCELLED
    assert result.step("slow").reason == "step 'broken' failed"
    assert result.step("later").status is StepStatus.SKIPPED
    assert result.step("cleanup").status is StepStatus.COMPLETED
    assert result.exit_code == 1


def test_a_run_that_can_never_finish_stops_at_once_naming_what_each_step_waits_on(
    tmp_path: Path,
) -> None:
    # Graph checks refuse this at load time; a Workflow built in code can still carry it.
    wf = load_workflow_text(
        f"""
name: deadlock
steps:
  - id: start
    python: {FUNCS}:noop
  - id: a
    python: {FUNCS}:noop
    dependencies: [start, b]
  - id: b
    python: {FUNCS}:noop
    dependencies: [a]
""",
        graph_checks=False,
    )
    result = run_workflow(wf, state_dir=tmp_path / "state", durable=False)
    assert result.status is RunStatus.FAILED
    assert result.error == (
        "runtime deadlock: these steps can never start: 'a' waits on 'b'; 'b' waits on 'a'"
    )
    assert result.step("start").status is StepStatus.COMPLETED
    assert result.step("a").reason == "can never start (runtime deadlock)"


def test_the_run_timeout_cancels_running_steps(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: slowrun
        timeout: 300ms
        steps:
          - id: sleepy
            python: {FUNCS}:sleep
            input_mapping: {{seconds: "3600"}}
          - id: after
            python: {FUNCS}:noop
            dependencies: [sleepy]
            trigger_rule: all_done
        """,
    )
    assert result.status is RunStatus.TIMEOUT
    assert result.exit_code == 3
    assert result.error == "the run timed out after 300ms"
    assert result.step("sleepy").status is StepStatus.CANCELLED
    # A timed-out run starts nothing more, cleanup included.
    assert result.step("after").status is StepStatus.SKIPPED


def test_a_step_timeout_fails_the_attempt(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: steptimeout
        steps:
          - id: sleepy
            python: {FUNCS}:sleep
            input_mapping: {{seconds: "3600"}}
            timeout: 200ms
        """,
    )
    sleepy = result.step("sleepy")
    assert sleepy.status is StepStatus.FAILED
    assert sleepy.error == "timed out after 200ms"
    assert sleepy.error_kind == "timeout"


def test_a_python_step_returning_a_non_mapping_gets_it_as_result(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: nonmapping
        steps:
          - id: bad_return
            python: {FUNCS}:value
            input_mapping: {{value: "[1, 2]"}}
        """,
    )
    assert result.step("bad_return").outputs == {"result": [1, 2]}


def test_the_async_api_and_cancelling_it_from_outside(tmp_path: Path) -> None:
    from flowctl.api import arun_workflow
    from flowctl.state.audit import read_journal
    from tests.runner.sched_kit import write_spec

    spec = write_spec(
        tmp_path,
        f"""
        name: asyncapi
        steps:
          - id: nap
            python: {FUNCS}:sleep
            input_mapping: {{seconds: "3600"}}
        """,
    )

    async def main() -> None:
        quick = await arun_workflow(
            write_spec(
                tmp_path, f"name: q\nsteps:\n  - id: a\n    python: {FUNCS}:noop\n", "q.yaml"
            ),
            state_dir=tmp_path / "q",
        )
        assert quick.ok
        task = asyncio.ensure_future(arun_workflow(spec, state_dir=tmp_path / "state"))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    (run_dir,) = (tmp_path / "state" / "runs").iterdir()
    journal = read_journal(run_dir / "audit.jsonl").events
    assert [e.event for e in journal][-2:] == ["step_cancelled", "run_finished"]
    assert journal[-1].data["status"] == "cancelled"


def test_run_workflow_refuses_to_nest_in_a_running_loop(tmp_path: Path) -> None:
    from flowctl.errors import UsageError

    async def main() -> None:
        with pytest.raises(UsageError, match="await arun_workflow"):
            run_workflow(tmp_path / "wf.yaml")

    asyncio.run(main())


def test_a_workflow_with_an_agent_no_step_uses_runs(tmp_path: Path) -> None:
    from tests.runner.sched_kit import write_spec

    text = (
        "name: ag\nagents:\n  fast: {capabilities: [ocr], python: 'x:y'}\nsteps:\n"
        f"  - id: a\n    python: {FUNCS}:noop\n"
    )
    result = run_workflow(write_spec(tmp_path, text), state_dir=tmp_path / "s")
    assert result.status is RunStatus.COMPLETED
    assert result.step("a").agent is None


def test_max_parallel_below_one_is_a_usage_error(tmp_path: Path) -> None:
    from flowctl.errors import UsageError

    with pytest.raises(UsageError, match="at least 1"):
        run_spec(
            tmp_path, f"name: z\nsteps:\n  - id: a\n    python: {FUNCS}:noop\n", max_parallel=0
        )

"""Containers through the Python API: loops, parallel, condition routing."""

from __future__ import annotations

from pathlib import Path

from flowctl.api import RunStatus, StepStatus
from tests.runner.sched_kit import FUNCS, attempt_spans, events, max_overlap, run_spec, spans


def test_for_each_runs_children_per_item_with_qualified_ids(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: foreach
        inputs:
          files: {{type: array, default: [a.txt, b.txt]}}
        steps:
          - id: each
            type: loop
            loop:
              for_each: inputs.files
              as: file
              steps:
                - id: read
                  python: {FUNCS}:echo
                  input_mapping: {{name: file, position: index}}
                - id: after
                  python: {FUNCS}:echo
                  dependencies: [read]
                  input_mapping: {{seen: steps.read.outputs.name}}
        """,
    )
    assert result.status is RunStatus.COMPLETED, result.error
    assert result.step("each[0].read").outputs == {"name": "a.txt", "position": 0}
    assert result.step("each[1].after").outputs == {"seen": "b.txt"}  # its own iteration
    assert result.step("each[1].read").parent == "each"
    assert result.step("each").outputs == {
        "iterations": [
            {"read": {"name": "a.txt", "position": 0}, "after": {"seen": "a.txt"}},
            {"read": {"name": "b.txt", "position": 1}, "after": {"seen": "b.txt"}},
        ],
        "count": 2,
        "labels": ["a.txt", "b.txt"],
    }


def test_for_each_with_max_concurrency_is_a_parallel_map(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: map
        steps:
          - id: fan
            type: loop
            loop:
              for_each: [1, 2, 3, 4, 5, 6]
              max_concurrency: 3
              steps:
                - id: work
                  python: {FUNCS}:sleep
                  input_mapping: {{seconds: "0.1"}}
        """,
    )
    assert result.status is RunStatus.COMPLETED
    assert max_overlap(attempt_spans(events(result))) == 3


def test_for_each_sequential_by_default(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: seq
        steps:
          - id: each
            type: loop
            loop:
              for_each: [1, 2, 3]
              steps:
                - id: work
                  python: {FUNCS}:sleep
                  input_mapping: {{seconds: "0.02"}}
        """,
    )
    assert max_overlap(attempt_spans(events(result))) == 1


def test_while_loop_checks_before_each_iteration_and_sees_the_last_iteration(
    tmp_path: Path,
) -> None:
    counter = tmp_path / "n"
    result = run_spec(
        tmp_path,
        f"""
        name: poll
        steps:
          - id: poll
            type: loop
            loop:
              while: "index == 0 or steps.tick.outputs.n < 3"
              steps:
                - id: tick
                  python: {FUNCS}:count_up
                  input_mapping: {{counter: "'{counter}'"}}
        """,
    )
    assert result.status is RunStatus.COMPLETED, result.error
    assert result.step("poll").outputs["count"] == 3
    assert [it["tick"]["n"] for it in result.step("poll").outputs["iterations"]] == [1, 2, 3]


def test_hitting_max_iterations_fails_the_loop_saying_so(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: runaway
        steps:
          - id: forever
            type: loop
            loop:
              while: "true"
              max_iterations: 3
              steps:
                - id: spin
                  python: {FUNCS}:noop
        """,
    )
    loop = result.step("forever")
    assert result.status is RunStatus.FAILED
    assert loop.error == "loop reached max_iterations (3) and `while: true` was still true"
    assert loop.outputs["count"] == 3
    assert result.root_cause == "forever"


def test_for_each_with_more_items_than_max_iterations_fails_before_running(
    tmp_path: Path,
) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: toomany
        steps:
          - id: each
            type: loop
            loop:
              for_each: [1, 2, 3]
              max_iterations: 2
              steps:
                - id: work
                  python: {FUNCS}:noop
        """,
    )
    assert result.step("each").error == (
        "for_each gives 3 items, more than max_iterations (2); raise max_iterations to run them all"
    )
    assert "each[0].work" not in result.steps


def test_a_failing_iteration_fails_the_loop_and_names_the_root_cause(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: loopfail
        steps:
          - id: each
            type: loop
            loop:
              for_each: ["ok", "bad", "ok"]
              steps:
                - id: check
                  python: {FUNCS}:fail
                  condition: item == 'bad'
          - id: after
            python: {FUNCS}:noop
            dependencies: [each]
        """,
    )
    assert result.status is RunStatus.FAILED
    assert result.root_cause == "each[1].check"
    assert result.error == "step 'each[bad].check' failed: RuntimeError: boom"
    assert result.step("each").error == (
        "iteration 1 (bad) failed: step 'each[bad].check' failed: RuntimeError: boom"
    )
    assert "each[2].check" not in result.steps  # sequential: nothing after the failure
    assert result.step("after").reason == "dependency 'each' failed"


def test_parallel_outputs_and_min_success_ratio_met(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: par
        steps:
          - id: fan
            type: parallel
            min_success_ratio: 0.5
            parallel_steps:
              - id: a
                python: {FUNCS}:echo
                input_mapping: {{v: "1"}}
              - id: b
                python: {FUNCS}:fail
              - id: c
                python: {FUNCS}:echo
                input_mapping: {{v: "3"}}
              - id: d
                python: {FUNCS}:fail
                input_mapping: {{message: "'nope'"}}
          - id: next
            python: {FUNCS}:echo
            dependencies: [fan]
            input_mapping: {{rate: steps.fan.outputs.success_rate}}
        """,
    )
    assert result.status is RunStatus.COMPLETED, result.error
    assert result.step("fan").outputs == {
        "total": 4,
        "succeeded": 2,
        "failed": 2,
        "success_rate": 0.5,
        "results": {"a": {"v": 1}, "c": {"v": 3}},
        "failures": {"b": "RuntimeError: boom", "d": "RuntimeError: nope"},
    }
    assert result.step("next").outputs == {"rate": 0.5}
    assert result.step("b").parent == "fan"


def test_parallel_below_min_success_ratio_fails_and_stops_the_rest(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: parfail
        steps:
          - id: fan
            type: parallel
            min_success_ratio: 0.75
            parallel_steps:
              - id: quick_fail_1
                python: {FUNCS}:fail
              - id: quick_fail_2
                python: {FUNCS}:fail
              - id: slow
                python: {FUNCS}:sleep
                input_mapping: {{seconds: "3600"}}
              - id: ok
                python: {FUNCS}:noop
        """,
    )
    fan = result.step("fan")
    assert result.status is RunStatus.FAILED
    assert fan.status is StepStatus.FAILED
    assert fan.error is not None and "min_success_ratio 0.75" in fan.error
    assert result.step("slow").status is StepStatus.CANCELLED  # doomed: no point waiting
    assert result.root_cause in ("quick_fail_1", "quick_fail_2")


def test_parallel_max_concurrency(tmp_path: Path) -> None:
    children = "\n".join(
        f"""      - id: c{i}
        python: {FUNCS}:sleep
        input_mapping: {{seconds: "0.06"}}"""
        for i in range(5)
    )
    result = run_spec(
        tmp_path,
        f"name: parlimit\nsteps:\n  - id: fan\n    type: parallel\n"
        f"    max_concurrency: 2\n    parallel_steps:\n{children}\n",
    )
    assert result.status is RunStatus.COMPLETED
    assert max_overlap(attempt_spans(events(result))) == 2


def test_condition_routes_to_the_first_true_case_and_skips_the_others(tmp_path: Path) -> None:
    text = f"""
        name: route
        inputs:
          kind: {{type: string}}
        steps:
          - id: classify
            type: condition
            cases:
              - when: inputs.kind == 'invoice'
                next_steps: [invoice]
              - when: inputs.kind in ['invoice', 'receipt']
                next_steps: [receipt]
            default: [review]
          - id: invoice
            python: {FUNCS}:noop
          - id: receipt
            python: {FUNCS}:noop
          - id: review
            python: {FUNCS}:noop
          - id: archive
            python: {FUNCS}:noop
            dependencies: [invoice, receipt, review]
        """
    (tmp_path / "1").mkdir()
    result = run_spec(tmp_path / "1", text, inputs={"kind": "receipt"})
    assert result.step("classify").outputs == {"branch": 1, "selected": ["receipt"]}
    assert result.step("invoice").status is StepStatus.SKIPPED
    assert result.step("invoice").reason == "not selected by condition 'classify' (branch 1)"
    assert result.step("receipt").status is StepStatus.COMPLETED
    assert result.step("review").status is StepStatus.SKIPPED
    assert result.step("archive").status is StepStatus.COMPLETED  # one branch completed

    (tmp_path / "2").mkdir()
    other = run_spec(tmp_path / "2", text, inputs={"kind": "photo"})
    assert other.step("classify").outputs == {"branch": "default", "selected": ["review"]}
    assert other.step("review").status is StepStatus.COMPLETED


def test_a_failing_condition_expression_fails_the_step_naming_it(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: badcase
        variables: {{cfg: {{}}}}
        steps:
          - id: classify
            type: condition
            cases:
              - when: workflow.cfg.missing == 1
                next_steps: [x]
          - id: x
            python: {FUNCS}:noop
        """,
    )
    classify = result.step("classify")
    assert classify.status is StepStatus.FAILED
    assert classify.error_kind == "expression"
    assert classify.error is not None and classify.error.startswith("cases[0].when at ")
    assert "missing" in classify.error
    assert result.step("x").reason == "dependency 'classify' failed"


def test_nested_loops_qualify_ids_at_every_level(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: nested
        steps:
          - id: outer
            type: loop
            loop:
              for_each: [[1, 2], [3]]
              as: row
              steps:
                - id: inner
                  type: loop
                  loop:
                    for_each: row
                    as: cell
                    steps:
                      - id: cellstep
                        python: {FUNCS}:echo
                        input_mapping: {{cell: cell, outer_index: index}}
        """,
    )
    assert result.status is RunStatus.COMPLETED, result.error
    assert result.step("outer[0].inner[1].cellstep").outputs == {"cell": 2, "outer_index": 1}
    assert result.step("outer[1].inner[0].cellstep").outputs == {"cell": 3, "outer_index": 0}
    assert result.step("outer[0].inner").parent == "outer"
    assert spans(events(result))["outer[0].inner[1].cellstep"]


def test_a_container_timeout_set_by_its_author_cancels_its_children(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: boxed
        steps:
          - id: each
            type: loop
            timeout: 300ms
            loop:
              for_each: [1, 2]
              steps:
                - id: nap
                  python: {FUNCS}:sleep
                  input_mapping: {{seconds: "3600"}}
        """,
    )
    assert result.status is RunStatus.FAILED
    assert result.step("each").error == "timed out after 300ms"
    assert result.step("each").error_kind == "timeout"
    nap = result.step("each[0].nap")
    assert nap.status is StepStatus.CANCELLED
    assert nap.reason == "container 'each' timed out"

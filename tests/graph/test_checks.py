"""check_workflow on workflow files: every error and warning of SPEC.md section 8."""

from __future__ import annotations

import pytest

from flowctl.errors import Severity, SpecError
from flowctl.graph import check_workflow
from tests.graph.kit import (
    action,
    codes,
    lines,
    load,
    parallel,
    problems,
    with_command,
    workflow,
)


def test_a_sound_workflow_has_no_problems() -> None:
    assert (
        problems(
            """
            name: ok
            steps:
              - id: fetch
                run: echo '{"kind":"pdf"}' > $FLOWCTL_OUTPUT
                output_mapping: {result.kind: workflow.kind}
              - id: route
                type: condition
                dependencies: [fetch]
                cases:
                  - when: workflow.kind == 'pdf'
                    next_steps: [ocr]
                default: [skip_ocr]
              - id: ocr
                type: parallel
                parallel_steps:
                  - id: page_1
                    run: echo 1
                  - id: page_2
                    run: echo 2
                    dependencies: [page_1]
                error_handlers: [alert]
              - id: skip_ocr
                run: echo skip
              - id: join
                run: echo done
                dependencies: [ocr, skip_ocr]
              - id: alert
                run: echo alert
            """
        )
        == []
    )


# -- unknown references ---------------------------------------------------------------------


def test_unknown_dependency_with_did_you_mean() -> None:
    assert lines(
        problems(
            """
            name: t
            steps:
              - id: extract
                run: echo hi
              - id: b
                run: echo b
                dependencies: [extarct]
            """
        )
    ) == [
        "wf.yaml:7:5: step 'b' depends on unknown step 'extarct' (did you mean 'extract'?) (at b)"
    ]


def test_unknown_dependency_without_a_close_match_has_no_suggestion() -> None:
    found = problems(
        """
        name: t
        steps:
          - id: extract
            run: echo hi
            dependencies: [zzz]
        """
    )
    assert lines(found) == [
        "wf.yaml:5:5: step 'extract' depends on unknown step 'zzz' (at extract)"
    ]
    assert codes(found) == ["unknown-ref"]


def test_unknown_next_step_error_handler_and_case_targets() -> None:
    assert lines(
        problems(
            """
            name: t
            steps:
              - id: load
                run: echo
                next_steps: [transfrom]
                error_handlers: [notfy]
              - id: transform
                run: echo
              - id: notify
                run: echo
              - id: route
                type: condition
                dependencies: [transform]
                cases:
                  - when: "true"
                    next_steps: [notifyy]
                default: [nowhere]
            """
        )
    ) == [
        "wf.yaml:5:5: step 'load' lists unknown step 'transfrom' in next_steps"
        " (did you mean 'transform'?) (at load)",
        "wf.yaml:6:5: step 'load' names unknown error handler 'notfy'"
        " (did you mean 'notify'?) (at load)",
        "wf.yaml:15:9: condition 'route' routes to unknown step 'notifyy' in cases[0]"
        " (did you mean 'notify'?) (at route)",
        "wf.yaml:17:5: condition 'route' routes to unknown step 'nowhere' in default (at route)",
    ]


def test_did_you_mean_looks_only_in_the_same_scope() -> None:
    found = problems(
        """
        name: t
        steps:
          - id: batch
            type: parallel
            parallel_steps:
              - id: resize
                run: echo
          - id: publish
            run: echo
            dependencies: [resise]
        """
    )
    assert [p.message for p in found] == ["step 'publish' depends on unknown step 'resise'"]


# -- scopes -----------------------------------------------------------------------------------


SCOPES = """
name: t
steps:
  - id: fetch
    run: echo
  - id: ocr
    type: parallel
    parallel_steps:
      - id: page
        run: echo
        dependencies: [fetch]
      - id: merge
        run: echo
        dependencies: [page, ocr]
  - id: poll
    type: loop
    loop:
      while: index == 0 or steps.check.outputs.done != 'yes'
      steps:
        - id: check
          run: echo done=yes > $FLOWCTL_OUTPUT
          error_handlers: [report]
  - id: report
    run: echo
    dependencies: [merge]
"""


def test_references_across_container_scopes_say_where_each_step_is() -> None:
    found = problems(SCOPES)
    assert lines(found) == [
        "wf.yaml:10:9: step 'page' (inside parallel 'ocr') depends on 'fetch' (top level),"
        " a step of another scope; make 'ocr' depend on 'fetch' instead (at page)",
        "wf.yaml:13:9: step 'merge' (inside parallel 'ocr') depends on 'ocr' (top level),"
        " a step of another scope; 'ocr' contains 'merge';"
        " a child starts when its container starts (at merge)",
        "wf.yaml:21:11: step 'check' (inside loop 'poll') names error handler 'report'"
        " (top level), a step of another scope;"
        " an error handler must be a sibling of the step it handles (at check)",
        "wf.yaml:24:5: step 'report' (top level) depends on 'merge' (inside parallel 'ocr'),"
        " a step of another scope; depend on 'ocr' instead (at report)",
    ]
    assert set(codes(found)) == {"cross-scope"}


def test_a_container_cannot_wait_for_its_own_child() -> None:
    found = problems(
        """
        name: t
        steps:
          - id: batch
            type: parallel
            dependencies: [inner]
            parallel_steps:
              - id: inner
                run: echo
        """
    )
    assert [p.message for p in found] == [
        "step 'batch' (top level) depends on 'inner' (inside parallel 'batch'), a step of"
        " another scope; 'inner' is inside 'batch'; a container finishes after its children"
    ]


def test_duplicate_ids_anywhere_in_the_file_name_both_places() -> None:
    found = problems(
        """
        name: t
        steps:
          - id: a
            run: echo
          - id: group
            type: parallel
            parallel_steps:
              - id: a
                run: echo
        """
    )
    assert lines(found) == [
        "wf.yaml:8:9: duplicate step id 'a' (first defined at wf.yaml:3:5) (at a)"
    ]
    assert codes(found) == ["duplicate-id"]


# -- cycles -------------------------------------------------------------------------------------


def test_a_dependency_cycle_prints_its_path() -> None:
    found = problems(
        """
        name: t
        steps:
          - id: a
            run: echo
            dependencies: [c]
          - id: b
            run: echo
            dependencies: [a]
          - id: c
            run: echo
            dependencies: [b]
          - id: d
            run: echo
            dependencies: [c]
        """
    )
    assert lines(found) == ["wf.yaml:5:5: cycle: a -> b -> c -> a (at a)"]
    assert codes(found) == ["cycle"]


def test_cycles_made_by_next_steps() -> None:
    found = problems(
        """
        name: t
        steps:
          - id: a
            run: echo
            next_steps: [b]
          - id: b
            run: echo
            next_steps: [a]
          - id: again
            run: echo
            next_steps: [again]
        """
    )
    assert lines(found) == [
        "wf.yaml:8:5: cycle: a -> b -> a (at b)",
        "wf.yaml:11:5: cycle: again -> again (at again)",
    ]


def test_cycles_made_by_error_handlers() -> None:
    # `pay` is handled by `refund`, and `refund` must run before `pay`.
    found = problems(
        """
        name: t
        steps:
          - id: pay
            run: echo
            dependencies: [refund]
            error_handlers: [refund]
          - id: refund
            run: echo
        """
    )
    assert lines(found) == ["wf.yaml:5:5: cycle: pay -> refund -> pay (at pay)"]


def test_cycles_inside_a_container() -> None:
    found = problems(
        """
        name: t
        steps:
          - id: batch
            type: parallel
            parallel_steps:
              - id: x
                run: echo
                dependencies: [y]
              - id: y
                run: echo
                dependencies: [x]
        """
    )
    assert lines(found) == ["wf.yaml:8:9: cycle: x -> y -> x (at x)"]


# -- steps that can never run ---------------------------------------------------------------------


def test_a_step_depending_only_on_error_handlers_never_runs() -> None:
    found = problems(
        """
        name: t
        steps:
          - id: charge
            run: echo
            error_handlers: [refund, notify]
          - id: refund
            run: echo
          - id: notify
            run: echo
          - id: audit
            run: echo
            dependencies: [refund, notify]
          - id: cleanup
            run: echo
            trigger_rule: all_done
            dependencies: [refund]
        """
    )
    assert lines(found) == [
        "wf.yaml:12:5: step 'audit' can never run: it depends only on 'refund' and 'notify',"
        " which run only as error handlers (at audit)"
    ]
    assert codes(found) == ["never-runs"]


def test_all_success_on_two_exclusive_cases_never_runs() -> None:
    text = """
        name: t
        inputs: {kind: {type: string, default: pdf}}
        steps:
          - id: route
            type: condition
            cases:
              - when: inputs.kind == 'pdf'
                next_steps: [pdf]
              - when: inputs.kind == 'img'
                next_steps: [img, thumb]
            default: [text]
          - {id: pdf, run: echo}
          - {id: img, run: echo}
          - {id: thumb, run: echo}
          - {id: text, run: echo}
          - id: merge
            run: echo
            trigger_rule: all_success
            dependencies: [pdf, img]
          - id: both_img
            run: echo
            trigger_rule: all_success
            dependencies: [img, thumb]
          - id: join
            run: echo
            dependencies: [pdf, img, text]
        """
    assert lines(problems(text)) == [
        "wf.yaml:19:5: step 'merge' can never run: trigger_rule all_success needs both"
        " 'pdf' and 'img', but condition 'route' runs only one of them"
        " (use trigger_rule none_failed to join branches) (at merge)"
    ]


def test_three_cases_that_never_all_run_together() -> None:
    found = problems(
        """
        name: t
        variables: {x: 1}
        steps:
          - id: route
            type: condition
            cases:
              - {when: workflow.x == 1, next_steps: [a, b]}
              - {when: workflow.x == 2, next_steps: [b, c]}
              - {when: workflow.x == 3, next_steps: [a, c]}
          - {id: a, run: echo}
          - {id: b, run: echo}
          - {id: c, run: echo}
          - id: all3
            run: echo
            trigger_rule: all_success
            dependencies: [a, b, c]
        """
    )
    assert [p.message for p in found] == [
        "step 'all3' can never run: trigger_rule all_success needs all of 'a', 'b' and 'c',"
        " but condition 'route' never runs them all (use trigger_rule none_failed to join"
        " branches)"
    ]


# -- warnings ------------------------------------------------------------------------------------


def test_steps_downstream_of_a_never_running_step_are_unreachable() -> None:
    found = problems(
        """
        name: t
        steps:
          - id: charge
            run: echo
            error_handlers: [refund]
          - id: refund
            run: echo
          - id: after_refund
            run: echo
            dependencies: [refund]
          - id: report
            run: echo
            dependencies: [after_refund]
          - id: wrapup
            type: parallel
            dependencies: [report]
            parallel_steps:
              - {id: inner, run: echo}
        """
    )
    assert lines(found) == [
        "wf.yaml:10:5: step 'after_refund' can never run: it depends only on 'refund',"
        " which runs only as an error handler (at after_refund)",
        "wf.yaml:13:5: warning: step 'report' is unreachable from any entry:"
        " it waits on 'after_refund', which can never run (at report)",
        "wf.yaml:16:5: warning: step 'wrapup' is unreachable from any entry:"
        " it waits on 'report', which can never run (at wrapup)",
    ]
    assert [p.severity for p in found] == [Severity.ERROR, Severity.WARNING, Severity.WARNING]


def test_an_error_handler_of_a_step_that_never_runs_is_unreachable() -> None:
    found = problems(
        """
        name: t
        steps:
          - id: charge
            run: echo
            error_handlers: [refund]
          - id: refund
            run: echo
          - id: orphan
            run: echo
            dependencies: [refund]
            error_handlers: [page_oncall]
          - id: page_oncall
            run: echo
        """
    )
    assert [(p.code, p.message) for p in found] == [
        (
            "never-runs",
            "step 'orphan' can never run: it depends only on 'refund',"
            " which runs only as an error handler",
        ),
        (
            "unreachable",
            "error handler 'page_oncall' is unreachable from any entry:"
            " it handles only 'orphan', which can never run",
        ),
    ]


def test_an_output_nobody_reads_is_a_warning() -> None:
    found = problems(
        """
        name: t
        steps:
          - id: order
            run: echo
            output_mapping:
              result.id: workflow.order.id
              result.total: workflow.order.total
              result.lines: workflow.lines
          - id: ship
            run: echo {{ workflow.order.id }}
            dependencies: [order]
          - id: bill
            run: echo
            input_mapping: {all: "workflow['lines']"}
        """
    )
    assert lines(found) == [
        "wf.yaml:5:5: warning: output 'result.total' of step 'order' is written to"
        " 'workflow.order.total', which no expression or template reads (at order)"
    ]
    assert codes(found) == ["unused-output"]


def test_reading_a_whole_object_reads_every_output_inside_it() -> None:
    found = problems(
        """
        name: t
        steps:
          - id: order
            run: echo
            output_mapping: {result.id: workflow.order.id}
          - id: dump
            run: echo {{ workflow.order | tojson }}
            dependencies: [order]
        """
    )
    assert found == []


@pytest.mark.parametrize(
    ("key", "reader", "unused"),
    [
        ("condition", "workflow.order.total > 3", False),
        ("condition", "workflow['order']['total'] > 3", False),
        ("condition", "workflow.order.get('total') != none", False),
        ("condition", "workflow.order.items() | list | length > 0", False),
        ("condition", "workflow.order.id > 3", True),
        ("condition", "inputs.workflow.order.total > 3", True),
        ("run", "echo workflow.order.total", True),
        ("run", "echo {{ workflow.order.total }}", False),
        ("run", "echo {{ '}}' ~ workflow.order.total }}", False),
        ("run", "echo {{ {1: {2: 3}} ~ workflow.order.total }}", False),
        ("run", "{% for workflow in [1] %}{{ workflow.order }}{% endfor %}", True),
    ],
)
def test_what_counts_as_reading_an_output(key: str, reader: str, unused: bool) -> None:
    if key == "condition":
        reads = action("reader", "order", condition=reader)
    else:
        reads = with_command(action("reader", "order"), reader)
    wf = workflow(action("order", output_mapping={"result.total": "workflow.order.total"}), reads)
    # Reads of paths nothing writes are warned about too (unwritten-workflow, unknown-input).
    found = [c for c in codes(check_workflow(wf)) if c == "unused-output"]
    assert found == (["unused-output"] if unused else [])


def test_a_while_loop_that_nothing_inside_can_end_is_a_warning() -> None:
    found = problems(
        """
        name: t
        inputs: {limit: {type: integer, default: 3}}
        steps:
          - id: spin
            type: loop
            loop:
              while: inputs.limit > 2
              max_iterations: 50
              steps:
                - id: work
                  run: echo
        """
    )
    assert lines(found) == [
        "wf.yaml:6:5: warning: loop 'spin' has no exit other than max_iterations (50):"
        " its while expression 'inputs.limit > 2' reads nothing its steps change"
        " (steps.<child>, index, or workflow data they write) (at spin)"
    ]
    assert codes(found) == ["loop-no-exit"]


@pytest.mark.parametrize(
    "condition",
    [
        "steps.work.outputs.more == 'yes'",
        "index < 5",
        "workflow.poll.state != 'done'",
        "workflow.poll != none",
    ],
)
def test_a_while_loop_with_an_exit_is_fine(condition: str) -> None:
    found = problems(
        f"""
        name: t
        steps:
          - id: poll
            type: loop
            loop:
              while: "{condition}"
              steps:
                - id: work
                  run: echo more=no > $FLOWCTL_OUTPUT
                  output_mapping: {{result.state: workflow.poll.state}}
        """
    )
    assert "loop-no-exit" not in codes(found)


# -- ordering, model-built workflows, the loader's own use ------------------------------------


def test_errors_come_first_then_warnings_each_in_file_order() -> None:
    wf = workflow(
        action("out", output_mapping={"result.x": "workflow.x"}),
        action("a", "missing"),
        action("b", "b"),
    )
    found = check_workflow(wf)
    assert codes(found) == ["unknown-ref", "cycle", "unused-output"]
    # The warning's step comes first in the file, yet it is listed after the errors.
    assert [p.path for p in found] == ["a", "b", "out"]


def test_children_of_containers_are_checked_in_their_own_scope() -> None:
    wf = workflow(
        action("start"),
        parallel("batch", [action("x"), action("y", "x"), action("z", "start")], "start"),
    )
    assert [p.message for p in check_workflow(wf)] == [
        "step 'z' (inside parallel 'batch') depends on 'start' (top level), a step of another"
        " scope; make 'batch' depend on 'start' instead"
    ]


def test_the_loader_refuses_a_workflow_with_graph_errors() -> None:
    from flowctl.spec.load import load_workflow_text

    with pytest.raises(SpecError) as caught:
        load_workflow_text("name: t\nsteps:\n  - {id: a, run: echo, dependencies: [a]}\n")
    assert [p.code for p in caught.value.problems] == ["cycle"]
    unchecked = load("name: t\nsteps:\n  - {id: a, run: echo, dependencies: [a]}\n")
    assert unchecked.steps[0].dependencies == ("a",)

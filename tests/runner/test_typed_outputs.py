"""Declared `outputs:` at run time, and run time agreeing with what validate accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowctl.api import RunStatus, StepStatus
from flowctl.runner.engine.typed_outputs import convert
from tests.runner.sched_kit import run_spec


def test_key_value_outputs_become_the_declared_types(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        """
        name: typed
        steps:
          - id: count
            run: |
              echo n=3 >> "$FLOWCTL_OUTPUT"
              echo ok=true >> "$FLOWCTL_OUTPUT"
              echo 'files=["a", "b"]' >> "$FLOWCTL_OUTPUT"
              echo ratio=0.5 >> "$FLOWCTL_OUTPUT"
            outputs: {n: integer, ok: boolean, files: array, ratio: number}
          - id: many
            dependencies: [count]
            condition: steps.count.outputs.n >= 2 and steps.count.outputs.ok
            run: echo {{ steps.count.outputs.files | length }}
        """,
    )
    assert result.status is RunStatus.COMPLETED
    outputs = result.steps["count"].outputs
    assert (outputs["n"], outputs["ok"], outputs["files"], outputs["ratio"]) == (
        3,
        True,
        ["a", "b"],
        0.5,
    )
    assert result.steps["many"].outputs["stdout"] == "2"


def test_a_missing_or_unconvertible_declared_output_fails_the_step(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        """
        name: typed
        steps:
          - id: count
            run: echo n=three >> "$FLOWCTL_OUTPUT"
            outputs: {n: integer, ok: boolean}
            retry_policy: {max_attempts: 3, delay: 0}
        """,
    )
    step = result.steps["count"]
    assert step.status is StepStatus.FAILED
    assert step.attempts == 1  # a declaration broken by the command is not retried
    assert step.error == (
        "output 'n' is not an integer: got \"three\"; declared output 'ok' (boolean) is"
        " missing: write `ok=...` to $FLOWCTL_OUTPUT (or return it)"
    )


def test_an_untyped_comparison_fails_at_run_time_naming_where_and_how_to_fix(
    tmp_path: Path,
) -> None:
    result = run_spec(
        tmp_path,
        """
        name: untyped
        steps:
          - id: count
            run: echo n=3 >> "$FLOWCTL_OUTPUT"
          - id: many
            dependencies: [count]
            condition: steps.count.outputs.n >= 2
            run: echo many
        """,
    )
    error = result.steps["many"].error
    assert error is not None
    assert error == (
        f"condition at {tmp_path / 'wf.yaml'}:7:5: expression 'steps.count.outputs.n >= 2'"
        " failed: '>=' not supported between instances of 'str' and 'int' (outputs of shell"
        " steps are text: convert with `| int` or `| float`, or declare the step's"
        " `outputs` with their types)"
    )


def test_output_mapping_reads_the_step_itself(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        """
        name: self
        steps:
          - id: count
            run: echo n=3 >> "$FLOWCTL_OUTPUT"
            output_mapping: {"steps.count.outputs.n ~ '!'": workflow.shout}
        """,
    )
    assert result.status is RunStatus.COMPLETED
    assert result.data["shout"] == "3!"


@pytest.mark.parametrize(
    ("value", "type_name", "expected"),
    [
        (" 42 ", "integer", 42),
        (4.0, "integer", 4),
        ("-1.5e3", "number", -1500.0),
        ("7", "number", 7),
        ("FALSE", "boolean", False),
        ("1", "boolean", True),
        ('{"a": 1}', "object", {"a": 1}),
        (12, "string", "12"),
        (True, "string", "true"),
    ],
)
def test_conversions(value: object, type_name: str, expected: object) -> None:
    assert convert(value, type_name) == expected
    assert type(convert(value, type_name)) is type(expected)


@pytest.mark.parametrize(
    ("value", "type_name"),
    [("4.5", "integer"), (True, "integer"), ("yes", "boolean"), ("[1", "array"), ("[]", "object")],
)
def test_what_does_not_convert(value: object, type_name: str) -> None:
    with pytest.raises(ValueError):
        convert(value, type_name)

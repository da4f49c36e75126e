"""Data flow: names, input_mapping, input_validation, output_mapping, step environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowctl.api import RunStatus, StepStatus
from flowctl.runner.engine.rundata import param_env_name, target_path
from tests.runner.sched_kit import FUNCS, events, names, run_spec


def test_workflow_data_is_variables_then_inputs_then_output_mapping(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: data
        variables: {{threshold: 0.8, region: eu}}
        inputs:
          region: {{type: string, default: us}}
          customer: {{type: object}}
        steps:
          - id: fetch
            python: {FUNCS}:echo
            input_mapping:
              id: workflow.customer.id
              region: workflow.region
              threshold: workflow.threshold
              raw_input: inputs.customer.id
            output_mapping:
              result.id: workflow.order_details.customer_id
              "result.threshold * 2": workflow.order_details.doubled
          - id: use
            python: {FUNCS}:echo
            dependencies: [fetch]
            input_mapping:
              order: workflow.order_details
              fetched: steps.fetch.outputs.id
              status: steps.fetch.status
              attempts: steps.fetch.attempts
              run_name: run.workflow
              run_id: run.id
        """,
        inputs={"customer": {"id": 42}},
    )
    assert result.status is RunStatus.COMPLETED, result.error
    assert result.step("fetch").outputs == {
        "id": 42,
        "region": "us",
        "threshold": 0.8,
        "raw_input": 42,
    }
    use = result.step("use").outputs
    assert use["order"] == {"customer_id": 42, "doubled": 1.6}
    assert use["fetched"] == 42
    assert use["status"] == "completed"
    assert use["attempts"] == 1
    assert use["run_name"] == "data"
    assert use["run_id"] == result.run_id
    assert result.data["order_details"] == {"customer_id": 42, "doubled": 1.6}
    assert result.data["threshold"] == 0.8


def test_an_input_mapping_expression_failure_fails_the_step_naming_it_without_retry(
    tmp_path: Path,
) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: badexpr
        variables: {{cfg: {{}}}}
        steps:
          - id: broken
            python: {FUNCS}:echo
            retry_policy: {{max_attempts: 3, delay: 0}}
            input_mapping: {{x: workflow.cfg.nowhere}}
        """,
    )
    broken = result.step("broken")
    assert broken.status is StepStatus.FAILED
    assert broken.attempts == 1
    assert broken.error_kind == "expression"
    assert broken.error is not None
    assert broken.error.startswith(f"input_mapping 'x' at {tmp_path / 'wf.yaml'}:7:5: ")
    assert "expression 'workflow.cfg.nowhere' failed" in broken.error
    assert "nowhere" in broken.error
    assert names(events(result), "step_retrying") == []


def test_input_validation_fails_at_once_with_the_schema_error(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: validate
        steps:
          - id: charge
            python: {FUNCS}:echo
            retry_policy: {{max_attempts: 4, delay: 0}}
            input_mapping: {{amount: "-5", currency: "'EUR'"}}
            input_validation:
              type: object
              required: [amount, currency]
              properties:
                amount: {{type: number, minimum: 0}}
                currency: {{enum: [EUR, USD]}}
        """,
    )
    charge = result.step("charge")
    assert charge.status is StepStatus.FAILED
    assert charge.attempts == 1
    assert charge.error_kind == "validation"
    assert charge.error == (
        "input_validation failed at params.amount: -5 is less than the minimum of 0"
    )


def test_input_validation_passes_valid_params(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: validate_ok
        steps:
          - id: charge
            python: {FUNCS}:echo
            input_mapping: {{amount: "5"}}
            input_validation: {{properties: {{amount: {{type: integer}}}}}}
        """,
    )
    assert result.step("charge").outputs == {"amount": 5}


def test_output_mapping_onto_a_non_object_fails_the_step_and_keeps_data(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: badtarget
        variables: {{name: plain}}
        steps:
          - id: write
            python: {FUNCS}:echo
            input_mapping: {{v: "1"}}
            output_mapping: {{result.v: workflow.name.first}}
        """,
    )
    write = result.step("write")
    assert write.status is StepStatus.FAILED
    assert write.error == (
        "output_mapping cannot write workflow.name.first: workflow.name is a str, not an object"
    )
    assert write.outputs == {"v": 1}  # what the step produced is kept
    assert result.data == {"name": "plain"}


def test_output_mapping_expression_failure_names_it(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: badsource
        steps:
          - id: write
            python: {FUNCS}:noop
            output_mapping: {{result.missing: workflow.x}}
        """,
    )
    error = result.step("write").error
    assert error is not None and error.startswith("output_mapping 'result.missing' at ")


def test_step_environment_params_idempotency_key_and_workflow_env(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: envs
        inputs:
          who: {{type: string, default: world}}
        env:
          GREETING: "hello {{{{ inputs.who }}}}"
          PLAIN: as-is
        steps:
          - id: look
            python: {FUNCS}:env_of
            input_mapping:
              names: "['GREETING', 'PLAIN', 'FLOWCTL_PARAM_NAMES', 'FLOWCTL_IDEMPOTENCY_KEY',
                       'FLOWCTL_RUN_ID', 'FLOWCTL_STEP_ID']"
          - id: shell
            run: >-
              echo "$GREETING|$FLOWCTL_PARAM_COUNT|$FLOWCTL_PARAM_ITEMS|$FLOWCTL_IDEMPOTENCY_KEY"
            input_mapping: {{count: "3", items: "[1, 'a']"}}
        """,
    )
    assert result.status is RunStatus.COMPLETED, result.error
    env = result.step("look").outputs
    assert env["GREETING"] == "hello world"
    assert env["PLAIN"] == "as-is"
    assert env["FLOWCTL_PARAM_NAMES"].startswith('["GREETING"')  # JSON for non-strings
    assert env["FLOWCTL_IDEMPOTENCY_KEY"] == f"{result.run_id}:look"
    assert env["FLOWCTL_RUN_ID"] == result.run_id
    assert env["FLOWCTL_STEP_ID"] == "look"
    assert result.step("shell").outputs["stdout"] == (
        f'hello world|3|[1, "a"]|{result.run_id}:shell'
    )


def test_loop_iterations_get_their_own_idempotency_keys(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: keys
        steps:
          - id: each
            type: loop
            loop:
              for_each: [a, b]
              steps:
                - id: look
                  python: {FUNCS}:env_of
                  input_mapping: {{names: "['FLOWCTL_IDEMPOTENCY_KEY']"}}
        """,
    )
    keys = [result.step(f"each[{i}].look").outputs["FLOWCTL_IDEMPOTENCY_KEY"] for i in (0, 1)]
    assert keys == [f"{result.run_id}:each[0].look", f"{result.run_id}:each[1].look"]


@pytest.mark.parametrize(
    ("target", "path"),
    [("workflow.a.b", ["a", "b"]), ("a", ["a"]), ("workflow.x", ["x"])],
)
def test_output_mapping_targets(target: str, path: list[str]) -> None:
    assert target_path(target) == path


@pytest.mark.parametrize("target", ["", "workflow.", "a..b", "a. "])
def test_malformed_output_mapping_targets(target: str) -> None:
    with pytest.raises(ValueError, match="not a dotted path"):
        target_path(target)


def test_param_env_names() -> None:
    assert param_env_name("customer_id") == "FLOWCTL_PARAM_CUSTOMER_ID"
    assert param_env_name("a-b.c") == "FLOWCTL_PARAM_A_B_C"

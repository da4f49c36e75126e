"""Every expression and template check of `flowctl validate`, through the real command line:
its code, severity, message and the line and column of the token at fault."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "400"}


@dataclass(frozen=True)
class Case:
    name: str
    spec: str
    code: str
    severity: str
    line: int
    col: int
    message: str


CASES = [
    Case(
        "unknown_step",
        """
        name: t
        steps:
          - id: build
            run: echo hi
          - id: link
            dependencies: [build]
            condition: "steps.buld.outputs.exit_code == 0"
            run: echo
        """,
        "unknown-step",
        "error",
        7,
        23,
        "'condition' of step 'link' reads steps.buld, but no step has the id 'buld'"
        " (did you mean 'build'?)",
    ),
    Case(
        "not_upstream",
        """
        name: t
        steps:
          - id: build
            run: echo hi
          - id: test
            run: echo {{ steps.build.outputs.stdout }}
        """,
        "not-upstream",
        "error",
        6,
        24,
        "'run' of step 'test' reads steps.build, but 'build' is not upstream of 'test':"
        " the read would race with 'build'; add 'build' to the dependencies of 'test'",
    ),
    Case(
        "not_upstream_of_the_container",
        """
        name: t
        steps:
          - id: build
            run: echo hi
          - id: all
            type: parallel
            parallel_steps:
              - id: one
                run: echo {{ steps.build.outputs.stdout }}
        """,
        "not-upstream",
        "error",
        9,
        28,
        "'run' of step 'one' reads steps.build, but 'build' is not upstream of 'all'"
        " (which contains 'one'): the read would race with 'build'; add 'build' to the"
        " dependencies of 'all'",
    ),
    Case(
        "inside_a_loop",
        """
        name: t
        steps:
          - id: each
            type: loop
            loop:
              for_each: [1, 2]
              steps:
                - {id: inner, run: echo}
          - id: after
            dependencies: [each]
            run: echo {{ steps.inner.outputs.stdout }}
        """,
        "not-upstream",
        "error",
        11,
        24,
        "'run' of step 'after' reads steps.inner, but 'inner' is inside loop 'each', whose"
        " steps are seen only inside it; read steps.each.outputs.iterations instead",
    ),
    Case(
        "unknown_input",
        """
        name: t
        inputs: {name: {type: string, default: x}}
        steps:
          - id: a
            run: echo {{ inputs.nmae }}
        """,
        "unknown-input",
        "error",
        5,
        25,
        "'run' of step 'a' reads inputs.nmae, but the workflow declares no input 'nmae'"
        " (did you mean 'name'?)",
    ),
    Case(
        "loop_variable_outside",
        """
        name: t
        steps:
          - id: each
            type: loop
            loop:
              for_each: [1, 2]
              as: page
              steps:
                - {id: inner, run: "echo {{ page }}"}
          - id: after
            dependencies: [each]
            run: echo {{ page }}
        """,
        "loop-var-outside",
        "error",
        12,
        18,
        "'run' of step 'after' reads 'page', a variable of loop 'each' that exists only"
        " inside the loop's steps",
    ),
    Case(
        "result_outside_output_mapping",
        """
        name: t
        steps:
          - id: a
            condition: result.ok
            run: echo
        """,
        "result-outside",
        "error",
        4,
        16,
        "'condition' of step 'a' reads 'result', which exists only in output_mapping keys"
        " and rollback_actions (after the step ran)",
    ),
    Case(
        "unknown_name",
        """
        name: t
        steps:
          - id: a
            run: echo {{ secrets.TOKEN }}
        """,
        "unknown-name",
        "error",
        4,
        18,
        "'run' of step 'a' reads 'secrets', which is not defined here (secrets are"
        " environment variables here: read env.NAME); names here: env, inputs, params,"
        " run, steps and workflow",
    ),
    Case(
        "unknown_param",
        """
        name: t
        steps:
          - id: a
            input_mapping: {who: "'me'"}
            run: echo {{ params.woh }}
        """,
        "unknown-param",
        "error",
        5,
        25,
        "'run' of step 'a' reads params.woh, but input_mapping of step 'a' has no 'woh'"
        " (did you mean 'who'?)",
    ),
    Case(
        "unknown_field",
        """
        name: t
        steps:
          - id: a
            run: echo
          - id: b
            dependencies: [a]
            condition: steps.a.stauts == 'completed'
            run: echo
        """,
        "unknown-field",
        "error",
        7,
        24,
        "'condition' of step 'b' reads steps.a.stauts, but a step has only status, outputs,"
        " attempts, duration and error (did you mean 'status'?)",
    ),
    Case(
        "undeclared_output",
        """
        name: t
        steps:
          - id: count
            run: echo n=3 >> "$FLOWCTL_OUTPUT"
            outputs: {n: integer}
          - id: b
            dependencies: [count]
            condition: steps.count.outputs.m >= 2
            run: echo
        """,
        "undeclared-output",
        "error",
        8,
        36,
        "'condition' of step 'b' reads steps.count.outputs.m, but step 'count' declares"
        " only n in 'outputs'",
    ),
    Case(
        "an_output_a_loop_does_not_have",
        """
        name: t
        steps:
          - id: each
            type: loop
            loop:
              for_each: [1, 2]
              steps:
                - {id: inner, run: echo}
          - id: after
            dependencies: [each]
            run: echo {{ steps.each.outputs.counts }}
        """,
        "undeclared-output",
        "error",
        11,
        37,
        "'run' of step 'after' reads steps.each.outputs.counts, but step 'each' (loop) has"
        " only the outputs count, iterations and labels (did you mean 'count'?)",
    ),
    Case(
        "untyped_compare",
        """
        name: t
        steps:
          - id: count
            run: echo n=3 >> "$FLOWCTL_OUTPUT"
          - id: b
            dependencies: [count]
            condition: steps.count.outputs.n >= 2
            run: echo
        """,
        "untyped-compare",
        "warning",
        7,
        16,
        "'condition' of step 'b' compares steps.count.outputs.n with a number, but outputs"
        " of shell steps are text: write `steps.count.outputs.n | int` (or `| float`), or"
        " declare `outputs: {n: integer}` on step 'count'",
    ),
    Case(
        "while_reads_its_steps_before_they_ran",
        """
        name: t
        steps:
          - id: poll
            type: loop
            loop:
              while: steps.check.outputs.exit_code != 0
              steps:
                - {id: check, run: "true"}
        """,
        "while-first-iteration",
        "warning",
        6,
        20,
        "'loop.while' of step 'poll' reads steps.check, which does not exist when `while` is"
        " first checked, before the first iteration: write `index == 0 or ...`, or"
        " `steps.check... | default(...)`",
    ),
    Case(
        "unwritten_workflow_path",
        """
        name: t
        variables: {region: eu}
        steps:
          - id: a
            run: echo {{ workflow.regoin }}
        """,
        "unwritten-workflow",
        "warning",
        5,
        27,
        "'run' of step 'a' reads workflow.regoin, which no variable, input or output_mapping"
        " writes (did you mean 'region'?)",
    ),
    # A name Jinja's lexer refuses fails before the parser starts (found by fuzz_specs.py).
    Case(
        "lexer_error_in_a_condition",
        """
        name: t
        steps:
          - id: a
            condition: "x\u00b2 == 1"
            run: echo
        """,
        "expression-syntax",
        "error",
        4,
        17,
        "'condition' of step 'a': syntax error: Invalid character in identifier",
    ),
    Case(
        "lexer_error_in_a_template",
        """
        name: t
        steps:
          - id: a
            run: echo {{ x }} {{ y\u00b2 }}
        """,
        "expression-syntax",
        "error",
        4,
        25,
        "'run' of step 'a': syntax error: Invalid character in identifier",
    ),
    Case(
        "syntax_in_a_template",
        """
        name: t
        steps:
          - id: bad
            run: echo {{ 1 + }}
        """,
        "expression-syntax",
        "error",
        4,
        22,
        "'run' of step 'bad': syntax error: unexpected '}}'",
    ),
    Case(
        "syntax_in_an_expression",
        """
        name: t
        steps:
          - id: count
            run: echo
          - id: b
            dependencies: [count]
            condition: steps.count.outputs.n >>= 2 and
            run: echo
        """,
        "expression-syntax",
        "error",
        7,
        39,
        "'condition' of step 'b': syntax error: unexpected '>='",
    ),
    Case(
        "syntax_on_the_second_line_of_a_block",
        """
        name: t
        steps:
          - id: a
            run: |
              echo start
              echo {{ (1 }}
        """,
        "expression-syntax",
        "error",
        6,
        18,
        "'run' of step 'a': syntax error: unexpected '}}', expected ')'",
    ),
    Case(
        "go_template_syntax",
        """
        name: t
        variables: {PACKAGES: ./...}
        steps:
          - id: lint
            run: golint {{.PACKAGES}}
        """,
        "expression-syntax",
        "error",
        5,
        19,
        "'run' of step 'lint': syntax error: unexpected '.' (Go templates' {{.NAME}} is"
        " {{ workflow.NAME }} or {{ env.NAME }} here)",
    ),
    Case(
        "a_variable_without_workflow",
        """
        name: t
        variables: {PACKAGES: ./...}
        steps:
          - id: test
            run: go test {{ PACKAGES }}
        """,
        "unknown-name",
        "error",
        5,
        21,
        "'run' of step 'test' reads 'PACKAGES', which is not defined here (variables are read"
        " as workflow.PACKAGES); names here: env, inputs, params, run, steps and workflow",
    ),
    Case(
        "github_actions_syntax",
        """
        name: t
        steps:
          - id: a
            run: echo ${{ run.id }}
        """,
        "github-syntax",
        "warning",
        4,
        15,
        "'run' of step 'a' writes '${{ ... }}', GitHub Actions' syntax: in flowctl a value is"
        " '{{ ... }}', and the '$' before it stays in the text",
    ),
    Case(
        "a_key_with_a_dash",
        """
        name: t
        variables: {cfg: {my-key: 1}}
        steps:
          - id: a
            run: echo {{ workflow.cfg.my-key }}
        """,
        "unknown-name",
        "error",
        5,
        34,
        "'run' of step 'a' reads 'key', which is not defined here ('workflow.cfg.my-key' is a"
        " subtraction; a key with '-' is written workflow.cfg['my-key']); names here: env,"
        " inputs, params, run, steps and workflow",
    ),
    Case(
        "a_pattern_of_sources",
        """
        name: t
        steps:
          - id: build
            run: make
            sources: ["src/{{ inputs.dir }}/*.c"]
        """,
        "unknown-input",
        "error",
        5,
        30,
        "'sources[0]' of step 'build' reads inputs.dir, but the workflow declares no input"
        " 'dir' (declare it under 'inputs')",
    ),
    Case(
        "unclosed_delimiter",
        """
        name: t
        steps:
          - id: a
            run: echo {{ inputs.who
        """,
        "unbalanced-delimiters",
        "error",
        4,
        15,
        "'run' of step 'a': '{{' is never closed with '}}'",
    ),
    Case(
        "a_value_after_a_backslash",
        """
        name: t
        steps:
          - id: a
            run: echo \\{{ run.id }}
        """,
        "shell-refused",
        "error",
        4,
        15,
        "'run' of step 'a': a {{ }} value right after a backslash cannot be passed safely",
    ),
    Case(
        "a_value_in_a_quoted_here_document",
        """
        name: t
        steps:
          - id: a
            run: |
              cat <<'EOF'
              {{ run.id }}
              EOF
        """,
        "shell-refused",
        "error",
        5,
        11,
        "'run' of step 'a': a {{ }} value inside a quoted here-document (<<'EOF') cannot be"
        " passed as data; use an unquoted delimiter",
    ),
    Case(
        "unknown_filter",
        """
        name: t
        steps:
          - id: a
            run: echo {{ run.id | nosuchfilter }}
        """,
        "unknown-filter",
        "error",
        4,
        27,
        "'run' of step 'a': unknown filter 'nosuchfilter'",
    ),
    Case(
        "unknown_test",
        """
        name: t
        steps:
          - id: a
            condition: run.id is strnig
            run: echo
        """,
        "unknown-test",
        "error",
        4,
        26,
        "'condition' of step 'a': unknown test 'strnig' (did you mean 'string'?)",
    ),
    Case(
        "workflow_env_reads_no_steps",
        """
        name: t
        env:
          OUT: "{{ steps.a.outputs.stdout }}"
        steps:
          - id: a
            run: echo
        """,
        "unknown-name",
        "error",
        3,
        12,
        "'env.OUT' of the workflow reads 'steps', but the workflow's env is rendered once,"
        " before any step: it sees workflow, inputs, run and env",
    ),
    Case(
        "other_tools_words",
        """
        name: t
        steps:
          - id: a
            run: echo
          - id: b
            needs: [a]
            run: echo
        """,
        "schema",
        "error",
        6,
        5,
        "unknown key 'needs' in step 'b' (flowctl calls this 'dependencies')",
    ),
    Case(
        "plain_scalar_with_a_colon",
        """
        name: t
        steps:
          - id: a
            run: echo "a: b"
        """,
        "yaml",
        "error",
        4,
        17,
        "invalid YAML: mapping values are not allowed in this context (the value of 'run'"
        " holds ': ', which YAML reads as a new key: quote the whole value or use `run: |`)",
    ),
]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """One `flowctl validate --format json` over every case's file, by case name."""
    folder = tmp_path_factory.mktemp("checks")
    paths = []
    for case in CASES:
        path = folder / f"{case.name}.yaml"
        path.write_text(textwrap.dedent(case.spec).lstrip("\n"))
        paths.append(path)
    done = subprocess.run(
        [sys.executable, "-m", "flowctl", "validate", "--format", "json", *map(str, paths)],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    document = json.loads(done.stdout)
    return {Path(f["file"]).stem: f for f in document["files"]}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_each_check_reports_its_code_message_and_location(
    case: Case, reports: dict[str, dict[str, Any]]
) -> None:
    report = reports[case.name]
    assert report["valid"] is (case.severity == "warning")
    found = [
        (p["code"], p["severity"], p["line"], p["col"], p["message"]) for p in report["problems"]
    ]
    assert found == [(case.code, case.severity, case.line, case.col, case.message)]


def flowctl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowctl", *map(str, args)],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=ROOT,
        timeout=60,
    )


ISSUE_EXAMPLE = """\
name: refs
steps:
  - id: build
    run: echo hi
  - id: link
    dependencies: [build]
    condition: "steps.buld.outputs.exit_code == 0"      # unknown step
    run: echo {{ steps.lnk.outputs.x }} {{ inputs.nope }} # unknown step, undeclared input
  - id: bad
    dependencies: [link]
    run: echo {{ 1 + }}                                  # syntax error
"""


def test_the_example_of_the_issue_gives_four_located_errors(tmp_path: Path) -> None:
    spec = tmp_path / "a.yaml"
    spec.write_text(ISSUE_EXAMPLE)
    done = flowctl("validate", spec)
    assert done.returncode == 2
    assert done.stdout.splitlines() == [
        f"{spec}:7:23: error: 'condition' of step 'link' reads steps.buld, but no step has the"
        " id 'buld' (did you mean 'build'?) (at steps[1].condition)",
        f"{spec}:8:24: error: 'run' of step 'link' reads steps.lnk, but no step has the id"
        " 'lnk' (did you mean 'link'?) (at steps[1].run)",
        f"{spec}:8:51: error: 'run' of step 'link' reads inputs.nope, but the workflow"
        " declares no input 'nope' (declare it under 'inputs') (at steps[1].run)",
        f"{spec}:11:22: error: 'run' of step 'bad': syntax error: unexpected"
        " '}}' (at steps[2].run)",
        f"{spec}: invalid (4 errors)",
    ]


def test_warnings_pass_validate_and_fail_it_under_strict(tmp_path: Path) -> None:
    spec = tmp_path / "w.yaml"
    (case,) = [c for c in CASES if c.name == "untyped_compare"]
    spec.write_text(textwrap.dedent(case.spec).lstrip("\n"))
    assert flowctl("validate", spec).returncode == 0
    strict = flowctl("validate", "--strict", spec)
    assert strict.returncode == 2
    assert strict.stdout.splitlines()[-1] == (f"{spec}: invalid (1 warning made fatal by --strict)")


def test_x_keys_are_ignored_in_flowctls_mappings_and_kept_in_user_data(tmp_path: Path) -> None:
    spec = tmp_path / "x.yaml"
    spec.write_text(
        textwrap.dedent(
            """
            name: x
            x-defaults: &defaults
              timeout: 30s
              retry_policy: {max_attempts: 2, x-why: flaky network}
            steps:
              - id: call
                <<: *defaults
                x-owner: data team
                type: webhook
                http:
                  url: http://127.0.0.1:9/
                  headers: {x-api-key: "{{ env.KEY }}"}
                  x-note: kept out of the request
            """
        )
    )
    done = flowctl("validate", spec)
    assert done.returncode == 0, done.stdout
    from flowctl.spec.load import load_workflow

    workflow = load_workflow(spec)
    step = workflow.steps[0]
    assert step.timeout == 30.0 and step.retry_policy.max_attempts == 2
    assert dict(step.http.headers) == {"x-api-key": "{{ env.KEY }}"}  # type: ignore[attr-defined]


def test_run_refuses_the_example_before_anything_starts(tmp_path: Path) -> None:
    spec = tmp_path / "a.yaml"
    spec.write_text(ISSUE_EXAMPLE)
    done = flowctl("run", spec, "--no-progress", "--state-dir", tmp_path / "state")
    assert done.returncode == 2
    assert f"{spec}:7:23: error: 'condition' of step 'link' reads steps.buld" in done.stderr
    assert not (tmp_path / "state").exists()

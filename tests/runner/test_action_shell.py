"""`run:` action steps through the real executor and real /bin/sh (and bash) processes."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from flowctl.runner.steps.action import EXECUTOR, parse_output_file
from flowctl.runner.steps.base import FailureKind, Outputs, StepContext, StepFailure
from flowctl.spec.model import ActionStep, StepType
from tests.cli import gone
from tests.runner.helpers import HERE, log_of, make_ctx, run, shell_step

SECRET = "tok-9f8e7d6c5b4a"


def execute(ctx: StepContext) -> Outputs:
    return run(EXECUTOR.execute(ctx))


def fail(ctx: StepContext) -> StepFailure:
    with pytest.raises(StepFailure) as exc:
        execute(ctx)
    return exc.value


# -- outputs -----------------------------------------------------------------------------------


def test_stdout_stderr_and_exit_code(tmp_path: Path) -> None:
    ctx = make_ctx(shell_step("echo hello; echo warn >&2"), tmp_path)
    assert execute(ctx) == {"exit_code": 0, "stdout": "hello", "stderr": "warn"}
    assert sorted(log_of(ctx).splitlines()) == ["hello", "warn"]


def test_a_plain_command_runs_without_a_shell_with_the_same_result(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("content\n")
    ctx = make_ctx(shell_step("cat f.txt"), tmp_path)
    assert execute(ctx)["stdout"] == "content"
    missing = fail(make_ctx(shell_step("no-such-program-xyz --flag"), tmp_path))
    assert missing.exit_code == 127
    assert "not found" in missing.message


def test_key_value_outputs(tmp_path: Path) -> None:
    script = (
        'echo "count=3" >> "$FLOWCTL_OUTPUT"; echo "url=http://x/?a=b" >> "$FLOWCTL_OUTPUT"; '
        "printf 'notes<<EOF\\nline one\\nline two\\nEOF\\n' >> \"$FLOWCTL_OUTPUT\""
    )
    outputs = execute(make_ctx(shell_step(script), tmp_path))
    assert outputs["count"] == "3"
    assert outputs["url"] == "http://x/?a=b"
    assert outputs["notes"] == "line one\nline two"


def test_json_object_outputs_keep_their_types(tmp_path: Path) -> None:
    script = """echo '{"n": 3, "ids": [1, 2], "ok": true}' > "$FLOWCTL_OUTPUT" """
    outputs = execute(make_ctx(shell_step(script), tmp_path))
    assert outputs["n"] == 3 and outputs["ids"] == [1, 2] and outputs["ok"] is True


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"a": ', "$FLOWCTL_OUTPUT: invalid JSON at line 1 column 6: Expecting value"),
        ("just words", "$FLOWCTL_OUTPUT: line 1: expected key=value, got 'just words'"),
        ("1bad=x", "$FLOWCTL_OUTPUT: line 1: '1bad' is not a valid output name"),
        ("stdout=x", "$FLOWCTL_OUTPUT: stdout is reserved for flowctl's own outputs"),
        ("k<<END\nnever closed", "$FLOWCTL_OUTPUT: line 2: k<<END is never closed"),
    ],
)
def test_broken_output_files_fail_the_step_without_retry(
    tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "out.txt").write_text(content)
    failure = fail(make_ctx(shell_step('cat out.txt > "$FLOWCTL_OUTPUT"'), tmp_path))
    assert failure.message.startswith(message)
    assert not failure.retryable


def test_output_file_parser_ignores_blank_and_comment_lines() -> None:
    assert parse_output_file("# produced by x\n\na=1\n  b = two words \n") == {
        "a": "1",
        "b": " two words ",
    }


def test_metrics_file_reports_custom_metrics(tmp_path: Path) -> None:
    script = (
        'echo "rows=120" >> "$FLOWCTL_METRICS"; echo "ratio=0.25" >> "$FLOWCTL_METRICS"; '
        'echo "oops=many" >> "$FLOWCTL_METRICS"'
    )
    ctx = make_ctx(shell_step(script), tmp_path)
    execute(ctx)
    assert ctx.metrics == {"rows": 120.0, "ratio": 0.25}
    assert "$FLOWCTL_METRICS line 3 ignored" in log_of(ctx)


def test_large_outputs_are_capped_in_memory_but_logged_in_full(tmp_path: Path) -> None:
    ctx = make_ctx(shell_step("head -c 3000000 /dev/zero | tr '\\0' 'x'; echo"), tmp_path)
    outputs = execute(ctx)
    assert outputs["stdout_truncated"] is True
    assert len(outputs["stdout"]) <= 1024 * 1024
    log = log_of(ctx)
    # Every character is logged; a line over 1 MiB is broken into parts of at most 1 MiB.
    assert log.replace("\n", "") == "x" * 3_000_000
    assert log.count("\n") == 3


# -- failure -----------------------------------------------------------------------------------


def test_non_zero_exit_fails_with_the_end_of_stderr(tmp_path: Path) -> None:
    script = (
        'for i in 1 2 3 4 5 6 7; do echo "line $i" >&2; done; '
        'echo partial=yes >> "$FLOWCTL_OUTPUT"; exit 3'
    )
    failure = fail(make_ctx(shell_step(script), tmp_path))
    assert failure.kind is FailureKind.EXIT_CODE
    assert failure.exit_code == 3
    assert failure.retry_tag == "exit_code:3"
    assert failure.retryable
    assert failure.message == (
        "command exited with code 3: line 3 | line 4 | line 5 | line 6 | line 7"
    )
    assert failure.outputs["exit_code"] == 3
    assert failure.outputs["partial"] == "yes"


def test_a_failing_line_fails_the_script(tmp_path: Path) -> None:
    failure = fail(make_ctx(shell_step("false\necho not reached"), tmp_path))
    assert failure.exit_code == 1
    assert failure.outputs["stdout"] == ""


def test_bash_runs_with_pipefail(tmp_path: Path) -> None:
    failure = fail(make_ctx(shell_step("false | cat; echo no", shell="bash"), tmp_path))
    assert failure.exit_code == 1
    ok = execute(make_ctx(shell_step("echo ${BASH_VERSION:+bash}", shell="bash"), tmp_path))
    assert ok["stdout"] == "bash"


def test_an_unknown_shell_is_a_clear_failure(tmp_path: Path) -> None:
    failure = fail(make_ctx(shell_step("true", shell="no-such-shell"), tmp_path))
    assert failure.message == "shell 'no-such-shell' is not installed (not found on PATH)"
    assert not failure.retryable


def test_a_killed_command_names_the_signal(tmp_path: Path) -> None:
    failure = fail(make_ctx(shell_step("kill -TERM $$"), tmp_path))
    assert failure.exit_code == 143
    assert failure.message.startswith("command killed by SIGTERM (exit code 143)")


def test_an_agent_step_without_agents_fails_without_retries(tmp_path: Path) -> None:
    step = ActionStep(id="a", type=StepType.ACTION, location=HERE, agent_capability="ocr")
    failure = fail(make_ctx(step, tmp_path))
    assert failure.kind is FailureKind.VALIDATION
    assert failure.message == "step 'a' asks for agent capability 'ocr', but this run has no agents"
    assert not failure.retryable


def test_timeout_kills_the_process_group_with_its_grandchildren(tmp_path: Path) -> None:
    ctx = make_ctx(shell_step("sleep 3600 & echo $! > bg.pid; sleep 3600"), tmp_path)

    async def attempt() -> None:
        async with asyncio.timeout(0.5):
            await EXECUTOR.execute(ctx)

    with pytest.raises(TimeoutError):
        run(attempt())
    assert gone(int((tmp_path / "bg.pid").read_text()))


# -- environment and working directory ---------------------------------------------------------


def test_environment_layers(tmp_path: Path) -> None:
    step = shell_step(
        'echo "$FROM_RUN|$FROM_STEP|$FLOWCTL_PARAM_CITY|$FLOWCTL_IDEMPOTENCY_KEY|$HOME_SET"',
        env={"FROM_STEP": "step-{{ params.city }}", "HOME_SET": "${HOME}"},
    )
    ctx = make_ctx(step, tmp_path, params={"city": "Oslo"}, env={"FROM_RUN": "run"})
    assert execute(ctx)["stdout"] == "run|step-Oslo|Oslo|run-1/step|${HOME}"


def test_literal_working_dir_relative_to_the_workdir(tmp_path: Path) -> None:
    (tmp_path / "sub" / "dir").mkdir(parents=True)
    ctx = make_ctx(shell_step("pwd", working_dir="sub/dir"), tmp_path)
    assert execute(ctx)["stdout"] == str(tmp_path / "sub" / "dir")


def test_templated_working_dir_inside_the_workdir(tmp_path: Path) -> None:
    (tmp_path / "data" / "eu").mkdir(parents=True)
    step = shell_step("pwd", working_dir="data/{{ inputs.region }}")
    ctx = make_ctx(step, tmp_path, names={"inputs": {"region": "eu"}})
    assert execute(ctx)["stdout"] == str(tmp_path / "data" / "eu")


@pytest.mark.parametrize("hostile", ["../..", "eu/../../..", "../../etc", "../../x"])
def test_an_input_cannot_move_working_dir_out_of_the_workdir(tmp_path: Path, hostile: str) -> None:
    (tmp_path / "data" / "eu").mkdir(parents=True)
    step = shell_step("pwd", working_dir="data/{{ inputs.region }}")
    failure = fail(make_ctx(step, tmp_path, names={"inputs": {"region": hostile}}))
    assert "a templated working_dir must stay inside it" in failure.message
    assert not failure.retryable


@pytest.mark.parametrize("hostile", ["/etc", "/", "..", "../x"])
def test_a_fully_templated_working_dir_stays_in_the_workdir(tmp_path: Path, hostile: str) -> None:
    step = shell_step("pwd", working_dir="{{ inputs.d }}")
    failure = fail(make_ctx(step, tmp_path, names={"inputs": {"d": hostile}}))
    assert "outside" in failure.message


def test_an_absolute_input_after_a_relative_prefix_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "data" / "etc").mkdir(parents=True)
    step = shell_step("pwd", working_dir="data/{{ inputs.region }}")
    ctx = make_ctx(step, tmp_path, names={"inputs": {"region": "/etc"}})
    assert execute(ctx)["stdout"] == str(tmp_path / "data" / "etc")


def test_an_absolute_literal_prefix_is_the_authors_choice(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    step = shell_step("pwd", working_dir=f"{tmp_path}/{{{{ inputs.d }}}}")
    ok = make_ctx(step, tmp_path / "a", names={"inputs": {"d": "a"}})
    assert execute(ok)["stdout"] == str(tmp_path / "a")
    escape = make_ctx(step, tmp_path / "a", names={"inputs": {"d": "../.."}})
    assert "outside" in fail(escape).message


def test_a_missing_working_dir_is_a_failure(tmp_path: Path) -> None:
    failure = fail(make_ctx(shell_step("pwd", working_dir="nope"), tmp_path))
    assert failure.message == f"working_dir {str(tmp_path / 'nope')!r} is not a directory"


# -- injection and secrets ---------------------------------------------------------------------

HOSTILE = [
    "$(touch pwned1)",
    "`touch pwned2`",
    "'; touch pwned3; '",
    '" && touch pwned4 "',
    "a\ntouch pwned5",
    "$HOME * ~ ;|&",
]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    "template",
    [
        "echo {{ params.v }}",
        "echo '{{ params.v }}'",
        'echo "{{ params.v }}"',
        "echo x{{ params.v }}y",
    ],
)
def test_param_values_reach_the_shell_as_data(tmp_path: Path, value: str, template: str) -> None:
    ctx = make_ctx(shell_step(template), tmp_path, params={"v": value})
    stdout = execute(ctx)["stdout"]
    expected = f"x{value}y" if "x{{" in template else value
    assert stdout == expected
    assert not list(tmp_path.glob("pwned*"))


def test_secrets_are_masked_in_outputs_and_log(tmp_path: Path) -> None:
    encoded = base64.b64encode(SECRET.encode()).decode()
    half = len(SECRET) // 2
    script = (
        f"echo raw {SECRET}; echo b64 {encoded}; "
        f"printf 'split {SECRET[:half]}'; sleep 0.05; printf '{SECRET[half:]} end\\n'; "
        f"echo '{json.dumps(SECRET)}' >&2; echo key={SECRET} >> $FLOWCTL_OUTPUT; exit 1"
    )
    ctx = make_ctx(shell_step(script), tmp_path, secrets=(SECRET,))
    failure = fail(ctx)
    outputs = failure.outputs
    assert outputs["stdout"] == "raw ***\nb64 ***\nsplit *** end"
    assert outputs["stderr"] == '"***"'
    assert SECRET not in failure.message and SECRET not in log_of(ctx)
    assert encoded not in log_of(ctx)


# -- speed -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_hundred_steps_eight_at_a_time_all_succeed(tmp_path: Path) -> None:
    async def many() -> list[Any]:
        gate = asyncio.Semaphore(8)

        async def one(i: int) -> Outputs:
            async with gate:
                return await EXECUTOR.execute(make_ctx(shell_step("true", id=f"s{i}"), tmp_path))

        return await asyncio.gather(*(one(i) for i in range(100)))

    results = run(many())  # what they cost is measured by benchmarks/bench_shell.py
    assert len(results) == 100
    assert all(r["exit_code"] == 0 for r in results)
    assert os.listdir(tmp_path)

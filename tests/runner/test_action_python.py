"""`python:` action steps: the functions called are defined in this very module."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from flowctl.runner.calls.pycall import PythonRefError, ensure_on_sys_path, resolve
from flowctl.runner.steps.action import EXECUTOR
from flowctl.runner.steps.base import FailureKind, Outputs, StepContext, StepFailure
from tests.runner.helpers import log_of, make_ctx, python_step, run

SECRET = "pw-0a1b2c3d4e"
ME = "tests.runner.test_action_python"
MAIN_THREAD = threading.get_ident()


def add(a: int, b: int) -> dict[str, Any]:
    return {"sum": a + b, "thread_is_main": threading.get_ident() == MAIN_THREAD}


async def async_add(a: int, b: int) -> dict[str, int]:
    await asyncio.sleep(0)
    return {"sum": a + b}


def with_ctx(name: str, ctx: StepContext) -> dict[str, Any]:
    ctx.metric("greeted", 1)
    return {"greeting": f"hello {name}", "step": ctx.step_id, "attempt": ctx.attempt}


def scalar() -> int:
    return 42


def nothing() -> None:
    return None


def explode(token: str) -> None:
    raise RuntimeError(f"could not log in with {token}")


def custom_failure() -> None:
    raise StepFailure(f"gave up on {SECRET}", retryable=False)


def exits() -> None:
    sys.exit(3)


async def slow() -> None:
    await asyncio.sleep(100)


NOT_CALLABLE = {"a": 1}


def execute(ctx: StepContext) -> Outputs:
    return run(EXECUTOR.execute(ctx))


def fail(ctx: StepContext) -> StepFailure:
    with pytest.raises(StepFailure) as exc:
        execute(ctx)
    return exc.value


def test_sync_function_runs_off_the_loop_with_params(tmp_path: Path) -> None:
    ctx = make_ctx(python_step(f"{ME}:add"), tmp_path, params={"a": 2, "b": 3})
    assert execute(ctx) == {"sum": 5, "thread_is_main": False}


def test_async_function_is_awaited(tmp_path: Path) -> None:
    ctx = make_ctx(python_step(f"{ME}:async_add"), tmp_path, params={"a": 2, "b": 3})
    assert execute(ctx) == {"sum": 5}


def test_ctx_is_passed_when_accepted(tmp_path: Path) -> None:
    ctx = make_ctx(python_step(f"{ME}:with_ctx", id="greet"), tmp_path, params={"name": "Ada"})
    assert execute(ctx) == {"greeting": "hello Ada", "step": "greet", "attempt": 1}
    assert ctx.metrics == {"greeted": 1.0}


def test_a_non_mapping_result_becomes_result(tmp_path: Path) -> None:
    assert execute(make_ctx(python_step(f"{ME}:scalar"), tmp_path)) == {"result": 42}
    assert execute(make_ctx(python_step(f"{ME}:nothing"), tmp_path)) == {"result": None}


def test_exceptions_become_masked_failures_with_the_traceback_in_the_log(tmp_path: Path) -> None:
    ctx = make_ctx(
        python_step(f"{ME}:explode"), tmp_path, params={"token": SECRET}, secrets=(SECRET,)
    )
    failure = fail(ctx)
    assert failure.message == "RuntimeError: could not log in with ***"
    assert failure.retryable and failure.kind is FailureKind.ERROR
    log = log_of(ctx)
    assert "Traceback" in log and "in explode" in log and SECRET not in log


def test_sys_exit_fails_the_step_not_flowctl(tmp_path: Path) -> None:
    failure = fail(make_ctx(python_step(f"{ME}:exits"), tmp_path))
    assert failure.message == "SystemExit: 3"


def test_a_step_failure_raised_by_the_function_passes_through_masked(tmp_path: Path) -> None:
    failure = fail(make_ctx(python_step(f"{ME}:custom_failure"), tmp_path, secrets=(SECRET,)))
    assert failure.message == "gave up on ***"
    assert not failure.retryable


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        (
            "tests.runner.no_such_module:f",
            "python: cannot import module 'tests.runner.no_such_module': no module named "
            "'tests.runner.no_such_module' (modules are looked up on sys.path and in the "
            "workflow file's directory)",
        ),
        (f"{ME}:missing", f"python: '{ME}:missing': module '{ME}' has no attribute 'missing'"),
        (f"{ME}:NOT_CALLABLE", f"python: '{ME}:NOT_CALLABLE' is a dict, not a function"),
        (
            "not a reference",
            "python: 'not a reference' is not of the form 'package.module:function'",
        ),
        (f"{ME}", f"python: '{ME}' is not of the form 'package.module:function'"),
    ],
)
def test_unusable_references_fail_without_retry(
    tmp_path: Path, reference: str, message: str
) -> None:
    failure = fail(make_ctx(python_step(reference), tmp_path))
    assert failure.message == message
    assert not failure.retryable


def test_templates_are_refused_in_the_reference(tmp_path: Path) -> None:
    failure = fail(make_ctx(python_step("{{ inputs.module }}:run"), tmp_path))
    assert "templates are not allowed" in failure.message
    assert not failure.retryable


def test_params_that_do_not_fit_the_signature_fail_before_the_call(tmp_path: Path) -> None:
    ctx = make_ctx(python_step(f"{ME}:add"), tmp_path, params={"a": 1, "c": 2})
    failure = fail(ctx)
    assert failure.message.startswith(f"{ME}:add cannot be called with params:")
    assert not failure.retryable


def test_modules_next_to_the_workflow_file_are_importable(tmp_path: Path) -> None:
    (tmp_path / "wfmod_h6b.py").write_text("def hello(who):\n    return {'hi': who}\n")
    with pytest.raises(PythonRefError):
        resolve("wfmod_h6b:hello")
    ensure_on_sys_path(tmp_path)
    try:
        ctx = make_ctx(python_step("wfmod_h6b:hello"), tmp_path, params={"who": "me"})
        assert execute(ctx) == {"hi": "me"}
    finally:
        sys.path.remove(str(tmp_path.resolve()))
        sys.modules.pop("wfmod_h6b", None)


def test_an_import_that_raises_is_reported(tmp_path: Path) -> None:
    (tmp_path / "broken_h6b.py").write_text("raise ValueError('bad config')\n")
    ensure_on_sys_path(tmp_path)
    try:
        failure = fail(make_ctx(python_step("broken_h6b:f"), tmp_path))
        assert failure.message == "python: importing 'broken_h6b' failed: ValueError: bad config"
    finally:
        sys.path.remove(str(tmp_path.resolve()))


def test_cancellation_stops_an_async_function(tmp_path: Path) -> None:
    ctx = make_ctx(python_step(f"{ME}:slow"), tmp_path)

    async def attempt() -> None:
        async with asyncio.timeout(0.1):
            await EXECUTOR.execute(ctx)

    with pytest.raises(TimeoutError):
        run(attempt())

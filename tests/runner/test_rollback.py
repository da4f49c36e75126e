"""The saga: real shell, python and HTTP rollback actions, newest step first, failures recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowctl.errors import StateError
from flowctl.runner.failure.saga import (
    Compensation,
    RollbackOutcome,
    compensation_names,
    describe,
    run_rollback,
)
from flowctl.runner.steps.base import StepContext
from flowctl.spec.model import HttpRequest, RollbackAction, ShellCommand
from tests.httpserver import HttpTestServer, Reply
from tests.runner.helpers import make_ctx, shell_step

UNDONE: list[tuple[str, str]] = []  # what python rollback actions were called with


def undo_reservation(seat: str, ctx: StepContext) -> dict[str, str]:
    """A python rollback action (called with the step's params and ctx)."""
    UNDONE.append((seat, str(ctx.names["result"]["reservation"])))
    return {"released": seat}


def broken_undo(seat: str) -> None:
    raise RuntimeError(f"seat {seat} is gone")


def sh(command: str) -> RollbackAction:
    return RollbackAction(command=ShellCommand(run=command))


class Saga:
    """Completed steps with their params and outputs, and a make_context for them."""

    def __init__(self, tmp_path: Path, *, timeout: float = 10.0, secrets: tuple[str, ...] = ()):
        self.tmp_path = tmp_path
        self.timeout = timeout
        self.secrets = secrets
        self.steps: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self.client: httpx.AsyncClient | None = None
        self.contexts: list[StepContext] = []

    def completed(self, step: str, params: Mapping[str, Any], outputs: Mapping[str, Any]) -> None:
        self.steps[step] = (dict(params), dict(outputs))

    def make_context(self, step: str, action: RollbackAction) -> StepContext:
        params, outputs = self.steps[step]
        names = compensation_names({"params": params, "steps": {}}, outputs)
        ctx = make_ctx(
            shell_step("true", id=step),
            self.tmp_path,
            params=params,
            names=names,
            timeout=self.timeout,
            client=self.client,
            secrets=self.secrets,
        )
        self.contexts.append(ctx)
        return ctx

    def run(
        self, completed: list[Compensation], make_context: Callable[..., StepContext] | None = None
    ) -> tuple[list[RollbackOutcome], list[RollbackOutcome], list[str]]:
        seen: list[RollbackOutcome] = []
        begun: list[str] = []
        outcomes = asyncio.run(
            run_rollback(
                completed,
                make_context=make_context or self.make_context,
                on_outcome=seen.append,
                on_begin=lambda c: begun.append(c.step),
            )
        )
        return outcomes, seen, begun


def test_steps_are_undone_newest_first_and_actions_in_written_order(tmp_path: Path) -> None:
    saga = Saga(tmp_path)
    saga.completed("book_flight", {"city": "Oslo"}, {"booking": "F-1"})
    saga.completed("book_hotel", {"city": "Oslo"}, {"booking": "H-7"})
    saga.completed("charge_card", {"amount": 120}, {"charge": "C-3"})
    log = tmp_path / "undo.txt"
    undo = f"echo {{{{ result.booking }}}} >> {log}"
    completed = [
        Compensation("book_flight", (sh(undo),)),
        Compensation("book_hotel", (sh(undo), sh(f"echo hotel-notified >> {log}"))),
        Compensation("nothing_to_undo", ()),
        Compensation("charge_card", (sh(f"echo refund {{{{ result.charge }}}} >> {log}"),)),
    ]
    saga.completed("nothing_to_undo", {}, {})
    outcomes, seen, begun = saga.run(completed)
    assert log.read_text().splitlines() == ["refund C-3", "H-7", "hotel-notified", "F-1"]
    assert [(o.step, o.index, o.ok, o.error) for o in outcomes] == [
        ("charge_card", 0, True, None),
        ("book_hotel", 0, True, None),
        ("book_hotel", 1, True, None),
        ("book_flight", 0, True, None),
    ]
    assert seen == outcomes
    assert begun == ["charge_card", "book_hotel", "book_flight"]
    assert all(o.duration > 0 for o in outcomes)


def test_a_failing_action_is_recorded_and_the_others_still_run(tmp_path: Path) -> None:
    saga = Saga(tmp_path)
    log = tmp_path / "undo.txt"
    for step in ("a", "b", "c"):
        saga.completed(step, {}, {})
    completed = [
        Compensation("a", (sh(f"echo a >> {log}"),)),
        Compensation("b", (sh("echo 'cannot undo b' >&2; exit 3"), sh(f"echo b2 >> {log}"))),
        Compensation("c", (sh(f"echo c >> {log}"),)),
    ]
    outcomes, _, _ = saga.run(completed)
    assert log.read_text().splitlines() == ["c", "b2", "a"]
    failed = [o for o in outcomes if not o.ok]
    assert len(failed) == 1
    assert (failed[0].step, failed[0].index) == ("b", 0)
    assert failed[0].error == "command exited with code 3: cannot undo b"
    step_log = (tmp_path / "b.log").read_text()
    assert "[flowctl] rollback 1: run: echo 'cannot undo b' >&2; exit 3" in step_log
    assert "[flowctl] rollback 1 failed: command exited with code 3: cannot undo b" in step_log


def test_templates_reach_the_shell_as_data(tmp_path: Path) -> None:
    saga = Saga(tmp_path)
    saga.completed("s", {"name": "$(touch pwned)"}, {"id": "'; touch pwned2; '"})
    out = tmp_path / "out.txt"
    completed = [
        Compensation("s", (sh(f"echo {{{{ params.name }}}} '{{{{ result.id }}}}' > {out}"),))
    ]
    outcomes, _, _ = saga.run(completed)
    assert outcomes[0].ok, outcomes[0].error
    assert out.read_text() == "$(touch pwned) '; touch pwned2; '\n"
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()


def test_python_actions_get_the_params_and_outputs(tmp_path: Path) -> None:
    UNDONE.clear()
    saga = Saga(tmp_path)
    saga.completed("reserve", {"seat": "12A"}, {"reservation": "R-9"})
    saga.completed("later", {"seat": "14C"}, {})
    here = "tests.runner.test_rollback"
    completed = [
        Compensation("reserve", (RollbackAction(python=f"{here}:undo_reservation"),)),
        Compensation("later", (RollbackAction(python=f"{here}:broken_undo"),)),
    ]
    outcomes, _, _ = saga.run(completed)
    assert [(o.step, o.ok, o.error) for o in outcomes] == [
        ("later", False, "RuntimeError: seat 14C is gone"),
        ("reserve", True, None),
    ]
    assert UNDONE == [("12A", "R-9")]


def test_http_actions_use_the_run_client_and_a_5xx_is_recorded(tmp_path: Path) -> None:
    saga = Saga(tmp_path)
    saga.completed("charge", {"amount": 120}, {"charge_id": "ch_1"})
    saga.completed("notify", {}, {})
    with HttpTestServer() as server:
        server.reply("/refunds", Reply(201, json={"refunded": True}))
        server.reply("/notify", Reply(503, body="down for maintenance"))
        refund = RollbackAction(
            http=HttpRequest(
                url=server.url("/refunds"),
                json={"charge": "{{ result.charge_id }}", "amount": "{{ params.amount }}"},
                has_json=True,
            )
        )
        unnotify = RollbackAction(http=HttpRequest(url=server.url("/notify"), method="DELETE"))

        async def scenario() -> list[RollbackOutcome]:
            async with httpx.AsyncClient() as client:
                saga.client = client
                return await run_rollback(
                    [Compensation("charge", (refund,)), Compensation("notify", (unnotify,))],
                    make_context=saga.make_context,
                    on_outcome=lambda o: None,
                )

        outcomes = asyncio.run(scenario())
        refunds = server.requests_to("/refunds")
    assert [(o.step, o.ok) for o in outcomes] == [("notify", False), ("charge", True)]
    error = outcomes[0].error or ""
    assert error.startswith("DELETE http://127.0.0.1:")
    assert error.endswith("/notify returned HTTP 503 (expected any 2xx): down for maintenance")
    assert [r.json() for r in refunds] == [{"charge": "ch_1", "amount": 120}]


def test_a_hanging_action_times_out_and_the_rollback_goes_on(tmp_path: Path) -> None:
    saga = Saga(tmp_path, timeout=0.3)
    saga.completed("slow", {}, {})
    saga.completed("fast", {}, {})
    marker = tmp_path / "fast.txt"
    completed = [
        Compensation("fast", (sh(f"echo done > {marker}"),)),
        Compensation("slow", (sh("sleep 3600"),)),
    ]
    outcomes, _, _ = saga.run(completed)
    assert [(o.step, o.ok, o.error) for o in outcomes] == [
        ("slow", False, "rollback action timed out after 0.3 s"),
        ("fast", True, None),
    ]
    assert marker.read_text() == "done\n"


def test_secrets_in_errors_are_masked(tmp_path: Path) -> None:
    saga = Saga(tmp_path, secrets=("s3cr3t-pa55",))
    saga.completed("s", {}, {})
    completed = [Compensation("s", (sh("echo 'login failed for s3cr3t-pa55' >&2; exit 1"),))]
    outcomes, _, _ = saga.run(completed)
    assert outcomes[0].error == "command exited with code 1: login failed for ***"
    assert "s3cr3t" not in (tmp_path / "s.log").read_text()


def test_a_context_that_cannot_be_made_is_a_recorded_failure(tmp_path: Path) -> None:
    saga = Saga(tmp_path)
    saga.completed("ok", {}, {})
    marker = tmp_path / "ok.txt"

    def make_context(step: str, action: RollbackAction) -> StepContext:
        if step == "broken":
            raise StateError("cannot create the log of step 'broken'")
        return saga.make_context(step, action)

    completed = [
        Compensation("ok", (sh(f"touch {marker}"),)),
        Compensation("broken", (sh("true"),)),
    ]
    outcomes, _, _ = saga.run(completed, make_context)
    assert [(o.step, o.ok, o.error) for o in outcomes] == [
        ("broken", False, "cannot create the log of step 'broken'"),
        ("ok", True, None),
    ]
    assert marker.exists()


def test_cancellation_stops_the_rollback(tmp_path: Path) -> None:
    """A forced stop (second Ctrl-C) is not an action failure: the saga ends at once."""
    saga = Saga(tmp_path)
    saga.completed("first", {}, {})
    saga.completed("second", {}, {})
    marker = tmp_path / "first.txt"
    completed = [
        Compensation("first", (sh(f"touch {marker}"),)),
        Compensation("second", (sh("sleep 3600"),)),
    ]
    seen: list[RollbackOutcome] = []

    async def scenario() -> None:
        task = asyncio.create_task(
            run_rollback(completed, make_context=saga.make_context, on_outcome=seen.append)
        )
        await asyncio.sleep(0.3)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(scenario())  # the hour-long action is stopped, or pytest-timeout fails
    assert seen == []
    assert not marker.exists()


def test_describe() -> None:
    assert describe(sh("  make undo\n  rm -rf build\n")) == "run: make undo"
    assert describe(RollbackAction(python="pkg.mod:fn")) == "python: pkg.mod:fn"
    action = RollbackAction(http=HttpRequest(url="https://x.test/a", method="delete"))
    assert describe(action) == "http: DELETE https://x.test/a"

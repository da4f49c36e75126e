"""human_task: approved up front, on a terminal, or the run pauses (exit 4) until approve."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from flowctl.errors import UsageError
from flowctl.runner.approval.decisions import ApprovalDecision, DecisionSource, record_decision
from flowctl.runner.approval.gate import ApprovalGate
from flowctl.runner.approval.identity import Identity
from flowctl.runner.events import RunEvent
from flowctl.runner.resume.run import resume_workflow
from flowctl.runner.steps.base import ApprovalPending, StepContext, StepFailure
from flowctl.secrets import SecretMasker
from flowctl.spec.model import ApprovalSpec, HumanTaskStep, StepType
from flowctl.state.audit import utc_timestamp
from flowctl.status import RunStatus, StepStatus
from tests.runner.helpers import HERE, FileLog
from tests.runner.sched_kit import FUNCS, events, run_cli, run_spec

SPEC = f"""
    name: release
    steps:
      - id: build
        python: {FUNCS}:echo
        input_mapping: {{version: "'1.4'"}}
      - id: review
        type: human_task
        dependencies: [build]
        approval:
          message: "Ship {{{{ steps.build.outputs.version }}}}?"
          approvers: [alice, bob]
      - id: deploy
        dependencies: [review]
        python: {FUNCS}:echo
        input_mapping: {{by: steps.review.outputs.by}}
      - id: docs
        python: {FUNCS}:sleep
        input_mapping: {{seconds: 0.1}}
    """


def _decide(result: Any, step: str, *, approved: bool, by: str, comment: str | None) -> None:
    assert result.paths is not None
    record_decision(
        result.paths,
        ApprovalDecision(
            step=step,
            approved=approved,
            by=by,
            comment=comment,
            ts=utc_timestamp(),
            source=DecisionSource.CLI,
        ),
    )


def test_without_a_terminal_the_run_pauses_and_the_rest_finishes(tmp_path: Path) -> None:
    result = run_spec(tmp_path, SPEC)
    assert result.status is RunStatus.WAITING_APPROVAL
    assert result.exit_code == 4
    assert result.waiting == ("review",)
    assert result.step("docs").status is StepStatus.COMPLETED  # an independent branch
    assert result.step("review").status is StepStatus.WAITING
    assert "deploy" not in result.steps
    evts = events(result)
    requested = next(e for e in evts if e.event == "approval_requested")
    assert requested.step == "review"
    assert requested.data == {
        "message": "Ship 1.4?",
        "approvers": ["alice", "bob"],
        "timeout": None,
    }
    waiting = next(e for e in evts if e.event == "step_waiting")
    assert waiting.step == "review"
    assert evts[-1].data["status"] == "waiting_approval"

    _decide(result, "review", approved=True, by="bob", comment="go")
    resumed = resume_workflow(result.run_id, state_dir=tmp_path / ".flowctl", durable=False)
    assert resumed.status is RunStatus.COMPLETED, resumed.error
    review = resumed.step("review").outputs
    assert review["approved"] is True and review["by"] == "bob" and review["comment"] == "go"
    assert review["decided_at"].endswith("Z")
    assert resumed.step("deploy").outputs == {"by": "bob"}
    assert resumed.step("docs").restored  # not run again


def test_approve_up_front_and_auto_approve_are_audited(tmp_path: Path) -> None:
    flagged = run_spec(tmp_path, SPEC, approve=["review"])
    assert flagged.ok, flagged.error
    decided = next(e for e in events(flagged) if e.event == "approval_decided")
    assert decided.step == "review"
    assert decided.data["approved"] is True and decided.data["source"] == "flag"
    assert decided.data["by"] and decided.data["decided_at"]
    auto = run_spec(tmp_path, SPEC, auto_approve=True)
    assert auto.ok
    assert next(e for e in events(auto) if e.event == "approval_decided").data["source"] == "auto"
    with pytest.raises(UsageError, match="no human_task step 'reveiw'; its human_task"):
        run_spec(tmp_path, SPEC, approve=["reveiw"])


def test_a_rejection_fails_the_step_and_is_not_retried(tmp_path: Path) -> None:
    result = run_spec(tmp_path, SPEC.replace("approvers: [alice, bob]", "approvers: []"))
    _decide(result, "review", approved=False, by="carol", comment="not today")
    resumed = resume_workflow(result.run_id, state_dir=tmp_path / ".flowctl", durable=False)
    assert resumed.status is RunStatus.FAILED
    review = resumed.step("review")
    assert review.error == "rejected by carol: not today" and review.attempts == 1
    assert resumed.step("deploy").status is StepStatus.SKIPPED


def test_an_approval_timeout_counts_from_the_request(tmp_path: Path) -> None:
    text = SPEC.replace("approvers: [alice, bob]", "approvers: [alice]\n          timeout: 200ms")
    result = run_spec(tmp_path, text)
    assert result.status is RunStatus.WAITING_APPROVAL
    time.sleep(0.3)
    resumed = resume_workflow(result.run_id, state_dir=tmp_path / ".flowctl", durable=False)
    assert resumed.status is RunStatus.FAILED
    assert resumed.step("review").error == "approval timed out after 200ms"
    assert resumed.step("review").error_kind == "timeout"


def test_waiting_children_keep_their_container_waiting(tmp_path: Path) -> None:
    result = run_spec(
        tmp_path,
        f"""
        name: per-region
        steps:
          - id: regions
            type: loop
            loop:
              for_each: [eu, us]
              max_concurrency: 2
              steps:
                - id: ok
                  type: human_task
                  approval: {{message: "deploy {{{{ item }}}}?"}}
                - id: go
                  dependencies: [ok]
                  python: {FUNCS}:echo
                  input_mapping: {{region: item}}
          - id: after
            dependencies: [regions]
            python: {FUNCS}:noop
        """,
    )
    assert result.status is RunStatus.WAITING_APPROVAL
    assert result.waiting == ("regions[0].ok", "regions[1].ok")
    messages = [e.data["message"] for e in events(result) if e.event == "approval_requested"]
    assert sorted(messages) == ["deploy eu?", "deploy us?"]
    _decide(result, "regions[1].ok", approved=True, by="x", comment=None)
    again = resume_workflow(result.run_id, state_dir=tmp_path / ".flowctl", durable=False)
    assert again.status is RunStatus.WAITING_APPROVAL and again.waiting == ("regions[0].ok",)
    assert again.step("regions[1].go").outputs == {"region": "us"}
    _decide(again, "regions[0].ok", approved=True, by="x", comment=None)
    done = resume_workflow(result.run_id, state_dir=tmp_path / ".flowctl", durable=False)
    assert done.ok, done.error
    assert done.step("regions[1].go").restored
    assert done.step("regions").outputs["count"] == 2


@pytest.mark.slow
def test_the_cli_says_how_to_approve_and_resume(tmp_path: Path) -> None:
    proc = run_cli(tmp_path, SPEC, env={"CI": "true"})
    assert proc.returncode == 4, proc.stderr
    run_id = next((tmp_path / ".flowctl" / "runs").iterdir()).name
    state = tmp_path / ".flowctl"
    assert "waiting for approval: review" in proc.stdout
    assert f"approve: flowctl approve {run_id} review --state-dir {state}" in proc.stdout
    assert f"then:    flowctl resume {run_id} --state-dir {state}" in proc.stdout


# -- the terminal ------------------------------------------------------------------------------


def _ctx(tmp_path: Path, timeout: float | None = None) -> StepContext:
    step = HumanTaskStep(
        id="review",
        type=StepType.HUMAN_TASK,
        location=HERE,
        approval=ApprovalSpec(message="ok?", approvers=(), timeout=timeout),
    )
    masker = SecretMasker()

    async def no_client() -> Any:
        raise AssertionError("no HTTP here")

    return StepContext(
        step=step,
        qualified_id="review",
        run_id="run-1",
        attempt=1,
        params={},
        names={},
        env={},
        log=FileLog(tmp_path / "log", masker),
        masker=masker,
        workdir=tmp_path,
        scratch=tmp_path,
        timeout=300,
        idempotency_key="run-1:review",
        http_client=no_client,
    )


def test_on_a_terminal_the_decision_is_asked_and_audited(tmp_path: Path) -> None:
    master, slave = os.openpty()
    seen: list[RunEvent] = []
    gate = ApprovalGate(
        run_id="run-1",
        emit=seen.append,
        interactive=True,
        identity=Identity("dana"),
        terminal=os.ttyname(slave),
    )

    async def main() -> ApprovalDecision:
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, os.write, master, b"y\nship it\n")
        return await gate.decide(_ctx(tmp_path), "ok?")

    try:
        decision = asyncio.run(main())
        shown = os.read(master, 4096).decode()
    finally:
        os.close(master)
        os.close(slave)
    assert decision.approved and decision.by == "dana" and decision.comment == "ship it"
    assert decision.source is DecisionSource.TTY
    assert "Approval needed for step 'review': ok?" in shown
    kinds = [type(e).__name__ for e in seen]
    assert kinds == ["ApprovalRequested", "ApprovalDecided"]


def test_an_unanswered_terminal_times_out_the_step(tmp_path: Path) -> None:
    master, slave = os.openpty()
    gate = ApprovalGate(
        run_id="run-1", emit=lambda e: None, interactive=True, terminal=os.ttyname(slave)
    )
    try:
        with pytest.raises(StepFailure, match="approval timed out after 200ms"):
            asyncio.run(gate.decide(_ctx(tmp_path, timeout=0.2), "ok?"))
    finally:
        os.close(master)
        os.close(slave)


def test_without_a_terminal_or_a_decision_the_gate_says_wait(tmp_path: Path) -> None:
    gate = ApprovalGate(run_id="run-1", emit=lambda e: None)
    with pytest.raises(ApprovalPending) as info:
        asyncio.run(gate.decide(_ctx(tmp_path), "ok?"))
    assert info.value.steps == ("review",)

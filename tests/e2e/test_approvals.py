"""human_task end to end without a TTY: pause with exit 4, `flowctl approve`, `flowctl resume`."""

from __future__ import annotations

import time

import pytest

from tests.e2e.kit import Workspace, line_counts, q

COUNT = 'echo "$FLOWCTL_STEP_ID" >> "$COUNTS"'


def release_spec(ws: Workspace, timeout: str = "1h", approvers: str = "[alice, bob]") -> str:
    return f"""
        name: release
        env: {{COUNTS: {q(ws.path("counts"))}}}
        steps:
          - id: build
            run: '{COUNT}; echo "version=1.2.3" >> "$FLOWCTL_OUTPUT"'
          - id: gate
            type: human_task
            dependencies: [build]
            retry_policy: {{max_attempts: 3, delay: 10ms}}
            approval:
              message: "Deploy {{{{ steps.build.outputs.version }}}} to production?"
              approvers: {approvers}
              timeout: {timeout}
          - id: deploy
            dependencies: [gate]
            input_mapping: {{by: steps.gate.outputs.by}}
            run: '{COUNT}; printf %s "$FLOWCTL_PARAM_BY" > {q(ws.path("deployed"))}'
          - id: docs
            dependencies: [build]
            run: 'sleep 0.2; {COUNT}'
        """


def test_ci_pauses_with_exit_4_then_approve_and_resume(ws: Workspace) -> None:
    first = ws.run(ws.spec(release_spec(ws)))
    assert first.code == 4, first.explain()
    run = first.run
    assert line_counts(ws.path("counts")) == {"build": 1, "docs": 1}, "the rest finished"
    requested = run.named("approval_requested", "gate")
    assert len(requested) == 1
    assert requested[0].data["message"] == "Deploy 1.2.3 to production?"
    assert requested[0].data["approvers"] == ["alice", "bob"]
    assert run.steps_with("step_waiting") == ["gate"]
    assert run.finished().data["status"] == "waiting_approval"
    assert run.report()["status"] == "waiting_approval"
    assert f"flowctl approve {run.run_id} gate" in first.output
    assert f"flowctl resume {run.run_id}" in first.output

    still = ws.resume(run.run_id)
    assert still.code == 4, still.explain()
    assert line_counts(ws.path("counts")) == {"build": 1, "docs": 1}

    decided = ws.approve(run.run_id, "gate", "--comment", "ship it", actor="alice")
    assert decided.code == 0, decided.explain()
    resumed = ws.resume(run.run_id)
    assert resumed.code == 0, resumed.explain()
    assert line_counts(ws.path("counts")) == {"build": 1, "docs": 1, "deploy": 1}
    assert ws.path("deployed").read_text() == "alice"
    decision = run.named("approval_decided", "gate")
    assert len(decision) == 1
    assert decision[0].data["approved"] is True
    assert decision[0].data["by"] == "alice"
    assert decision[0].data["comment"] == "ship it"
    assert decision[0].data["decided_at"] and decision[0].data["source"] == "cli"
    outputs = run.outputs("gate")
    assert (outputs["approved"], outputs["by"], outputs["comment"]) == (True, "alice", "ship it")
    assert outputs["decided_at"]
    assert run.finished().data["status"] == "completed"


def test_a_rejection_fails_the_step_without_retry(ws: Workspace) -> None:
    first = ws.run(ws.spec(release_spec(ws)))
    assert first.code == 4, first.explain()
    run_id = first.run.run_id
    stranger = ws.approve(run_id, "gate", actor="mallory")
    assert stranger.code == 2, stranger.explain()
    assert "mallory" in stranger.stderr
    rejected = ws.approve(run_id, "gate", "--reject", "--comment", "not on Friday", actor="bob")
    assert rejected.code == 0, rejected.explain()

    resumed = ws.resume(run_id)
    assert resumed.code == 1, resumed.explain()
    gate = first.run.step_report("gate")
    assert gate["status"] == "failed"
    assert gate["error"] == "rejected by bob: not on Friday"
    assert gate["attempts"] == 1
    assert "deploy" not in line_counts(ws.path("counts"))
    assert first.run.finished().data["status"] == "failed"


@pytest.mark.parametrize(
    ("flags", "source"),
    [(("--approve", "gate"), "flag"), (("--auto-approve",), "auto")],
    ids=["approve-step", "auto-approve"],
)
def test_approval_given_up_front_runs_through(
    ws: Workspace, flags: tuple[str, ...], source: str
) -> None:
    result = ws.run(ws.spec(release_spec(ws, approvers="[]")), *flags)
    assert result.code == 0, result.explain()
    assert line_counts(ws.path("counts")) == {"build": 1, "docs": 1, "deploy": 1}
    decision = result.run.named("approval_decided", "gate")
    assert [(d.data["approved"], d.data["source"]) for d in decision] == [(True, source)]


def test_an_approval_that_times_out_fails_the_step(ws: Workspace) -> None:
    first = ws.run(ws.spec(release_spec(ws, timeout="1s")))
    assert first.code == 4, first.explain()
    time.sleep(1.1)
    resumed = ws.resume(first.run.run_id)
    assert resumed.code == 1, resumed.explain()
    gate = first.run.step_report("gate")
    assert gate["status"] == "failed"
    assert gate["error"].startswith("approval timed out after"), gate["error"]
    assert "deploy" not in line_counts(ws.path("counts"))

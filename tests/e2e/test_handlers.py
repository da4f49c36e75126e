"""error_handlers through the CLI: handled failures let dependents run; handlers never run alone."""

from __future__ import annotations

from tests.e2e.kit import Workspace, line_counts, q

COUNT = 'echo "$FLOWCTL_STEP_ID" >> "$COUNTS"'


def handled_spec(
    ws: Workspace, *, charge_exit: int, handler_exit: int, via: str = "steps.fallback.outputs.via"
) -> str:
    return f"""
        name: handled
        env: {{COUNTS: {q(ws.path("counts"))}}}
        steps:
          - id: charge
            run: '{COUNT}; echo "card declined" >&2; exit {charge_exit}'
            error_handlers: [fallback]
          - id: fallback
            run: |
              {COUNT}
              echo "via=invoice" >> "$FLOWCTL_OUTPUT"
              printf '%s|%s' {{{{ steps.charge.status }}}} {{{{ steps.charge.error }}}} \\
                > {q(ws.path("seen"))}
              exit {handler_exit}
          - id: ship
            dependencies: [charge]
            input_mapping: {{via: {q(via)}}}
            run: '{COUNT}; printf %s "$FLOWCTL_PARAM_VIA" > {q(ws.path("shipped"))}'
          - id: strict
            dependencies: [charge]
            trigger_rule: all_success
            run: '{COUNT}'
        """


def test_a_handled_failure_lets_dependents_run_with_the_handlers_outputs(ws: Workspace) -> None:
    result = ws.run(ws.spec(handled_spec(ws, charge_exit=3, handler_exit=0)))
    assert result.code == 0, result.explain()
    assert line_counts(ws.path("counts")) == {"charge": 1, "fallback": 1, "ship": 1, "strict": 1}
    assert ws.path("shipped").read_text() == "invoice"
    status, _, error = ws.path("seen").read_text().partition("|")
    assert status == "failed" and error, "the handler sees the failed step's status and error"
    run = result.run
    failed = run.named("step_failed", "charge")
    assert len(failed) == 1 and failed[0].data.get("handled") is True, failed
    assert run.statuses()["charge"] == "failed"
    assert run.statuses()["fallback"] == "completed"
    assert run.finished().data["status"] == "completed"
    # The handler finished before the dependents started: they saw its outputs.
    handled_at = run.named("step_completed", "fallback")[0].seq
    assert handled_at < run.named("step_started", "ship")[0].seq


def test_a_failing_handler_fails_the_run_and_dependents_do_not_run(ws: Workspace) -> None:
    result = ws.run(ws.spec(handled_spec(ws, charge_exit=3, handler_exit=1)))
    assert result.code == 1, result.explain()
    assert line_counts(ws.path("counts")) == {"charge": 1, "fallback": 1}
    run = result.run
    assert not any(e.data.get("handled") for e in run.named("step_failed", "charge"))
    statuses = run.statuses()
    assert statuses["charge"] == "failed" and statuses["fallback"] == "failed"
    assert statuses["ship"] == "skipped" and statuses["strict"] == "skipped"
    assert run.finished().data["status"] == "failed"
    assert not ws.path("shipped").exists()


def test_handlers_never_run_on_their_own(ws: Workspace) -> None:
    result = ws.run(ws.spec(handled_spec(ws, charge_exit=0, handler_exit=0, via="'card'")))
    assert result.code == 0, result.explain()
    assert line_counts(ws.path("counts")) == {"charge": 1, "ship": 1, "strict": 1}
    assert ws.path("shipped").read_text() == "card"
    fallback = result.run.step_report("fallback")
    assert fallback["status"] == "skipped"
    assert fallback["reason"] == "error handler not triggered"
    assert "fallback" not in result.run.steps_with("step_started")

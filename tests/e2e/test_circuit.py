"""circuit_breaker through the CLI: it opens inside a for_each loop and is shared by name."""

from __future__ import annotations

from tests.e2e.kit import Workspace, lines, q

BREAKER = "{name: payments, failure_threshold: 2, reset_timeout: 1h}"


def test_the_circuit_opens_in_a_for_each_loop_and_fails_the_rest_fast(ws: Workspace) -> None:
    calls = ws.path("calls")
    spec = ws.spec(
        f"""
        name: breaker
        env: {{CALLS: {q(calls)}}}
        steps:
          - id: each
            type: loop
            loop:
              for_each: [0, 1, 2, 3, 4, 5]
              steps:
                - id: charge
                  continue_on_failure: true
                  circuit_breaker: {BREAKER}
                  run: 'echo "$FLOWCTL_STEP_ID" >> "$CALLS"; exit 1'
          - id: refund
            dependencies: [each]
            continue_on_failure: true
            circuit_breaker: {BREAKER}
            run: 'echo "$FLOWCTL_STEP_ID" >> "$CALLS"'
        """
    )
    result = ws.run(spec)
    assert result.code == 0, result.explain()
    # Two real calls open the circuit; every later attempt, in any step, fails fast.
    assert lines(calls) == ["each[0].charge", "each[1].charge"]
    run = result.run
    kinds = {e.step: e.data.get("error_kind") for e in run.named("step_failed")}
    fast = ["each[2].charge", "each[3].charge", "each[4].charge", "each[5].charge", "refund"]
    assert all(kinds[step] == "circuit_open" for step in fast), kinds
    assert kinds["each[0].charge"] != "circuit_open"
    assert run.step_report("refund")["error_kind"] == "circuit_open"
    states = [(e.data["name"], e.data["state"]) for e in run.named("circuit_state")]
    assert states == [("payments", "open")]
    opened = run.named("circuit_state")[0].seq
    assert run.named("step_started", "each[1].charge")[0].seq < opened
    assert opened < run.named("step_failed", "each[2].charge")[0].seq

    # A circuit lives within one run: the next run calls the service again.
    again = ws.run(spec)
    assert again.code == 0, again.explain()
    assert lines(calls)[2:] == ["each[0].charge", "each[1].charge"]


def test_a_reset_timeout_of_zero_makes_every_call_after_the_open_a_trial(ws: Workspace) -> None:
    # Only the wiring of reset_timeout from the spec to the breaker, with a value no run's
    # duration can race (0; the BREAKER of the tests above uses 1h). Opening, half-open
    # after the reset timeout and closing again are tested with a clock moved by hand in
    # tests/runner/test_circuit.py.
    calls = ws.path("calls")
    spec = ws.spec(
        f"""
        name: recovering
        env: {{CALLS: {q(calls)}}}
        steps:
          - id: each
            type: loop
            loop:
              for_each: [{{n: 0}}, {{n: 0}}, {{n: 2}}]
              steps:
                - id: call
                  continue_on_failure: true
                  input_mapping: {{n: item.n}}
                  circuit_breaker: {{name: flaky, failure_threshold: 1, reset_timeout: 0}}
                  run: 'echo "$FLOWCTL_STEP_ID" >> "$CALLS"; test "$FLOWCTL_PARAM_N" != 0'
        """
    )
    result = ws.run(spec)
    assert result.code == 0, result.explain()
    assert lines(calls) == ["each[0].call", "each[1].call", "each[2].call"]
    run = result.run
    assert run.statuses()["each[1].call"] == "failed"
    assert run.step_report("each[1].call")["error_kind"] != "circuit_open"
    assert run.statuses()["each[2].call"] == "completed"
    states = [e.data["state"] for e in run.named("circuit_state")]
    assert states == ["open", "half_open", "open", "half_open", "closed"]

"""Agents through the CLI (SPEC.md 6): pools, FIFO queues, routing, failover, resume.

Every verdict comes from the files a run leaves (audit.jsonl, report.json, history.jsonl)
and from counter files the agents' own commands write: the order of journal events, not
the wall clock, proves what ran when.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from tests.e2e.kit import RunFiles, Workspace, cli_env, lines, q

COUNT = 'echo "$FLOWCTL_STEP_ID $FLOWCTL_AGENT" >> "$CALLS"'


def concurrency_by_agent(run: RunFiles) -> Counter[str]:
    """The most steps each agent ran at once, replaying starts and ends in journal order.

    A step is on an agent from its first step_started there to its step_completed (or
    step_failed, or the agent_failover that moved it away).
    """
    on: dict[str, str] = {}
    running: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    for event in run.events():
        step, agent = event.step, event.data.get("agent")
        if event.event == "step_started" and isinstance(agent, str) and step not in on:
            on[step or ""] = agent
            running[agent] += 1
            peak[agent] = max(peak[agent], running[agent])
        elif event.event in ("step_completed", "step_failed", "agent_failover") and step in on:
            running[on.pop(step or "")] -= 1
    return peak


def routed(run: RunFiles, step: str) -> list[dict[str, Any]]:
    """The routing decisions the journal recorded for `step`, in order."""
    return [dict(e.data["routing"]) for e in run.named("step_started", step) if "routing" in e.data]


def test_pools_are_never_exceeded_across_loop_iterations_and_parallel_children(
    ws: Workspace,
) -> None:
    calls = ws.path("calls")
    spec = ws.spec(
        f"""
        name: pools
        env: {{CALLS: {q(calls)}}}
        max_parallel_steps: 8
        agents:
          pair: {{capabilities: [ocr], run: '{COUNT}; sleep 0.1', max_concurrency: 2}}
          solo: {{capabilities: [ocr], run: '{COUNT}; sleep 0.1'}}
        steps:
          - id: pages
            type: loop
            loop:
              for_each: [1, 2, 3, 4, 5, 6]
              max_concurrency: 6
              steps:
                - {{id: ocr, agent_capability: ocr}}
          - id: both
            type: parallel
            parallel_steps:
              - {{id: left, agent_capability: ocr}}
              - {{id: right, agent_capability: ocr}}
              - {{id: middle, agent_capability: ocr}}
        """
    )
    result = ws.run(spec)
    assert result.code == 0, result.explain()
    run = result.run
    peak = concurrency_by_agent(run)
    assert peak["pair"] <= 2 and peak["solo"] <= 1, peak
    assert len(lines(calls)) == 9
    # The same holds by the timestamps of each step's start and end.
    spans = {
        s["id"]: (s["started_at"], s["finished_at"], s["agent"])
        for s in run.report()["steps"]
        if s.get("agent")
    }
    for agent, size in (("pair", 2), ("solo", 1)):
        mine = [(a, b) for a, b, who in spans.values() if who == agent]
        for start, _ in mine:
            overlapping = sum(1 for a, b in mine if a <= start < b)
            assert overlapping <= size, (agent, start, mine)
    history = run.history()[0]
    assert history["agents"] == {
        "pair": {"capabilities": ["ocr"], "max_concurrency": 2},
        "solo": {"capabilities": ["ocr"], "max_concurrency": 1},
    }


def test_a_step_waiting_for_an_agent_holds_no_max_parallel_steps_slot(ws: Workspace) -> None:
    # One slot for the agent's step and one left: the step queued for the busy agent must
    # not take it, or `release` could never run and the agent's step would wait forever.
    go = ws.path("go")
    spec = ws.spec(
        f"""
        name: slots
        max_parallel_steps: 2
        agents:
          only: {{capabilities: [work], run: 'while [ ! -f {q(go)} ]; do sleep 0.02; done'}}
        steps:
          - {{id: first, agent_capability: work, timeout: 20s}}
          - {{id: second, agent_capability: work, timeout: 20s}}
          - {{id: release, run: 'sleep 0.3; touch {q(go)}'}}
        """
    )
    result = ws.run(spec)
    assert result.code == 0, result.explain()
    run = result.run
    order = [e.step for e in run.named("step_started")]
    assert order.index("release") < order.index("second")
    wait = run.step_report("second")["agent_wait"]
    assert wait > 0
    assert routed(run, "second")[0]["queued"] == wait


def test_waiting_steps_get_the_agent_first_in_first_out(ws: Workspace) -> None:
    calls = ws.path("calls")
    steps = "\n".join(f"          - {{id: s{i}, agent_capability: ocr}}" for i in range(1, 7))
    spec = ws.spec(
        f"""
        name: fifo
        env: {{CALLS: {q(calls)}}}
        agents:
          one: {{capabilities: [ocr], run: '{COUNT}; sleep 0.05'}}
        steps:
{steps}
        """
    )
    result = ws.run(spec)
    assert result.code == 0, result.explain()
    assert [line.split()[0] for line in lines(calls)] == [f"s{i}" for i in range(1, 7)]
    started = [e.step for e in result.run.named("step_started")]
    assert started == [f"s{i}" for i in range(1, 7)]


def test_failover_gives_the_next_agent_a_fresh_set_of_attempts(ws: Workspace) -> None:
    calls = ws.path("calls")
    spec = ws.spec(
        f"""
        name: failover
        env: {{CALLS: {q(calls)}}}
        agents:
          broken: {{capabilities: [ocr], run: '{COUNT}; echo down >&2; exit 3'}}
          spare: {{capabilities: [ocr], run: '{COUNT}; echo "text=ok" >> "$FLOWCTL_OUTPUT"'}}
        steps:
          - id: ocr
            agent_capability: ocr
            retry_policy: {{max_attempts: 2, delay: 0}}
            output_mapping: {{result.text: workflow.text}}
        """
    )
    result = ws.run(spec)
    assert result.code == 0, result.explain()
    assert lines(calls) == ["ocr broken", "ocr broken", "ocr spare"]
    run = result.run
    starts = [(e.attempt, e.data["agent"]) for e in run.named("step_started", "ocr")]
    assert starts == [(1, "broken"), (2, "broken"), (3, "spare")]
    [moved] = run.named("agent_failover", "ocr")
    assert moved.data == {"agent": "broken", "error": "command exited with code 3: down"}
    assert [r["chosen"] for r in routed(run, "ocr")] == ["broken", "spare"]
    step = run.step_report("ocr")
    assert (step["agent"], step["attempts"]) == ("spare", 3)
    assert run.report()["workflow_data"]["text"] == "ok"
    [record] = [s for s in run.history()[0]["steps"] if s["id"] == "ocr"]
    assert [a[:2] for a in record["agent_attempts"]] == [
        ["broken", False],
        ["broken", False],
        ["spare", True],
    ]
    assert "failing over from agent broken" in result.stdout + result.stderr


def test_failover_false_and_errors_that_cannot_heal_stay_on_the_first_agent(
    ws: Workspace,
) -> None:
    calls = ws.path("calls")
    spec = ws.spec(
        f"""
        name: no-failover
        env: {{CALLS: {q(calls)}}}
        agents:
          broken: {{capabilities: [ocr], run: '{COUNT}; exit 3'}}
          spare: {{capabilities: [ocr], run: '{COUNT}'}}
        steps:
          - {{id: pinned, agent_capability: ocr, failover: false, continue_on_failure: true}}
          - id: only_timeouts
            agent_capability: ocr
            dependencies: [pinned]
            trigger_rule: all_done
            continue_on_failure: true
            retry_policy: {{max_attempts: 3, delay: 0, retry_on: [timeout]}}
          - id: invalid
            agent_capability: ocr
            continue_on_failure: true
            input_mapping: {{pages: 0}}
            input_validation: {{properties: {{pages: {{minimum: 1}}}}}}
        """
    )
    result = ws.run(spec)
    assert result.code == 0, result.explain()
    # An exit code is not a timeout: neither retried nor failed over.
    assert lines(calls) == ["pinned broken", "only_timeouts broken"]
    run = result.run
    assert run.named("agent_failover") == []
    assert run.step_report("only_timeouts")["attempts"] == 1
    assert run.step_report("pinned")["agent"] == "broken"
    invalid = run.step_report("invalid")
    assert (invalid["status"], invalid["error_kind"], invalid["attempts"]) == (
        "failed",
        "validation",
        1,
    )


def planted_history(path: Path, flaky: str, steady: str, runs: int = 40) -> None:
    """A history of `runs` runs where `flaky` fails every other attempt and `steady` none,
    both taking 0.1 s."""
    with path.open("w") as out:
        for i in range(runs):
            attempts = [[flaky, i % 2 == 0, 0.1], [steady, True, 0.1]]
            step = {
                "id": "ocr",
                "type": "action",
                "status": "completed",
                "started_at": "2026-12-01T10:00:00Z",
                "finished_at": "2026-12-01T10:00:01Z",
                "duration": 0.2,
                "capability": "ocr",
                "agent": steady,
                "agent_wait": 0.0,
                "agent_attempts": attempts,
            }
            record = {
                "format": 1,
                "run_id": f"planted-{i}",
                "workflow": "adaptive",
                "status": "completed",
                "started_at": "2026-12-01T10:00:00Z",
                "finished_at": "2026-12-01T10:00:01Z",
                "duration": 1.0,
                "steps": [step],
            }
            out.write(json.dumps(record) + "\n")


def adaptive_spec(ws: Workspace) -> Path:
    calls = ws.path("calls")
    return ws.spec(
        f"""
        name: adaptive
        adaptive_routing: true
        env: {{CALLS: {q(calls)}}}
        agents:
          fast_ocr: {{capabilities: [ocr], run: '{COUNT}'}}
          accurate_ocr: {{capabilities: [ocr], run: '{COUNT}'}}
        steps:
          - {{id: ocr, agent_capability: ocr}}
        """
    )


def test_adaptive_routing_moves_away_from_an_agent_that_fails_half_the_time(
    ws: Workspace,
) -> None:
    spec = adaptive_spec(ws)
    history = ws.path("history.jsonl")
    planted_history(history, flaky="fast_ocr", steady="accurate_ocr")
    first = ws.run(spec, "--history", str(history))
    assert first.code == 0, first.explain()
    [decision] = routed(first.run, "ocr")
    assert decision["strategy"] == "adaptive"
    assert decision["chosen"] == "accurate_ocr"
    assert decision["reason"] == "highest score"
    scores = {c["agent"]: c for c in decision["candidates"]}
    assert scores["fast_ocr"]["success_rate"] == 0.5
    assert scores["accurate_ocr"]["success_rate"] == 1.0
    assert scores["fast_ocr"]["samples"] == scores["accurate_ocr"]["samples"] == 40
    assert scores["accurate_ocr"]["score"] > scores["fast_ocr"]["score"]

    # The same spec with the roles swapped in history: the choice follows the evidence.
    flipped = ws.path("flipped.jsonl")
    planted_history(flipped, flaky="accurate_ocr", steady="fast_ocr")
    second = ws.run(spec, "--history", str(flipped))
    assert second.code == 0, second.explain()
    assert routed(second.run, "ocr")[0]["chosen"] == "fast_ocr"


def test_routing_and_adaptive_routing_that_disagree_are_a_validate_error(ws: Workspace) -> None:
    spec = ws.spec(
        """
        name: conflict
        adaptive_routing: true
        routing: round_robin
        agents:
          fast_ocr: {capabilities: [ocr], python: "m:f"}
          spare: {capabilities: [layout], python: "m:f"}
        steps:
          - {id: ocr, agent_capability: orc}
        """
    )
    result = subprocess.run(
        [sys.executable, "-m", "flowctl", "validate", str(spec)],
        env=cli_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout.splitlines() == [
        f"{spec}:2:1: error: adaptive_routing: true contradicts routing: round_robin "
        "(adaptive_routing: true means routing: adaptive; keep one of the two) "
        "(at adaptive_routing)",
        f"{spec}:8:15: error: step 'ocr' asks for agent capability 'orc', which no agent has "
        "(did you mean 'ocr'?) (at ocr)",
        f"{spec}:5:3: warning: agent 'fast_ocr' is never used: no step asks for ocr "
        "(remove it, or give a step agent_capability) (at agents.fast_ocr)",
        f"{spec}:6:3: warning: agent 'spare' is never used: no step asks for layout "
        "(remove it, or give a step agent_capability) (at agents.spare)",
        f"{spec}: invalid (2 errors, 2 warnings)",
    ]
    refused = ws.run(spec)
    assert refused.code == 2 and refused.files is None, refused.explain()


def test_an_agent_whose_circuit_is_open_is_skipped(ws: Workspace) -> None:
    calls = ws.path("calls")
    spec = ws.spec(
        f"""
        name: circuits
        env: {{CALLS: {q(calls)}}}
        agents:
          shaky:
            capabilities: [ocr]
            run: '{COUNT}; exit 1'
            circuit_breaker: {{failure_threshold: 1, reset_timeout: 1h}}
          spare: {{capabilities: [ocr], run: '{COUNT}'}}
        steps:
          - {{id: one, agent_capability: ocr}}
          - {{id: two, agent_capability: ocr, dependencies: [one]}}
        """
    )
    result = ws.run(spec)
    assert result.code == 0, result.explain()
    assert lines(calls) == ["one shaky", "one spare", "two spare"]
    run = result.run
    assert [(e.data["name"], e.data["state"]) for e in run.named("circuit_state")] == [
        ("agent.shaky", "open")
    ]
    [decision] = routed(run, "two")
    shaky = next(c for c in decision["candidates"] if c["agent"] == "shaky")
    assert shaky["circuit"] == "open"
    assert (decision["chosen"], decision["reason"]) == ("spare", "first free in file order")


def test_resume_keeps_finished_agents_and_rebuilds_circuits_from_the_journal(
    ws: Workspace,
) -> None:
    calls, go = ws.path("calls"), ws.path("go")
    keys = ws.path("keys")
    record = f'{COUNT}; echo "$FLOWCTL_IDEMPOTENCY_KEY" >> {q(keys)}'
    spec = ws.spec(
        f"""
        name: resumable
        env: {{CALLS: {q(calls)}}}
        agents:
          gated:
            capabilities: [ocr]
            run: '{record}; test -f {q(go)}'
            circuit_breaker: {{failure_threshold: 1, reset_timeout: 1h}}
          spare:
            capabilities: [ocr]
            run: '{record}; test "$FLOWCTL_STEP_ID" != late || test -f {q(go)}'
        steps:
          - {{id: early, agent_capability: ocr, routing: least_busy}}
          - {{id: late, agent_capability: ocr, dependencies: [early], failover: false}}
        """
    )
    first = ws.run(spec)
    assert first.code == 1, first.explain()
    # early: gated fails and opens its circuit, spare takes over; late: spare only.
    assert lines(calls) == ["early gated", "early spare", "late spare"]
    run = first.run
    assert run.step_report("early")["agent"] == "spare"

    go.touch()
    resumed = ws.resume(run.run_id)
    assert resumed.code == 0, resumed.explain()
    # early is restored (not run again) and keeps its agent; late runs again, routed anew:
    # gated's circuit, rebuilt from the journal, is still open, so it is skipped.
    assert lines(calls)[3:] == ["late spare"]
    report = run.report()
    assert report["status"] == "completed"
    early = run.step_report("early")
    assert (early["restored"], early["agent"]) == (True, "spare")
    [again] = routed(run, "late")[1:]
    gated = next(c for c in again["candidates"] if c["agent"] == "gated")
    assert gated.get("circuit") == "open"
    late_keys = lines(keys)[2:]
    assert len(late_keys) == 2 and late_keys[0] == late_keys[1]


def test_flowctl_agents_lists_pools_and_what_history_says(ws: Workspace) -> None:
    spec = adaptive_spec(ws)
    history = ws.path("history.jsonl")
    planted_history(history, flaky="fast_ocr", steady="accurate_ocr", runs=4)
    listed = ws.cli("agents", str(spec), "--history", str(history), "--format", "json")
    assert listed.code == 0, listed.explain()
    agents = {a["agent"]: a for a in json.loads(listed.stdout)["agents"]}
    assert list(agents) == ["fast_ocr", "accurate_ocr"]
    assert agents["fast_ocr"]["success_rate"] == 0.5
    assert agents["accurate_ocr"] | {"utilisation": None} == {
        "agent": "accurate_ocr",
        "capabilities": ["ocr"],
        "max_concurrency": 1,
        "tags": [],
        "runs": 4,
        "attempts": 4,
        "success_rate": 1.0,
        "p50": 0.1,
        "p95": 0.1,
        "queue_wait_p95": 0.0,
        "utilisation": None,
    }
    table = ws.cli("agents", str(spec), "--history", str(history))
    assert table.code == 0, table.explain()
    assert table.stdout.splitlines()[0].split() == [
        "agent",
        "capabilities",
        "pool",
        "runs",
        "attempts",
        "success",
        "p50",
        "p95",
        "queue",
        "p95",
        "use",
    ]
    missing = ws.cli("agents", "--history", str(ws.path("none.jsonl")))
    assert missing.code == 2
    assert "no history file" in missing.stderr


def test_agent_steps_cache_roll_back_and_time_out_like_action_steps(ws: Workspace) -> None:
    calls, undone = ws.path("calls"), ws.path("undone")
    spec = ws.spec(
        f"""
        name: like-actions
        env: {{CALLS: {q(calls)}}}
        agents:
          stuck: {{capabilities: [slow], run: 'sleep 30', timeout: 300ms}}
          quick:
            capabilities: [slow, ocr]
            run: '{COUNT}; echo "v=$FLOWCTL_PARAM_DOC" >> "$FLOWCTL_OUTPUT"'
        steps:
          - id: ocr
            agent_capability: ocr
            input_mapping: {{doc: 7}}
            cache: {{key: "ocr-{{{{ params.doc }}}}"}}
            rollback_actions:
              - run: 'echo "$FLOWCTL_STEP_ID" >> {q(undone)}'
          - id: slow
            agent_capability: slow
            dependencies: [ocr]
          - id: boom
            dependencies: [slow]
            run: 'exit 1'
        """
    )
    first = ws.run(spec)
    assert first.code == 1, first.explain()
    run = first.run
    # slow timed out on `stuck` (its agent timeout), then ran on `quick`.
    [moved] = run.named("agent_failover", "slow")
    assert moved.data["agent"] == "stuck" and "timed out after 300ms" in moved.data["error"]
    assert run.step_report("slow")["agent"] == "quick"
    assert run.outputs("ocr")["v"] == "7"
    # boom failed: the completed agent step's rollback ran.
    assert lines(undone) == ["ocr"]
    second = ws.run(spec)
    assert second.code == 1, second.explain()
    cached = second.run.step_report("ocr")
    assert cached["cached"] is True
    assert lines(calls).count("ocr quick") == 1  # the agent did not run again


def test_a_python_agent_gets_params_ctx_agent_and_its_templated_env(ws: Workspace) -> None:
    (ws.root / "pyagents.py").write_text(
        "def work(doc, ctx):\n"
        "    return {'doc': doc, 'agent': ctx.agent, 'mode': ctx.env['MODE'],\n"
        "            'key': ctx.env['FLOWCTL_IDEMPOTENCY_KEY']}\n"
    )
    spec = ws.spec(
        """
        name: python-agent
        inputs:
          mode: {type: string, default: careful}
        agents:
          worker:
            capabilities: [work]
            python: "pyagents:work"
            env: {MODE: "{{ inputs.mode }}-mode"}
            tags: [local]
        steps:
          - {id: job, agent_capability: work, input_mapping: {doc: 42}}
        """
    )
    result = ws.run(spec)
    assert result.code == 0, result.explain()
    run = result.run
    assert run.outputs("job") == {
        "doc": 42,
        "agent": "worker",
        "mode": "careful-mode",
        "key": f"{run.run_id}:job",
    }
    listed = ws.cli("agents", str(spec), "--format", "json")
    assert listed.code == 0, listed.explain()
    [worker] = json.loads(listed.stdout)["agents"]
    assert (worker["tags"], worker["attempts"], worker["success_rate"]) == (["local"], 1, 1.0)

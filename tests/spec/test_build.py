"""From a document to the model: defaults, durations, retry merging, dependency folding."""

from __future__ import annotations

from flowctl.spec.build import build_workflow
from flowctl.spec.model import (
    ActionStep,
    BackoffStrategy,
    ConditionStep,
    LoopStep,
    ParallelStep,
    TriggerRule,
    WaitStep,
    WebhookStep,
)
from flowctl.spec.yamlload import load_yaml_text

SPEC = """
name: demo
timeout: 1h30m
retry_policy: {max_attempts: 2, delay: 500ms}
steps:
  - id: a
    run: echo a
    next_steps: [b]
    timeout: 45s
  - id: b
    python: "pkg.mod:fn"
    retry_policy: {backoff_strategy: exponential, max_delay: 1m}
  - id: route
    type: condition
    dependencies: [b]
    cases:
      - {when: "steps.b.outputs.ok", next_steps: [yes_branch]}
    default: [no_branch]
  - {id: yes_branch, type: wait, duration: 2s}
  - id: no_branch
    type: webhook
    http: {url: "http://127.0.0.1/x", method: put, headers: {X-N: 3}, expect_status: [200]}
  - id: par
    type: parallel
    dependencies: [a]
    parallel_steps:
      - {id: p1, run: "true", next_steps: [p2]}
      - {id: p2, run: "true"}
  - id: each
    type: loop
    trigger_rule: all_done
    loop: {for_each: [1, 2, 3], as: n, max_concurrency: 2, steps: [{id: child, run: "true"}]}
"""


def build(text: str = SPEC):  # type: ignore[no-untyped-def]
    return build_workflow(load_yaml_text(text, "demo.yaml"), "0" * 64)


def test_durations_and_defaults() -> None:
    wf = build()
    assert wf.timeout == 5400
    assert wf.max_parallel_steps == 10
    a = wf.step("a")
    assert isinstance(a, ActionStep)
    assert a.command is not None and a.command.run == "echo a"
    assert a.timeout == 45
    assert wf.step("b").timeout == 300
    wait = wf.step("yes_branch")
    assert isinstance(wait, WaitStep) and wait.duration == 2


def test_workflow_retry_policy_is_merged_key_by_key() -> None:
    wf = build()
    a, b = wf.step("a"), wf.step("b")
    assert a.retry_policy.max_attempts == 2 and a.retry_policy.delay == 0.5
    assert b.retry_policy.max_attempts == 2
    assert b.retry_policy.backoff_strategy is BackoffStrategy.EXPONENTIAL
    assert b.retry_policy.max_delay == 60


def test_next_steps_and_case_targets_become_dependencies() -> None:
    wf = build()
    assert wf.step("b").dependencies == ("a",)
    assert wf.step("b").next_steps == ()
    assert wf.step("a").next_steps == ("b",)
    assert wf.step("yes_branch").dependencies == ("route",)
    assert wf.step("no_branch").dependencies == ("route",)
    route = wf.step("route")
    assert isinstance(route, ConditionStep) and route.targets() == ("yes_branch", "no_branch")
    assert wf.step("p2").dependencies == ("p1",)


def test_containers_and_webhooks() -> None:
    wf = build()
    par = wf.step("par")
    assert isinstance(par, ParallelStep) and [c.id for c in par.children()] == ["p1", "p2"]
    loop = wf.step("each")
    assert isinstance(loop, LoopStep)
    assert loop.for_each == (1, 2, 3) and loop.as_ == "n" and loop.max_concurrency == 2
    assert loop.trigger_rule is TriggerRule.ALL_DONE
    hook = wf.step("no_branch")
    assert isinstance(hook, WebhookStep)
    assert hook.http.method == "PUT" and hook.http.headers == {"X-N": "3"}
    assert hook.http.expect_status == (200,) and not hook.http.has_json
    assert [s.id for s, _ in wf.walk()] == [
        "a", "b", "route", "yes_branch", "no_branch", "par", "p1", "p2", "each", "child",
    ]  # fmt: skip


def test_locations_point_at_steps_and_keys() -> None:
    wf = build()
    b = wf.step("b")
    assert (b.location.file, b.location.line) == ("demo.yaml", 10)
    assert b.where("retry_policy").line == 12
    assert wf.where("timeout").line == 3

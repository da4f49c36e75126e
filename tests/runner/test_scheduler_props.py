"""Properties of the scheduler on random DAGs, with a tiny in-test step executor."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowctl.api import RunStatus, StepStatus, run_workflow
from flowctl.runner.steps.base import Outputs, StepContext, StepFailure
from flowctl.runner.steps.registry import StepTypeEntry, default_registry
from flowctl.spec.load import load_workflow_text
from flowctl.spec.model import StepType, TriggerRule


class Recorder:
    """Runs every action step as a short await; fails the ones named `fail_*`."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.log: list[tuple[str, str]] = []

    async def execute(self, ctx: StepContext) -> Outputs:
        self.running += 1
        self.peak = max(self.peak, self.running)
        self.log.append(("start", ctx.qualified_id))
        try:
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            if ctx.step_id.startswith("fail_"):
                raise StepFailure("planned failure", retryable=False)
            return {"id": ctx.qualified_id}
        finally:
            self.running -= 1
            self.log.append(("end", ctx.qualified_id))


@st.composite
def dags(draw: st.DrawFn) -> tuple[str, int]:
    """A random DAG spec (edges only from earlier to later steps) and its slot limit."""
    n = draw(st.integers(min_value=1, max_value=18))
    limit = draw(st.integers(min_value=1, max_value=4))
    ids: list[str] = []
    lines = [f"name: prop\nmax_parallel_steps: {limit}\nsteps:"]
    for i in range(n):
        sid = f"fail_{i}" if draw(st.integers(min_value=0, max_value=3)) == 0 else f"s{i}"
        rule = draw(st.sampled_from(list(TriggerRule)))
        lines.append(f"  - id: {sid}\n    python: x:y\n    continue_on_failure: true")
        lines.append(f"    trigger_rule: {rule.value}")
        parents = draw(st.sets(st.sampled_from(ids), max_size=3)) if ids else set()
        if parents:
            lines.append(f"    dependencies: [{', '.join(sorted(parents))}]")
        ids.append(sid)
    return "\n".join(lines) + "\n", limit


def expected_status(rule: TriggerRule, deps: list[StepStatus]) -> bool:
    """Whether a step with these finished dependencies should run."""
    if not deps or rule is TriggerRule.ALL_DONE:
        return True
    if rule is TriggerRule.ALL_SUCCESS:
        return all(d is StepStatus.COMPLETED for d in deps)
    return StepStatus.FAILED not in deps and StepStatus.COMPLETED in deps


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(dags())
def test_every_step_runs_after_its_dependencies_within_the_limit(case: tuple[str, int]) -> None:
    text, limit = case
    wf = load_workflow_text(text)
    recorder = Recorder()
    registry: Mapping[StepType, Any] = {
        **default_registry(),
        StepType.ACTION: StepTypeEntry(leaf=recorder),
    }
    with tempfile.TemporaryDirectory() as tmp:
        result = run_workflow(wf, state_dir=Path(tmp), registry=registry, durable=False)
    assert result.status is RunStatus.COMPLETED  # every failure is tolerated
    assert recorder.peak <= limit
    assert set(result.steps) == {s.id for s in wf.steps}
    order = {(kind, sid): i for i, (kind, sid) in enumerate(recorder.log)}
    for step in wf.steps:
        got = result.step(step.id)
        deps = [result.step(d).status for d in step.dependencies]
        runs = expected_status(step.trigger_rule, deps)
        assert (got.status is not StepStatus.SKIPPED) is runs, (step.id, deps, got)
        if got.status is StepStatus.SKIPPED:
            assert ("start", step.id) not in order
            continue
        assert got.status is (
            StepStatus.FAILED if step.id.startswith("fail_") else StepStatus.COMPLETED
        )
        for dep in step.dependencies:
            if ("end", dep) in order:
                assert order[("end", dep)] < order[("start", step.id)]

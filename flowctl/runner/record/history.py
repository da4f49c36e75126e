"""The history line of a finished run (SPEC.md 5), as `optimize` reads it later."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flowctl.runner.record.journal import iso
from flowctl.runner.results import RunResult, StepResult
from flowctl.spec.model import Step, Workflow
from flowctl.state.records import RunRecord, StepRecord


def run_record(
    wf: Workflow,
    result: RunResult,
    *,
    steps: Mapping[str, Step],
    edges: Sequence[tuple[str, str]],
    max_parallel: int,
    inputs_sha256: str | None,
    executor_capacity: int | None = None,
) -> RunRecord:
    """The history line of a finished run (SPEC.md 5)."""
    records = []
    for qid, step_result in result.steps.items():
        step = steps.get(qid)
        records.append(_step_record(step_result, step))
    sla = None
    if wf.sla_targets is not None:
        sla = {
            k: v
            for k, v in (
                ("max_execution_time", wf.sla_targets.max_execution_time),
                ("min_success_rate", wf.sla_targets.min_success_rate),
            )
            if v is not None
        }
    return RunRecord(
        run_id=result.run_id,
        workflow=wf.name,
        workflow_version=wf.version,
        spec_sha256=wf.sha256,
        status=result.status.value,
        started_at=iso(result.started_at) or "",
        finished_at=iso(result.finished_at) or "",
        duration=round(result.duration, 6),
        steps=tuple(records),
        edges=tuple(edges),
        max_parallel_steps=max_parallel,
        sla_targets=sla,
        inputs_sha256=inputs_sha256,
        executor_capacity=executor_capacity,
        agents={a.name: (a.capabilities, a.max_concurrency) for a in wf.agents.values()},
        routing=wf.routing.value if wf.agents else None,
    )


def _step_record(result: StepResult, step: Step | None) -> StepRecord:
    return StepRecord(
        id=result.id,
        type=result.step_type.value,
        status=result.status.value,
        started_at=iso(result.started_at),
        finished_at=iso(result.finished_at),
        duration=round(result.duration, 6),
        queued=round(result.queued, 6),
        retry_wait=round(result.retry_wait, 6),
        requeued=round(result.requeued, 6),
        attempts=result.attempts,
        cached=result.cached,
        up_to_date=result.up_to_date,
        error=result.error,
        error_kind=result.error_tag,
        timeout=step.timeout if step is not None else None,
        max_attempts=step.retry_policy.max_attempts if step is not None else 1,
        parent=result.parent,
        inputs_sha256=result.inputs_sha256,
        outputs_sha256=result.outputs_sha256,
        metrics=dict(result.metrics),
        capability=result.capability,
        agent=result.agent,
        agent_wait=round(result.agent_wait, 6),
        agent_attempts=result.agent_attempts,
    )

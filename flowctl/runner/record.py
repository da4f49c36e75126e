"""What a run leaves behind: the audit journal (as an observer), the history line, report.json."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flowctl.errors import StateError
from flowctl.runner.events import (
    AgentFailover,
    ApprovalDecided,
    ApprovalRequested,
    CircuitChanged,
    RollbackActionDone,
    RollbackFinished,
    RollbackStarted,
    RunEvent,
    RunFinished,
    RunStarted,
    StepFinished,
    StepRetrying,
    StepStarted,
    StepWaiting,
)
from flowctl.runner.results import RunResult, StepResult
from flowctl.secrets import SecretMasker
from flowctl.spec.model import Step, Workflow
from flowctl.state.audit import AuditJournal
from flowctl.state.records import RunRecord, StepRecord
from flowctl.status import StepStatus

REPORT_FORMAT = 1
CHECKPOINT_INTERVAL = 0.05  # seconds between fsync requests on a run of fast steps

_FINISH_EVENTS = {
    StepStatus.COMPLETED: "step_completed",
    StepStatus.FAILED: "step_failed",
    StepStatus.SKIPPED: "step_skipped",
    StepStatus.CANCELLED: "step_cancelled",
    StepStatus.ROLLED_BACK: "step_rolled_back",
}


def iso(ts: float | None) -> str | None:
    """ISO 8601 UTC with microseconds and Z, as the audit log writes its `ts`."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")[:-6] + "Z"


class AuditObserver:
    """Writes every run event to the audit journal; a step boundary is a checkpoint.

    The journal is what `resume` replays, so a finished step carries everything needed to
    restore it: status, outputs, error, attempts, duration, and when they matter the
    params (for its rollback) and the workflow data its output_mapping wrote. Steps
    restored from an earlier session are already in the journal and are not written again.
    """

    def __init__(self, journal: AuditJournal, *, run_data: Mapping[str, Any]) -> None:
        self._journal = journal
        self._run_data = dict(run_data)
        self._last_checkpoint = 0.0
        self._deferred: asyncio.TimerHandle | None = None

    def _checkpoint(self, *, now: bool = False) -> None:
        """Ask for an fsync at a step boundary, at most once per CHECKPOINT_INTERVAL.

        Every request wakes the journal's sync thread, and on a run of fast steps those
        wake-ups (not the fsyncs, which are grouped) cost half the run's time. A boundary
        that comes sooner is covered by a request made when the interval is over, so every
        event is synced within about CHECKPOINT_INTERVAL. A kill -9 loses nothing either
        way: written lines are in the page cache; fsync guards against power loss only.
        """
        moment = time.monotonic()
        if now or moment - self._last_checkpoint >= CHECKPOINT_INTERVAL:
            self._last_checkpoint = moment
            if self._deferred is not None:
                self._deferred.cancel()
                self._deferred = None
            self._journal.checkpoint()
            return
        if self._deferred is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._journal.checkpoint()
                return
            self._deferred = loop.call_later(CHECKPOINT_INTERVAL, self._deferred_checkpoint)

    def _deferred_checkpoint(self) -> None:
        self._deferred = None
        self._checkpoint(now=True)

    def handle(self, event: RunEvent) -> None:
        journal = self._journal
        if isinstance(event, StepStarted):
            data: dict[str, Any] = {"type": event.step_type}
            if event.parent is not None:
                data["parent"] = event.parent
            if event.agent is not None:
                data["agent"] = event.agent
                data["capability"] = event.capability
                if event.routing is not None:
                    data["routing"] = event.routing
            journal.append("step_started", step=event.step, attempt=event.attempt, data=data)
        elif isinstance(event, StepFinished):
            if not event.restored:
                self._finished(event)
        elif isinstance(event, StepRetrying):
            journal.append(
                "step_retrying",
                step=event.step,
                attempt=event.attempt,
                data={"error": event.error, "delay": round(event.delay, 6)},
            )
        elif isinstance(event, StepWaiting):
            data = {"type": event.step_type, "status": "waiting"}
            if event.parent is not None:
                data["parent"] = event.parent
            journal.append("step_waiting", step=event.step, data=data)
            self._checkpoint()
        elif isinstance(event, ApprovalRequested):
            journal.append(
                "approval_requested",
                step=event.step,
                data={
                    "message": event.message,
                    "approvers": list(event.approvers),
                    "timeout": event.timeout,
                },
            )
            self._checkpoint(now=True)
        elif isinstance(event, ApprovalDecided):
            journal.append("approval_decided", step=event.step, data=event.data)
            self._checkpoint(now=True)
        elif isinstance(event, AgentFailover):
            journal.append(
                "agent_failover",
                step=event.step,
                attempt=event.attempt,
                data={"agent": event.agent, "error": event.error},
            )
        elif isinstance(event, CircuitChanged):
            journal.append(
                "circuit_state", step=event.step, data={"name": event.name, "state": event.state}
            )
        else:
            self._run_event(event)

    def _finished(self, event: StepFinished) -> None:
        data: dict[str, Any] = {"type": event.step_type, "status": event.status.value}
        if event.parent is not None:
            data["parent"] = event.parent
        if event.status is StepStatus.SKIPPED:
            data["reason"] = event.reason
            if event.by_condition:
                data["by_condition"] = True
        elif event.status is StepStatus.ROLLED_BACK:
            pass
        else:
            data["duration"] = round(event.duration, 6)
            data["attempts"] = event.attempts
            data["outputs"] = event.outputs
            if event.error is not None:
                data["error"] = event.error
            if event.error_kind is not None:
                data["error_kind"] = event.error_kind
            if event.status is StepStatus.FAILED:
                data["handled"] = event.handled
            if event.reason is not None:
                data["reason"] = event.reason
            if event.cached:
                data["cached"] = True
            if event.agent is not None:
                data["agent"] = event.agent
            if event.params is not None:
                data["params"] = event.params
            if event.variables:
                data["vars"] = event.variables
            if event.writes:
                data["writes"] = [[list(path), value] for path, value in event.writes]
        self._journal.append(
            _FINISH_EVENTS.get(event.status, "step_finished"),
            step=event.step,
            attempt=event.attempts or None,
            data=data,
        )
        self._checkpoint()

    def _run_event(self, event: RunEvent) -> None:
        journal = self._journal
        if isinstance(event, RollbackStarted):
            journal.append(
                "rollback_started", data={"reason": event.reason, "steps": list(event.steps)}
            )
        elif isinstance(event, RollbackActionDone):
            journal.append(
                "rollback_action",
                step=event.step,
                data={
                    "index": event.index,
                    "ok": event.ok,
                    "error": event.error,
                    "duration": round(event.duration, 6),
                },
            )
            self._checkpoint()
        elif isinstance(event, RollbackFinished):
            journal.append("rollback_finished", data={"failed": event.failed})
            self._checkpoint(now=True)
        elif isinstance(event, RunStarted):
            journal.append(
                "run_started",
                data={**self._run_data, "step_ids": list(event.step_ids), "resumed": event.resumed},
            )
            self._checkpoint(now=True)
        elif isinstance(event, RunFinished):
            data = {"status": event.status.value, "duration": round(event.duration, 6)}
            if event.error is not None:
                data["error"] = event.error
            journal.append("run_finished", data=data)
            self._checkpoint(now=True)


def run_record(
    wf: Workflow,
    result: RunResult,
    *,
    steps: Mapping[str, Step],
    edges: Sequence[tuple[str, str]],
    max_parallel: int,
    inputs_sha256: str | None,
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
        attempts=result.attempts,
        cached=result.cached,
        error=result.error,
        error_kind=result.error_kind,
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


def sla_check(wf: Workflow, result: RunResult) -> dict[str, Any] | None:
    """This run against `sla_targets`: its duration, and the success rate of its steps.

    The success rate counts steps that ran: completed / (completed + failed + cancelled);
    skipped steps did not run and count neither way. None without targets.
    """
    targets = wf.sla_targets
    if targets is None:
        return None
    checks = []
    if targets.max_execution_time is not None:
        checks.append(
            {
                "target": "max_execution_time",
                "limit": targets.max_execution_time,
                "actual": round(result.duration, 6),
                "ok": result.duration <= targets.max_execution_time,
            }
        )
    if targets.min_success_rate is not None:
        ran = [
            r
            for r in result.steps.values()
            if r.status in (StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.CANCELLED)
        ]
        done = sum(1 for r in ran if r.status is StepStatus.COMPLETED)
        rate = done / len(ran) if ran else 1.0
        checks.append(
            {
                "target": "min_success_rate",
                "limit": targets.min_success_rate,
                "actual": round(rate, 6),
                "ok": rate >= targets.min_success_rate,
            }
        )
    return {"ok": all(c["ok"] for c in checks), "checks": checks}


def counts(result: RunResult) -> dict[str, int]:
    out = {s.value: 0 for s in StepStatus if s.finished}
    for step in result.steps.values():
        out[step.status.value] = out.get(step.status.value, 0) + 1
    out["total"] = len(result.steps)
    return out


def build_report(
    wf: Workflow,
    result: RunResult,
    *,
    masker: SecretMasker,
    optimization: Mapping[str, Any] | None,
    optimization_note: str | None,
) -> dict[str, Any]:
    """report.json: the run summary, per-step timings, the SLA check, the optimization."""
    steps = []
    for r in result.steps.values():
        steps.append(
            {
                "id": r.id,
                "type": r.step_type.value,
                "status": r.status.value,
                "parent": r.parent,
                "started_at": iso(r.started_at),
                "finished_at": iso(r.finished_at),
                "duration": round(r.duration, 6),
                "queued": round(r.queued, 6),
                "attempts": r.attempts,
                "cached": r.cached,
                "handled": r.handled,
                "restored": r.restored,
                "error": r.error,
                "error_kind": r.error_kind,
                "reason": r.reason,
                "log": str(r.log_path) if r.log_path is not None else None,
                "metrics": dict(r.metrics),
                **_agent_fields(r),
            }
        )
    paths = result.paths
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "run_id": result.run_id,
        "workflow": wf.name,
        "workflow_version": wf.version,
        "spec": wf.source,
        "spec_sha256": wf.sha256,
        "status": result.status.value,
        "exit_code": int(result.exit_code),
        "started_at": iso(result.started_at),
        "finished_at": iso(result.finished_at),
        "duration": round(result.duration, 6),
        "error": result.error,
        "root_cause": result.root_cause,
        "resumed": result.resumed,
        "waiting_approval": list(result.waiting),
        "rollback_failed": result.rollback_failed,
        "counts": counts(result),
        "inputs": dict(result.inputs),
        "workflow_data": dict(result.data),
        "steps": steps,
        "sla": sla_check(wf, result),
        "optimization": dict(optimization) if optimization is not None else None,
        "optimization_note": optimization_note,
        "files": {
            "audit": str(paths.audit) if paths else None,
            "logs": str(paths.logs_dir) if paths else None,
            "history": str(result.history_path) if result.history_path else None,
        },
    }
    masked: dict[str, Any] = masker.mask_json(report) if masker else report
    return masked


def _agent_fields(result: StepResult) -> dict[str, Any]:
    """The agent keys of a step in report.json (only steps run on an agent have them)."""
    if result.capability is None and result.agent is None:
        return {}
    return {
        "capability": result.capability,
        "agent": result.agent,
        "agent_wait": round(result.agent_wait, 6),
        "agent_attempts": [a.to_json() for a in result.agent_attempts],
    }


def report_text(value: Mapping[str, Any]) -> str:
    """JSON for people and machines: one key per line, one list item per line.

    Values are encoded compactly by the C encoder: `indent=` would switch json to its pure
    Python encoder, which costs more than scheduling the steps of a large run.
    """

    def encode(item: Any) -> str:
        return json.dumps(item, default=str, ensure_ascii=False)

    lines = []
    for key, item in value.items():
        if isinstance(item, list) and item:
            body = ",\n".join(f"    {encode(element)}" for element in item)
            lines.append(f"  {encode(key)}: [\n{body}\n  ]")
        else:
            lines.append(f"  {encode(key)}: {encode(item)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def write_json(path: Path, value: Mapping[str, Any]) -> None:
    """Write a JSON file atomically (a reader never sees half a report)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(report_text(value), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc}") from exc

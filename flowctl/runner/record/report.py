"""report.json: the run summary, per-step timings, the SLA check, the optimization."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flowctl.errors import StateError
from flowctl.runner.looplabels import labelled
from flowctl.runner.record.journal import iso
from flowctl.runner.results import RunResult, StepResult
from flowctl.secrets import SecretMasker
from flowctl.spec.model import StepType, Workflow
from flowctl.state.nofollow import describe_open_error, open_state_file
from flowctl.state.strictjson import dumps_strict
from flowctl.status import StepStatus

REPORT_FORMAT = 1


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


def _loop_labels(result: RunResult) -> dict[str, list[str]]:
    """Each for_each loop's labels, from the outputs it finished with (`labels`)."""
    found: dict[str, list[str]] = {}
    for r in result.steps.values():
        names = r.outputs.get("labels") if r.step_type is StepType.LOOP else None
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            found[r.id] = names
    return found


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
    labels = _loop_labels(result)
    for r in result.steps.values():
        steps.append(
            {
                "id": r.id,
                "label": labelled(r.id, labels),  # what views call it: compile[lapi.c].cc
                "type": r.step_type.value,
                "status": r.status.value,
                "parent": r.parent,
                "started_at": iso(r.started_at),
                "finished_at": iso(r.finished_at),
                "duration": round(r.duration, 6),
                "queued": round(r.queued, 6),
                "attempts": r.attempts,
                "cached": r.cached,
                "up_to_date": r.up_to_date,
                "handled": r.handled,
                "restored": r.restored,
                "error": r.error,
                "error_kind": r.error_tag,
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


# One encoder for the whole report (json.dumps with options builds one per call: per step).
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False, allow_nan=False)


def _encode_with(value: Any, **options: Any) -> str:
    """dumps_strict's `dumps` for the shared encoder (options are its own)."""
    return _ENCODER.encode(value)


def report_text(value: Mapping[str, Any]) -> str:
    """JSON for people and machines: one key per line, one list item per line.

    Values are encoded compactly by the C encoder: `indent=` would switch json to its pure
    Python encoder, which costs more than scheduling the steps of a large run.
    """

    def encode(item: Any) -> str:
        return dumps_strict(item, dumps=_encode_with)

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
        # O_EXCL and O_NOFOLLOW: a planted .report.json.<pid>.tmp symlink is not written
        # through (os.replace then swaps the name itself, never a link's target).
        tmp.unlink(missing_ok=True)
        fd = open_state_file(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(report_text(value))
        tmp.replace(path)
    except OSError as exc:
        raise StateError(f"cannot write {path}: {describe_open_error(path, exc)}") from exc

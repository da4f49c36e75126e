"""`run --dry-run`: what would run, level by level, and how long it took before (history)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from msgspec import Struct

from flowctl.durations import format_duration
from flowctl.spec.model import (
    ActionStep,
    ConditionStep,
    HumanTaskStep,
    LoopStep,
    ParallelStep,
    Step,
    WaitStep,
    WebhookStep,
    Workflow,
)
from flowctl.status import RunStatus

_SUMMARY_LIMIT = 80


class PlannedStep(Struct, frozen=True, kw_only=True):
    id: str
    type: str
    does: str  # one line: the command, the callable, the request, the loop...
    dependencies: tuple[str, ...]
    children: tuple[PlannedStep, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "does": self.does,
            "dependencies": list(self.dependencies),
            "children": [c.to_json() for c in self.children],
        }


class Estimate(Struct, frozen=True, kw_only=True):
    """Median step durations of past completed runs, pushed through the DAG."""

    duration: float
    critical_path: tuple[str, ...]
    runs: int
    history: str

    def to_json(self) -> dict[str, Any]:
        return {
            "duration": round(self.duration, 6),
            "critical_path": list(self.critical_path),
            "runs": self.runs,
            "history": self.history,
        }


class Plan(Struct, frozen=True, kw_only=True):
    workflow: str
    source: str
    max_parallel: int
    levels: tuple[tuple[PlannedStep, ...], ...]
    estimate: Estimate | None

    @property
    def step_count(self) -> int:
        def count(steps: Sequence[PlannedStep]) -> int:
            return sum(1 + count(s.children) for s in steps)

        return sum(count(level) for level in self.levels)

    def to_json(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "spec": self.source,
            "max_parallel": self.max_parallel,
            "steps": self.step_count,
            "levels": [[s.to_json() for s in level] for level in self.levels],
            "estimate": self.estimate.to_json() if self.estimate else None,
        }


def _short(text: str) -> str:
    from flowctl.secrets import clip

    return clip(" ".join(text.split()), _SUMMARY_LIMIT, marker="…")


def describe(step: Step) -> str:
    """One line saying what a step would do."""
    if isinstance(step, ActionStep):
        if step.command is not None:
            return f"run: {_short(step.command.run)}"
        if step.python is not None:
            return f"python: {step.python}"
        return f"agent_capability: {step.agent_capability}"
    if isinstance(step, WebhookStep):
        return f"http: {step.http.method} {_short(step.http.url)}"
    if isinstance(step, WaitStep):
        if step.duration is not None:
            return f"wait {format_duration(step.duration)}"
        return f"wait until {step.until}"
    if isinstance(step, HumanTaskStep):
        return f"approval: {_short(step.approval.message)}"
    if isinstance(step, ConditionStep):
        cases = "; ".join(f"{c.when} -> {', '.join(c.next_steps)}" for c in step.cases)
        default = f"; default -> {', '.join(step.default)}" if step.default else ""
        return _short(f"cases: {cases}{default}")
    if isinstance(step, LoopStep):
        if step.for_each is not None:
            source = step.for_each if isinstance(step.for_each, str) else list(step.for_each)
            how = f"for_each {source}"
        else:
            how = f"while {step.while_}"
        return _short(
            f"{how} (max_iterations {step.max_iterations}, max_concurrency {step.max_concurrency})"
        )
    if isinstance(step, ParallelStep):
        limit = step.max_concurrency if step.max_concurrency is not None else "unbounded"
        return (
            f"{len(step.parallel_steps)} children (max_concurrency {limit}, "
            f"min_success_ratio {step.min_success_ratio:g})"
        )
    return step.type.value


def _planned_levels(steps: Sequence[Step]) -> tuple[tuple[PlannedStep, ...], ...]:
    from flowctl.graph import topological_levels

    by_id = {s.id: s for s in steps}
    return tuple(
        tuple(_planned(by_id[sid]) for sid in level)
        for level in topological_levels(steps, include_handlers=False)
    )


def _planned(step: Step) -> PlannedStep:
    children: tuple[PlannedStep, ...] = ()
    if step.children():
        children = tuple(s for level in _planned_levels(step.children()) for s in level)
    return PlannedStep(
        id=step.id,
        type=step.type.value,
        does=describe(step),
        dependencies=step.dependencies,
        children=children,
    )


# How many of the latest completed runs the dry run's estimate takes its medians from: recent
# runs say more about the next one than old ones, and the read stays short on a long history.
ESTIMATE_RUNS = 20


def estimate(wf: Workflow, history: Path) -> Estimate | None:
    """Critical path of the top-level steps with their median durations in the latest
    completed runs (at most ESTIMATE_RUNS).

    None without a readable history holding a completed run of this workflow.
    """
    from flowctl.errors import HistoryError
    from flowctl.graph import critical_path
    from flowctl.state.history import recent_records

    if not history.is_file():
        return None
    samples: dict[str, list[float]] = defaultdict(list)
    top = {s.id for s in wf.steps}
    try:
        records = recent_records(
            history, wf.name, limit=ESTIMATE_RUNS, status=RunStatus.COMPLETED.value
        )
    except HistoryError:
        return None
    if not records:
        return None
    import statistics  # here: it imports fractions and decimal, for a median

    for record in records:
        for step in record.steps:
            if step.id in top:
                samples[step.id].append(step.duration)
    medians = {sid: statistics.median(values) for sid, values in samples.items()}
    path, total = critical_path(wf.steps, medians, include_handlers=False)
    return Estimate(
        duration=total, critical_path=tuple(path), runs=len(records), history=str(history)
    )


def make_plan(wf: Workflow, *, max_parallel: int, history: Path | None) -> Plan:
    return Plan(
        workflow=wf.name,
        source=wf.source,
        max_parallel=max_parallel,
        levels=_planned_levels(wf.steps),
        estimate=estimate(wf, history) if history is not None else None,
    )

"""What every recommendation rule sees (the Context) and the helpers they share."""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping
from itertools import compress
from pathlib import Path
from typing import Any, Protocol

import yaml
from msgspec import Struct, field

from flowctl.optimize.agentstats import AgentHistory
from flowctl.optimize.aggregate import CACHED, FAILED, RETRIED, StepAggregate, WorkflowAggregate
from flowctl.optimize.dataflow import DataFlow
from flowctl.optimize.model import DagModel
from flowctl.optimize.report import ChangeAction, Recommendation, SpecificChange, StepStats
from flowctl.spec.model import DEFAULT_STEP_TIMEOUT, Step, StepType, Workflow

# Step types whose work is not a command of their own: no cache, retry or timeout advice.
NOT_WORK = frozenset(
    {StepType.WAIT, StepType.HUMAN_TASK, StepType.CONDITION, StepType.PARALLEL, StepType.LOOP}
)
_CLEAN = FAILED | CACHED | RETRIED
_CLEAN_MASK = bytes(int(not flags & _CLEAN) for flags in range(256))
_DIRTY_MASK = bytes(int(bool(flags & _CLEAN)) for flags in range(256))


class StepView:
    """One step as the rules see it: history aggregate, statistics, and its spec entry."""

    def __init__(
        self,
        name: str,
        aggregate: StepAggregate,
        stats: StepStats,
        samples: Samples,
        spec: Step | None,
    ) -> None:
        self.name = name
        self.aggregate = aggregate
        self.stats = stats
        self.samples = samples
        self.spec = spec

    @property
    def file_id(self) -> str:
        """The id in the workflow file: `scan[*].ocr` is step `ocr`."""
        return self.name.rsplit("].", 1)[-1]

    @property
    def type(self) -> str:
        return self.spec.type.value if self.spec is not None else self.aggregate.type

    @property
    def does_work(self) -> bool:
        return self.type not in NOT_WORK

    @property
    def timeout(self) -> float | None:
        return self.spec.timeout if self.spec is not None else self.aggregate.timeout

    @property
    def timeout_is_default(self) -> bool:
        """The limit was left at the default: with the spec, the key is not written."""
        if self.spec is not None:
            return "timeout" not in self.spec.key_locations
        return self.aggregate.timeout == DEFAULT_STEP_TIMEOUT

    @property
    def max_attempts(self) -> int:
        if self.spec is not None:
            return self.spec.retry_policy.max_attempts
        return self.aggregate.max_attempts

    @property
    def cached(self) -> bool:
        """Caching is configured (per the spec) or was seen to hit."""
        if self.spec is not None and self.spec.cache is not None:
            return True
        return self.aggregate.cache_hits > 0

    @property
    def executions(self) -> int:
        return self.aggregate.executions

    def clean(self) -> tuple[array[float], array[int]]:
        """Durations and run indices of executions that passed at once, not from a cache."""
        return self.samples.clean, self.samples.clean_runs

    def clean_sorted(self) -> array[float]:
        return self.samples.clean_sorted


class Samples(Struct, frozen=True):
    """A step's durations cut the ways the analysis reads them (8 bytes a value)."""

    ordered: array[float]  # every execution, sorted
    clean: array[float]  # executions that passed at once, not from a cache, in run order
    clean_runs: array[int]  # the run index of each clean execution
    clean_sorted: array[float]

    @classmethod
    def of(cls, aggregate: StepAggregate) -> Samples:
        flags = aggregate.flags.tobytes()
        keep = flags.translate(_CLEAN_MASK)
        clean = array("d", compress(aggregate.durations, keep))
        clean_sorted = sorted(clean)
        others = sorted(compress(aggregate.durations, flags.translate(_DIRTY_MASK)))
        return cls(
            # Two sorted runs back to back: sorting them is a linear merge.
            ordered=array("d", sorted(clean_sorted + others)),
            clean=clean,
            clean_runs=array("I", compress(aggregate.runs, keep)),
            clean_sorted=array("d", clean_sorted),
        )


class Sla(Struct, frozen=True):
    max_execution_time: float | None = None
    min_success_rate: float | None = None


class Context(Struct):
    """The analysed history of one workflow, ready for the rules."""

    workflow: str
    path: Path  # the history file
    aggregate: WorkflowAggregate
    steps: Mapping[str, StepView]  # the steps of the current workflow, in order
    model: DagModel
    spec: Workflow | None
    dataflow: DataFlow | None  # with --spec only
    max_parallel: int | None
    success_rate: float
    completed_durations: list[float]  # sorted
    sla: Sla
    found: list[Recommendation] = field(default_factory=list)  # rules run in order
    agents: AgentHistory | None = None  # workflows with agents

    @property
    def baseline(self) -> float:
        return self.model.baseline

    def where(self, step: StepView | None, key: str) -> str | None:
        """file:line:col of a step's key (or the workflow's) when the spec is known."""
        if self.spec is None:
            return None
        if step is None:
            return str(self.spec.where(key))
        if step.spec is None:
            return None
        return str(step.spec.where(key))


class Rule(Protocol):
    """A recommendation rule: looks at the context, returns what it recommends."""

    def __call__(self, ctx: Context) -> Iterable[Recommendation]: ...


def step_yaml(step_id: str, values: Mapping[str, Any]) -> str:
    """A step's keys as a YAML list item: `- id: x` then the keys, flow style inside."""
    body = yaml.safe_dump(
        {"id": step_id, **values}, default_flow_style=None, sort_keys=False, width=1000
    )
    lines = body.rstrip("\n").splitlines()
    return "\n".join(["- " + lines[0], *("  " + line for line in lines[1:])])


def workflow_yaml(values: Mapping[str, Any]) -> str:
    """Workflow-level keys: one per line, flow style inside (`sla_targets: {a: 1}`)."""
    lines = []
    for key, value in values.items():
        flow = None if isinstance(value, dict | list) else False
        dumped = yaml.safe_dump({key: value}, default_flow_style=flow, width=1000)
        lines.append(dumped.rstrip("\n"))
    return "\n".join(lines)


def set_change(
    ctx: Context, step: StepView | None, key: str, value: Any, current: Any = None
) -> SpecificChange:
    """Set `key` (of the step, or of the workflow when step is None) to `value`."""
    top_key = key.split(".", 1)[0]
    nested = _nest(key, value)
    file_id = None if step is None else step.file_id
    return SpecificChange(
        action=ChangeAction.SET,
        step=file_id,
        key=key,
        value=value,
        current=current,
        render=lambda: workflow_yaml(nested) if file_id is None else step_yaml(file_id, nested),
        location=ctx.where(step, top_key),
    )


def investigate(step: StepView | None, key: str, value: Mapping[str, Any]) -> SpecificChange:
    """No edit of the file fixes it; `value` says what to look at."""
    return SpecificChange(
        action=ChangeAction.INVESTIGATE,
        step=None if step is None else step.file_id,
        key=key,
        value=dict(value),
    )


def _nest(key: str, value: Any) -> dict[str, Any]:
    parts = key.split(".")
    nested: Any = value
    for part in reversed(parts):
        nested = {part: nested}
    result: dict[str, Any] = nested
    return result


def duration_text(seconds: float) -> str:
    """A duration for a YAML file, rounded up to a plain value: 250ms, 45s, 5m, 1h30m."""
    if seconds < 1:
        return f"{max(1, math.ceil(seconds * 1000))}ms"
    if seconds < 60:
        return f"{math.ceil(seconds)}s"
    if seconds < 3600:
        return f"{math.ceil(seconds / 60)}m"
    hours, minutes = divmod(math.ceil(seconds / 60), 60)
    return f"{hours}h{minutes}m" if minutes else f"{hours}h"


def parse_text_seconds(text: str) -> float:
    """Seconds of a duration_text value."""
    from flowctl.durations import parse_duration

    return parse_duration(text)


def seconds(value: float) -> str:
    """A duration for people, in descriptions."""
    from flowctl.durations import format_duration

    return format_duration(value)


def percent(value: float) -> str:
    return f"{value:.0%}" if value >= 0.01 or value == 0 else f"{value:.1%}"


def rerun_improvement(baseline: float, before: float, after: float) -> float:
    """Percent saved, where `before`/`after` are expected seconds per successful run."""
    if before <= 0 or baseline <= 0:
        return 0.0
    return max(0.0, 100.0 * (before - after) / before)


def evidence(**values: Any) -> dict[str, Any]:
    """JSON-ready evidence: floats rounded for reading."""
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in values.items()}

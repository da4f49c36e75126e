"""The optimization report as values, and its JSON form (schemas/optimize-report.schema.json)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from dataclasses import replace as replace_dataclass
from types import MappingProxyType
from typing import Any

from msgspec import Struct
from msgspec.structs import replace

from flowctl.optimize.model import Change
from flowctl.optimize.stats import Summary
from flowctl.state.history import HistoryIssue

# Bumped when a key changes meaning or goes away; adding keys keeps the number.
REPORT_FORMAT = 1
# Skipped lines listed in the JSON (history.skipped_lines counts them all).
MAX_ISSUES = 100

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class RecommendationType(enum.StrEnum):
    PARALLELIZATION = "parallelization"
    CACHING = "caching"
    RETRY = "retry"
    TIMEOUT = "timeout"
    CONCURRENCY = "concurrency"
    SLA = "sla"
    REGRESSION = "regression"
    FLAKY = "flaky"
    ROUTING = "routing"  # agents: route away, remove unused, adaptive routing


class Level(enum.StrEnum):
    """Implementation effort and risk."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ChangeAction(enum.StrEnum):
    SET = "set"  # set `key` to `value`
    REMOVE = "remove"  # remove `value` from the list at `key`
    INVESTIGATE = "investigate"  # no edit of the file fixes it; `value` says what to look at


# A dataclass, not a Struct: equality must ignore `render`, which a Struct cannot do.
@dataclass(frozen=True, slots=True, kw_only=True)
class SpecificChange:
    """One concrete edit of the workflow file."""

    action: ChangeAction
    step: str | None  # the step id in the file; None for a workflow-level key
    key: str  # e.g. "dependencies", "retry_policy", "max_parallel_steps"
    value: Any  # JSON: the new value, or what to remove
    current: Any = None  # JSON: the value now, when known
    yaml: str | None = None  # the edit, ready to paste
    location: str | None = None  # file:line:col of the key (or step) with --spec
    # Makes `yaml` when it is needed: the rules find many more candidates than are reported,
    # and rendering YAML for each of them costs more than finding them (see `rendered`).
    render: Callable[[], str] | None = field(default=None, compare=False, repr=False)

    def rendered(self) -> SpecificChange:
        """This change with its `yaml` made."""
        if self.render is None:
            return self
        return replace_dataclass(self, yaml=self.render(), render=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "step": self.step,
            "key": self.key,
            "value": self.value,
            "current": self.current,
            "yaml": self.rendered().yaml,
            "location": self.location,
        }


class Recommendation(Struct, frozen=True, kw_only=True):
    id: str  # stable across runs of the analysis: "<type>:<step or target>"
    type: RecommendationType
    description: str
    expected_improvement: float  # percent of the median makespan saved (replayed)
    implementation_effort: Level
    risk_level: Level
    specific_changes: tuple[SpecificChange, ...]
    steps: tuple[str, ...] = ()  # the steps it is about
    evidence: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)  # JSON numbers behind it
    change: Change | None = None  # the model change behind expected_improvement

    def rendered(self) -> Recommendation:
        """This recommendation with the YAML of its changes made (only the reported ones)."""
        return replace(self, specific_changes=tuple(c.rendered() for c in self.specific_changes))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type.value,
            "description": self.description,
            "expected_improvement": round(self.expected_improvement, 2),
            "implementation_effort": self.implementation_effort.value,
            "risk_level": self.risk_level.value,
            "specific_changes": [c.to_json() for c in self.specific_changes],
            "steps": list(self.steps),
            "evidence": dict(self.evidence),
        }


class StepStats(Struct, frozen=True, kw_only=True):
    id: str  # the name in the history (loop iterations as `loop[*].child`)
    type: str
    parent: str | None
    duration: Summary  # over executions that ran (completed, failed, rolled back)
    replay_duration: float  # median over runs that reached the step, skipped = 0
    skipped: int
    failures: int
    retries: int
    cache_hits: int
    timeouts: int
    queued_avg: float  # seconds waiting for a slot, per execution
    flakiness: float  # (passes on retry + passes on the next run, same inputs) / executions
    bottleneck_reasons: tuple[str, ...] = ()  # "slow", "variable"
    on_critical_path: bool = False

    @property
    def bottleneck(self) -> bool:
        return bool(self.bottleneck_reasons)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "parent": self.parent,
            "executions": self.duration.count,
            "duration": self.duration.to_json(),
            "replay_duration": round(self.replay_duration, 6),
            "skipped": self.skipped,
            "failures": self.failures,
            "retries": self.retries,
            "cache_hits": self.cache_hits,
            "timeouts": self.timeouts,
            "queued_avg": round(self.queued_avg, 6),
            "flakiness": round(self.flakiness, 4),
            "bottleneck": self.bottleneck,
            "bottleneck_reasons": list(self.bottleneck_reasons),
            "on_critical_path": self.on_critical_path,
        }


class PathStep(Struct, frozen=True, kw_only=True):
    id: str
    duration: float
    queued: float


class CriticalPathReport(Struct, frozen=True, kw_only=True):
    """The longest dependency chain of the median completed run, from its recorded edges."""

    run_id: str
    run_duration: float
    steps: tuple[PathStep, ...]
    length: float  # sum of duration + queued along the path

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "run_duration": round(self.run_duration, 6),
            "length": round(self.length, 6),
            "steps": [
                {"id": s.id, "duration": round(s.duration, 6), "queued": round(s.queued, 6)}
                for s in self.steps
            ],
        }


class Score(Struct, frozen=True, kw_only=True):
    """optimization_score = 100 * (0.4 reliability + 0.4 efficiency + 0.2 consistency)."""

    reliability: float  # success rate
    efficiency: float  # replayed makespan with every speed-up applied / baseline makespan
    consistency: float  # 1 / (1 + CV of completed run durations)

    @property
    def value(self) -> int:
        raw = 0.4 * self.reliability + 0.4 * self.efficiency + 0.2 * self.consistency
        return max(0, min(100, round(100 * raw)))

    def to_json(self) -> dict[str, Any]:
        return {
            "reliability": round(self.reliability, 4),
            "efficiency": round(self.efficiency, 4),
            "consistency": round(self.consistency, 4),
        }


class RunSummary(Struct, frozen=True, kw_only=True):
    runs: int
    status_counts: Mapping[str, int]
    success_rate: float  # completed / runs
    error_rate: float  # (failed + timeout) / runs
    duration: Summary  # of completed runs (of all runs when none completed)
    duration_of: str  # "completed" or "all"
    median_makespan: float  # the replay model's baseline: median step durations on the DAG
    max_parallel_steps: int | None
    score: Score

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "status_counts": dict(self.status_counts),
            "success_rate": round(self.success_rate, 4),
            "error_rate": round(self.error_rate, 4),
            "duration": self.duration.to_json(),
            "duration_of": self.duration_of,
            "median_makespan": round(self.median_makespan, 6),
            "max_parallel_steps": self.max_parallel_steps,
            "optimization_score": self.score.value,
            "score_components": self.score.to_json(),
        }


class HistorySource(Struct, frozen=True, kw_only=True):
    path: str
    lines: int
    skipped_lines: int  # malformed lines (not counting a torn last line)
    torn_last_line: bool
    first_run_at: str | None
    last_run_at: str | None
    other_workflows: Mapping[str, int]  # name -> runs, for workflows not analysed
    spec: str | None = None  # the --spec file, when given
    issues: tuple[HistoryIssue, ...] = ()  # every skipped line, in file order

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "lines": self.lines,
            "skipped_lines": self.skipped_lines,
            "torn_last_line": self.torn_last_line,
            "first_run_at": self.first_run_at,
            "last_run_at": self.last_run_at,
            "other_workflows": [
                {"workflow": name, "runs": runs} for name, runs in self.other_workflows.items()
            ],
            "spec": self.spec,
            "issues": [
                {"line": i.line, "message": i.message, "torn": i.torn}
                for i in self.issues[:MAX_ISSUES]
            ],
        }


class OptimizationReport(Struct, frozen=True, kw_only=True):
    workflow: str
    generated_at: str  # ISO 8601 UTC
    history: HistorySource
    summary: RunSummary
    steps: tuple[StepStats, ...]
    critical_path: CriticalPathReport | None
    recommendations: tuple[Recommendation, ...]  # the top N, best first
    recommendations_total: int  # before the top-N cut
    notes: tuple[str, ...] = ()  # what could not be analysed, and why
    agents: tuple[Mapping[str, Any], ...] = ()  # per-agent statistics (workflows with agents)

    @property
    def bottlenecks(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.steps if s.bottleneck)

    @property
    def issues(self) -> tuple[HistoryIssue, ...]:
        return self.history.issues

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form; keys are documented in docs/optimize.md."""
        return {
            "format": REPORT_FORMAT,
            "workflow": self.workflow,
            "generated_at": self.generated_at,
            "history": self.history.to_json(),
            "summary": self.summary.to_json(),
            "steps": [s.to_json() for s in self.steps],
            "bottlenecks": list(self.bottlenecks),
            "critical_path": None if self.critical_path is None else self.critical_path.to_json(),
            "recommendations": [r.to_json() for r in self.recommendations],
            "recommendations_total": self.recommendations_total,
            "notes": list(self.notes),
            **({"agents": [dict(a) for a in self.agents]} if self.agents else {}),
        }

"""Per-agent statistics from run history: attempts, success rate, latency, queueing, use.

Read by `flowctl agents` and by optimize's agent rules. Everything comes from the
history records (each step on an agent lists its attempts as [agent, ok, seconds]; each
run lists the workflow's agents with their pool sizes), so no spec is needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from msgspec import Struct, field

from flowctl.optimize.stats import quantile
from flowctl.state.records import RunRecord


class AgentStats(Struct):
    """One agent over the runs analysed."""

    name: str
    capabilities: tuple[str, ...] = ()
    pool: int | None = None  # max_concurrency, as last recorded
    tags: tuple[str, ...] = ()  # from the spec, when one was given
    runs: int = 0  # runs in which it ran at least one attempt
    runs_offered: int = 0  # runs of workflows that declared it
    attempts: int = 0
    successes: int = 0
    steps: int = 0  # steps whose last attempt ran on it
    busy_seconds: float = 0.0  # sum of its attempts' durations
    offered_seconds: float = 0.0  # pool size x duration of the runs that declared it
    durations: list[float] = field(default_factory=list)
    ok_durations: list[float] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)  # agent_wait of steps it got

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.attempts if self.attempts else None

    @property
    def utilisation(self) -> float | None:
        """Share of its pool's slot time spent on attempts, over runs that declared it."""
        return self.busy_seconds / self.offered_seconds if self.offered_seconds > 0 else None

    def p(self, q: float) -> float | None:
        return quantile(sorted(self.durations), q) if self.durations else None

    def p_ok(self, q: float) -> float | None:
        return quantile(sorted(self.ok_durations), q) if self.ok_durations else None

    def wait_p95(self) -> float | None:
        return quantile(sorted(self.waits), 0.95) if self.waits else None

    def to_json(self) -> dict[str, object]:
        return {
            "agent": self.name,
            "capabilities": list(self.capabilities),
            "max_concurrency": self.pool,
            "tags": list(self.tags),
            "runs": self.runs,
            "attempts": self.attempts,
            "success_rate": _r(self.success_rate),
            "p50": _r(self.p(0.5)),
            "p95": _r(self.p(0.95)),
            "queue_wait_p95": _r(self.wait_p95()),
            "utilisation": _r(self.utilisation),
        }


def agent_stats(
    records: Iterable[RunRecord],
    declared: Mapping[str, tuple[tuple[str, ...], int]] | None = None,
    *,
    workflow: str | None = None,
) -> dict[str, AgentStats]:
    """Statistics of every agent in `declared` (a spec's agents) and in the records."""
    stats: dict[str, AgentStats] = {}

    def get(name: str) -> AgentStats:
        entry = stats.get(name)
        if entry is None:
            entry = stats[name] = AgentStats(name)
        return entry

    for name, (caps, size) in (declared or {}).items():
        entry = get(name)
        entry.capabilities, entry.pool = caps, size
    for record in records:
        if workflow is not None and record.workflow != workflow:
            continue
        for name, (caps, size) in record.agents.items():
            entry = get(name)
            if declared is None or name not in declared:
                entry.capabilities, entry.pool = caps, size
            entry.runs_offered += 1
            entry.offered_seconds += size * max(record.duration, 0.0)
        seen: set[str] = set()
        for step in record.steps:
            if step.capability is None:
                continue
            if step.agent is not None:
                final = get(step.agent)
                final.steps += 1
                final.waits.append(step.agent_wait)
                if step.capability not in final.capabilities:
                    final.capabilities = (*final.capabilities, step.capability)
            for attempt in step.agent_attempts:
                entry = get(attempt.agent)
                entry.attempts += 1
                entry.successes += attempt.ok
                entry.busy_seconds += attempt.duration
                entry.durations.append(attempt.duration)
                if attempt.ok:
                    entry.ok_durations.append(attempt.duration)
                seen.add(attempt.agent)
        for name in seen:
            stats[name].runs += 1
    return stats


def _r(value: float | None) -> float | None:
    return round(value, 6) if value is not None else None


class AgentHistory(Struct):
    """What the rules know about the workflow's agents (built by the analysis)."""

    stats: Mapping[str, AgentStats]
    declared: Mapping[str, tuple[tuple[str, ...], int]]  # the latest run's agents
    routing: str | None  # the latest run's routing strategy
    median_run: RunRecord | None  # the completed run of median duration
    runs: int
    # model step name -> (capability, sum of failed-attempt seconds per agent, executions)
    steps: dict[str, tuple[str, dict[str, float], int]] = field(default_factory=dict)


MAX_RUNS = 1000  # the newest runs read for agent advice (each is one random read)


def load_agent_history(path: Path, offsets: Sequence[int]) -> AgentHistory | None:
    """The agent view of one workflow's runs (their history offsets, oldest first), or
    None when its newest run declared no agents."""
    from flowctl.optimize.aggregate import normalize_step_id
    from flowctl.state.history import read_record_at

    if not offsets:
        return None
    latest = read_record_at(path, offsets[-1])
    if not latest.agents:
        return None
    records = [read_record_at(path, offset) for offset in offsets[-MAX_RUNS:]]
    steps: dict[str, tuple[str, dict[str, float], int]] = {}
    for record in records:
        for step in record.steps:
            if step.capability is None:
                continue
            name = normalize_step_id(step.id)
            _, failed, executions = steps.get(name, (step.capability, {}, 0))
            for attempt in step.agent_attempts:
                if not attempt.ok:
                    failed[attempt.agent] = failed.get(attempt.agent, 0.0) + attempt.duration
            steps[name] = (step.capability, failed, executions + 1)
    completed = sorted((r for r in records if r.status == "completed"), key=lambda r: r.duration)
    return AgentHistory(
        stats=agent_stats(records, latest.agents),
        declared=dict(latest.agents),
        routing=latest.routing,
        median_run=completed[(len(completed) - 1) // 2] if completed else None,
        runs=len(records),
        steps=steps,
    )

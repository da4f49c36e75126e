"""The history record: one line of history.jsonl per finished run (SPEC.md section 5).

Written by the runner, read by `flowctl optimize` and `flowctl runs`. The record carries
`format` so that readers keep accepting lines written by older flowctl versions; a reader
meeting a newer format than it knows reports it by line number instead of guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from msgspec import Struct, field

HISTORY_FORMAT = 1


class RecordError(ValueError):
    """A history line is not a valid record; the message says which field."""


def _req(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in data:
        raise RecordError(f"missing field {key!r}")
    value = data[key]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise RecordError(f"field {key!r} has the wrong type")
    if not isinstance(value, kind):
        raise RecordError(f"field {key!r} has the wrong type")
    return value


def _opt(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = data.get(key, default)
    if value is None or value is default:
        return value
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise RecordError(f"field {key!r} has the wrong type")
    if not isinstance(value, kind):
        raise RecordError(f"field {key!r} has the wrong type")
    return value


_NUMBER = (int, float)


def _float(value: Any, key: str) -> float:
    try:
        return float(value)
    except OverflowError:
        raise RecordError(f"field {key!r} is out of range") from None


class AgentAttempt(Struct, frozen=True):
    """One attempt of a step on an agent: what adaptive routing learns from."""

    agent: str
    ok: bool
    duration: float  # seconds

    def to_json(self) -> list[Any]:
        return [self.agent, self.ok, self.duration]

    @classmethod
    def from_json(cls, data: Any) -> AgentAttempt:
        if not (
            isinstance(data, list)
            and len(data) == 3
            and isinstance(data[0], str)
            and isinstance(data[1], bool)
            and isinstance(data[2], _NUMBER)
            and not isinstance(data[2], bool)
        ):
            raise RecordError("field 'agent_attempts' must hold [agent, ok, seconds] items")
        return cls(data[0], data[1], _float(data[2], "agent_attempts"))


class StepRecord(Struct, frozen=True, kw_only=True):
    """What one step did in one run. Loop children are named `<loop>[<i>].<child>`."""

    id: str
    type: str
    status: str  # a StepStatus value
    started_at: str | None  # ISO 8601 UTC; None when the step never started
    finished_at: str | None
    duration: float  # seconds of the step's own execution (0 for skipped steps)
    queued: float = 0.0  # seconds ready but waiting for a free slot (max_parallel_steps)
    attempts: int = 0
    cached: bool = False
    # Inside `duration`: seconds between attempts (backoff, waiting for a slot again), and
    # the part of `queued` waited before a retry. The replay holds no slot for them.
    retry_wait: float = 0.0
    requeued: float = 0.0
    up_to_date: bool = False  # not run: its files and definition were unchanged
    error: str | None = None  # masked
    error_kind: str | None = None  # "error", "timeout", "exit_code:N", "expression", ...
    timeout: float | None = None  # the configured per-attempt timeout
    max_attempts: int = 1  # the configured retry_policy.max_attempts
    parent: str | None = None  # the container's qualified id, None at top level
    inputs_sha256: str | None = None  # of the resolved params (caching advice)
    outputs_sha256: str | None = None  # of the outputs (caching advice)
    metrics: Mapping[str, float] = field(default_factory=dict)
    # Steps run on an agent (SPEC.md 6): the capability asked for, the agent that ran the
    # last attempt, seconds waiting for an agent slot, and every attempt's agent and outcome.
    capability: str | None = None
    agent: str | None = None
    agent_wait: float = 0.0
    agent_attempts: tuple[AgentAttempt, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out = self._base_json()
        if self.capability is not None:
            out["capability"] = self.capability
            out["agent"] = self.agent
            out["agent_wait"] = self.agent_wait
            out["agent_attempts"] = [a.to_json() for a in self.agent_attempts]
        return out

    def _base_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": self.duration,
            "queued": self.queued,
            "attempts": self.attempts,
            "cached": self.cached,
            "retry_wait": self.retry_wait,
            "requeued": self.requeued,
            "up_to_date": self.up_to_date,
            "error": self.error,
            "error_kind": self.error_kind,
            "timeout": self.timeout,
            "max_attempts": self.max_attempts,
            "parent": self.parent,
            "inputs_sha256": self.inputs_sha256,
            "outputs_sha256": self.outputs_sha256,
            "metrics": dict(self.metrics),
        }

    @classmethod
    def from_json(cls, data: Any) -> StepRecord:
        if not isinstance(data, dict):
            raise RecordError("a step entry is not an object")
        metrics = _opt(data, "metrics", dict, {}) or {}
        return cls(
            id=_req(data, "id", str),
            type=_opt(data, "type", str, "action") or "action",
            status=_req(data, "status", str),
            started_at=_opt(data, "started_at", str, None),
            finished_at=_opt(data, "finished_at", str, None),
            duration=_float(_opt(data, "duration", _NUMBER, 0.0) or 0.0, "duration"),
            queued=_float(_opt(data, "queued", _NUMBER, 0.0) or 0.0, "queued"),
            attempts=int(_opt(data, "attempts", int, 0) or 0),
            cached=bool(_opt(data, "cached", bool, False)),
            retry_wait=_float(_opt(data, "retry_wait", _NUMBER, 0.0) or 0.0, "retry_wait"),
            requeued=_float(_opt(data, "requeued", _NUMBER, 0.0) or 0.0, "requeued"),
            up_to_date=bool(_opt(data, "up_to_date", bool, False)),
            error=_opt(data, "error", str, None),
            error_kind=_opt(data, "error_kind", str, None),
            timeout=_opt(data, "timeout", _NUMBER, None),
            max_attempts=int(_opt(data, "max_attempts", int, 1) or 1),
            parent=_opt(data, "parent", str, None),
            inputs_sha256=_opt(data, "inputs_sha256", str, None),
            outputs_sha256=_opt(data, "outputs_sha256", str, None),
            metrics={
                str(k): _float(v, f"metrics.{k}")
                for k, v in metrics.items()
                if isinstance(v, _NUMBER) and not isinstance(v, bool)
            },
            capability=_opt(data, "capability", str, None),
            agent=_opt(data, "agent", str, None),
            agent_wait=_float(_opt(data, "agent_wait", _NUMBER, 0.0) or 0.0, "agent_wait"),
            agent_attempts=tuple(
                AgentAttempt.from_json(a) for a in _opt(data, "agent_attempts", list, []) or []
            ),
        )


class RunRecord(Struct, frozen=True, kw_only=True):
    """One finished run. `edges` are (upstream, downstream) pairs of qualified step ids."""

    run_id: str
    workflow: str
    status: str  # a workflow status value
    started_at: str
    finished_at: str
    duration: float
    steps: tuple[StepRecord, ...]
    edges: tuple[tuple[str, str], ...] = ()
    workflow_version: str | None = None
    spec_sha256: str | None = None
    max_parallel_steps: int | None = None
    sla_targets: Mapping[str, float] | None = None
    inputs_sha256: str | None = None
    executor_capacity: int | None = None  # steps a remote executor runs at once (Dask threads)
    format: int = HISTORY_FORMAT
    # The workflow's agents: name -> (capabilities, max_concurrency); empty without agents.
    agents: Mapping[str, tuple[tuple[str, ...], int]] = field(default_factory=dict)
    routing: str | None = None  # the workflow's routing strategy, with agents

    def to_json(self) -> dict[str, Any]:
        data = self._fields()
        if self.executor_capacity is not None:  # only runs on a remote executor have one
            data["executor_capacity"] = self.executor_capacity
        if self.agents:
            data["agents"] = {
                name: {"capabilities": list(caps), "max_concurrency": size}
                for name, (caps, size) in self.agents.items()
            }
            data["routing"] = self.routing
        return data

    def _fields(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "run_id": self.run_id,
            "workflow": self.workflow,
            "workflow_version": self.workflow_version,
            "spec_sha256": self.spec_sha256,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": self.duration,
            "max_parallel_steps": self.max_parallel_steps,
            "sla_targets": dict(self.sla_targets) if self.sla_targets is not None else None,
            "inputs_sha256": self.inputs_sha256,
            "steps": [s.to_json() for s in self.steps],
            "edges": [list(e) for e in self.edges],
        }

    @classmethod
    def from_json(cls, data: Any) -> RunRecord:
        """Parse a decoded line; raises RecordError naming the first bad field."""
        if not isinstance(data, dict):
            raise RecordError("the line is not a JSON object")
        version = data.get("format", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise RecordError("field 'format' has the wrong type")
        if version > HISTORY_FORMAT:
            raise RecordError(
                f"written by a newer flowctl (format {version}; this one reads up to "
                f"{HISTORY_FORMAT})"
            )
        steps_raw = _req(data, "steps", list)
        edges_raw = _opt(data, "edges", list, []) or []
        edges: list[tuple[str, str]] = []
        for edge in edges_raw:
            if not (
                isinstance(edge, list | tuple)
                and len(edge) == 2
                and all(isinstance(x, str) for x in edge)
            ):
                raise RecordError("field 'edges' must be a list of [upstream, downstream] pairs")
            edges.append((edge[0], edge[1]))
        sla = _opt(data, "sla_targets", dict, None)
        return cls(
            format=version,
            run_id=_req(data, "run_id", str),
            workflow=_req(data, "workflow", str),
            workflow_version=_opt(data, "workflow_version", str, None),
            spec_sha256=_opt(data, "spec_sha256", str, None),
            status=_req(data, "status", str),
            started_at=_req(data, "started_at", str),
            finished_at=_req(data, "finished_at", str),
            duration=_float(_req(data, "duration", _NUMBER), "duration"),
            max_parallel_steps=_opt(data, "max_parallel_steps", int, None),
            sla_targets=(
                {
                    str(k): _float(v, f"sla_targets.{k}")
                    for k, v in sla.items()
                    if isinstance(v, _NUMBER)
                }
                if sla is not None
                else None
            ),
            inputs_sha256=_opt(data, "inputs_sha256", str, None),
            executor_capacity=_opt(data, "executor_capacity", int, None),
            steps=tuple(StepRecord.from_json(s) for s in steps_raw),
            edges=tuple(edges),
            agents=_agents(_opt(data, "agents", dict, None) or {}),
            routing=_opt(data, "routing", str, None),
        )


def _agents(raw: Mapping[str, Any]) -> dict[str, tuple[tuple[str, ...], int]]:
    out = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict):
            raise RecordError("field 'agents' must map names to objects")
        caps = entry.get("capabilities")
        size = entry.get("max_concurrency")
        if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
            raise RecordError(f"field 'agents.{name}.capabilities' must be a list of names")
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise RecordError(f"field 'agents.{name}.max_concurrency' must be a positive integer")
        out[str(name)] = (tuple(caps), size)
    return out

"""The typed, immutable model of a workflow: what the runner, graph and optimizer consume.

Built once from a validated YAML document by `flowctl.spec.build`; never mutated after.
Mappings are read-only views; JSON-valued fields (http bodies, schemas, variables) hold
plain JSON data that consumers must treat as read-only.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, TypeAlias

from msgspec import Struct, field

from flowctl.errors import Location

JSON: TypeAlias = Any  # a JSON value: None, bool, int, float, str, list, dict

EMPTY_MAP: Mapping[str, Any] = MappingProxyType({})


def _no_entries() -> Mapping[str, Any]:
    return EMPTY_MAP


class StepType(enum.StrEnum):
    ACTION = "action"
    WEBHOOK = "webhook"
    WAIT = "wait"
    HUMAN_TASK = "human_task"
    PARALLEL = "parallel"
    LOOP = "loop"
    CONDITION = "condition"


class TriggerRule(enum.StrEnum):
    NONE_FAILED = "none_failed"
    ALL_SUCCESS = "all_success"
    ALL_DONE = "all_done"


class Routing(enum.StrEnum):
    """How a step with agent_capability picks one of the capable agents (SPEC.md 6)."""

    FIRST_AVAILABLE = "first_available"
    ROUND_ROBIN = "round_robin"
    LEAST_BUSY = "least_busy"
    ADAPTIVE = "adaptive"


class BackoffStrategy(enum.StrEnum):
    FIXED = "fixed"
    LINEAR = "linear"
    EXPONENTIAL = "exponential"


DEFAULT_STEP_TIMEOUT = 300.0
DEFAULT_RUN_TIMEOUT = 3600.0
DEFAULT_MAX_PARALLEL_STEPS = 10


class RetryPolicy(Struct, frozen=True, kw_only=True):
    """When and how often a failed attempt is tried again."""

    max_attempts: int = 1
    backoff_strategy: BackoffStrategy = BackoffStrategy.FIXED
    delay: float = 1.0
    max_delay: float | None = None
    jitter: bool = False
    # "error", "timeout", "exit_code:N"; empty means every retryable failure.
    retry_on: tuple[str, ...] = ()


class CircuitBreakerSpec(Struct, frozen=True, kw_only=True):
    name: str
    failure_threshold: int = 5
    reset_timeout: float = 30.0


class CacheSpec(Struct, frozen=True, kw_only=True):
    key: str  # a template
    ttl: float | None = None  # seconds; None = never expires


class HttpRequest(Struct, frozen=True, kw_only=True):
    """A webhook call; string values (url, headers, params, json strings) are templates."""

    url: str
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=_no_entries)
    json: JSON = None
    has_json: bool = False  # distinguishes `json: null` from no json at all
    body: str | None = None
    params: Mapping[str, str] = field(default_factory=_no_entries)
    expect_status: tuple[int, ...] = ()  # empty = any 2xx
    timeout: float | None = None


class ShellCommand(Struct, frozen=True, kw_only=True):
    """A `run:` command with where and how to run it."""

    run: str  # a template; every {{ }} reaches the shell as an environment variable
    shell: str | None = None  # None = /bin/sh -c semantics (bash if requested)
    working_dir: str | None = None
    env: Mapping[str, str] = field(default_factory=_no_entries)  # values are templates


class RollbackAction(Struct, frozen=True, kw_only=True):
    """One compensating action of a saga; exactly one of run, python, http is set."""

    command: ShellCommand | None = None
    python: str | None = None  # "package.module:function"
    http: HttpRequest | None = None
    location: Location | None = None


class ApprovalSpec(Struct, frozen=True, kw_only=True):
    message: str = "Approve to continue?"  # a template
    approvers: tuple[str, ...] = ()
    timeout: float | None = None


class ConditionCase(Struct, frozen=True, kw_only=True):
    when: str  # an expression
    next_steps: tuple[str, ...]
    location: Location | None = None


class InputSpec(Struct, frozen=True, kw_only=True):
    """A workflow input: a JSON Schema property (type, default, enum, minimum, ...)."""

    name: str
    schema: Mapping[str, JSON]
    description: str | None = None
    location: Location | None = None

    @property
    def required(self) -> bool:
        return "default" not in self.schema

    @property
    def default(self) -> JSON:
        return self.schema.get("default")


class SlaTargets(Struct, frozen=True, kw_only=True):
    max_execution_time: float | None = None  # seconds
    min_success_rate: float | None = None  # 0..1


class AgentSpec(Struct, frozen=True, kw_only=True):
    """An agent of SPEC.md section 6: a pool of `max_concurrency` workers; exactly one of
    python and command is set."""

    name: str
    capabilities: tuple[str, ...]
    python: str | None = None
    command: ShellCommand | None = None
    max_concurrency: int = 1
    timeout: float | None = None  # per attempt, unless the step sets its own
    env: Mapping[str, str] = field(default_factory=_no_entries)  # values are templates
    tags: tuple[str, ...] = ()
    circuit_breaker: CircuitBreakerSpec | None = None
    location: Location | None = None
    key_locations: Mapping[str, Location] = field(default_factory=_no_entries)

    def where(self, key: str) -> Location | None:
        return self.key_locations.get(key, self.location)


class ExecutorSpec(Struct, frozen=True, kw_only=True):
    """The spec's `executor:`: where action steps run unless the command line says."""

    kind: str = "local"  # "local" or "dask"
    scheduler: str | None = None  # a Dask scheduler address
    workers: int | None = None  # worker processes of a local Dask cluster


class Step(Struct, frozen=True, kw_only=True):
    """Keys common to every step type. Concrete types below add their own."""

    id: str
    type: StepType
    location: Location
    name: str | None = None
    description: str | None = None
    # Sibling ids that must finish first: `dependencies`, plus every sibling that lists
    # this step in `next_steps`, plus the condition step whose case targets this step.
    dependencies: tuple[str, ...] = ()
    # The `next_steps` as written, kept for graph checks and drawing; already folded into
    # the listed siblings' `dependencies` (ids that match no sibling are not folded).
    next_steps: tuple[str, ...] = ()
    condition: str | None = None  # an expression; false -> skipped
    trigger_rule: TriggerRule = TriggerRule.NONE_FAILED
    input_mapping: Mapping[str, str] = field(default_factory=_no_entries)  # param -> expression
    input_validation: Mapping[str, JSON] | None = None  # a JSON Schema
    # expression over `result` -> a path in `workflow`
    output_mapping: Mapping[str, str] = field(default_factory=_no_entries)
    timeout: float = DEFAULT_STEP_TIMEOUT  # per attempt, seconds
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    continue_on_failure: bool = False
    error_handlers: tuple[str, ...] = ()
    rollback_actions: tuple[RollbackAction, ...] = ()
    circuit_breaker: CircuitBreakerSpec | None = None
    cache: CacheSpec | None = None
    agent_capability: str | None = None
    metrics_enabled: bool = True
    custom_metrics: tuple[str, ...] = ()
    # `outputs:` as declared: output name -> type name (string, integer, number, boolean,
    # array, object). Empty: the step declares nothing and its outputs are as produced.
    outputs: Mapping[str, str] = field(default_factory=_no_entries)
    # Sibling ids this step depends on only because a file it reads (`sources`) may be one
    # that they write (`generates`); already folded into `dependencies` (flowctl.files.infer).
    file_dependencies: tuple[str, ...] = ()
    # Locations of individual keys ("dependencies", "condition", ...) for precise errors.
    key_locations: Mapping[str, Location] = field(default_factory=_no_entries)

    def children(self) -> tuple[Step, ...]:
        """Steps nested directly inside this one (containers override)."""
        return ()

    def where(self, key: str) -> Location:
        """Location of one of this step's keys, or of the step itself."""
        return self.key_locations.get(key, self.location)


class ActionStep(Step, frozen=True, kw_only=True):
    """Exactly one of command, python, or agent_capability (inherited) is set."""

    command: ShellCommand | None = None
    python: str | None = None  # "package.module:function"
    # Dask worker resources an attempt needs ({"cpu": 2, "memory": 4e9, "gpu": 1});
    # ignored by the local executor.
    resources: Mapping[str, float] = field(default_factory=_no_entries)
    routing: Routing | None = None  # None = the workflow's routing
    failover: bool = True  # with agent_capability: try the next agent when one gives up
    # Glob patterns (templates) relative to the working directory: the files the step reads
    # and writes. With them a step whose files and definition did not change is not run.
    sources: tuple[str, ...] = ()
    generates: tuple[str, ...] = ()


class WebhookStep(Step, frozen=True, kw_only=True):
    http: HttpRequest


class WaitStep(Step, frozen=True, kw_only=True):
    """Exactly one of duration or until is set."""

    duration: float | None = None
    until: str | None = None  # ISO 8601 time (a template)


class HumanTaskStep(Step, frozen=True, kw_only=True):
    approval: ApprovalSpec


class ParallelStep(Step, frozen=True, kw_only=True):
    parallel_steps: tuple[Step, ...]
    max_concurrency: int | None = None  # None = bounded only by max_parallel_steps
    min_success_ratio: float = 1.0

    def children(self) -> tuple[Step, ...]:
        return self.parallel_steps


class LoopStep(Step, frozen=True, kw_only=True):
    """Exactly one of while_ or for_each is set."""

    steps: tuple[Step, ...]
    while_: str | None = None  # expression checked before each iteration
    for_each: str | tuple[JSON, ...] | None = None  # expression, or a literal list
    as_: str = "item"
    max_iterations: int = 100
    max_concurrency: int = 1
    label: str | None = None  # template naming each for_each iteration in views

    def children(self) -> tuple[Step, ...]:
        return self.steps


class ConditionStep(Step, frozen=True, kw_only=True):
    cases: tuple[ConditionCase, ...]
    default: tuple[str, ...] = ()

    def targets(self) -> tuple[str, ...]:
        """Every step id this condition may route to, in order, without repeats."""
        seen: dict[str, None] = {}
        for case in self.cases:
            seen.update(dict.fromkeys(case.next_steps))
        seen.update(dict.fromkeys(self.default))
        return tuple(seen)


class Workflow(Struct, frozen=True, kw_only=True):
    name: str
    steps: tuple[Step, ...]
    source: str  # the file it was loaded from ("<string>" when built from text)
    sha256: str  # of the file's bytes: resume refuses a changed spec
    description: str | None = None
    version: str | None = None
    tags: tuple[str, ...] = ()
    created_by: str | None = None
    inputs: Mapping[str, InputSpec] = field(default_factory=_no_entries)
    variables: Mapping[str, JSON] = field(default_factory=_no_entries)
    env: Mapping[str, str] = field(default_factory=_no_entries)
    secrets: tuple[str, ...] = ()
    timeout: float = DEFAULT_RUN_TIMEOUT
    max_parallel_steps: int = DEFAULT_MAX_PARALLEL_STEPS
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    sla_targets: SlaTargets | None = None
    optimization_enabled: bool = True
    adaptive_routing: bool = False
    routing: Routing = Routing.FIRST_AVAILABLE  # adaptive_routing: true makes it ADAPTIVE
    fail_fast: bool = True  # false: a failure stops only its own dependents (keep going)
    agents: Mapping[str, AgentSpec] = field(default_factory=_no_entries)
    executor: ExecutorSpec | None = None
    key_locations: Mapping[str, Location] = field(default_factory=_no_entries)

    def walk(self) -> Iterator[tuple[Step, Step | None]]:
        """Every step, depth first in file order, with its container (None at top level)."""
        stack: list[tuple[Step, Step | None]] = [(s, None) for s in reversed(self.steps)]
        while stack:
            step, parent = stack.pop()
            yield step, parent
            stack.extend((c, step) for c in reversed(step.children()))

    def step(self, step_id: str) -> Step:
        """The step with this id anywhere in the file; KeyError if none."""
        for candidate, _ in self.walk():
            if candidate.id == step_id:
                return candidate
        raise KeyError(step_id)

    def error_handler_ids(self) -> frozenset[str]:
        """Ids of steps that run only when some step's error_handlers trigger them."""
        return frozenset(h for s, _ in self.walk() for h in s.error_handlers)

    def where(self, key: str) -> Location:
        return self.key_locations.get(key, Location(self.source, 1, 1))

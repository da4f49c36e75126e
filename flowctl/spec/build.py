"""Turns a schema-valid YAML document into the immutable Workflow model.

The schema has already checked shapes and types; this module applies defaults, parses
durations, merges the workflow's retry_policy into each step's, and folds `next_steps` and
condition-case targets into the `dependencies` of the steps they point at.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from msgspec.structs import replace

from flowctl.durations import parse_duration
from flowctl.errors import Location, Problem, SpecError
from flowctl.spec.model import (
    DEFAULT_MAX_PARALLEL_STEPS,
    DEFAULT_RUN_TIMEOUT,
    DEFAULT_STEP_TIMEOUT,
    ActionStep,
    AgentSpec,
    ApprovalSpec,
    BackoffStrategy,
    CacheSpec,
    CircuitBreakerSpec,
    ConditionCase,
    ConditionStep,
    ExecutorSpec,
    HttpRequest,
    HumanTaskStep,
    InputSpec,
    LoopStep,
    ParallelStep,
    RetryPolicy,
    RollbackAction,
    Routing,
    ShellCommand,
    SlaTargets,
    Step,
    StepType,
    TriggerRule,
    WaitStep,
    WebhookStep,
    Workflow,
)
from flowctl.spec.yamlload import JsonPath, LoadedDocument

_RETRY_KEYS = ("max_attempts", "backoff_strategy", "delay", "max_delay", "jitter", "retry_on")


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


class _Build:
    def __init__(self, doc: LoadedDocument) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def loc(self, path: JsonPath, *, key: bool = False) -> Location:
        return self.doc.locate(path, key=key)

    def duration(self, value: Any, path: JsonPath, default: float | None) -> float | None:
        if value is None:
            return default
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.problems.append(Problem(str(exc), self.loc(path), _render(path), code="schema"))
            return default

    def retry(
        self, raw: Mapping[str, Any] | None, base: RetryPolicy, path: JsonPath
    ) -> RetryPolicy:
        if not raw:
            return base
        changes: dict[str, Any] = {}
        for key in _RETRY_KEYS:
            if key not in raw:
                continue
            value = raw[key]
            if key == "backoff_strategy":
                value = BackoffStrategy(value)
            elif key in ("delay", "max_delay"):
                value = self.duration(value, (*path, key), None)
            elif key == "retry_on":
                value = tuple(str(v) for v in value)
            changes[key] = value
        return replace(base, **changes)

    def shell(self, raw: Mapping[str, Any]) -> ShellCommand:
        return ShellCommand(
            run=raw["run"],
            shell=raw.get("shell"),
            working_dir=raw.get("working_dir"),
            env=_frozen({k: _text(v) for k, v in (raw.get("env") or {}).items()}),
        )

    def http(self, raw: Mapping[str, Any], path: JsonPath) -> HttpRequest:
        return HttpRequest(
            url=raw["url"],
            method=str(raw.get("method", "POST")).upper(),
            headers=_frozen({k: _text(v) for k, v in (raw.get("headers") or {}).items()}),
            json=raw.get("json"),
            has_json="json" in raw,
            body=raw.get("body"),
            params=_frozen({k: _text(v) for k, v in (raw.get("params") or {}).items()}),
            expect_status=tuple(int(c) for c in raw.get("expect_status") or ()),
            timeout=self.duration(raw.get("timeout"), (*path, "timeout"), None),
        )

    def rollback(self, raw: Mapping[str, Any], path: JsonPath) -> RollbackAction:
        return RollbackAction(
            command=self.shell(raw) if "run" in raw else None,
            python=raw.get("python"),
            http=self.http(raw["http"], (*path, "http")) if "http" in raw else None,
            location=self.loc(path),
        )

    # -- steps ----------------------------------------------------------------------------
    def steps(self, raw: Sequence[Any], path: JsonPath, wf_retry: RetryPolicy) -> tuple[Step, ...]:
        built = [self.step(s, (*path, i), wf_retry) for i, s in enumerate(raw)]
        from flowctl.files.infer import add_file_dependencies

        return add_file_dependencies(_fold_dependencies(built))

    def step(self, raw: Mapping[str, Any], path: JsonPath, wf_retry: RetryPolicy) -> Step:
        step_type = StepType(raw.get("type", StepType.ACTION.value))
        key_locations = {k: self.loc((*path, k), key=True) for k in raw}
        common: dict[str, Any] = {
            "id": raw["id"],
            "type": step_type,
            "location": self.loc(path),
            "name": raw.get("name"),
            "description": raw.get("description"),
            "dependencies": tuple(raw.get("dependencies") or ()),
            "next_steps": tuple(raw.get("next_steps") or ()),
            "condition": _expression(raw.get("condition")),
            "trigger_rule": TriggerRule(raw.get("trigger_rule", TriggerRule.NONE_FAILED.value)),
            "input_mapping": _frozen(
                {k: _expression(v) for k, v in (raw.get("input_mapping") or {}).items()}
            ),
            "input_validation": _frozen(raw["input_validation"])
            if raw.get("input_validation") is not None
            else None,
            "output_mapping": _frozen(
                {str(k): str(v) for k, v in (raw.get("output_mapping") or {}).items()}
            ),
            "timeout": self.duration(raw.get("timeout"), (*path, "timeout"), DEFAULT_STEP_TIMEOUT),
            "retry_policy": self.retry(raw.get("retry_policy"), wf_retry, (*path, "retry_policy")),
            "continue_on_failure": bool(raw.get("continue_on_failure", False)),
            "error_handlers": tuple(raw.get("error_handlers") or ()),
            "rollback_actions": tuple(
                self.rollback(a, (*path, "rollback_actions", i))
                for i, a in enumerate(raw.get("rollback_actions") or ())
            ),
            "circuit_breaker": self.breaker(raw.get("circuit_breaker"), path),
            "cache": self.cache(raw.get("cache"), path),
            "agent_capability": raw.get("agent_capability"),
            "metrics_enabled": bool(raw.get("metrics_enabled", True)),
            "custom_metrics": tuple(raw.get("custom_metrics") or ()),
            "outputs": _frozen(raw.get("outputs")),
            "key_locations": MappingProxyType(key_locations),
        }
        match step_type:
            case StepType.ACTION:
                return ActionStep(
                    **common,
                    command=self.shell(raw) if "run" in raw else None,
                    python=raw.get("python"),
                    resources=_frozen(
                        {k: _resource(v) for k, v in (raw.get("resources") or {}).items()}
                    ),
                    routing=Routing(raw["routing"]) if "routing" in raw else None,
                    failover=bool(raw.get("failover", True)),
                    sources=tuple(str(p) for p in raw.get("sources") or ()),
                    generates=tuple(str(p) for p in raw.get("generates") or ()),
                )
            case StepType.WEBHOOK:
                return WebhookStep(**common, http=self.http(raw["http"], (*path, "http")))
            case StepType.WAIT:
                return WaitStep(
                    **common,
                    duration=self.duration(raw.get("duration"), (*path, "duration"), None),
                    until=raw.get("until"),
                )
            case StepType.HUMAN_TASK:
                approval = raw.get("approval") or {}
                return HumanTaskStep(
                    **common,
                    approval=ApprovalSpec(
                        message=approval.get("message", ApprovalSpec().message),
                        approvers=tuple(approval.get("approvers") or ()),
                        timeout=self.duration(
                            approval.get("timeout"), (*path, "approval", "timeout"), None
                        ),
                    ),
                )
            case StepType.PARALLEL:
                return ParallelStep(
                    **common,
                    parallel_steps=self.steps(
                        raw["parallel_steps"], (*path, "parallel_steps"), wf_retry
                    ),
                    max_concurrency=raw.get("max_concurrency"),
                    min_success_ratio=float(raw.get("min_success_ratio", 1.0)),
                )
            case StepType.LOOP:
                loop = raw["loop"]
                for_each = loop.get("for_each")
                return LoopStep(
                    **common,
                    steps=self.steps(loop["steps"], (*path, "loop", "steps"), wf_retry),
                    while_=_expression(loop.get("while")),
                    for_each=tuple(for_each) if isinstance(for_each, list) else for_each,
                    as_=loop.get("as", "item"),
                    max_iterations=int(loop.get("max_iterations", 100)),
                    max_concurrency=int(loop.get("max_concurrency", 1)),
                    label=loop.get("label"),
                )
            case StepType.CONDITION:
                return ConditionStep(
                    **common,
                    cases=tuple(
                        ConditionCase(
                            when=_expression(c["when"]) or "false",
                            next_steps=tuple(c.get("next_steps") or ()),
                            location=self.loc((*path, "cases", i)),
                        )
                        for i, c in enumerate(raw.get("cases") or ())
                    ),
                    default=tuple(raw.get("default") or ()),
                )
        raise AssertionError(step_type)  # StepType is exhaustive above

    def breaker(self, raw: Mapping[str, Any] | None, path: JsonPath) -> CircuitBreakerSpec | None:
        if raw is None:
            return None
        return CircuitBreakerSpec(
            name=raw["name"],
            failure_threshold=int(raw.get("failure_threshold", 5)),
            reset_timeout=self.duration(
                raw.get("reset_timeout"), (*path, "circuit_breaker", "reset_timeout"), 30.0
            )
            or 0.0,
        )

    def agent(self, name: str, raw: Mapping[str, Any]) -> AgentSpec:
        path: JsonPath = ("agents", name)
        breaker = raw.get("circuit_breaker")
        return AgentSpec(
            name=name,
            capabilities=tuple(raw.get("capabilities") or ()),
            python=raw.get("python"),
            command=self.shell(raw) if "run" in raw else None,
            max_concurrency=int(raw.get("max_concurrency", 1)),
            timeout=self.duration(raw.get("timeout"), (*path, "timeout"), None),
            env=_frozen({k: _text(v) for k, v in (raw.get("env") or {}).items()}),
            tags=tuple(raw.get("tags") or ()),
            circuit_breaker=self.breaker({"name": f"agent.{name}", **breaker}, path)
            if breaker is not None
            else None,
            location=self.loc(path, key=True),
            key_locations=MappingProxyType({k: self.loc((*path, k), key=True) for k in raw}),
        )

    def cache(self, raw: Mapping[str, Any] | None, path: JsonPath) -> CacheSpec | None:
        if raw is None:
            return None
        return CacheSpec(
            key=str(raw["key"]), ttl=self.duration(raw.get("ttl"), (*path, "cache", "ttl"), None)
        )

    # -- workflow -------------------------------------------------------------------------
    def workflow(self, sha256: str) -> Workflow:
        raw: Mapping[str, Any] = self.doc.data
        wf_retry = self.retry(raw.get("retry_policy"), RetryPolicy(), ("retry_policy",))
        sla = raw.get("sla_targets")
        workflow = Workflow(
            name=raw["name"],
            steps=self.steps(raw["steps"], ("steps",), wf_retry),
            source=self.doc.source,
            sha256=sha256,
            description=raw.get("description"),
            version=raw.get("version"),
            tags=tuple(raw.get("tags") or ()),
            created_by=raw.get("created_by"),
            inputs=_frozen(
                {
                    name: InputSpec(
                        name=name,
                        schema=_frozen(spec or {}),
                        description=(spec or {}).get("description"),
                        location=self.loc(("inputs", name), key=True),
                    )
                    for name, spec in (raw.get("inputs") or {}).items()
                }
            ),
            variables=_frozen(raw.get("variables")),
            env=_frozen({k: _text(v) for k, v in (raw.get("env") or {}).items()}),
            secrets=tuple(raw.get("secrets") or ()),
            timeout=self.duration(raw.get("timeout"), ("timeout",), DEFAULT_RUN_TIMEOUT)
            or DEFAULT_RUN_TIMEOUT,
            max_parallel_steps=int(raw.get("max_parallel_steps", DEFAULT_MAX_PARALLEL_STEPS)),
            retry_policy=wf_retry,
            sla_targets=SlaTargets(
                max_execution_time=self.duration(
                    sla.get("max_execution_time"), ("sla_targets", "max_execution_time"), None
                ),
                min_success_rate=sla.get("min_success_rate"),
            )
            if sla
            else None,
            optimization_enabled=bool(raw.get("optimization_enabled", True)),
            adaptive_routing=bool(raw.get("adaptive_routing", False)),
            routing=_routing(raw),
            fail_fast=bool(raw.get("fail_fast", True)),
            agents=_frozen(
                {name: self.agent(name, a) for name, a in (raw.get("agents") or {}).items()}
            ),
            executor=ExecutorSpec(
                kind=raw["executor"].get("type", "local"),
                scheduler=raw["executor"].get("scheduler"),
                workers=raw["executor"].get("workers"),
            )
            if raw.get("executor")
            else None,
            key_locations=MappingProxyType(
                {k: self.loc((k,), key=True) for k in raw if isinstance(k, str)}
            ),
        )
        if self.problems:
            raise SpecError(self.problems)
        return workflow


def _routing(raw: Mapping[str, Any]) -> Routing:
    """`routing:`, or `adaptive_routing: true` (its alias); validate reports a conflict."""
    if "routing" in raw:
        return Routing(raw["routing"])
    return Routing.ADAPTIVE if raw.get("adaptive_routing") is True else Routing.FIRST_AVAILABLE


def _fold_dependencies(steps: list[Step]) -> tuple[Step, ...]:
    """Make `next_steps` and condition-case targets into dependencies of the targets."""
    by_id = {s.id: i for i, s in enumerate(steps)}
    extra: dict[int, list[str]] = {}
    for step in steps:
        targets = list(step.next_steps)
        if isinstance(step, ConditionStep):
            targets.extend(step.targets())
        for target in targets:
            index = by_id.get(target)
            if index is not None and target != step.id:
                extra.setdefault(index, []).append(step.id)
    if not extra:
        return tuple(steps)
    folded = list(steps)
    for index, upstream in extra.items():
        step = folded[index]
        deps = dict.fromkeys(step.dependencies)
        deps.update(dict.fromkeys(upstream))
        folded[index] = replace(step, dependencies=tuple(deps))
    return tuple(folded)


_BYTES = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip


def _resource(value: Any) -> float:
    """A resource amount: a number, or a size such as "4GB" or "512MiB" (in bytes).
    The schema has checked the form."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().lower().replace(" ", "")
    digits = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    return float(digits) * _BYTES[text[len(digits) :]]


def _expression(value: Any) -> str | None:
    """Expressions are strings; a YAML number or boolean becomes its literal expression."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _text(value: Any) -> str:
    """Env, header and param values are text; numbers and booleans are written as such."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if value is not None else ""


def _render(path: JsonPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def build_workflow(doc: LoadedDocument, sha256: str) -> Workflow:
    """The model of a schema-valid document; SpecError for what the schema cannot check."""
    return _Build(doc).workflow(sha256)

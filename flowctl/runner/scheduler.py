"""The event-driven scheduler: dependency counters, a ready list, one slot semaphore.

A step starts the moment its own dependencies have finished and a slot is free; nothing
waits for a "wave". Each scope (the top level, a parallel body, one loop iteration) keeps
per step a count of unfinished dependencies; when a step finishes, only its dependents
are touched, so the work per event is O(its out-degree) and never a rescan of all steps.
Leaf steps hold one of the run's `max_parallel_steps` slots per attempt; containers hold
none while their children run, so nesting cannot starve the pool.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import ChainMap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowctl.durations import format_duration
from flowctl.errors import ExpressionError
from flowctl.runner.containers import ChildScope, ScopeOutcome
from flowctl.runner.data import Frame, ParamValidator, RunData
from flowctl.runner.events import (
    RunEvent,
    RunObserver,
    StepFinished,
    StepRetrying,
    StepStarted,
)
from flowctl.runner.results import StepResult
from flowctl.runner.steps.registry import Registry
from flowctl.runner.triggers import skip_reason
from flowctl.secrets import SecretMasker
from flowctl.spec.model import ConditionStep, Step, TriggerRule, Workflow
from flowctl.state.paths import RunPaths, safe_file_stem
from flowctl.status import RunStatus, StepStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulerOutcome:
    status: RunStatus
    error: str | None = None
    root_cause: str | None = None


class _Node:
    """Bookkeeping of one step in one scope."""

    __slots__ = ("dependents", "deps", "deselected", "missing", "qid", "result", "step", "waiting")

    def __init__(self, step: Step, qid: str) -> None:
        self.step = step
        self.qid = qid
        self.deps: list[_Node] = []
        self.dependents: list[_Node] = []
        self.missing: list[str] = []  # dependencies that are not steps of this scope
        self.waiting = 0
        self.result: StepResult | None = None
        self.deselected: str | None = None  # why a condition routed away from this step


class Scheduler:
    """One run's scheduling state: the slot pool, every result, the observers, stopping."""

    def __init__(
        self,
        workflow: Workflow,
        *,
        run_id: str,
        data: RunData,
        masker: SecretMasker,
        paths: RunPaths,
        observers: Sequence[RunObserver],
        registry: Registry,
        max_parallel: int,
        workdir: Path,
        scratch: Path,
        http_client: Callable[[], Any],
    ) -> None:
        self.workflow = workflow
        self.run_id = run_id
        self.data = data
        self.masker = masker
        self.paths = paths
        self.registry = registry
        self.max_parallel = max_parallel
        self.workdir = workdir
        self.scratch = scratch
        self.http_client = http_client
        self.validator = ParamValidator()
        self.results: dict[str, StepResult] = {}
        self.steps: dict[str, Step] = {}  # qualified id -> its step, for the history record
        self.edges: list[tuple[str, str]] = []
        self.causes: dict[str, str] = {}  # container qid -> the child at the root of its failure
        self.stop_status: RunStatus | None = None
        self.stop_reason: str | None = None
        self._observers = tuple(observers)
        self._pool: asyncio.Semaphore | None = None
        self._top: ScopeRun | None = None
        self._scratch_count = 0
        self._logs_dir = paths.logs_dir

    # -- services used by scopes and step execution -------------------------------------

    @property
    def pool(self) -> asyncio.Semaphore:
        if self._pool is None:
            self._pool = asyncio.Semaphore(self.max_parallel)
        return self._pool

    def emit(self, event: RunEvent) -> None:
        for observer in self._observers:
            observer.handle(event)

    def log_path(self, qid: str) -> Path:
        """logs/<step>.log (RunPaths.log, without rebuilding the directory path per step)."""
        return self._logs_dir / f"{safe_file_stem(qid)}.log"

    def new_scratch(self, *, create: bool) -> Path:
        """A private directory path for one attempt (made now when `create`)."""
        self._scratch_count += 1
        path = self.scratch / str(self._scratch_count)
        if create:
            path.mkdir()
        return path

    def started(self, step: Step, qid: str, attempt: int, parent: str | None) -> None:
        self.emit(
            StepStarted(
                step=qid, step_type=step.type.value, attempt=attempt, ts=time.time(), parent=parent
            )
        )

    def retrying(self, qid: str, attempt: int, error: str, delay: float) -> None:
        self.emit(
            StepRetrying(
                step=qid,
                attempt=attempt,
                error=self.masker.mask(error),
                delay=delay,
                ts=time.time(),
            )
        )

    def record(self, step: Step, result: StepResult) -> None:
        self.results[result.id] = result
        self.steps[result.id] = step
        outputs = self.masker.mask_json(result.outputs) if self.masker else result.outputs
        log = result.log_path
        self.emit(
            StepFinished(
                step=result.id,
                step_type=result.step_type.value,
                status=result.status,
                attempts=result.attempts,
                duration=result.duration,
                ts=result.finished_at or time.time(),
                error=result.error,
                reason=result.reason,
                cached=result.cached,
                log_path=str(log) if log is not None else None,
                parent=result.parent,
                outputs=outputs,
            )
        )

    # -- the run ---------------------------------------------------------------------------

    async def run(self) -> SchedulerOutcome:
        """Run every step; returns when all have a final status."""
        top = ScopeRun(self, self.workflow.steps, prefix="", parent=None, frame=_root_frame())
        self._top = top
        loop = asyncio.get_running_loop()
        deadline = loop.call_later(
            self.workflow.timeout,
            self.hard_stop,
            RunStatus.TIMEOUT,
            f"the run timed out after {format_duration(self.workflow.timeout)}",
        )
        try:
            outcome = await top.run()
        finally:
            deadline.cancel()
        if self.stop_status is not None:
            return SchedulerOutcome(
                status=self.stop_status, error=self.stop_reason, root_cause=outcome.cause
            )
        if outcome.failure is not None:
            return SchedulerOutcome(
                status=RunStatus.FAILED, error=outcome.failure, root_cause=outcome.cause
            )
        return SchedulerOutcome(status=RunStatus.COMPLETED)

    def hard_stop(self, status: RunStatus, reason: str) -> None:
        """Timeout or interrupt: cancel every running step and start nothing more."""
        if self.stop_status is not None:
            return
        self.stop_status = status
        self.stop_reason = reason
        if self._top is not None:
            self._top.stop(reason, hard=True)

    def root_of(self, qid: str | None) -> str | None:
        """Follow container failures down to the step where the failure began."""
        seen = set()
        while qid is not None and qid in self.causes and qid not in seen:
            seen.add(qid)
            qid = self.causes[qid]
        return qid


def _root_frame() -> Frame:
    own: dict[str, Any] = {}
    return Frame(own=own, view=own)


class ScopeRun:
    """Runs one group of sibling steps to completion (implements containers.ChildScope)."""

    def __init__(
        self,
        sched: Scheduler,
        steps: Sequence[Step],
        *,
        prefix: str,
        parent: str | None,
        frame: Frame,
        max_concurrency: int | None = None,
        min_success_ratio: float = 1.0,
        outer_reason: Callable[[], str | None] | None = None,
    ) -> None:
        self.sched = sched
        self.prefix = prefix
        self.parent = parent
        self.frame = frame
        self._ratio = min_success_ratio
        self._limit = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self._outer_reason = outer_reason
        self._nodes: dict[str, _Node] = {s.id: _Node(s, prefix + s.id) for s in steps}
        for node in self._nodes.values():
            for dep_id in dict.fromkeys(node.step.dependencies):
                dep = self._nodes.get(dep_id)
                node.waiting += 1
                if dep is None:
                    node.missing.append(dep_id)
                    continue
                node.deps.append(dep)
                dep.dependents.append(node)
                sched.edges.append((dep.qid, node.qid))
        self._running: dict[_Node, asyncio.Task[tuple[StepResult, bool]]] = {}
        self._cancel_reasons: dict[str, str] = {}
        self._finished = 0
        self._succeeded = 0
        self._hard_failed = 0
        self._stop: str | None = None
        self._hard = False
        self._failure: str | None = None
        self._cause: str | None = None
        self._group: asyncio.TaskGroup | None = None
        self._done: asyncio.Future[None] | None = None

    # -- ChildScope ------------------------------------------------------------------------

    async def run(self) -> ScopeOutcome:
        self._done = asyncio.get_running_loop().create_future()
        async with asyncio.TaskGroup() as group:
            self._group = group
            self._process([n for n in self._nodes.values() if n.waiting == 0])
            if not self._done.done():
                try:
                    await self._done
                except asyncio.CancelledError:
                    reason = (self._outer_reason() if self._outer_reason else None) or (
                        self.sched.stop_reason or "cancelled"
                    )
                    self.stop(reason, hard=True)
                    raise
        return ScopeOutcome(
            results={sid: n.result for sid, n in self._nodes.items() if n.result is not None},
            names=self.frame.own,
            failure=self._failure,
            cause=self.sched.root_of(self._cause),
            stopped=self._stop if self._failure is None else None,
        )

    def stop(self, reason: str, *, hard: bool = False) -> None:
        """Cancel running steps and start no new ones.

        A soft stop (a step failed) still lets `trigger_rule: all_done` steps run, as
        cleanup should; a hard stop (timeout, interrupt, cancelled container) does not.
        """
        if self._stop is None:
            self._stop = reason
        self._hard = self._hard or hard
        for node, task in self._running.items():
            if node.qid in self._cancel_reasons:
                continue
            if hard or node.step.trigger_rule is not TriggerRule.ALL_DONE:
                self._cancel_reasons[node.qid] = reason
                task.cancel()

    # -- used by step execution --------------------------------------------------------------

    def cancel_reason(self, qid: str) -> str:
        return self._cancel_reasons.get(qid) or self._stop or self.sched.stop_reason or "cancelled"

    @property
    def limit(self) -> asyncio.Semaphore | None:
        """The container's max_concurrency, held by each child for its whole run."""
        return self._limit

    def child_scope(
        self,
        steps: Sequence[Step],
        *,
        prefix: str,
        parent: str,
        variables: Mapping[str, Any] | None,
        own_names: bool,
        max_concurrency: int | None,
        min_success_ratio: float,
        outer_reason: Callable[[], str | None],
    ) -> ChildScope:
        if own_names:
            own: dict[str, Any] = {}
            frame = Frame(
                own=own,
                view=ChainMap(own, self.frame.view),  # type: ignore[arg-type]
                variables={**self.frame.variables, **(variables or {})},
            )
        else:
            frame = Frame(
                own=self.frame.own,
                view=self.frame.view,
                variables={**self.frame.variables, **(variables or {})},
            )
        return ScopeRun(
            self.sched,
            steps,
            prefix=prefix,
            parent=parent,
            frame=frame,
            max_concurrency=max_concurrency,
            min_success_ratio=min_success_ratio,
            outer_reason=outer_reason,
        )

    # -- the event loop of the scope -----------------------------------------------------------

    def _process(self, ready: list[_Node]) -> None:
        """Start or settle every ready step; settling may make more ready (no recursion)."""
        stack = ready
        while stack:
            node = stack.pop()
            result = self._decide(node)
            if result is not None:
                stack.extend(self._settle(node, result))
                continue
            self._launch(node)
        self._check_done()

    def _launch(self, node: _Node) -> None:
        assert self._group is not None
        task = self._group.create_task(self._execute(node))
        self._running[node] = task
        # Completion is handled in a callback, not in the coroutine: a task cancelled
        # before its first step never runs its body, yet must still settle its step.
        task.add_done_callback(functools.partial(self._task_done, node))

    async def _execute(self, node: _Node) -> tuple[StepResult, bool]:
        """The step's result, and whether it was already recorded."""
        from flowctl.runner.stepexec import execute_step

        try:
            return await execute_step(self, node.step, node.qid), True
        except Exception as exc:  # a bug in a step type must not hang or crash the run
            return StepResult(
                id=node.qid,
                step_type=node.step.type,
                status=StepStatus.FAILED,
                error=self.sched.masker.mask(f"internal error: {type(exc).__name__}: {exc}"),
                error_kind="error",
                finished_at=time.time(),
                parent=self.parent,
                continue_on_failure=node.step.continue_on_failure,
            ), False

    def _task_done(self, node: _Node, task: asyncio.Task[tuple[StepResult, bool]]) -> None:
        del self._running[node]
        if task.cancelled():
            result = self._skipped(node, f"not started: {self.cancel_reason(node.qid)}")
            self._process(self._settle(node, result))
        else:
            result, recorded = task.result()
            self._process(self._settle(node, result, recorded=recorded))

    def _decide(self, node: _Node) -> StepResult | None:
        """None to start the step; else its final result without running it."""
        step = node.step
        if node.deselected is not None:
            return self._skipped(node, node.deselected)
        reason = skip_reason(step.trigger_rule, [d.result for d in node.deps if d.result])
        if reason is not None:
            return self._skipped(node, reason)
        if self._stop is not None and (self._hard or step.trigger_rule is not TriggerRule.ALL_DONE):
            return self._skipped(node, f"not started: {self._stop}")
        if step.condition is not None:
            from flowctl.expressions import evaluate_condition

            names = self.frame.names(self.sched.data)
            try:
                go = evaluate_condition(step.condition, names)
            except ExpressionError as err:
                return StepResult(
                    id=node.qid,
                    step_type=step.type,
                    status=StepStatus.FAILED,
                    error=self.sched.masker.mask(f"condition: {err.message}"),
                    error_kind="expression",
                    finished_at=time.time(),
                    parent=self.parent,
                    continue_on_failure=step.continue_on_failure,
                )
            if not go:
                return self._skipped(node, f"condition is false: {step.condition}")
        return None

    def _skipped(self, node: _Node, reason: str) -> StepResult:
        return StepResult(
            id=node.qid,
            step_type=node.step.type,
            status=StepStatus.SKIPPED,
            reason=reason,
            finished_at=time.time(),
            parent=self.parent,
        )

    def _settle(self, node: _Node, result: StepResult, *, recorded: bool = False) -> list[_Node]:
        """Publish a final result; return the dependents it made ready.

        Steps that ran were recorded (their event emitted) before they gave back their
        slot; steps settled without running are recorded here.
        """
        node.result = result
        self._finished += 1
        self.frame.own[node.step.id] = result.names_entry()
        if not recorded:
            self.sched.record(node.step, result)
        if result.status is StepStatus.COMPLETED:
            self._succeeded += 1
            if isinstance(node.step, ConditionStep):
                self._route(node.step, result)
        elif result.status is StepStatus.FAILED and not node.step.continue_on_failure:
            self._hard_failed += 1
            if self._failure is None and self._doomed():
                self._failure = f"step '{node.qid}' failed: {result.error}"
                self._cause = node.qid
                self.stop(f"step '{node.qid}' failed")
        ready = []
        for dependent in node.dependents:
            dependent.waiting -= 1
            if dependent.waiting == 0:
                ready.append(dependent)
        return ready

    def _doomed(self) -> bool:
        """True when min_success_ratio can no longer be met even if the rest succeed."""
        pending = len(self._nodes) - self._finished
        best = self._succeeded + pending
        return best < self._ratio * (best + self._hard_failed)

    def _route(self, step: ConditionStep, result: StepResult) -> None:
        selected = set(result.outputs.get("selected") or ())
        branch = result.outputs.get("branch")
        for target in step.targets():
            node = self._nodes.get(target)
            if node is not None and target not in selected and node.result is None:
                node.deselected = f"not selected by condition '{result.id}' (branch {branch})"

    def _check_done(self) -> None:
        assert self._done is not None
        if self._done.done():
            return
        if self._finished == len(self._nodes):
            self._done.set_result(None)
        elif not self._running:
            self._deadlock()
            self._done.set_result(None)

    def _deadlock(self) -> None:
        """Nothing runs and steps remain: they can never start. Say which and why."""
        stuck = [n for n in self._nodes.values() if n.result is None]
        parts = []
        for node in stuck:
            waits = [f"'{d.qid}'" for d in node.deps if d.result is None]
            waits += [f"'{m}' (not a step of this scope)" for m in node.missing]
            parts.append(f"'{node.qid}' waits on {', '.join(waits)}")
        message = "runtime deadlock: these steps can never start: " + "; ".join(parts)
        for node in stuck:
            node.result = self._skipped(node, "can never start (runtime deadlock)")
            self._finished += 1
            self.sched.record(node.step, node.result)
        if self._failure is None:
            self._failure = message

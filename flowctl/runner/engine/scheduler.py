"""The event-driven scheduler: dependency counters, a ready list, one slot semaphore.

A step starts the moment its own dependencies have finished and a slot is free; nothing
waits for a "wave". Each scope (the top level, a parallel body, one loop iteration) keeps
per step a count of unfinished dependencies; when a step finishes, only its dependents
are touched, so the work per event is O(its out-degree) and never a rescan of all steps.
Leaf steps hold one of the run's `max_parallel_steps` slots per attempt; containers hold
none while their children run, so nesting cannot starve the pool.

Error handlers are steps of the same scope that start only when a step listing them fails
for good; the failed step's own result waits until they finish (handled when they all
completed). A step that waits for an approval is parked: its dependents wait with it while
everything else finishes.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import time
from collections import ChainMap
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msgspec import Struct
from msgspec.structs import replace

from flowctl.durations import format_duration
from flowctl.errors import ExpressionError
from flowctl.runner.engine.containers import ChildScope, ScopeOutcome
from flowctl.runner.engine.nodes import Node, behind, deadlock_message, wait_cycle
from flowctl.runner.engine.rundata import Frame, ParamValidator, RunData
from flowctl.runner.engine.services import RunServices, StepFiles
from flowctl.runner.engine.triggers import skip_reason
from flowctl.runner.events import (
    RunEvent,
    RunObserver,
    StepFinished,
    StepWaiting,
)
from flowctl.runner.failure.circuit import CircuitBreakers
from flowctl.runner.failure.saga import Saga
from flowctl.runner.loop_outputs import event_outputs
from flowctl.runner.looplabels import labelled
from flowctl.runner.results import StepResult
from flowctl.runner.resume.restore import local_id
from flowctl.runner.steps.base import FailureKind
from flowctl.runner.steps.registry import Registry
from flowctl.runner.stored_outputs import OutputShelf
from flowctl.secrets import SecretMasker
from flowctl.spec.model import ConditionStep, Step, TriggerRule, Workflow
from flowctl.state.paths import RunPaths
from flowctl.status import RunStatus, StepStatus

if TYPE_CHECKING:
    import httpx

    from flowctl.runner.agents.dispatch import AgentSetup
    from flowctl.runner.executors.api import Executor
    from flowctl.runner.filesteps import FileOptions
    from flowctl.runner.resume.restore import Restore
    from flowctl.runner.steps.base import Approvals
    from flowctl.state.cache import StepCache

NOT_TRIGGERED = "error handler not triggered"
# Names every step sees; anything else in a step's names is a loop variable (item, index).
_COMMON_NAMES = frozenset({"workflow", "inputs", "env", "run", "steps", "params", "result"})


class SchedulerOutcome(Struct, frozen=True, kw_only=True):
    status: RunStatus
    error: str | None = None
    root_cause: str | None = None
    waiting: tuple[str, ...] = ()


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
        http_client: Callable[[], Awaitable[httpx.AsyncClient]],
        cache: StepCache | None = None,
        gate: Approvals | None = None,
        restore: Restore | None = None,
        executor: Executor | None = None,
        agents: AgentSetup | None = None,
        file_options: FileOptions | None = None,
        keep_going: bool = False,
        shelf: OutputShelf | None = None,
    ) -> None:
        self.workflow = workflow
        self.shelf = shelf  # big outputs are read back from the journal (stored_outputs)
        # Keep going (--keep-going, `fail_fast: false`): a failure stops only the steps that
        # depend on it; independent steps run to the end and the run still fails.
        self.keep_going = keep_going or not workflow.fail_fast
        self.run_id = run_id
        self.data = data
        self.masker = masker
        self.paths = paths
        self.registry = registry
        self.max_parallel = max_parallel
        self.workdir = workdir
        self.scratch = scratch
        self.http_client = http_client
        self.cache = cache
        self.gate = gate
        self.restore = restore
        self.executor = executor  # where action steps' work runs; None = this process
        self.file_options = file_options  # sources/generates: None when no step declares any
        self.breakers = CircuitBreakers()
        self.agents = agents.dispatcher(workflow, self.breakers) if agents is not None else None
        self.saga = Saga()
        self.validator = ParamValidator()
        self.results: dict[str, StepResult] = {}
        self.steps: dict[str, Step] = {}  # qualified id -> its step, for the history record
        self.edges: list[tuple[str, str]] = []
        self.causes: dict[str, str] = {}  # container qid -> the child at the root of its failure
        self.waiting: list[str] = []  # steps parked for an approval, in the order they paused
        self.stop_status: RunStatus | None = None
        self.stop_reason: str | None = None
        self.rollback_failed = 0
        # Each for_each loop's labels by its qid: messages name iterations by them.
        self.loop_labels: dict[str, Sequence[str]] = {}
        self._observers = tuple(observers)
        self._pool: asyncio.Semaphore | None = None
        self._top: ScopeRun | None = None
        self.files = StepFiles(paths.logs_dir, scratch)
        self._services: RunServices | None = None

    # -- services used by scopes and step execution -------------------------------------

    @property
    def pool(self) -> asyncio.Semaphore:
        if self._pool is None:
            self._pool = asyncio.Semaphore(self.max_parallel)
        return self._pool

    @property
    def services(self) -> RunServices:
        """What stepexec and the saga use: built once, on first use (in the run's loop)."""
        if self._services is None:
            self._services = RunServices(
                run_id=self.run_id,
                workdir=self.workdir,
                data=self.data,
                masker=self.masker,
                registry=self.registry,
                pool=self.pool,
                files=self.files,
                http_client=self.http_client,
                cache=self.cache,
                gate=self.gate,
                breakers=self.breakers,
                validator=self.validator,
                emit=self.emit,
                executor=self.executor,
                agents=self.agents,
                workflow_name=self.workflow.name,
                file_options=self.file_options,
            )
        return self._services

    def emit(self, event: RunEvent) -> None:
        for observer in self._observers:
            observer.handle(event)

    def record(
        self,
        step: Step,
        result: StepResult,
        *,
        names: Mapping[str, Any] | None = None,
        writes: Sequence[tuple[Sequence[str], Any]] | None = None,
        restored_order: int | None = None,
    ) -> StepResult:
        """Publish a step's final result (or its pause) to the observers and the run.

        `names` (the step's names, params included) let a completed step with
        rollback_actions be compensated later; `writes` are what its output_mapping wrote.
        Returns the result the run keeps: big outputs, once journaled, are shelved.
        """
        self.results[result.id] = result
        self.steps[result.id] = step
        if result.status is StepStatus.WAITING:
            self.waiting.append(result.id)
            self.emit(
                StepWaiting(
                    step=result.id,
                    step_type=result.step_type.value,
                    ts=result.finished_at or time.time(),
                    parent=result.parent,
                )
            )
            return result
        if result.status is StepStatus.COMPLETED and step.rollback_actions and names is not None:
            self.saga.completed(
                result.id, step, names, result.outputs, restored_order=restored_order
            )
        # A loop's iterations are its children's outputs, journaled with each child.
        outputs = event_outputs(result.step_type.value, result.outputs)
        outputs = self.masker.mask_json(outputs) if self.masker else outputs
        log = result.log_path
        params = variables = None
        undoable = result.status is StepStatus.COMPLETED and not result.restored
        if undoable and step.rollback_actions and names is not None:
            params = names.get("params")
            variables = {k: v for k, v in names.items() if k not in _COMMON_NAMES}
        self.emit(
            StepFinished(
                step=result.id,
                step_type=result.step_type.value,
                status=result.status,
                attempts=result.attempts,
                duration=result.duration,
                # A restored step is shown now; its journal entry keeps when it finished.
                ts=time.time() if result.restored else result.finished_at or time.time(),
                error=result.error,
                error_kind=result.error_kind,
                error_exit_code=result.error_exit_code,
                reason=result.reason,
                cached=result.cached,
                up_to_date=result.up_to_date,
                handled=result.handled,
                by_condition=result.by_condition,
                restored=result.restored,
                log_path=str(log) if log is not None else None,
                parent=result.parent,
                outputs=outputs,
                params=params if isinstance(params, Mapping) else None,
                variables=variables,
                writes=tuple((tuple(p), v) for p, v in writes) if writes else None,
                agent=result.agent,
            )
        )
        if self.shelf is None or step.rollback_actions or result.restored:
            return result
        shelved = self.shelf.shelve(result.id, result.outputs, outputs, result.outputs_sha256)
        if shelved is result.outputs:
            return result
        result = replace(result, outputs=shelved)
        self.results[result.id] = result
        return result

    # -- the run ---------------------------------------------------------------------------

    async def run(self) -> SchedulerOutcome:
        """Run every step; returns when all have a final status (or wait for an approval),
        after the rollback when the run failed, timed out or was cancelled."""
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
            result = SchedulerOutcome(
                status=self.stop_status, error=self.stop_reason, root_cause=outcome.cause
            )
        elif outcome.failure is not None:
            result = SchedulerOutcome(
                status=RunStatus.FAILED, error=outcome.failure, root_cause=outcome.cause
            )
        elif outcome.waiting:
            return SchedulerOutcome(status=RunStatus.WAITING_APPROVAL, waiting=outcome.waiting)
        else:
            return SchedulerOutcome(status=RunStatus.COMPLETED)
        if self.saga:
            reason = result.error or result.status.value
            cause = self.root_of(result.root_cause)
            if result.status is RunStatus.FAILED and cause is not None:
                reason = f"step '{self.shown(cause)}' failed"
            rollback = await self.saga.compensate(self.services, self.results, reason)
            self.results.update(rollback.undone)
            self.rollback_failed = rollback.failed
        return result

    def hard_stop(self, status: RunStatus, reason: str) -> None:
        """Timeout or interrupt: cancel every running step and start nothing more."""
        if self.stop_status is not None:
            return
        self.stop_status = status
        self.stop_reason = reason
        if self._top is not None:
            self._top.stop(reason, hard=True)

    def shown(self, qid: str) -> str:
        """`qid` as messages name it: `compile[lapi.c].cc` for `compile[0].cc`. Ids stay
        index-based; only the text a person reads (errors, reasons) uses labels."""
        return labelled(qid, self.loop_labels) if self.loop_labels else qid

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
        self._nodes: dict[str, Node] = {s.id: Node(s, prefix + s.id) for s in steps}
        for node in self._nodes.values():
            for handler_id in dict.fromkeys(node.step.error_handlers):
                handler = self._nodes.get(handler_id)
                if handler is not None and handler is not node:
                    node.handlers.append(handler)
                    handler.triggers.append(node)
                    handler.pending_triggers += 1
        for node in self._nodes.values():
            for dep_id in dict.fromkeys(node.step.dependencies):
                dep = self._nodes.get(dep_id)
                if dep is None:
                    node.waiting += 1
                    node.missing.append(dep_id)
                    continue
                sched.edges.append((dep.qid, node.qid))
                if dep in node.triggers:
                    continue  # a handler of `dep` runs when dep has failed, not "after" it
                node.waiting += 1
                node.deps.append(dep)
                dep.dependents.append(node)
        self._running: dict[Node, asyncio.Task[tuple[StepResult, bool]]] = {}
        self._cancel_reasons: dict[str, str] = {}
        # Under keep-going: steps skipped because a failure upstream stopped them -> that
        # failure, so their own dependents are skipped too (`none_failed` alone would run a
        # step whose other dependencies completed).
        self._blocked: dict[str, str] = {}
        self._finished = 0
        self._succeeded = 0
        self._hard_failed = 0
        self._parked: list[Node] = []
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
            self._process([n for n in self._nodes.values() if not n.waiting and not n.triggers])
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
            waiting=tuple(n.qid for n in self._parked),
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

    @property
    def services(self) -> RunServices:
        return self.sched.services

    def record(
        self,
        step: Step,
        result: StepResult,
        *,
        names: Mapping[str, Any] | None = None,
        writes: Sequence[tuple[Sequence[str], Any]] | None = None,
    ) -> StepResult:
        """Publish a step's final result (or its pause) to the run: Scheduler.record."""
        return self.sched.record(step, result, names=names, writes=writes)

    def note_cause(self, qid: str, cause: str) -> None:
        """A failed container's failure began at `cause` (the root of a failure chain)."""
        self.sched.causes[qid] = cause

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

    def _process(self, ready: list[Node]) -> None:
        """Start or settle every ready step; settling may make more ready (no recursion)."""
        # First in, first out: steps made ready together start in file order, as the
        # optimizer's replay assumes (ties broken by position in the spec).
        queue = collections.deque(ready)
        while queue:
            node = queue.popleft()
            if node.result is not None or node.launched or node.parked or node.handling:
                continue  # already on its way (a handler can be made ready twice)
            result = self._decide(node)
            if result is not None:
                queue.extend(self._finish(node, result))
                continue
            node.launched = True
            self._launch(node)
        self._check_done()

    def _launch(self, node: Node) -> None:
        assert self._group is not None
        task = self._group.create_task(self._execute(node))
        self._running[node] = task
        # Completion is handled in a callback, not in the coroutine: a task cancelled
        # before its first step never runs its body, yet must still settle its step.
        task.add_done_callback(functools.partial(self._task_done, node))

    async def _execute(self, node: Node) -> tuple[StepResult, bool]:
        """The step's result, and whether it was already recorded."""
        from flowctl.runner.engine.stepexec import execute_step

        try:
            return await execute_step(self, node.step, node.qid)
        except Exception as exc:  # a bug in a step type must not hang or crash the run
            return StepResult(
                id=node.qid,
                step_type=node.step.type,
                status=StepStatus.FAILED,
                error=self.sched.masker.mask(f"internal error: {type(exc).__name__}: {exc}"),
                error_kind=FailureKind.ERROR,
                finished_at=time.time(),
                parent=self.parent,
                continue_on_failure=node.step.continue_on_failure,
            ), False

    def _task_done(self, node: Node, task: asyncio.Task[tuple[StepResult, bool]]) -> None:
        del self._running[node]
        if task.cancelled():
            result = self._skipped(node, f"not started: {self.cancel_reason(node.qid)}")
            self._process(self._finish(node, result))
        else:
            result, recorded = task.result()
            self._process(self._finish(node, result, recorded=recorded))

    def _decide(self, node: Node) -> StepResult | None:
        """None to start the step; else its final result without running it."""
        step = node.step
        restore = self.sched.restore
        if restore is not None:
            restored = restore.get(node.qid)
            if restored is not None:
                return restored.result(step.type, self.parent)
        if node.deselected is not None:
            return self._skipped(node, node.deselected)
        if node.triggers and not node.armed:
            return self._skipped(node, NOT_TRIGGERED)
        reason = skip_reason(
            step.trigger_rule, [d.result for d in node.deps if d.result], self.sched.shown
        )
        if self.sched.keep_going and step.trigger_rule is not TriggerRule.ALL_DONE:
            blocked = self._blocked_by(node)
            if blocked is not None:
                self._blocked[node.qid] = self.sched.root_of(blocked[1]) or blocked[1]
                reason = reason if blocked[0] is None else blocked[0]
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
                    error=self.sched.masker.mask(
                        f"condition at {step.where('condition')}: {err.message}"
                    ),
                    error_kind=FailureKind.EXPRESSION,
                    finished_at=time.time(),
                    parent=self.parent,
                    continue_on_failure=step.continue_on_failure,
                )
            if not go:
                return replace(
                    self._skipped(node, f"condition is false: {step.condition}"),
                    by_condition=True,
                )
        return None

    def _blocked_by(self, node: Node) -> tuple[str | None, str] | None:
        """The failure upstream that stops `node` under keep-going: (the reason to give
        when skip_reason has none, the failed step), or None."""
        for dep in node.deps:
            r = dep.result
            if r is None:
                continue
            if r.status is StepStatus.FAILED and not r.handled:
                return None, dep.qid
            if dep.qid in self._blocked:
                failed = self._blocked[dep.qid]
                shown = self.sched.shown
                why = f"dependency '{shown(dep.qid)}' was skipped: '{shown(failed)}' failed"
                return why, failed
        return None

    def _skipped(self, node: Node, reason: str) -> StepResult:
        return StepResult(
            id=node.qid,
            step_type=node.step.type,
            status=StepStatus.SKIPPED,
            reason=reason,
            finished_at=time.time(),
            parent=self.parent,
        )

    def _finish(self, node: Node, result: StepResult, *, recorded: bool = False) -> list[Node]:
        """Route a step's outcome: a pause, a failure its handlers may handle, or final."""
        if result.status is StepStatus.WAITING:
            self._park(node, result, recorded=recorded)
            return []
        if result.status is StepStatus.FAILED and node.handlers and not result.restored:
            return self._handle(node, result)
        return self._settle(node, result, recorded=recorded)

    def _park(self, node: Node, result: StepResult, *, recorded: bool) -> None:
        node.parked = True
        self._parked.append(node)
        self.frame.own[node.step.id] = result.names_entry()
        if not recorded:
            self.sched.record(node.step, result)

    def _handle(self, node: Node, result: StepResult) -> list[Node]:
        """The step failed for good: trigger its handlers; its result waits for theirs."""
        node.handling = result
        # Handlers read steps.<failed>.status and .error.
        self.frame.own[node.step.id] = result.names_entry()
        ready = []
        for handler in node.handlers:
            if handler.result is not None:
                continue
            node.open_handlers += 1
            handler.watchers.append(node)
            if not handler.armed:
                handler.armed = True
                if handler.startable:
                    ready.append(handler)
        if node.open_handlers == 0:
            return self._resolve(node)
        cycle = wait_cycle(node)
        if cycle:
            # A handler that waits (through its dependencies) for the very failure it
            # should handle can never start: say so now rather than when all else is done.
            self._deadlock(cycle)
            self.stop("runtime deadlock")
            return []
        return ready

    def _resolve(self, node: Node) -> list[Node]:
        """Every handler of a failed step has finished: handled when they all completed."""
        failure = node.handling
        assert failure is not None
        node.handling = None
        handled = all(h.result is not None and h.result.succeeded for h in node.handlers)
        return self._settle(node, replace(failure, handled=handled))

    def _settle(self, node: Node, result: StepResult, *, recorded: bool = False) -> list[Node]:
        """Publish a final result; return the steps it made ready.

        Steps that ran were recorded (their event emitted) before they gave back their
        slot; steps settled without running, restored or handled are recorded here.
        """
        if not recorded:
            result = self._record(node, result)
        node.result = result
        self._finished += 1
        self.frame.own[node.step.id] = result.names_entry()
        if result.succeeded:
            self._succeeded += 1
            if result.ok and isinstance(node.step, ConditionStep):
                self._route(node.step, result)
        elif (
            result.status is StepStatus.FAILED
            and not node.step.continue_on_failure
            and not node.armed  # a failed handler fails the step it handles, not the scope
        ):
            self._hard_failed += 1
            if self._failure is None and self._doomed():
                name = self.sched.shown(node.qid)
                self._failure = f"step '{name}' failed: {result.error}"
                self._cause = node.qid
                if not self.sched.keep_going:
                    self.stop(f"step '{name}' failed")
        ready = []
        for dependent in node.dependents:
            dependent.waiting -= 1
            if dependent.startable:
                ready.append(dependent)
        for handler in node.handlers:
            handler.pending_triggers -= 1
            if handler.result is None and handler.startable:
                ready.append(handler)
        for watcher in node.watchers:
            watcher.open_handlers -= 1
            if watcher.open_handlers == 0 and watcher.handling is not None:
                ready.extend(self._resolve(watcher))
        return ready

    def _record(self, node: Node, result: StepResult) -> StepResult:
        if not result.restored:
            return self.sched.record(node.step, result)
        restore = self.sched.restore
        assert restore is not None
        self._record_restored(node.step, node.qid, result, restore)
        return result

    def _record_restored(self, step: Step, qid: str, result: StepResult, restore: Restore) -> None:
        """Record a step restored from the journal and, for a container, what it ran: the
        history keeps every step, and the saga can still undo them if this session fails."""
        restored = restore.get(qid)
        names: dict[str, Any] | None = None
        if step.rollback_actions and restored is not None:
            names = self.frame.names(self.sched.data)
            names.update(restored.variables)
            names["params"] = restored.params
        order = restored.order if restored is not None else None
        self.sched.record(step, result, names=names, restored_order=order)
        if not step.children():
            return
        inner = {child.id: child for child in step.children()}
        for child_qid in restore.children_of(qid):
            child = inner.get(local_id(child_qid))
            done = restore.get(child_qid)
            if child is not None and done is not None:
                self._record_restored(child, child_qid, done.result(child.type, qid), restore)

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
            blocked = behind(self._parked)
            stuck = [n for n in self._nodes.values() if n.result is None and n not in blocked]
            if stuck:
                self._deadlock(stuck)
            self._done.set_result(None)

    def _deadlock(self, stuck: list[Node]) -> None:
        """Nothing runs and steps remain: they can never start. Say which and why."""
        message = deadlock_message(stuck, self.sched.shown)
        for node in stuck:
            if node.handling is not None:
                node.result = node.handling
                node.handling = None
            else:
                node.result = self._skipped(node, "can never start (runtime deadlock)")
            self._finished += 1
            self.frame.own[node.step.id] = node.result.names_entry()
            self.sched.record(node.step, node.result)
        if self._failure is None:
            self._failure = message

"""One step from start to final result: slots, attempts, retries, timeouts, data mappings."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from msgspec import Struct, field

from flowctl.durations import format_duration
from flowctl.errors import ExpressionError, FlowctlError, StateError
from flowctl.runner.engine.containers import ChildScope, ContainerExecutor, ContainerFailure
from flowctl.runner.engine.rundata import (
    Writes,
    apply_output_mapping,
    expression_failure,
    resolve_params,
    sha256_json,
    step_env,
)
from flowctl.runner.engine.steplog import FileStepLog
from flowctl.runner.events import (
    AgentFailover,
    CircuitChanged,
    LoopLabelled,
    StepPlaced,
    StepProcess,
    StepRetrying,
    StepStarted,
)
from flowctl.runner.failure.circuit import counts_against_circuit
from flowctl.runner.failure.retry import call_with_retries
from flowctl.runner.leftovers import start_ticks
from flowctl.runner.results import StepResult
from flowctl.runner.steps.base import (
    ApprovalPending,
    FailureKind,
    Outputs,
    StepContext,
    StepExecutor,
    StepFailure,
    exit_code_of,
)
from flowctl.spec.model import ActionStep, CircuitBreakerSpec, Step, StepType
from flowctl.state.records import AgentAttempt
from flowctl.status import StepStatus

if TYPE_CHECKING:
    from flowctl.runner.agents.dispatch import Grant
    from flowctl.runner.engine.scheduler import ScopeRun
    from flowctl.runner.filesteps import FileCheck


class _Progress(Struct):
    """What is known about a step while it runs."""

    attempts: int = 0
    started_at: float | None = None  # time.time() of the first attempt
    t0: float = 0.0  # perf_counter() of the first attempt
    queued: float = 0.0
    requeued: float = 0.0  # the part of `queued` waited for a slot again, before a retry
    attempt_end: float | None = None  # perf_counter() when the latest attempt ended
    retry_wait: float = 0.0  # between attempts: backoff and waiting for a slot again
    params: dict[str, Any] | None = None
    env: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    agent: str | None = None  # the agent of the latest attempt
    agent_wait: float = 0.0  # seconds queued for agent slots
    agent_attempts: list[AgentAttempt] = field(default_factory=list)

    def begin(self, attempt: int) -> None:
        self.attempts = attempt
        if self.started_at is None:
            self.started_at = time.time()
            self.t0 = time.perf_counter()


class _Slot:
    """One of the run's slots, held by a leaf while an attempt runs.

    Released before a retry's backoff and, at the end, only after the step's final event
    is emitted: the audit log then never shows more running steps than the limit.
    """

    __slots__ = ("_pool", "held")

    def __init__(self, pool: asyncio.Semaphore | None) -> None:
        self._pool = pool
        self.held = False

    async def acquire(self) -> None:
        if self._pool is not None and not self.held:
            await self._pool.acquire()
            self.held = True

    def release(self) -> None:
        if self._pool is not None and self.held:
            self.held = False
            self._pool.release()


def _as_failure(exc: Exception) -> StepFailure:
    """Translate whatever an executor raised into a StepFailure (errors at the boundary)."""
    if isinstance(exc, StepFailure):
        return exc
    if isinstance(exc, ExpressionError):
        return expression_failure(exc, "template")
    if isinstance(exc, FlowctlError):
        return StepFailure(str(exc), retryable=False)
    text = str(exc)
    return StepFailure(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


class _Children:
    """containers.Children for one running container step."""

    def __init__(self, scope: ScopeRun, qid: str, timer: asyncio.Timeout | None) -> None:
        self._scope = scope
        self._qid = qid
        self._timer = timer

    @property
    def prefix(self) -> str:
        return self._scope.prefix

    @property
    def keep_going(self) -> bool:
        return self._scope.sched.keep_going

    def _outer_reason(self) -> str | None:
        if self._timer is not None and self._timer.expired():
            return f"container '{self._qid}' timed out"
        return self._scope.cancel_reason(self._qid)

    def label_iterations(self, labels: Sequence[str]) -> None:
        event = LoopLabelled(step=self._qid, labels=tuple(labels), ts=time.time())
        self._scope.sched.loop_labels[self._qid] = event.labels
        self._scope.sched.emit(event)

    def shown(self, qid: str) -> str:
        return self._scope.sched.shown(qid)

    def scope(
        self,
        steps: Any,
        *,
        prefix: str,
        variables: Mapping[str, Any] | None = None,
        own_names: bool = False,
        max_concurrency: int | None = None,
        min_success_ratio: float = 1.0,
    ) -> ChildScope:
        return self._scope.child_scope(
            steps,
            prefix=prefix,
            parent=self._qid,
            variables=variables,
            own_names=own_names,
            max_concurrency=max_concurrency,
            min_success_ratio=min_success_ratio,
            outer_reason=self._outer_reason,
        )


async def execute_step(scope: ScopeRun, step: Step, qid: str) -> tuple[StepResult, bool]:
    """Run one step that its trigger rule and condition allowed to start.

    Returns the result and whether it was recorded (its event emitted): a result is
    recorded before the step gives back its slots, except the failure of a step with
    error handlers, which the scope records once its handlers have finished. Never
    raises: failures, pauses and cancellation become the result's status.
    """
    return await _StepRun(scope, step, qid).run()


class _StepRun:
    """The state of one step while it runs: attempts, slots, params, log, timings."""

    def __init__(self, scope: ScopeRun, step: Step, qid: str) -> None:
        self.scope = scope
        self.services = scope.services
        self.step = step
        self.qid = qid
        self.entry = self.services.registry[step.type]
        self.progress = _Progress()
        self.log = FileStepLog(
            functools.partial(self.services.files.log_path, qid), self.services.masker
        )
        self.names = scope.frame.names(self.services.data)
        self.key = f"{self.services.run_id}:{qid}"  # FLOWCTL_IDEMPOTENCY_KEY: run, step, iteration
        self.slot = _Slot(self.services.pool if self.entry.uses_slot else None)
        # The container's max_concurrency slot is held for the child's whole run, retries
        # included, and like the run's slot it is given back after the final event.
        self.limit = _Slot(scope.limit)
        self.cached = False
        self.up_to_date = False
        self.writes: Writes = []
        self.grant: Grant | None = None  # the agent slot held (agent steps)

    async def run(self) -> tuple[StepResult, bool]:
        step = self.step
        outputs: Outputs = {}
        status = StepStatus.COMPLETED
        error: str | None = None
        failed: StepFailure | None = None
        reason: str | None = None
        try:
            await self.limit.acquire()
            outputs = await self._outputs()
        except StepFailure as failure:
            status = StepStatus.FAILED
            error = self.services.masker.mask(failure.message)
            failed = failure
            outputs = failure.outputs
            if isinstance(failure, ContainerFailure) and failure.cause is not None:
                self.scope.note_cause(self.qid, failure.cause)
        except ApprovalPending as pending:
            status = StepStatus.WAITING
            reason = str(pending)
        except asyncio.CancelledError:
            # Only the scheduler cancels a step (stop, timeout, interrupt): the step ends
            # here with its own status, and its scope goes on settling the others.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            reason = self.scope.cancel_reason(self.qid)
            status = StepStatus.CANCELLED if self.progress.attempts else StepStatus.SKIPPED
            if status is StepStatus.SKIPPED:
                reason = f"not started: {reason}"
        finally:
            self.log.close()
        # Handlers run after this step failed; its result waits for theirs (handled?).
        record = not (status is StepStatus.FAILED and step.error_handlers)
        try:
            result = self._result(status, outputs, error=error, failed=failed, reason=reason)
            if record:
                result = self.scope.record(step, result, names=self.names, writes=self.writes)
        finally:
            self.slot.release()
            self.limit.release()
            self.let_go()
        return result, record

    async def _outputs(self) -> Outputs:
        step = self.step
        key: str | None = None
        outputs: Outputs | None = None
        files = await self._check_files() if self.services.file_options is not None else None
        if files is not None and files.up_to_date and files.previous is not None:
            self.up_to_date = True
            outputs = dict(files.previous.outputs)
        elif step.cache is not None and self.services.cache is not None:
            key, outputs = await self._from_cache(files)
        if self.up_to_date:
            pass
        elif outputs is not None:
            self.cached = True
        elif self.entry.container is not None:
            outputs = await self._container(self.entry.container)
        elif isinstance(step, ActionStep) and step.agent_capability and self.services.agents:
            from flowctl.runner.agents.failover import run_with_failover

            outputs = await run_with_failover(self.services.agents, step, self)
        else:
            outputs = await call_with_retries(
                step.retry_policy, self._attempt, on_retry=self._on_retry
            )
        if not isinstance(outputs, Mapping):
            outputs = {"result": outputs}
        if step.outputs and not self.cached and not self.up_to_date:
            from flowctl.runner.engine.typed_outputs import convert_outputs

            outputs = convert_outputs(step.outputs, outputs)
        if files is not None and not self.up_to_date:
            await self._record_files(files, outputs)
        if step.output_mapping:
            try:
                self.writes = apply_output_mapping(
                    step, outputs, self.names, self.services.data.workflow
                )
            except StepFailure as failure:
                failure.outputs = failure.outputs or outputs
                raise
        if key is not None and not self.cached:
            await self._to_cache(key, outputs, files)
        return outputs

    # -- files -------------------------------------------------------------------------------

    async def _check_files(self) -> FileCheck | None:
        """The step's files before it runs (None for a step without sources/generates).

        A step that must run loses its record now: if it fails halfway, the next run
        cannot take its half-written files for up to date.
        """
        from flowctl.runner.filesteps import acheck_files, has_files

        options = self.services.file_options
        step = self.step
        if options is None or not has_files(step) or not isinstance(step, ActionStep):
            return None
        try:
            self._params()
        except Exception as exc:
            raise _as_failure(exc) from None
        check = await acheck_files(
            step,
            self.qid,
            workflow=self.services.workflow_name,
            names=self.names,
            run_env=self.services.data.step_env,
            workdir=self.services.workdir,
            masker=self.services.masker,
            options=options,
        )
        if check.up_to_date:
            self.progress.started_at = time.time()
            self.progress.t0 = time.perf_counter()
            return check
        self._note(f"[flowctl] not up to date: {check.reason}\n")
        if check.previous is not None:
            try:
                check.store.forget(check.key)
            except StateError as err:
                raise StepFailure(str(err), retryable=False) from None
        return check

    async def _record_files(self, files: FileCheck, outputs: Outputs) -> None:
        """The step ran (or came from the cache): check its generated files, record them."""
        try:
            await asyncio.to_thread(
                files.finish, outputs, self.services.run_id, self.services.masker
            )
        except StateError as err:  # the step has completed; the next run simply runs it
            self._note(f"[flowctl] files not recorded: {err}\n")

    # -- cache -------------------------------------------------------------------------------

    async def _from_cache(
        self, files: FileCheck | None = None
    ) -> tuple[str | None, Outputs | None]:
        """The step's cache key and, on a hit, the stored outputs (the step does not run).

        The key may use params, so they are resolved first; a cache that cannot be read
        is noted in the step's log and the step simply runs.
        """
        from flowctl.runner.engine.cache_lookup import lookup, step_cache_key

        cache = self.services.cache
        assert cache is not None
        try:
            self._params()
        except Exception as exc:
            raise _as_failure(exc) from None
        key = step_cache_key(self.step, self.names)
        if files is not None and files.definition.sources:
            # The same key must not stand for other sources: bind it to their digests.
            from flowctl.files.hashing import json_digest

            key = json_digest([key, files.snapshot.parts["sources"]])
        try:
            hit = await lookup(cache, key)
        except StateError as err:
            self._note(f"[flowctl] step cache not used: {err}\n")
            return key, None
        if hit is None or not isinstance(hit.outputs, Mapping):
            return key, None
        if files is not None and files.definition.generates:
            restored = await self._restore_files(key, files)
            if restored is None:
                return key, None
        self.progress.started_at = time.time()
        self.progress.t0 = time.perf_counter()
        self._note(f"[flowctl] cache hit (stored by run {hit.run_id or 'unknown'})\n")
        return key, dict(hit.outputs)

    async def _restore_files(self, key: str, files: FileCheck) -> list[str] | None:
        """A hit's generated files put back from the store; None (a miss) when gone."""
        from flowctl.state.filestore import FileStore

        assert self.services.file_options is not None
        store = FileStore(self.services.file_options.state_dir)
        try:
            restored = await asyncio.to_thread(store.restore, key, files.snapshot.root)
        except StateError as err:
            self._note(f"[flowctl] cache not used: {err}\n")
            return None
        if restored is None:
            self._note("[flowctl] cache entry found, but its files are not in the store: running\n")
            return None
        self._note(f"[flowctl] restored from the cache: {', '.join(restored)}\n")
        return restored

    async def _to_cache(self, key: str, outputs: Outputs, files: FileCheck | None) -> None:
        from flowctl.runner.engine.cache_lookup import store

        cache = self.services.cache
        assert cache is not None and self.step.cache is not None
        if files is not None and files.generated:
            from flowctl.state.filestore import FileStore

            assert self.services.file_options is not None
            paths = sorted({p for found in files.generated.values() for p in found})
            filestore = FileStore(self.services.file_options.state_dir)
            try:
                await asyncio.to_thread(filestore.put, key, files.snapshot.root, paths)
            except StateError as err:  # without its files an entry would be useless
                self._note(f"[flowctl] outputs not cached: {err}\n")
                return
        try:
            await store(cache, key, outputs, self.step.cache.ttl, self.services.run_id)
        except StateError as err:  # the step has completed either way
            self._note(f"[flowctl] outputs not cached: {err}\n")

    def _note(self, text: str) -> None:
        with contextlib.suppress(FlowctlError):  # the log is for people: go on without it
            self.log.write(text)

    # -- attempts ----------------------------------------------------------------------------

    def _params(self) -> dict[str, Any]:
        """The resolved input_mapping, checked against input_validation, once per step."""
        step, progress = self.step, self.progress
        if progress.params is None:
            # A failure here is never retried: expression or validation errors cannot heal.
            params = resolve_params(step, self.names)
            self.names["params"] = params
            self.services.validator.check(step, params)
            progress.params = params
            progress.env = step_env(
                self.services.data, params, qualified_id=self.qid, idempotency_key=self.key
            )
        return progress.params

    def _context(self, attempt: int, grant: Grant | None = None) -> StepContext:
        step, progress = self.step, self.progress
        params = self._params()  # inside the first attempt: a failure is that attempt's
        env: Mapping[str, str] = progress.env
        if grant is not None:
            from flowctl.runner.agents.invoke import agent_env

            env = agent_env(grant.agent, self.names, env)
        return StepContext(
            step=step,
            qualified_id=self.qid,
            run_id=self.services.run_id,
            attempt=attempt,
            params=params,
            names=self.names,
            env=env,
            log=self.log,
            masker=self.services.masker,
            workdir=self.services.workdir,
            # Not made up front: a directory per attempt costs as much as the rest of a no-op
            # step's scheduling (shell steps write files beside the path instead).
            scratch=self.services.files.new_scratch(create=False),
            timeout=self._attempt_timeout(grant) or step.timeout,
            idempotency_key=self.key,
            http_client=self.services.http_client,
            metrics=progress.metrics,
            approvals=self.services.gate if step.type is StepType.HUMAN_TASK else None,
            agent=grant.agent.name if grant is not None else None,
            spawned=functools.partial(self._spawned, attempt),
            **self._executor(attempt),
        )

    def _executor(self, attempt: int) -> dict[str, Any]:
        """The run's executor for this attempt, and where to report the worker it used."""
        executor = self.services.executor
        if executor is None:
            return {}
        return {"executor": executor, "placed": functools.partial(self._placed, attempt)}

    def _spawned(self, attempt: int, pid: int) -> None:
        self.services.emit(
            StepProcess(
                step=self.qid, attempt=attempt, pgid=pid, start=start_ticks(pid), ts=time.time()
            )
        )

    def _placed(self, attempt: int, worker: str) -> None:
        self.services.emit(
            StepPlaced(step=self.qid, attempt=attempt, worker=worker, ts=time.time())
        )

    def _begin(
        self, attempt: int, grant: Grant | None = None, routing: Mapping[str, Any] | None = None
    ) -> StepContext:
        self.progress.begin(attempt)
        agent = grant.agent.name if grant is not None else None
        self.services.emit(
            StepStarted(
                step=self.qid,
                step_type=self.step.type.value,
                attempt=attempt,
                ts=time.time(),
                parent=self.scope.parent,
                agent=agent,
                capability=self.step.agent_capability if agent is not None else None,
                routing=routing,
            )
        )
        if attempt > 1 and self.log.written:
            where = f" on agent {agent}" if agent is not None else ""
            self.log.write(f"--- attempt {attempt}{where} ---\n")
        try:
            return self._context(attempt, grant)
        except Exception as exc:
            raise _as_failure(exc) from None

    # -- agents (failover.AgentAttempts) -----------------------------------------------------

    def hold(self, grant: Grant) -> None:
        self.grant = grant
        self.progress.agent = grant.agent.name
        self.progress.agent_wait += grant.queued

    def let_go(self) -> None:
        if self.grant is not None and self.services.agents is not None:
            self.services.agents.release(self.grant.agent)
        self.grant = None

    async def on_agent(self, grant: Grant) -> Outputs:
        """The step's retry_policy on one agent; attempt numbers go on from the last agent's."""
        before = self.progress.attempts
        routing = grant.decision.to_json(grant.queued)

        async def attempt(n: int) -> Outputs:
            return await self._attempt(before + n, grant, routing if n == 1 else None)

        def on_retry(n: int, failure: StepFailure, delay: float) -> None:
            self._on_retry(before + n, failure, delay)

        return await call_with_retries(self.step.retry_policy, attempt, on_retry=on_retry)

    def failed_over(self, grant: Grant, failure: StepFailure) -> None:
        self.services.emit(
            AgentFailover(
                step=self.qid,
                attempt=self.progress.attempts,
                agent=grant.agent.name,
                error=self.services.masker.mask(failure.message),
                ts=time.time(),
            )
        )
        self._note(
            f"[flowctl] every attempt on agent {grant.agent.name} failed; trying the next agent\n"
        )

    async def _attempt(
        self, attempt: int, grant: Grant | None = None, routing: Mapping[str, Any] | None = None
    ) -> Outputs:
        """One attempt of a leaf step, holding a slot, within the step's timeout.

        With a circuit_breaker, an open circuit fails the attempt fast (it still counts
        as an attempt, and retry_policy may try again), and the attempt's outcome moves
        the circuit; every change of state is audited. On an agent (`grant`), the agent's
        own breaker counts too, and the outcome teaches adaptive routing.
        """
        executor: StepExecutor | None
        if grant is None:
            executor = self.entry.leaf
        else:
            assert self.services.agents is not None
            executor = self.services.agents.executor(grant.agent)
        assert executor is not None
        waited = time.perf_counter()
        await self.slot.acquire()
        now = time.perf_counter()
        progress = self.progress
        progress.queued += now - waited
        if progress.attempt_end is not None:
            # Inside the step's duration already: the optimizer must not count it twice.
            progress.requeued += now - waited
            progress.retry_wait += now - progress.attempt_end
        try:
            return await self._attempt_held(executor, attempt, grant, routing)
        finally:
            progress.attempt_end = time.perf_counter()

    async def _attempt_held(
        self,
        executor: StepExecutor,
        attempt: int,
        grant: Grant | None,
        routing: Mapping[str, Any] | None,
    ) -> Outputs:
        ctx = self._begin(attempt, grant, routing)
        circuits = [
            c
            for c in (
                self.step.circuit_breaker,
                grant.agent.circuit_breaker if grant is not None else None,
            )
            if c is not None
        ]
        if not circuits and grant is None:
            return await self._call(executor, ctx)
        breakers = self.services.breakers
        passed: list[CircuitBreakerSpec] = []
        try:
            for circuit in circuits:
                self._circuit_moved(circuit, breakers.before_attempt(circuit))
                passed.append(circuit)
        except StepFailure:
            for circuit in passed:
                breakers.release(circuit)
            raise
        began = time.perf_counter()
        try:
            outputs = await self._call(executor, ctx, grant)
        except StepFailure as failure:
            counts = counts_against_circuit(failure)
            for circuit in passed:
                if counts:
                    self._circuit_moved(circuit, breakers.record(circuit, success=False))
                else:
                    breakers.release(circuit)
            if counts:
                self._observe(grant, ok=False, duration=time.perf_counter() - began)
            raise
        except BaseException:  # cancelled, or waiting for an approval: no verdict
            for circuit in passed:
                breakers.release(circuit)
            raise
        for circuit in passed:
            self._circuit_moved(circuit, breakers.record(circuit, success=True))
        self._observe(grant, ok=True, duration=time.perf_counter() - began)
        return outputs

    def _observe(self, grant: Grant | None, *, ok: bool, duration: float) -> None:
        if grant is None or self.services.agents is None:
            return
        capability = grant.decision.capability
        self.services.agents.observe(capability, grant.agent, ok=ok, duration=duration)
        self.progress.agent_attempts.append(AgentAttempt(grant.agent.name, ok, round(duration, 6)))

    def _circuit_moved(self, circuit: CircuitBreakerSpec, state: str | None) -> None:
        if state is not None:
            self.services.emit(
                CircuitChanged(name=circuit.name, state=str(state), step=self.qid, ts=time.time())
            )

    def _attempt_timeout(self, grant: Grant | None = None) -> float | None:
        """A human_task waits as long as its approval allows unless its author set a
        timeout: the default per-attempt timeout is meant for machines, not people. On an
        agent, the agent's timeout applies unless the step sets its own."""
        step = self.step
        if "timeout" not in step.key_locations:
            if step.type is StepType.HUMAN_TASK:
                return None
            if grant is not None and grant.agent.timeout is not None:
                return grant.agent.timeout
        return step.timeout

    async def _call(
        self, executor: StepExecutor, ctx: StepContext, grant: Grant | None = None
    ) -> Outputs:
        limit = self._attempt_timeout(grant)
        timer = asyncio.timeout(limit)
        try:
            async with timer:
                return await executor.execute(ctx)
        except TimeoutError as exc:
            if timer.expired():
                raise StepFailure(
                    f"timed out after {format_duration(limit or self.step.timeout)}",
                    kind=FailureKind.TIMEOUT,
                ) from None
            raise _as_failure(exc) from None
        except ApprovalPending:
            raise
        except Exception as exc:
            raise _as_failure(exc) from None

    def _on_retry(self, attempt: int, failure: StepFailure, delay: float) -> None:
        self.services.emit(
            StepRetrying(
                step=self.qid,
                attempt=attempt,
                error=self.services.masker.mask(failure.message),
                delay=delay,
                ts=time.time(),
            )
        )
        self.slot.release()  # nobody should wait for a slot while this step only waits

    async def _container(self, executor: ContainerExecutor) -> Outputs:
        """A container runs once, holding no slot; its children are scheduled like steps."""
        step = self.step
        ctx = self._begin(1)
        # A container's timeout applies only when its author set one: the default per-
        # attempt timeout is meant for one action, not for a loop of many.
        timer = asyncio.timeout(step.timeout if "timeout" in step.key_locations else None)
        try:
            async with timer:
                return await executor.execute(ctx, _Children(self.scope, self.qid, timer))
        except TimeoutError as exc:
            if timer.expired():
                raise StepFailure(
                    f"timed out after {format_duration(step.timeout)}", kind=FailureKind.TIMEOUT
                ) from None
            raise _as_failure(exc) from None
        except ApprovalPending:
            raise
        except Exception as exc:
            raise _as_failure(exc) from None

    def _result(
        self,
        status: StepStatus,
        outputs: Outputs,
        *,
        error: str | None,
        failed: StepFailure | None,
        reason: str | None,
    ) -> StepResult:
        progress = self.progress
        started = progress.started_at is not None
        return StepResult(
            id=self.qid,
            step_type=self.step.type,
            status=status,
            outputs=outputs,
            error=error,
            error_kind=failed.kind if failed is not None else None,
            error_exit_code=exit_code_of(failed),
            reason=reason,
            attempts=progress.attempts,
            duration=time.perf_counter() - progress.t0 if started else 0.0,
            queued=progress.queued,
            requeued=progress.requeued,
            retry_wait=progress.retry_wait,
            started_at=progress.started_at,
            finished_at=time.time(),
            parent=self.scope.parent,
            metrics=dict(progress.metrics) if self.step.metrics_enabled else {},
            # Without an input_mapping the params say nothing of what the step reads; the
            # optimizer then compares the run's inputs instead.
            inputs_sha256=sha256_json(progress.params)
            if progress.params is not None and self.step.input_mapping
            else None,
            outputs_sha256=sha256_json(outputs) if status is StepStatus.COMPLETED else None,
            log_path=self.log.path if self.log.written else None,
            continue_on_failure=self.step.continue_on_failure,
            cached=self.cached,
            capability=self.step.agent_capability if progress.agent is not None else None,
            agent=progress.agent,
            agent_wait=progress.agent_wait,
            agent_attempts=tuple(progress.agent_attempts),
            up_to_date=self.up_to_date,
        )

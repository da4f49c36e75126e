"""One run from start to end: checks, state files, the scheduler, the record it leaves."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import Coroutine, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from msgspec import Struct

from flowctl.errors import FlowctlError, UsageError
from flowctl.runner.analysis import Preparation, prepare_analysis
from flowctl.runner.engine.rundata import RunData, build_run_data, sha256_json
from flowctl.runner.engine.scheduler import Scheduler, SchedulerOutcome
from flowctl.runner.events import (
    PausingObserver,
    RunEvent,
    RunFinished,
    RunObserver,
    RunStarted,
)
from flowctl.runner.executors.api import Executor, ExecutorChoice
from flowctl.runner.executors.choose import open_executor
from flowctl.runner.options import RunArguments, RunOptions
from flowctl.runner.preflight import check_supported
from flowctl.runner.prepare import check_approvals as check_approvals  # re-exported
from flowctl.runner.prepare import secrets_masker as secrets_masker  # re-exported
from flowctl.runner.record.history import run_record
from flowctl.runner.record.journal import AuditObserver, iso
from flowctl.runner.record.report import build_report, write_json
from flowctl.runner.results import RunResult, StepResult
from flowctl.runner.runlock import run_lock
from flowctl.runner.scratch import clear_scratch, fresh_scratch
from flowctl.runner.steps.registry import Registry, default_registry
from flowctl.runner.stored_outputs import OutputShelf
from flowctl.secrets import SecretMasker
from flowctl.spec.model import LoopStep, Step, StepType, Workflow
from flowctl.state.audit import AuditJournal
from flowctl.state.paths import HISTORY_FILE, RunPaths, allocate_run
from flowctl.state.projectroot import project_root, recorded_path
from flowctl.status import RunStatus, StepStatus

if TYPE_CHECKING:
    import httpx

    from flowctl.runner.agents.dispatch import AgentSetup
    from flowctl.runner.approval.gate import ApprovalGate
    from flowctl.runner.filesteps import FileOptions
    from flowctl.runner.resume.restore import Replay, Restore
    from flowctl.runner.signals import SignalController
    from flowctl.state.cache import StepCache


def load(workflow: Workflow | Path | str) -> Workflow:
    """A Workflow as is, or the checked workflow of a file path."""
    if isinstance(workflow, Workflow):
        return workflow
    from flowctl.spec.load import load_workflow

    return load_workflow(Path(workflow))


def known_step_ids(steps: Sequence[Step], prefix: str = "") -> list[str]:
    """Qualified ids known before a run: everything except the children of loops."""
    ids: list[str] = []
    for step in steps:
        ids.append(prefix + step.id)
        if not isinstance(step, LoopStep):
            ids.extend(known_step_ids(step.children(), prefix))
    return ids


def _check_max_parallel(value: int | None, wf: Workflow) -> int:
    limit = wf.max_parallel_steps if value is None else value
    if limit < 1:
        raise UsageError(f"--max-parallel must be at least 1, got {limit}")
    return limit


class Resumption(Struct, frozen=True, kw_only=True):
    """What a resumed session starts from (built by flowctl.runner.resume.run)."""

    replay: Replay
    restore: Restore
    next_seq: int
    notes: tuple[tuple[str, str, Mapping[str, object]], ...] = ()  # (event, step, data) first
    started_from: float  # when the run first started


def spec_path(wf: Workflow) -> str:
    """The spec's absolute path, as resume finds it again (its source if not a file)."""
    source = Path(wf.source)
    return str(source.resolve()) if wf.source and source.is_file() else wf.source


def _recorded_spec(wf: Workflow, root: Path) -> str:
    """The spec as the journal stores it: relative to the project root when it is a file."""
    source = Path(wf.source)
    return recorded_path(source, root) if wf.source and source.is_file() else wf.source


class _HttpClient:
    """One httpx client per run, made on first use (most runs never call a webhook)."""

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None

    async def __call__(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(follow_redirects=False)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def arun_workflow(
    workflow: Workflow | Path | str,
    *,
    inputs: Mapping[str, object] | None = None,
    **options: Unpack[RunArguments],
) -> RunResult:
    """Run a workflow to its end and return what happened.

    `inputs` are raw values (strings from a command line are coerced to the declared
    types); `history` defaults to `<state_dir>/history.jsonl`; `max_parallel` overrides
    `max_parallel_steps`. User errors (invalid spec, inputs, unsupported features) raise
    FlowctlError before anything runs; a failing step never raises, it is in the result.
    With `handle_signals`, the first SIGINT/SIGTERM cancels the run cleanly (status
    cancelled, exit code 130) and a second one stops at once (KeyboardInterrupt).
    human_task steps named in `approve` (or all, with `auto_approve`) are approved up
    front; with `interactive` the others are asked on the terminal; otherwise they wait
    and the run ends `waiting_approval` (`flowctl approve`, then resume). `executor` says
    where action steps run (executors/choose.py picks it from options, env and spec).
    Steps with `sources`/`generates` whose files and definition are unchanged since their
    last success are not run (`up_to_date`), except with `force_all`, or when named in
    `force_run` or depending on a step named there.
    With `keep_going` (or `fail_fast: false` in the file) a failure stops only its
    dependents.
    """
    return await start_run(workflow, inputs or {}, RunOptions.of(**options))


async def start_run(
    workflow: Workflow | Path | str, inputs: Mapping[str, object], options: RunOptions
) -> RunResult:
    """arun_workflow with its options built: what the CLI and the Python API both call."""
    from flowctl.runner.inputs import resolve_inputs

    wf = load(workflow)
    reg = options.registry if options.registry is not None else default_registry()
    check_supported(wf, reg)
    check_approvals(wf, options.approve)
    masker = secrets_masker(wf)  # first: input errors are masked with it
    resolved = resolve_inputs(wf, inputs)
    limit = _check_max_parallel(options.max_parallel, wf)
    files = _file_options(
        wf, options.state_dir, force_all=options.force_all, force_run=options.force_run
    )
    run = RunSession(
        wf,
        options,
        inputs=resolved,
        masker=masker,
        paths=allocate_run(options.state_dir),
        registry=reg,
        max_parallel=limit,
        workdir=options.workdir if options.workdir is not None else Path.cwd(),
        files=files,
    )
    return await run.execute()


def history_path(state: Path, history: Path | str | None, record: bool) -> Path | None:
    if not record:
        return None
    return Path(history) if history is not None else state / HISTORY_FILE


class RunSession:
    """The life of one run (or one resumed session of it) after its checks."""

    def __init__(
        self,
        wf: Workflow,
        options: RunOptions,
        *,
        inputs: Mapping[str, object],
        masker: SecretMasker,
        paths: RunPaths,
        registry: Registry,
        max_parallel: int,
        workdir: Path,
        resumption: Resumption | None = None,
        files: FileOptions | None = None,
    ) -> None:
        self.wf = wf
        self.options = options
        self.capacity: int | None = None  # of the remote executor, once it is open
        self.inputs = inputs
        self.masker = masker
        self.paths = paths
        self.registry = registry
        self.history = history_path(options.state_dir, options.history, options.record_history)
        self.max_parallel = max_parallel  # options.max_parallel checked, or the default
        self.workdir = workdir
        self.resumption = resumption
        # Steps with sources/generates: the default keeps records in the run's state dir.
        self.files = files or _file_options(wf, paths.state_dir)
        self.started = time.time()
        self.observers: list[RunObserver] = []
        self.shelf: OutputShelf | None = None  # set with the journal (_open_journal)
        self._analysis: Preparation | None = None  # the optimizer's import, early

    async def execute(self) -> RunResult:
        paths = self.paths
        try:
            with run_lock(paths.run_dir, paths.run_id):
                return await self._execute()
        except FlowctlError:
            if self.resumption is None and not paths.audit.exists():
                import shutil  # here: it imports bz2 and lzma, which a run never needs

                shutil.rmtree(paths.run_dir, ignore_errors=True)  # nothing ran: leave no husk
            raise

    async def _execute(self) -> RunResult:
        wf, paths, resumption = self.wf, self.paths, self.resumption
        started = resumption.started_from if resumption is not None else self.started
        data = build_run_data(wf, self.inputs, run_id=paths.run_id, started_at=iso(started) or "")
        rebuild_notes: list[str] = []
        if resumption is not None:
            rebuild_notes = _rebuild_data(wf, resumption, data)
        if wf.source and Path(wf.source).is_file():
            from flowctl.runner.calls.syspath import ensure_on_sys_path

            ensure_on_sys_path(Path(wf.source).resolve().parent)
        executor = await open_executor(
            self.options.executor, wf, self.workdir
        )  # before the journal
        self.capacity = executor.capacity if executor is not None else None
        try:
            return await self._run_on(executor, data, rebuild_notes)
        finally:
            if executor is not None:
                await executor.aclose()

    async def _run_on(
        self, executor: Executor | None, data: RunData, rebuild_notes: list[str]
    ) -> RunResult:
        """The run on its executor: open the journal, start, schedule, clean up, finish."""
        paths = self.paths
        journal = self._open_journal(executor)
        self._write_resume_notes(journal, rebuild_notes)
        scratch = fresh_scratch(paths)  # under the run, 0700; an earlier session's is gone
        http = _HttpClient()
        cache = _step_cache(self.wf, paths, self.masker)
        sched = self._scheduler(executor, data, scratch=scratch, http=http, cache=cache)
        # Not with sources/generates: a run whose steps were all up to date skips the
        # analysis, and an early import would only take CPU from that cheap run.
        if self.files is None:
            self._analysis = prepare_analysis(self.wf, self.history)
        try:
            outcome = await self._schedule(sched, journal)
        finally:
            with contextlib.suppress(Exception):
                await http.aclose()
            if cache is not None:
                cache.close()
                _evict_files(self.wf, paths.state_dir, sched)
            clear_scratch(paths)
        return self._finish(sched, journal, outcome, record=True)

    def _open_journal(self, executor: Executor | None) -> AuditJournal:
        """The audit journal, with the audit observer first and run_started written."""
        wf, paths, resumption = self.wf, self.paths, self.resumption
        root = project_root(paths.state_dir)
        journal = AuditJournal(
            paths.audit,
            paths.run_id,
            masker=self.masker,
            durable=self.options.durable,
            next_seq=resumption.next_seq if resumption is not None else 1,
        )
        self.shelf = OutputShelf(paths.audit)  # big outputs stay in the journal only
        audit = AuditObserver(
            journal,
            shelf=self.shelf,
            run_data={
                "workflow": wf.name,
                "version": wf.version,
                "spec": _recorded_spec(wf, root),
                "spec_sha256": wf.sha256,
                "inputs": self.inputs,
                "max_parallel": self.max_parallel,
                "workdir": recorded_path(self.workdir, root),
                # Where this session's history line goes (none: not recorded), so that
                # `flowctl runs` repairs a line lost to a late kill in that file only.
                "history": recorded_path(self.history, root) if self.history else None,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                **_executor_data(self.options.executor, executor),
            },
        )
        self.observers = [audit, *self.options.observers]
        self._emit(
            RunStarted(
                run_id=paths.run_id,
                workflow=wf.name,
                step_ids=tuple(known_step_ids(wf.steps)),
                ts=self.started,
                resumed=resumption is not None,
                steps_in_file=sum(1 for _ in wf.walk()),
            )
        )
        return journal

    def _write_resume_notes(self, journal: AuditJournal, rebuild_notes: list[str]) -> None:
        """A resumed session's --skip/--from notes and data-rebuild warnings, made durable."""
        if self.resumption is None:
            return
        for event, step, note in self.resumption.notes:
            journal.append(event, step=step, data=note)
        for text in rebuild_notes:
            journal.append("resume_warning", data={"warning": text})
        journal.checkpoint()

    def _scheduler(
        self,
        executor: Executor | None,
        data: RunData,
        *,
        scratch: Path,
        http: _HttpClient,
        cache: StepCache | None,
    ) -> Scheduler:
        resumption = self.resumption
        return Scheduler(
            self.wf,
            run_id=self.paths.run_id,
            data=data,
            masker=self.masker,
            paths=self.paths,
            observers=self.observers,
            registry=self.registry,
            max_parallel=self.max_parallel,
            workdir=self.workdir,
            scratch=scratch,
            http_client=http,
            cache=cache,
            gate=self._gate(),
            restore=resumption.restore if resumption is not None else None,
            executor=executor,
            agents=self._agents(),
            file_options=self.files,
            keep_going=self.options.keep_going,
            shelf=self.shelf,
        )

    async def _schedule(self, sched: Scheduler, journal: AuditJournal) -> SchedulerOutcome:
        """The scheduler's run, under signal handling; a cancel or a bug still closes the
        journal with run_finished before it goes on."""
        with _signals(self.options.handle_signals, sched) as controller:
            try:
                return await sched.run()
            except asyncio.CancelledError:
                # Cancelled from outside (an API caller) or forced by a second signal:
                # the journal still gets its run_finished, then the cancel goes on.
                forced = controller is not None and controller.forced
                cancelled = SchedulerOutcome(
                    status=RunStatus.CANCELLED, error=sched.stop_reason or "cancelled"
                )
                self._finish(sched, journal, cancelled, record=not forced)
                if forced:
                    raise KeyboardInterrupt from None
                raise
            except Exception as exc:
                # A bug in flowctl: close the journal as a failed run, then let it show.
                broken = SchedulerOutcome(
                    status=RunStatus.FAILED, error=f"internal error: {type(exc).__name__}"
                )
                self._finish(sched, journal, broken, record=False)
                raise

    def _agents(self) -> AgentSetup | None:
        """The agent setup of a workflow with agents: history to learn from, and on
        resume the attempts of earlier sessions (circuits and learning are rebuilt)."""
        if not self.wf.agents:
            return None
        from flowctl.runner.agents.dispatch import AgentSetup

        journal = self.resumption.replay.agent_samples if self.resumption is not None else ()
        return AgentSetup(history=self.history, journal=tuple(journal), run_id=self.paths.run_id)

    def _gate(self) -> ApprovalGate | None:
        if not any(step.type is StepType.HUMAN_TASK for step, _ in self.wf.walk()):
            return None
        from flowctl.runner.approval.gate import ApprovalGate

        options, resumption = self.options, self.resumption
        return ApprovalGate(
            run_id=self.paths.run_id,
            emit=self._emit,
            approve=options.approve,
            auto_approve=options.auto_approve,
            interactive=options.interactive,
            quiet_display=self._quiet_display,
            decisions=resumption.replay.decisions if resumption is not None else None,
            requested=resumption.replay.requested if resumption is not None else None,
        )

    @contextlib.contextmanager
    def _quiet_display(self) -> Iterator[None]:
        """Observers that draw on the terminal step aside while the gate asks there."""
        with contextlib.ExitStack() as stack:
            for observer in self.observers:
                if isinstance(observer, PausingObserver):
                    stack.enter_context(observer.paused())
            yield

    def _emit(self, event: RunEvent) -> None:
        for observer in self.observers:
            observer.handle(event)

    def _finish(
        self, sched: Scheduler, journal: AuditJournal, outcome: SchedulerOutcome, *, record: bool
    ) -> RunResult:
        """Close the run: run_finished, the journal, the history line and report.json."""
        wf, paths = self.wf, self.paths
        # No optimizer import begins after the last step; one under way is waited for.
        prepared = self._analysis.stop() if self._analysis is not None else None
        if outcome.status is not RunStatus.WAITING_APPROVAL:
            _settle_unfinished(wf, sched)
        finished = time.time()
        failed = outcome.status is RunStatus.FAILED
        root = sched.root_of(outcome.root_cause) if failed else None
        waiting = tuple(
            qid
            for qid in sched.waiting
            if sched.steps[qid].type is StepType.HUMAN_TASK
            and sched.results[qid].status is StepStatus.WAITING
        )
        error = _error_text(sched, outcome, root, waiting)
        result = RunResult(
            run_id=paths.run_id,
            workflow=wf.name,
            status=outcome.status,
            steps=dict(sched.results),
            data=sched.data.workflow,
            inputs=self.inputs,
            started_at=self.started,
            finished_at=finished,
            error=self.masker.mask(error) if error else None,
            root_cause=root,
            paths=paths,
            history_path=self.history if record else None,
            report_path=paths.report,
            waiting=waiting,
            resumed=self.resumption is not None,
            rollback_failed=sched.rollback_failed,
            failures=_root_failures(sched, root) if failed else (),
        )
        self._emit(
            RunFinished(
                run_id=paths.run_id,
                status=outcome.status,
                duration=result.duration,
                ts=finished,
                error=result.error,
                failures=result.failures,
            )
        )
        journal.close()
        if not record:
            return result
        if self.history is not None:
            from flowctl.state.history import append_record

            append_record(
                self.history,
                run_record(
                    wf,
                    result,
                    steps=sched.steps,
                    edges=sched.edges,
                    max_parallel=self.max_parallel,
                    inputs_sha256=sha256_json(dict(self.inputs)),
                    executor_capacity=self.capacity,
                ),
            )
        optimization, note = _optimization(
            wf, self.history, result.duration, prepared, steps=sched.results.values()
        )
        write_json(
            paths.report,
            build_report(
                wf, result, masker=self.masker, optimization=optimization, optimization_note=note
            ),
        )
        return result


def _executor_data(choice: ExecutorChoice, executor: Executor | None) -> dict[str, object]:
    """run_started's record of the executor (none for local: journals stay as they were);
    resume runs on the same one unless told otherwise, the optimizer reads its capacity."""
    if executor is None:
        return {}
    return {"executor": {**choice.describe(), "capacity": executor.capacity}}


def _file_options(
    wf: Workflow, state: Path, *, force_all: bool = False, force_run: Sequence[str] = ()
) -> FileOptions | None:
    """How steps with files run; None when no step declares sources or generates.

    `--force-run` names are checked even then, so a typo is never silently ignored.
    """
    if not force_run and not any(_declares_files(step) for step, _ in wf.walk()):
        return None  # without importing filesteps (and its hashing) for nothing
    from flowctl.runner.filesteps import FileOptions, forced_steps, has_files

    forced = forced_steps(wf, force_run) if force_run else frozenset()
    if not any(has_files(step) for step, _ in wf.walk()):
        return None
    return FileOptions(state_dir=state, force_all=force_all, forced=forced)


def _declares_files(step: Step) -> bool:
    """filesteps.has_files, read off the model (a superset: has_files decides)."""
    return bool(getattr(step, "sources", None) or getattr(step, "generates", None))


def _evict_files(wf: Workflow, state: Path, sched: Scheduler) -> None:
    """Keep the generated-files store under its cap (once a run, not once a step), after
    a run that stored files: a walk of the store is wasted on a run that added nothing."""
    from flowctl.runner.filesteps import has_files

    if not any(step.cache is not None and has_files(step) for step, _ in wf.walk()):
        return
    stored = False
    for qid, result in sched.results.items():
        step = sched.steps.get(qid)
        if (
            step is not None
            and step.cache is not None
            and has_files(step)
            and result.status is StepStatus.COMPLETED
            and not (result.cached or result.up_to_date or result.restored)
        ):
            stored = True
            break
    if not stored:
        return
    from flowctl.state.filestore import FileStore, max_bytes

    with contextlib.suppress(OSError):
        FileStore(state).evict(max_bytes())


def _step_cache(wf: Workflow, paths: RunPaths, masker: SecretMasker) -> StepCache | None:
    """The state directory's step cache, when some step has `cache:` (opened on first use)."""
    if not any(step.cache is not None for step, _ in wf.walk()):
        return None
    from flowctl.runner.engine.cache_lookup import cache_path
    from flowctl.state.cache import StepCache

    return StepCache(cache_path(paths.state_dir), masker=masker)


def _rebuild_data(wf: Workflow, resumption: Resumption, data: RunData) -> list[str]:
    """The workflow data of a resumed run: its restored steps' output_mapping writes again."""
    by_id = {step.id: step for step, _ in wf.walk()}
    names = {
        "workflow": data.workflow,
        "inputs": data.inputs,
        "env": data.env,
        "run": data.run,
        "steps": {},
        "params": {},
    }
    return resumption.restore.rebuild(data.workflow, by_id, names)


@contextlib.contextmanager
def _signals(enabled: bool, sched: Scheduler) -> Iterator[SignalController | None]:
    """First SIGINT/SIGTERM: cancel the run cleanly. Second: cancel the run's task now."""
    if not enabled:
        yield None
        return
    from flowctl.runner.signals import SignalController

    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def on_cancel(name: str) -> None:
        sched.hard_stop(RunStatus.CANCELLED, f"interrupted by {name}")

    def on_force() -> None:
        if main is not None:
            main.cancel()

    with SignalController(loop, on_cancel, on_force) as controller:
        yield controller


def _settle_unfinished(wf: Workflow, sched: Scheduler) -> None:
    """Steps a cancelled run never reached still get a result: skipped, and why."""
    missing = [qid for qid in known_step_ids(wf.steps) if qid not in sched.results]
    if not missing:
        return
    by_id = {step.id: step for step, _ in wf.walk()}
    reason = f"not started: {sched.stop_reason or 'the run was cancelled'}"
    for qid in missing:
        step = by_id[qid]
        sched.record(
            step,
            StepResult(
                id=qid,
                step_type=step.type,
                status=StepStatus.SKIPPED,
                reason=reason,
                finished_at=time.time(),
            ),
        )


def _root_failures(sched: Scheduler, root: str | None) -> tuple[str, ...]:
    """Every failure that failed the run, each named once where it began, root cause first.

    A failed step counts when each container around it failed too (a child a parallel
    step tolerated under min_success_ratio does not); a failed container is named by its
    failing children instead of itself.
    """
    failed = {
        qid
        for qid, r in sched.results.items()
        if r.status is StepStatus.FAILED and not r.handled and not r.continue_on_failure
    }

    def counts(qid: str) -> bool:
        parent = sched.results[qid].parent
        while parent is not None:
            if parent not in failed:
                return False
            parent = sched.results[parent].parent if parent in sched.results else None
        return True

    kept = [qid for qid in sched.results if qid in failed and counts(qid)]
    containers = {sched.results[qid].parent for qid in kept}
    roots = [qid for qid in kept if qid not in containers]
    if root in roots:
        roots.remove(root)
        roots.insert(0, root)
    return tuple(roots)


def _error_text(
    sched: Scheduler, outcome: SchedulerOutcome, root: str | None, waiting: Sequence[str]
) -> str | None:
    """The run's error, root cause first: the step where the failure began and why."""
    if outcome.status is RunStatus.COMPLETED:
        return None
    if outcome.status is RunStatus.WAITING_APPROVAL:
        return f"waiting for approval: {', '.join(waiting) or ', '.join(outcome.waiting)}"
    if root is not None and root in sched.results:
        failed = sched.results[root]
        cause = f"step '{sched.shown(root)}' {failed.status.value}"
        return f"{cause}: {failed.error}" if failed.error else cause
    return outcome.error


def _optimization(
    wf: Workflow,
    history: Path | None,
    run_seconds: float,
    prepared: threading.Thread | None = None,
    *,
    steps: Iterable[StepResult] = (),
) -> tuple[Mapping[str, object] | None, str | None]:
    """The optimizer's analysis of this workflow's history so far, when it is enabled and
    fits the end-of-run budget (flowctl.runner.analysis); none after a run in which every
    step was up to date."""
    from flowctl.runner.analysis import end_of_run_analysis, nothing_ran

    return end_of_run_analysis(
        wf, history, run_seconds, no_op=nothing_ran(steps), prepared=prepared
    )


def run_workflow(
    workflow: Workflow | Path | str,
    *,
    inputs: Mapping[str, object] | None = None,
    **options: Unpack[RunArguments],
) -> RunResult:
    """Synchronous arun_workflow (same options); not callable from a running event loop."""
    return run_sync(workflow, inputs or {}, RunOptions.of(**options))


def run_sync(
    workflow: Workflow | Path | str, inputs: Mapping[str, object], options: RunOptions
) -> RunResult:
    """start_run to its end from synchronous code (not from a running event loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise UsageError("run_workflow was called inside an event loop; await arun_workflow")
    return run_to_end(start_run(workflow, inputs, options))


_T = TypeVar("_T")


def run_to_end(main: Coroutine[Any, Any, _T]) -> _T:
    """asyncio.run(main), with main's value kept out of the task that runs it.

    When asyncio.run restores the SIGINT handler at the end, signal.getsignal formats the
    repr of its handler, which holds the task and so its result: for a RunResult that is
    every step's repr, twice (12 ms for 1,000 steps, for nothing).
    """
    box: list[_T] = []

    async def keep() -> None:
        box.append(await main)

    asyncio.run(keep())
    return box[0]

"""`resume`: continue a run from its audit journal (SPEC.md 4).

The journal is read once and folded (restore.Replay); the spec is read again from the
path the run recorded and must be the same file (sha256) unless forced. Completed steps are
restored with their outputs, the workflow data is rebuilt from them, and the new session
appends to the same journal: its own run_started (resumed), then `--skip` and `--from`
notes, then what runs now, then its own run_finished.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Unpack

from msgspec import Struct, field
from msgspec.structs import replace

from flowctl.errors import FlowctlError, StateError, UsageError
from flowctl.runner.executors.api import LOCAL, ExecutorChoice
from flowctl.runner.executors.choose import checked_choice
from flowctl.runner.options import RunOptions, SessionArguments
from flowctl.runner.preflight import check_supported
from flowctl.runner.results import RunResult
from flowctl.runner.resume.restore import RESET, Replay, Restore, local_id
from flowctl.runner.session import (
    Resumption,
    RunSession,
    check_approvals,
    load,
    run_to_end,
    secrets_masker,
)
from flowctl.runner.steps.registry import default_registry
from flowctl.spec.model import LoopStep, ParallelStep, Step, Workflow
from flowctl.state.audit import AuditEvent, parse_ts, read_journal, utc_timestamp
from flowctl.state.paths import DEFAULT_STATE_DIR, RunPaths
from flowctl.state.projectroot import project_root, trusted_path
from flowctl.status import RunStatus, StepStatus

# A step that --skip may mark done: it did not finish well (or did not finish at all).
_SKIPPABLE = frozenset(
    {
        StepStatus.PENDING,
        StepStatus.RUNNING,
        StepStatus.WAITING,
        StepStatus.FAILED,
        StepStatus.CANCELLED,
    }
)


class ResumePlan(Struct, kw_only=True):
    """A run read back from its files, checked, ready to continue."""

    paths: RunPaths
    workflow: Workflow
    inputs: dict[str, Any]
    workdir: Path
    max_parallel: int
    replay: Replay
    started_from: float
    notes: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    executor: Mapping[str, Any] | None = None  # the run_started record of a remote executor

    @property
    def run_id(self) -> str:
        return self.paths.run_id

    @property
    def complete(self) -> bool:
        """The run completed and nothing was asked to run again: resume changes nothing."""
        return self.replay.complete and not self.notes


def plan_resume(
    state_dir: Path | str,
    run_id: str,
    *,
    from_step: str | None = None,
    skip: str | None = None,
    skip_outputs: Mapping[str, Any] | str | None = None,
    force: bool = False,
) -> ResumePlan:
    """Read RUN_ID (a full id or a unique prefix) back and check it can go on.

    Raises StateError (exit 2) for a run that does not exist, never started, is still
    running, or whose spec changed since (unless `force`), and UsageError for a `--from`
    or `--skip` that names no step it can apply to.
    """
    from flowctl.runner.leftovers import describe, kill_leftovers
    from flowctl.runner.looplabels import labels_from_journal, unlabelled
    from flowctl.runner.runlock import run_lock
    from flowctl.runner.stored_outputs import SHELVE_BYTES, OutputShelf
    from flowctl.state.runs import resolve_run_dir

    state = Path(state_dir)
    run_dir = resolve_run_dir(state, run_id)
    paths = RunPaths(state, run_dir.name)
    with run_lock(paths.run_dir, paths.run_id):  # a live run holds it: refuse now
        # Big outputs stay in the journal: the plan holds references (stored_outputs).
        shelf = OutputShelf(paths.audit)
        contents = read_journal(paths.audit, big=shelf.from_journal, big_bytes=SHELVE_BYTES)
        # No session of the run is alive: process groups its attempts left are leftovers.
        leftovers = describe(kill_leftovers(contents.events, paths.run_id))
    warnings = list(leftovers)
    if contents.bad_lines:
        shown = ", ".join(str(n) for n in contents.bad_lines[:10])
        warnings.append(f"{paths.audit}: skipped unreadable lines {shown}")
    if contents.torn_tail:
        warnings.append(f"{paths.audit}: dropped a torn last line (the run was killed mid-write)")
    replay = Replay.of(contents.events)
    started = replay.last_started
    if started is None:
        raise StateError(
            f"run {paths.run_id} never started (its audit log has no run_started); "
            "nothing to resume"
        )
    root = project_root(state)
    wf = _load_spec(paths.run_id, started, root, force=force)
    check_supported(wf, default_registry())
    inputs = _inputs(wf, started)
    first = replay.first_started or started
    plan = ResumePlan(
        paths=paths,
        workflow=wf,
        inputs=inputs,
        workdir=_workdir(started, root, paths.run_id),
        max_parallel=_max_parallel(wf, started),
        replay=replay,
        started_from=parse_ts(first.ts) or time.time(),
        warnings=warnings,
        executor=_executor(started),
    )
    if skip_outputs is not None and skip is None:
        raise UsageError("--outputs needs --skip STEP (the step those outputs are for)")
    # A loop iteration may be named by its label (compile[lapi.c].cc): ids are by index.
    labels = labels_from_journal(contents.events)
    if from_step is not None:
        _plan_from(plan, unlabelled(from_step, labels))
    if skip is not None:
        _plan_skip(plan, unlabelled(skip, labels), _outputs_json(skip_outputs))
    return plan


def _load_spec(run_id: str, started: AuditEvent, root: Path, *, force: bool) -> Workflow:
    spec, recorded = started.data.get("spec"), started.data.get("spec_sha256")
    if not isinstance(spec, str) or not spec:
        raise StateError(f"run {run_id} did not record its spec file; it cannot be resumed")
    path = trusted_path(spec, root, "spec", run_id)
    if not path.is_file():
        raise StateError(f"the spec of run {run_id} is gone: {spec} is not a file")
    wf = load(path)
    if isinstance(recorded, str) and wf.sha256 != recorded and not force:
        raise StateError(
            f"the spec changed since run {run_id} ({spec}: sha256 {recorded[:12]}… is now "
            f"{wf.sha256[:12]}…); use --force to resume anyway"
        )
    return wf


def _inputs(wf: Workflow, started: AuditEvent) -> dict[str, Any]:
    from flowctl.runner.inputs import resolve_inputs

    given = started.data.get("inputs")
    try:
        return resolve_inputs(wf, given if isinstance(given, Mapping) else {})
    except FlowctlError as err:
        raise StateError(f"the inputs recorded by this run no longer fit its spec: {err}") from None


def _workdir(started: AuditEvent, root: Path, run_id: str) -> Path:
    recorded = started.data.get("workdir")
    if not isinstance(recorded, str) or not recorded:
        return Path.cwd()
    path = trusted_path(recorded, root, "working directory", run_id)
    if not path.is_dir():
        raise StateError(f"the working directory of run {run_id} is gone: {path} is not one")
    return path


def _executor(started: AuditEvent) -> Mapping[str, Any] | None:
    recorded = started.data.get("executor")
    return recorded if isinstance(recorded, Mapping) else None


def _max_parallel(wf: Workflow, started: AuditEvent) -> int:
    recorded = started.data.get("max_parallel")
    if isinstance(recorded, int) and not isinstance(recorded, bool) and recorded >= 1:
        return recorded
    return wf.max_parallel_steps


def _outputs_json(raw: Mapping[str, Any] | str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise UsageError(f"--outputs is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError(f"--outputs must be a JSON object, got {type(value).__name__}")
    return value


# -- --from and --skip -------------------------------------------------------------------------


class _Tree:
    """Where each step sits: its container and its siblings."""

    def __init__(self, wf: Workflow) -> None:
        self.wf = wf
        self.steps: dict[str, Step] = {}
        self.parent: dict[str, Step | None] = {}
        for step, container in wf.walk():
            self.steps.setdefault(step.id, step)
            self.parent.setdefault(step.id, container)

    def siblings(self, step_id: str) -> Sequence[Step]:
        container = self.parent[step_id]
        return container.children() if container is not None else self.wf.steps

    def in_loop(self, step_id: str) -> bool:
        container = self.parent.get(step_id)
        while container is not None:
            if isinstance(container, LoopStep):
                return True
            container = self.parent.get(container.id)
        return False

    def unknown(self, option: str, name: str) -> UsageError:
        close = difflib.get_close_matches(local_id(name), list(self.steps), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return UsageError(f"{option} {name}: the workflow has no step {local_id(name)!r}{hint}")


def _downstream(siblings: Sequence[Step], start: str) -> list[str]:
    """`start` and every sibling that runs after it: dependents and error handlers."""
    after: dict[str, list[str]] = {}
    for step in siblings:
        for dep in step.dependencies:
            after.setdefault(dep, []).append(step.id)
        after.setdefault(step.id, []).extend(step.error_handlers)
    seen = {start: None}
    stack = [start]
    while stack:
        for nxt in after.get(stack.pop(), ()):
            if nxt not in seen:
                seen[nxt] = None
                stack.append(nxt)
    return list(seen)


def _subtree(tree: _Tree, step: Step, prefix: str, known: Sequence[str]) -> list[str]:
    """Qualified ids of everything inside a container that the journal knows."""
    if isinstance(step, LoopStep):
        inner = f"{prefix}{step.id}["
        return [qid for qid in known if qid.startswith(inner)]
    if isinstance(step, ParallelStep):
        out = []
        for child in step.parallel_steps:
            out.append(prefix + child.id)
            out.extend(_subtree(tree, child, prefix, known))
        return out
    return []


def _container_prefix(prefix: str, container: Step) -> str:
    """The prefix of a container's own qid, given the prefix of its children."""
    if isinstance(container, LoopStep):
        inner = prefix[:-1]  # "outer.loop[3]." -> "outer.loop[3]"
        return inner[: inner.rfind("[")][: -len(container.id)]
    return prefix  # a parallel's children are named like their container's siblings


def reset_set(tree: _Tree, qid: str, known: Sequence[str]) -> list[str]:
    """What `--from qid` runs again: qid and its downstream, with their insides, then each
    enclosing container and its downstream, up to the top level."""
    out: dict[str, None] = {}
    step_id = local_id(qid)
    prefix = qid[: len(qid) - len(step_id)]
    whole = True  # the target's own inside runs again; a container above only in part
    while True:
        for sibling_id in _downstream(tree.siblings(step_id), step_id):
            out[prefix + sibling_id] = None
            if sibling_id != step_id or whole:
                out.update(dict.fromkeys(_subtree(tree, tree.steps[sibling_id], prefix, known)))
        container = tree.parent[step_id]
        if container is None:
            return list(out)
        prefix = _container_prefix(prefix, container)
        step_id = container.id
        whole = False


def _targets(tree: _Tree, replay: Replay, option: str, name: str) -> list[str]:
    """The qualified ids NAME stands for: itself, or every iteration of a loop child."""
    step_id = local_id(name)
    if step_id not in tree.steps:
        raise tree.unknown(option, name)
    if name != step_id or not tree.in_loop(step_id):
        return [name]
    return [qid for qid in replay.latest if local_id(qid) == step_id]


def _plan_from(plan: ResumePlan, name: str) -> None:
    tree = _Tree(plan.workflow)
    replay = plan.replay
    known = list(replay.latest)
    reset: dict[str, None] = {}
    for qid in _targets(tree, replay, "--from", name):
        reset.update(dict.fromkeys(reset_set(tree, qid, known)))
    for qid in reset:
        if qid in replay.latest or qid in replay.decisions or qid in replay.requested:
            note = {"reason": f"resume --from {name}"}
            plan.notes.append((RESET, qid, note))
            replay.apply(_note_event(plan, RESET, qid, note))


def _plan_skip(plan: ResumePlan, name: str, outputs: dict[str, Any]) -> None:
    tree = _Tree(plan.workflow)
    replay = plan.replay
    candidates = _targets(tree, replay, "--skip", name)
    open_ = [q for q in candidates if replay.state(q) in _SKIPPABLE]
    if len(candidates) > 1:
        if len(open_) != 1:
            listed = ", ".join(open_ or candidates)
            raise UsageError(f"--skip {name}: name one iteration: {listed}")
        candidates = open_
    if not candidates:
        raise UsageError(f"--skip {name}: this run has not reached that step yet")
    qid = candidates[0]
    state = replay.state(qid)
    latest = replay.latest.get(qid)
    if state not in _SKIPPABLE or (latest is not None and latest.data.get("handled") is True):
        raise UsageError(
            f"--skip {qid}: the step is {state.value}; only a failed, cancelled or unfinished "
            "step can be marked done"
        )
    step = tree.steps[local_id(qid)]
    data = {
        "type": step.type.value,
        "status": StepStatus.COMPLETED.value,
        "duration": 0.0,
        "attempts": 0,
        "outputs": outputs,
        "skipped_by_user": True,
    }
    plan.notes.append(("step_completed", qid, data))
    replay.apply(_note_event(plan, "step_completed", qid, data))


def _note_event(plan: ResumePlan, event: str, step: str, data: dict[str, Any]) -> AuditEvent:
    """The event as it will be written, for the in-memory replay."""
    return AuditEvent(
        ts=utc_timestamp(),
        seq=plan.replay.next_seq,
        run_id=plan.run_id,
        event=event,
        step=step,
        attempt=None,
        data=data,
    )


# -- running the resumed session ------------------------------------------------------------


async def aresume(
    plan: ResumePlan,
    *,
    executor: ExecutorChoice = LOCAL,
    **options: Unpack[SessionArguments],
) -> RunResult:
    """Continue a planned run to its end (or its next pause) and return what happened."""
    built = RunOptions.of(state_dir=plan.paths.state_dir, executor=executor, **options)
    return await continue_run(plan, built)


async def continue_run(plan: ResumePlan, options: RunOptions) -> RunResult:
    """aresume with its options built. The state directory and the working directory are
    the plan's (the run's own); `force_all` and `force_run` do not apply to a resume."""
    wf = plan.workflow
    options = replace(options, state_dir=plan.paths.state_dir, workdir=plan.workdir)
    reg = options.registry if options.registry is not None else default_registry()
    check_approvals(wf, options.approve)
    if options.max_parallel is not None and options.max_parallel < 1:
        raise UsageError(f"--max-parallel must be at least 1, got {options.max_parallel}")
    restore = Restore(plan.replay.restored())
    run = RunSession(
        wf,
        options,
        inputs=plan.inputs,
        masker=secrets_masker(wf),
        paths=plan.paths,
        registry=reg,
        max_parallel=options.max_parallel or plan.max_parallel,
        workdir=plan.workdir,
        resumption=Resumption(
            replay=plan.replay,
            restore=restore,
            next_seq=_next_seq(plan),
            notes=tuple(plan.notes),
            started_from=plan.started_from,
        ),
    )
    return await run.execute()


def _next_seq(plan: ResumePlan) -> int:
    # Notes were applied to the replay with the seqs they will be written with.
    return plan.replay.next_seq - len(plan.notes)


def unchanged_result(plan: ResumePlan) -> RunResult:
    """A completed run as its journal tells it, for a resume that has nothing to do."""
    from flowctl.runner.engine.rundata import initial_workflow_data

    restore = Restore(plan.replay.restored())
    tree = _Tree(plan.workflow)
    steps = {}
    for qid in plan.replay.latest:
        restored = restore.get(qid)
        step = tree.steps.get(local_id(qid))
        if restored is not None and step is not None:
            steps[qid] = restored.result(step.type, None)
    finished = plan.replay.last_finished
    ended = parse_ts(finished.ts) if finished is not None else None
    data = initial_workflow_data(plan.workflow, plan.inputs)
    restore.rebuild(data, tree.steps, {"workflow": data, "inputs": plan.inputs})
    return RunResult(
        run_id=plan.run_id,
        workflow=plan.workflow.name,
        status=RunStatus.COMPLETED,
        steps=steps,
        data=data,
        inputs=plan.inputs,
        started_at=plan.started_from,
        finished_at=ended or plan.started_from,
        paths=plan.paths,
        report_path=plan.paths.report,
        resumed=True,
    )


def resume_workflow(
    run_id: str,
    *,
    state_dir: Path | str = DEFAULT_STATE_DIR,
    from_step: str | None = None,
    skip: str | None = None,
    skip_outputs: Mapping[str, Any] | str | None = None,
    force: bool = False,
    executor: ExecutorChoice | None = None,
    **options: Unpack[SessionArguments],
) -> RunResult:
    """Resume a run synchronously (the Python API of `flowctl resume`).

    A run that already completed is returned as recorded, and nothing is written.
    Without `executor`, the run resumes where $FLOWCTL_EXECUTOR, the spec, or else its
    journal says it ran. Other options are those of `aresume`.
    """
    plan = plan_resume(
        state_dir, run_id, from_step=from_step, skip=skip, skip_outputs=skip_outputs, force=force
    )
    if plan.complete:
        return unchanged_result(plan)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise UsageError("resume_workflow was called inside an event loop; await aresume")
    built = RunOptions.of(
        state_dir=plan.paths.state_dir,
        executor=executor or checked_choice(plan.workflow, recorded=plan.executor),
        **options,
    )
    return run_to_end(continue_run(plan, built))

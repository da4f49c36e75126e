"""The runner's side of `sources:`/`generates:`: skip up-to-date steps, check what ran.

Before a step with files runs, its fingerprint is compared with the record of its last
successful run (flowctl.files.freshness); an up-to-date step is not run and gets its
recorded outputs back. A step about to run loses its record first, so a run that fails
halfway can never leave it looking up to date. After a successful run every `generates`
pattern must match a file, and the new record is written.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from msgspec import Struct, field

from flowctl.errors import ExpressionError, UsageError
from flowctl.expressions import is_template
from flowctl.files.freshness import (
    Definition,
    Snapshot,
    matched,
    missing_generated,
    stale_reason,
    take_snapshot,
)
from flowctl.files.hashing import json_digest
from flowctl.files.patterns import is_glob, render_patterns
from flowctl.runner.steps.base import FailureKind, StepFailure
from flowctl.secrets import SecretMasker
from flowctl.spec.model import ActionStep, Step, Workflow
from flowctl.state.fingerprints import FingerprintStore, StepFiles

# Workflow env entries that change every run and say nothing of what a step does.
_RUN_ENV = frozenset({"FLOWCTL_RUN_ID"})


class FileOptions(Struct, frozen=True, kw_only=True):
    """How a run treats steps with files: where records live, and what is forced to run."""

    state_dir: Path
    force_all: bool = False
    forced: frozenset[str] = field(default_factory=frozenset)  # step ids

    def is_forced(self, step: Step) -> bool:
        return self.force_all or step.id in self.forced


def has_files(step: Step) -> bool:
    return isinstance(step, ActionStep) and bool(step.sources or step.generates)


def forced_steps(wf: Workflow, names: Sequence[str]) -> frozenset[str]:
    """`--force-run STEP…`: those steps, what depends on them, and what they contain.

    A step inside a container also forces what depends on that container, up to the top.
    UsageError for a name that is no step of the workflow.
    """
    parents: dict[str, Step | None] = {}
    for step, parent in wf.walk():
        parents[step.id] = parent

    def siblings(step_id: str) -> Sequence[Step]:
        parent = parents[step_id]
        return parent.children() if parent is not None else wf.steps

    whole: set[str] = set()  # forced with everything inside them
    containers: set[str] = set()  # forced because a step inside them is
    for name in names:
        if name not in parents:
            raise UsageError(f"--force-run {name}: the workflow has no step {name!r}")
        whole.update(_dependents(siblings(name), name))
        outer = parents[name]
        while outer is not None:
            containers.add(outer.id)
            whole.update(_dependents(siblings(outer.id), outer.id) - {outer.id})
            outer = parents[outer.id]
    inner = {c.id for sid in whole for c, _ in _walk(_find(wf, sid))}
    return frozenset(whole | containers | inner)


def _find(wf: Workflow, step_id: str) -> Step:
    return wf.step(step_id)


def _walk(step: Step) -> Iterable[tuple[Step, Step]]:
    for child in step.children():
        yield child, step
        yield from _walk(child)


def _dependents(siblings: Sequence[Step], start: str) -> set[str]:
    after: dict[str, list[str]] = {}
    for step in siblings:
        for dep in step.dependencies:
            after.setdefault(dep, []).append(step.id)
    seen = {start}
    stack = [start]
    while stack:
        for nxt in after.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def step_definition(
    step: ActionStep, names: Mapping[str, Any], run_env: Mapping[str, str]
) -> Definition:
    """The rendered parts of a step's fingerprint. Raises ExpressionError."""
    # Only is_template (imported above) unless a template is found: the rest imports
    # Jinja2, which a step without `{{ }}` must not pay for (70 ms of a no-op run).
    command: Any
    env: dict[str, str] = {k: v for k, v in run_env.items() if k not in _RUN_ENV}
    if step.command is not None:
        cmd = step.command
        if is_template(cmd.run):
            from flowctl.expressions import render_shell

            script = render_shell(cmd.run, names)
            command = ["run", script.script, dict(script.env), cmd.shell, cmd.working_dir]
        else:
            command = ["run", cmd.run, {}, cmd.shell, cmd.working_dir]
        for key, value in cmd.env.items():
            env[key] = _render(value, names) if is_template(value) else value
    elif step.python is not None:
        command = ["python", step.python]
    else:
        command = ["agent", step.agent_capability]
    return Definition(
        command=command,
        params=names.get("params") or {},
        env=env,
        sources=render_patterns(step.sources, names),
        generates=render_patterns(step.generates, names),
    )


def _render(text: str, names: Mapping[str, Any]) -> str:
    from flowctl.expressions import compile_template

    return compile_template(text).render(names)


def step_root(
    step: ActionStep, names: Mapping[str, Any], workdir: Path, masker: SecretMasker
) -> Path:
    """The directory a step's patterns are relative to: its working_dir, else the run's."""
    working_dir = step.command.working_dir if step.command is not None else None
    if working_dir is None:
        return workdir
    from flowctl.runner.steps.action import working_dir_in

    return working_dir_in(working_dir, workdir, names, masker)


def _masked(definition: Definition, masker: SecretMasker) -> Definition:
    """The definition with secret values as `***`: the record on disk holds a digest of
    it, and a fast digest of a secret would let anyone holding the file test guesses.
    (So a rotated secret does not make a step out of date.)"""
    return Definition(
        command=masker.mask_json(definition.command),
        params=masker.mask_json(definition.params),
        env=masker.mask_json(dict(definition.env)),
        sources=definition.sources,
        generates=definition.generates,
    )


@functools.lru_cache(maxsize=8)
def _store(state_dir: Path) -> FingerprintStore:
    # One per state directory, not one per step: its paths cost a few µs to build.
    return FingerprintStore(state_dir)


def record_key(workflow: str, root: Path, qid: str) -> str:
    return json_digest([workflow, str(root), qid])


class FileCheck(Struct):
    """One step's files before it runs: its snapshot, its record, and the verdict."""

    store: FingerprintStore
    key: str
    definition: Definition
    snapshot: Snapshot
    previous: StepFiles | None
    reason: str | None  # None: up to date
    generated: dict[str, tuple[str, ...]] | None = None  # after a success: what it made

    @property
    def up_to_date(self) -> bool:
        return self.reason is None

    def generated_now(self) -> dict[str, tuple[str, ...]]:
        return matched(self.definition.generates, self.snapshot.root)

    def finish(self, outputs: Mapping[str, Any], run_id: str, masker: SecretMasker) -> None:
        """After a success: every pattern matched a file (else StepFailure); record it."""
        generated = self.generated_now()
        self.generated = generated
        missing = missing_generated(generated)
        if missing:
            raise StepFailure(
                masker.mask(
                    "the step did not produce what it generates: no file matches "
                    + ", ".join(missing)
                    + f" (in {self.snapshot.root})"
                ),
                kind=FailureKind.ERROR,
                retryable=False,
            )
        snapshot = self.snapshot
        produced = {f for files in generated.values() for f in files}
        if not produced.isdisjoint(snapshot.sources.paths):
            # The step rewrote some of its own sources: fingerprint what it left behind.
            snapshot = take_snapshot(self.definition, snapshot.root, None)
        record = snapshot.record(generated, masker.mask_json(dict(outputs)), run_id)
        self.store.save(self.key, record)


def check_files(
    step: ActionStep,
    qid: str,
    *,
    workflow: str,
    names: Mapping[str, Any],
    run_env: Mapping[str, str],
    workdir: Path,
    masker: SecretMasker,
    options: FileOptions,
) -> FileCheck:
    """Snapshot a step's files and decide whether it must run (blocking: call in a thread).

    Raises StepFailure for a template that fails or a working_dir that is not one.
    """
    try:
        definition = _masked(step_definition(step, names, run_env), masker)
        root = step_root(step, names, workdir, masker)
    except ExpressionError as err:
        raise StepFailure(
            masker.mask(f"sources/generates: {err.message}"),
            kind=FailureKind.EXPRESSION,
            retryable=False,
        ) from None
    store = _store(options.state_dir)
    key = record_key(workflow, root, qid)
    previous = store.load(key)
    snapshot = take_snapshot(definition, root, previous)
    reason = "forced" if options.is_forced(step) else stale_reason(snapshot, previous)
    if reason is None and previous is not None and (snapshot.restamped or previous.legacy):
        # Touched, not changed (a checkout, another tool's copy): record the new times, or
        # every later run would read and hash those files again.
        store.save(key, previous.with_sources(snapshot.sources, snapshot.stamps))
    return FileCheck(
        store=store,
        key=key,
        definition=definition,
        snapshot=snapshot,
        previous=previous,
        reason=reason,
    )


async def acheck_files(step: ActionStep, qid: str, **kwargs: Any) -> FileCheck:
    """check_files off the event loop when it globs; literal paths cost a few stat calls,
    less than the hop to a worker thread (a third of a no-op step's time, measured)."""
    if any(is_glob(p) for p in (*step.sources, *step.generates)):
        import asyncio  # here: a dry run checks files too, and needs no event loop

        return await asyncio.to_thread(check_files, step, qid, **kwargs)
    return check_files(step, qid, **kwargs)

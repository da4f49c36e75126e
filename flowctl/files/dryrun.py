"""`run --dry-run` for steps with files: up to date, or why it would run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flowctl.errors import ExpressionError
from flowctl.spec.model import ActionStep, LoopStep, Step, Workflow


def file_verdicts(
    wf: Workflow,
    inputs: Mapping[str, Any],
    *,
    state_dir: Path,
    workdir: Path,
    force_all: bool = False,
    force_run: Sequence[str] = (),
) -> dict[str, str]:
    """Step id -> "up to date" or "will run: <why>", for every step with files.

    Steps in a loop are decided per iteration, and a step whose params or patterns need
    an earlier step's outputs cannot be decided before the run: both say so. A step that
    is up to date now but comes after one that will run may still run (its sources may
    change), and says that too.
    """
    from flowctl.runner.engine.rundata import build_run_data, resolve_params
    from flowctl.runner.filesteps import FileOptions, check_files, forced_steps, has_files
    from flowctl.runner.session import secrets_masker
    from flowctl.runner.steps.base import StepFailure

    masker = secrets_masker(wf)
    options = FileOptions(
        state_dir=state_dir,
        force_all=force_all,
        forced=forced_steps(wf, force_run) if force_run else frozenset(),
    )
    data = build_run_data(wf, inputs, run_id="dry-run", started_at="")
    verdicts: dict[str, str] = {}
    in_loop: set[str] = set()
    for step, parent in wf.walk():
        if isinstance(parent, LoopStep) or (parent is not None and parent.id in in_loop):
            in_loop.add(step.id)
    for step, _ in wf.walk():
        if not has_files(step) or not isinstance(step, ActionStep):
            continue
        if step.id in in_loop:
            verdicts[step.id] = "decided per loop iteration when the run gets there"
            continue
        names: dict[str, Any] = {
            "workflow": data.workflow,
            "inputs": data.inputs,
            "env": data.env,
            "run": data.run,
            "steps": {},
        }
        try:
            names["params"] = resolve_params(step, names)
            check = check_files(
                step,
                step.id,
                workflow=wf.name,
                names=names,
                run_env=data.step_env,
                workdir=workdir,
                masker=masker,
                options=options,
            )
        except (StepFailure, ExpressionError) as exc:
            verdicts[step.id] = f"cannot tell before the run: {exc}"
            continue
        verdicts[step.id] = "up to date" if check.up_to_date else f"will run: {check.reason}"
    _after_runners(wf.steps, verdicts)
    return verdicts


def _after_runners(steps: Sequence[Step], verdicts: dict[str, str]) -> None:
    """An up-to-date step after one that will run may run too: say after which."""
    will_run = {sid for sid, text in verdicts.items() if not text.startswith("up to date")}
    by_id = {s.id: s for s in steps}
    after: dict[str, list[str]] = {}
    waiting = {}
    for step in steps:
        deps = [d for d in dict.fromkeys(step.dependencies) if d in by_id]
        waiting[step.id] = len(deps)
        for dep in deps:
            after.setdefault(dep, []).append(step.id)
    runner_of: dict[str, str | None] = {}
    ready = [sid for sid, n in waiting.items() if n == 0]
    while ready:  # Kahn's order: every step after all its dependencies
        sid = ready.pop()
        found = runner_of.get(sid)
        if found is not None and verdicts.get(sid) == "up to date":
            verdicts[sid] = f"up to date now; may run after '{found}' runs"
        passed = sid if sid in will_run else found
        for nxt in after.get(sid, ()):
            if passed is not None and runner_of.get(nxt) is None:
                runner_of[nxt] = passed
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                ready.append(nxt)
    for step in steps:
        if step.children():
            _after_runners(step.children(), verdicts)

"""Pick the executor (command line, then environment, then spec) and open it for a run."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flowctl.errors import Problem, SpecError, UsageError
from flowctl.runner.executors.api import LOCAL, Executor, ExecutorChoice, ExecutorKind
from flowctl.spec.model import ActionStep, ExecutorSpec, Step, Workflow

ENV_EXECUTOR = "FLOWCTL_EXECUTOR"
ENV_SCHEDULER = "FLOWCTL_DASK_SCHEDULER"


def choose_executor(
    wf: Workflow,
    *,
    executor: str | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    environ: Mapping[str, str] | None = None,
    recorded: Mapping[str, Any] | None = None,
) -> ExecutorChoice:
    """The run's executor: `--executor`/`--scheduler`/`--workers`, else $FLOWCTL_EXECUTOR
    and $FLOWCTL_DASK_SCHEDULER, else the spec's `executor:`, else (on resume) the one the
    run `recorded`, else local."""
    env = os.environ if environ is None else environ
    spec = wf.executor
    if spec is None and recorded is not None and isinstance(recorded.get("type"), str):
        spec = ExecutorSpec(
            kind=recorded["type"],
            scheduler=recorded.get("scheduler")
            if isinstance(recorded.get("scheduler"), str)
            else None,
            workers=recorded.get("workers") if isinstance(recorded.get("workers"), int) else None,
        )
    name = executor or env.get(ENV_EXECUTOR) or (spec.kind if spec else None) or "local"
    try:
        kind = ExecutorKind(name.strip().lower())
    except ValueError:
        choices = ", ".join(k.value for k in ExecutorKind)
        raise UsageError(f"unknown executor {name!r}: choose one of {choices}") from None
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if kind is ExecutorKind.LOCAL:
        if scheduler is not None or workers is not None:
            flag = "--scheduler" if scheduler is not None else "--workers"
            raise UsageError(f"{flag} needs --executor dask")
        return LOCAL
    address = scheduler or env.get(ENV_SCHEDULER) or (spec.scheduler if spec else None) or None
    if address is not None and workers is not None:
        raise UsageError(
            "--workers starts a local cluster of that size; with a scheduler address the "
            "cluster's own workers run the steps (leave out --workers)"
        )
    return ExecutorChoice(
        kind=kind,
        scheduler=address,
        workers=workers if workers is not None else (spec.workers if spec else None),
    )


def checked_choice(
    wf: Workflow,
    *,
    executor: str | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    recorded: Mapping[str, Any] | None = None,
) -> ExecutorChoice:
    """choose_executor, then refuse at once (exit 2) a Dask executor that is not installed
    or a workflow whose steps cannot cross to its workers."""
    choice = choose_executor(
        wf, executor=executor, scheduler=scheduler, workers=workers, recorded=recorded
    )
    if choice.kind is not ExecutorKind.LOCAL:
        from flowctl.runner.executors.dask import require_distributed

        require_distributed()
        problems = remote_problems(wf)
        if problems:
            raise SpecError(problems)
    return choice


def remote_problems(wf: Workflow) -> list[Problem]:
    """What cannot run on a remote executor, found before anything runs."""
    from flowctl.runner.calls.pycall import PythonRefError, resolve

    problems = []
    for step, _ in wf.walk():
        if not isinstance(step, ActionStep) or step.python is None:
            continue
        try:
            target = resolve(step.python)
        except PythonRefError:
            continue  # maybe importable on the workers only: the attempt says
        if target.accepts_ctx:
            problems.append(
                Problem(
                    f"step '{step.id}': {step.python} takes `ctx`, which cannot cross to a "
                    "Dask worker (remove the parameter, or run with --executor local)",
                    step.where("python"),
                    path=step.id,
                    code="remote",
                )
            )
    return problems


def spec_modules(wf: Workflow) -> list[Path]:
    """The modules and packages next to the spec that its python steps name: they are
    shipped to the workers (anything else must be installed there)."""
    if not wf.source or not Path(wf.source).is_file():
        return []
    base = Path(wf.source).resolve().parent
    found: dict[str, Path] = {}
    for step, _ in wf.walk():
        if not isinstance(step, ActionStep) or step.python is None:
            continue
        top = step.python.strip().partition(":")[0].partition(".")[0]
        if top in found:
            continue
        if (base / f"{top}.py").is_file():
            found[top] = base / f"{top}.py"
        elif (base / top / "__init__.py").is_file():
            found[top] = base / top
    return list(found.values())


async def open_executor(
    choice: ExecutorChoice, wf: Workflow, workdir: Path | None = None
) -> Executor | None:
    """The run's executor, started (None: the local one, which needs no starting).

    Steps that declare files (`sources`/`generates`) are checked and fingerprinted by
    flowctl on its own filesystem: under Dask they run only when every worker sees
    flowctl's working directory (`workdir`) as flowctl does, which is probed here.
    """
    if choice.kind is ExecutorKind.LOCAL:
        return None
    from flowctl.runner.executors.dask import DaskExecutor, require_distributed

    require_distributed()
    problems = remote_problems(wf)
    if problems:
        raise SpecError(problems)
    executor = await DaskExecutor.start(choice, modules=spec_modules(wf))
    from flowctl.runner.filesteps import has_files

    with_files = [step for step, _ in wf.walk() if has_files(step)]
    if with_files:
        try:
            blind = await executor.workers_without(workdir or Path.cwd())
        except BaseException:
            await executor.aclose()
            raise
        if blind:
            await executor.aclose()
            raise SpecError(
                [_no_shared_files(step, blind, workdir or Path.cwd()) for step in with_files]
            )
    return executor


def _no_shared_files(step: Step, blind: list[str], workdir: Path) -> Problem:
    key = "sources" if isinstance(step, ActionStep) and step.sources else "generates"
    workers = ", ".join(blind[:3]) + (f" and {len(blind) - 3} more" if len(blind) > 3 else "")
    return Problem(
        f"step '{step.id}' declares {key}, which flowctl checks on its own filesystem, but "
        f"Dask worker {workers} does not see {workdir} (no shared filesystem): run it with "
        "--executor local, or on workers that share this directory",
        step.where(key),
        path=step.id,
        code="remote",
    )

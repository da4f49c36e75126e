"""The local executor: commands as child processes of flowctl, python callables on threads."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowctl.runner.calls.process import ProcessResult, run_process
from flowctl.runner.executors.api import ExecutorKind

if TYPE_CHECKING:
    from flowctl.runner.steps.base import StepContext


class LocalExecutor:
    """Everything runs in or under flowctl's own process (the default)."""

    kind = ExecutorKind.LOCAL
    capacity: int | None = None
    local_files = True

    async def shell(
        self,
        ctx: StepContext,
        argvs: Sequence[Sequence[str]],
        *,
        cwd: Path,
        env: Mapping[str, str],
        output_path: Path,
        metrics_path: Path,
    ) -> ProcessResult:
        full = dict(os.environ)
        full.update(env)
        full["FLOWCTL_OUTPUT"] = str(output_path)
        full["FLOWCTL_METRICS"] = str(metrics_path)
        for argv in argvs[:-1]:
            try:
                return await run_process(
                    argv, cwd=cwd, env=full, masker=ctx.masker, log=ctx.log, spawned=ctx.spawned
                )
            except (OSError, ValueError):
                pass  # the next form (the shell) handles or reports it the way users know
        return await run_process(
            argvs[-1], cwd=cwd, env=full, masker=ctx.masker, log=ctx.log, spawned=ctx.spawned
        )

    async def python(self, ctx: StepContext, reference: str, kwargs: Mapping[str, Any]) -> Any:
        # Imported here: a workflow of shell steps never resolves a callable.
        from flowctl.runner.calls.pycall import resolve
        from flowctl.runner.calls.threadcall import call_in_thread

        target = resolve(reference)
        if target.is_async:
            return await target.function(**kwargs)
        # Sync code may block; it runs on a worker thread. A timeout abandons it there
        # (Python cannot kill a thread): the step fails, the thread finishes on its own.
        value = await call_in_thread(functools.partial(target.function, **kwargs))
        if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
            value = await value
        return value

    async def aclose(self) -> None:
        return None


LOCAL_EXECUTOR = LocalExecutor()

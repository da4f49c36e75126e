"""What running or undoing a step uses from its run, as one frozen value.

The scheduler builds it once per run. Step execution (`stepexec`) and the saga take what
they need from here, and report back through their scope or their return value, so a
field of the Scheduler can change without reading three files.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import Struct

from flowctl.state.paths import safe_file_stem

if TYPE_CHECKING:
    import httpx

    from flowctl.runner.agents.dispatch import AgentDispatcher
    from flowctl.runner.engine.rundata import ParamValidator, RunData
    from flowctl.runner.events import RunEvent
    from flowctl.runner.executors.api import Executor
    from flowctl.runner.failure.circuit import CircuitBreakers
    from flowctl.runner.filesteps import FileOptions
    from flowctl.runner.steps.base import Approvals
    from flowctl.runner.steps.registry import Registry
    from flowctl.secrets import SecretMasker
    from flowctl.state.cache import StepCache


class StepFiles:
    """Where a step's log goes, and a private scratch directory per attempt."""

    def __init__(self, logs_dir: Path, scratch: Path) -> None:
        self._logs_dir = logs_dir
        self._scratch = scratch
        self._scratch_count = 0

    def log_path(self, qid: str) -> Path:
        """logs/<step>.log (RunPaths.log, without rebuilding the directory path per step)."""
        return self._logs_dir / f"{safe_file_stem(qid)}.log"

    def new_scratch(self, *, create: bool) -> Path:
        """A private directory path for one attempt (made now when `create`)."""
        self._scratch_count += 1
        path = self._scratch / str(self._scratch_count)
        if create:
            path.mkdir()
        return path


class RunServices(Struct, frozen=True, kw_only=True):
    """The run's services, fixed for its whole life: a step uses them, never replaces them."""

    run_id: str
    workdir: Path
    data: RunData
    masker: SecretMasker
    registry: Registry
    pool: asyncio.Semaphore  # the run's max_parallel_steps slots
    files: StepFiles
    http_client: Callable[[], Awaitable[httpx.AsyncClient]]
    cache: StepCache | None
    gate: Approvals | None
    breakers: CircuitBreakers
    validator: ParamValidator
    emit: Callable[[RunEvent], None]
    executor: Executor | None = None  # where action steps' work runs; None = this process
    agents: AgentDispatcher | None = None  # workflows with agents
    workflow_name: str = ""
    file_options: FileOptions | None = None  # sources/generates; None when no step has any

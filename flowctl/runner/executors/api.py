"""Where action steps run: the executor contract the step modules call, and the user's choice."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from msgspec import Struct

if TYPE_CHECKING:
    from flowctl.runner.calls.process import ProcessResult
    from flowctl.runner.steps.base import StepContext


class ExecutorKind(enum.StrEnum):
    LOCAL = "local"
    DASK = "dask"


class ExecutorChoice(Struct, frozen=True, kw_only=True):
    """Which executor a run uses, as the command line, the environment or the spec said."""

    kind: ExecutorKind = ExecutorKind.LOCAL
    scheduler: str | None = None  # a Dask scheduler address; None = start a LocalCluster
    workers: int | None = None  # worker processes of that LocalCluster; None = CPU count

    def describe(self) -> dict[str, Any]:
        """What the journal's run_started records (resume reads it back)."""
        data: dict[str, Any] = {"type": self.kind.value}
        if self.scheduler is not None:
            data["scheduler"] = self.scheduler
        if self.workers is not None:
            data["workers"] = self.workers
        return data


LOCAL = ExecutorChoice()


class Executor(Protocol):
    """Runs the work of an action step: a command or a python callable.

    The scheduler, conditions, loops, the journal and everything else stay in flowctl's
    process; only these two calls may go elsewhere. Cancellation (a timeout, Ctrl-C)
    arrives as asyncio.CancelledError: the executor stops the work wherever it runs (no
    process left behind) and re-raises.
    """

    @property
    def kind(self) -> ExecutorKind: ...

    @property
    def capacity(self) -> int | None:
        """How many steps it can run at once (Dask: the workers' threads); None = no limit
        of its own."""
        ...

    @property
    def local_files(self) -> bool:
        """True when the work sees flowctl's own filesystem (paths can be checked here)."""
        ...

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
        """Run the first argv that can start (later ones are fallbacks), in `cwd`, with the
        host's environment plus `env`, its output masked into ctx.log. $FLOWCTL_OUTPUT and
        $FLOWCTL_METRICS end up at `output_path` and `metrics_path` here. Spawn errors of
        the last argv raise OSError/ValueError."""
        ...

    async def python(self, ctx: StepContext, reference: str, kwargs: Mapping[str, Any]) -> Any:
        """Call the callable named by `reference` with `kwargs` and return its value (a
        coroutine function is awaited)."""
        ...

    async def aclose(self) -> None:
        """Release what the executor holds (a cluster it started, its client)."""
        ...

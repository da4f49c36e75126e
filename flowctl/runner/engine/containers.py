"""The interface between container step types (parallel, loop) and the scheduler."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from msgspec import Struct

from flowctl.runner.results import StepResult
from flowctl.runner.steps.base import FailureKind, Outputs, StepContext, StepFailure
from flowctl.spec.model import Step


class ScopeOutcome(Struct, frozen=True, kw_only=True):
    """How one run of a group of sibling steps ended.

    `failure` is set when a step failed in a way the scope does not tolerate (for a
    parallel container: when min_success_ratio can no longer be met); `cause` names the
    innermost step at the root of it. `stopped` is set when the scope was stopped from
    outside (a sibling iteration failed, the run was cancelled). `waiting` names children
    parked for an approval: the steps behind them did not run, the container must wait.
    """

    results: Mapping[str, StepResult]  # local step id -> result, in file order
    names: Mapping[str, Any]  # the `steps` entries the scope published
    failure: str | None = None
    cause: str | None = None
    stopped: str | None = None
    waiting: tuple[str, ...] = ()  # qualified ids of children waiting for an approval

    @property
    def ok(self) -> bool:
        """Every child finished and none failed in a way the scope does not tolerate."""
        return self.failure is None and self.stopped is None and not self.waiting

    def outputs_by_id(self) -> dict[str, Any]:
        """Each child's outputs: shelved ones stay references (stored_outputs)."""
        from flowctl.runner.stored_outputs import kept

        return {sid: kept(r.outputs) for sid, r in self.results.items()}


class ChildScope(Protocol):
    """One scheduled group of child steps (a parallel body, one loop iteration)."""

    def stop(self, reason: str) -> None:
        """Cancel running children and start no new ones (cleanup steps still run)."""
        ...

    async def run(self) -> ScopeOutcome: ...


class Children(Protocol):
    """What the scheduler offers a container to run its children."""

    @property
    def prefix(self) -> str:
        """The qualified-id prefix of the container's own scope ("" at top level)."""
        ...

    @property
    def keep_going(self) -> bool:
        """True when a failed child must not stop its independent siblings (--keep-going)."""
        ...

    def label_iterations(self, labels: Sequence[str]) -> None:
        """Tell the run's observers how this loop names its iterations (LoopLabelled)."""
        ...

    def shown(self, qid: str) -> str:
        """`qid` as messages name it: loop iterations by their labels."""
        ...

    def scope(
        self,
        steps: Sequence[Step],
        *,
        prefix: str,
        variables: Mapping[str, Any] | None = None,
        own_names: bool = False,
        max_concurrency: int | None = None,
        min_success_ratio: float = 1.0,
    ) -> ChildScope:
        """A scope of `steps` named `<prefix><id>`.

        `variables` are added to the names children see (item, index); `own_names` gives
        the scope its own `steps` entries over the enclosing ones (a loop iteration), else
        children publish into the container's scope (a parallel body).
        """
        ...


class ContainerExecutor(Protocol):
    """A step type whose work is running child steps through the scheduler."""

    async def execute(self, ctx: StepContext, children: Children) -> Outputs: ...


class ContainerFailure(StepFailure):
    """A container failed; `cause` is the qualified id of the child at the root of it."""

    def __init__(
        self,
        message: str,
        *,
        cause: str | None = None,
        outputs: Outputs | None = None,
    ) -> None:
        super().__init__(message, kind=FailureKind.ERROR, retryable=False, outputs=outputs)
        self.cause = cause

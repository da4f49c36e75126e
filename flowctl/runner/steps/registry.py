"""Every step type flowctl can run, in one typed mapping: a new type is one new module."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from msgspec import Struct

from flowctl.runner.engine.containers import ContainerExecutor
from flowctl.runner.steps.base import StepExecutor
from flowctl.spec.model import StepType


class StepTypeEntry(Struct, frozen=True):
    """How the scheduler drives one step type.

    A leaf runs its executor once per attempt while holding one of the run's
    `max_parallel_steps` slots (`uses_slot`); a container runs its children through the
    scheduler and holds no slot, so nesting cannot starve the pool.
    """

    leaf: StepExecutor | None = None
    container: ContainerExecutor | None = None
    uses_slot: bool = True

    def __post_init__(self) -> None:
        if (self.leaf is None) == (self.container is None):
            raise ValueError("a step type is either a leaf or a container")


Registry = Mapping[StepType, StepTypeEntry]


@functools.cache
def default_registry() -> Registry:
    """The built-in step types."""
    from flowctl.runner.steps import action, condition, human_task, loop, parallel, wait, webhook

    return {
        StepType.ACTION: StepTypeEntry(leaf=action.EXECUTOR),
        StepType.WEBHOOK: StepTypeEntry(leaf=webhook.EXECUTOR),
        StepType.WAIT: StepTypeEntry(leaf=wait.EXECUTOR),
        # Evaluating a few expressions needs no slot: routing never waits behind work.
        StepType.CONDITION: StepTypeEntry(leaf=condition.EXECUTOR, uses_slot=False),
        # Waiting for a person must not keep a slot from the steps that can go on.
        StepType.HUMAN_TASK: StepTypeEntry(leaf=human_task.EXECUTOR, uses_slot=False),
        StepType.PARALLEL: StepTypeEntry(container=parallel.EXECUTOR),
        StepType.LOOP: StepTypeEntry(container=loop.EXECUTOR),
    }

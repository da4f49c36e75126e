"""Every step type flowctl can run, in one typed mapping: a new type is one new module."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping

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


class _BuiltIn(Mapping[StepType, StepTypeEntry]):
    """The built-in step types, each module imported when a step of its type first runs:
    a workflow of shell steps never loads the webhook, loop or approval machinery."""

    def __init__(self) -> None:
        self._entries: dict[StepType, StepTypeEntry] = {}

    def __getitem__(self, kind: StepType) -> StepTypeEntry:
        entry = self._entries.get(kind)
        if entry is None:
            entry = self._entries[kind] = _entry(kind)
        return entry

    def __contains__(self, kind: object) -> bool:
        return kind in StepType.__members__.values()

    def __iter__(self) -> Iterator[StepType]:
        return iter(StepType)

    def __len__(self) -> int:
        return len(StepType)


def _entry(kind: StepType) -> StepTypeEntry:
    # One branch per type, each importing only its own module.
    match kind:
        case StepType.ACTION:
            from flowctl.runner.steps import action

            return StepTypeEntry(leaf=action.EXECUTOR)
        case StepType.WEBHOOK:
            from flowctl.runner.steps import webhook

            return StepTypeEntry(leaf=webhook.EXECUTOR)
        case StepType.WAIT:
            from flowctl.runner.steps import wait

            return StepTypeEntry(leaf=wait.EXECUTOR)
        case StepType.CONDITION:
            from flowctl.runner.steps import condition

            # Evaluating a few expressions needs no slot: routing never waits behind work.
            return StepTypeEntry(leaf=condition.EXECUTOR, uses_slot=False)
        case StepType.HUMAN_TASK:
            from flowctl.runner.steps import human_task

            # Waiting for a person must not keep a slot from the steps that can go on.
            return StepTypeEntry(leaf=human_task.EXECUTOR, uses_slot=False)
        case StepType.PARALLEL:
            from flowctl.runner.steps import parallel

            return StepTypeEntry(container=parallel.EXECUTOR)
        case StepType.LOOP:
            from flowctl.runner.steps import loop

            return StepTypeEntry(container=loop.EXECUTOR)
    raise KeyError(kind)


@functools.cache
def default_registry() -> Registry:
    """The built-in step types."""
    return _BuiltIn()

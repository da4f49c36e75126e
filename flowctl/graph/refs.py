"""The references between steps as written: dependencies, next_steps, cases, error handlers."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator

from msgspec import Struct

from flowctl.spec.model import ConditionStep, Step


class EdgeKind(enum.StrEnum):
    """Why one step runs after another."""

    DEPENDENCY = "dependency"  # the later step lists the earlier in `dependencies`
    NEXT_STEP = "next_step"  # the earlier step lists the later in `next_steps`
    CASE = "case"  # a condition routes to the later step
    ERROR_HANDLER = "error_handler"  # the later step handles the earlier one's failure
    FILES = "files"  # the later step's sources may be files the earlier one generates


class Ref(Struct, frozen=True):
    """One reference a step makes to another step id, as written in the file."""

    owner: Step
    target: str
    kind: EdgeKind
    key: str  # the key it is written under: dependencies, next_steps, error_handlers, cases...
    index: int  # its position in that list
    case: int | None = None  # CASE refs: the case's index; None for `default`
    # A dependency the loader folded in from a next_steps or case entry: the same edge is
    # reported and drawn from that entry, so it is skipped as a dependency.
    folded: bool = False

    @property
    def edge(self) -> tuple[str, str]:
        """(earlier, later) in run order."""
        if self.kind is EdgeKind.DEPENDENCY or self.kind is EdgeKind.FILES:
            return (self.target, self.owner.id)
        return (self.owner.id, self.target)


def _own_refs(step: Step) -> Iterator[Ref]:
    inferred = step.file_dependencies
    for i, target in enumerate(step.dependencies):
        if inferred and target in inferred:
            # Folded in from files (flowctl.files.infer), not written: drawn as inferred.
            yield Ref(step, target, EdgeKind.FILES, "sources", inferred.index(target))
        else:
            yield Ref(step, target, EdgeKind.DEPENDENCY, "dependencies", i)
    for i, target in enumerate(step.next_steps):
        yield Ref(step, target, EdgeKind.NEXT_STEP, "next_steps", i)
    for i, target in enumerate(step.error_handlers):
        yield Ref(step, target, EdgeKind.ERROR_HANDLER, "error_handlers", i)
    if isinstance(step, ConditionStep):
        for c, case in enumerate(step.cases):
            for i, target in enumerate(case.next_steps):
                yield Ref(step, target, EdgeKind.CASE, f"cases[{c}].next_steps", i, c)
        for i, target in enumerate(step.default):
            yield Ref(step, target, EdgeKind.CASE, "default", i)


def step_refs(steps: Iterable[Step]) -> list[Ref]:
    """Every reference made by `steps`, with folded-in dependencies marked."""
    raw = [ref for step in steps for ref in _own_refs(step)]
    routed = {ref.edge for ref in raw if ref.kind in (EdgeKind.NEXT_STEP, EdgeKind.CASE)}
    return [
        Ref(r.owner, r.target, r.kind, r.key, r.index, r.case, folded=True)
        if r.kind is EdgeKind.DEPENDENCY and r.edge in routed
        else r
        for r in raw
    ]

"""One pass over a workflow: every step by id, its container and the scopes they form."""

from __future__ import annotations

from collections.abc import Sequence

from msgspec import Struct

from flowctl.errors import Location
from flowctl.graph.scope import Scope
from flowctl.spec.model import Step, Workflow


class Placed(Struct, frozen=True):
    """A step with where it sits: its container (None at top level)."""

    step: Step
    container: Step | None


class Duplicate(Struct, frozen=True):
    """A step whose id was already used by an earlier step of the file."""

    step: Step
    first: Step


class StepIndex:
    """Steps of a workflow by id (first definition wins) and the scopes they form."""

    def __init__(self, wf: Workflow) -> None:
        self.workflow = wf
        self.placed: dict[str, Placed] = {}
        self.duplicates: list[Duplicate] = []
        # Each scope is the sibling list of one container (key: its id) or the top level (None).
        self.scopes: dict[str | None, tuple[Step, ...]] = {None: wf.steps}
        self._built: dict[str | None, Scope] = {}
        self.all_steps: list[Step] = []  # every step in walk order, duplicates included
        for step, container in wf.walk():
            self.all_steps.append(step)
            first = self.placed.get(step.id)
            if first is not None:
                self.duplicates.append(Duplicate(step, first.step))
                continue
            self.placed[step.id] = Placed(step, container)
            children = step.children()
            if children:
                self.scopes[step.id] = children

    def scope(self, key: str | None) -> Scope:
        """The edges of the top level (None) or of one container's children, built once."""
        built = self._built.get(key)
        if built is None:
            built = self._built[key] = Scope(self.scopes[key])
        return built

    def ancestors(self, step_id: str) -> list[str]:
        """The id itself, then its container, its container's container, ... up to the top."""
        chain = [step_id]
        container = self.placed[step_id].container
        while container is not None:
            chain.append(container.id)
            container = self.placed[container.id].container
        return chain

    def describe_scope(self, step_id: str) -> str:
        """`top level` or `inside loop 'poll'`, for messages."""
        container = self.placed[step_id].container
        if container is None:
            return "top level"
        return f"inside {container.type.value} '{container.id}'"

    def scope_hint(self, step_id: str, other_id: str) -> str:
        """How a reference from `step_id` to `other_id` (another scope) could be written."""
        mine = self.ancestors(step_id)
        theirs = self.ancestors(other_id)
        if other_id in mine:
            return f"'{other_id}' contains '{step_id}'; a child starts when its container starts"
        if step_id in theirs:
            return f"'{other_id}' is inside '{step_id}'; a container finishes after its children"
        # The pair of ancestors that are siblings: the closest legal reference.
        their_parents = {self._parent_key(a): a for a in theirs}
        for a in mine:
            b = their_parents.get(self._parent_key(a))
            if b is not None:
                if a == step_id:
                    return f"depend on '{b}' instead"
                return f"make '{a}' depend on '{b}' instead"
        return "steps may refer only to steps in their own scope"

    def _parent_key(self, step_id: str) -> str | None:
        container = self.placed[step_id].container
        return None if container is None else container.id


def where(step: Step, *keys: str) -> Location:
    """The location of the first of `keys` the step has, else of the step itself."""
    for key in keys:
        loc = step.key_locations.get(key)
        if loc is not None:
            return loc
    return step.location


def quote_ids(ids: Sequence[str]) -> str:
    """`'a'`, `'a' and 'b'`, `'a', 'b' and 'c'`."""
    quoted = [f"'{i}'" for i in ids]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]

"""Whether a step's results exist when another step's expression reads them.

Upstream of a step: its transitive dependencies in its scope, the steps it handles as an
error handler (and what they waited for), and what is upstream of its containers.
"""

from __future__ import annotations

from collections import deque

from flowctl.graph.index import StepIndex
from flowctl.spec.model import LoopStep, Step, StepType


class Upstream:
    """Answers "has `target` finished when `reader` runs?" and says how to make it so."""

    def __init__(self, index: StepIndex) -> None:
        self.index = index
        self._order: dict[str | None, dict[str, int] | None] = {}
        self._links_by_scope: dict[str | None, dict[str, tuple[str, ...]]] = {}

    def problem(
        self, reader: Step, target: Step, *, self_ok: bool, children_ok: bool
    ) -> str | None:
        """None when `reader` may read `target`'s results, else why not and the fix.

        `self_ok`: the text runs after the reader itself (output_mapping, rollback_actions).
        `children_ok`: the text is a loop's `while`, which sees its iteration's steps.
        """
        index = self.index
        if target.id == reader.id:
            if self_ok:
                return None
            return f"step '{reader.id}' reads its own results, which exist only after it ran"
        mine = index.ancestors(reader.id)
        theirs = index.ancestors(target.id)
        if target.id in mine:
            return (
                f"'{target.id}' contains '{reader.id}': its results exist only after"
                f" '{reader.id}' finished"
            )
        if reader.id in theirs:
            parent = theirs[1] if len(theirs) > 1 else None
            if children_ok and parent == reader.id:
                return None
            if self_ok and _through_loop(index, theirs[1 : theirs.index(reader.id) + 1]) is None:
                return None
            return f"'{target.id}' is inside '{reader.id}' and has not run when this is read"
        parents = {_parent(index, b): b for b in theirs}
        for a in mine:
            scope_key = _parent(index, a)
            b = parents.get(scope_key, "")
            if not b:
                continue
            if not self.reaches(b, a, scope_key):
                whom = f"'{a}'" if a == reader.id else f"'{a}' (which contains '{reader.id}')"
                return (
                    f"'{b}' is not upstream of {whom}: the read would race with '{b}';"
                    f" add '{b}' to the dependencies of '{a}'"
                )
            hidden = _through_loop(index, theirs[1 : theirs.index(b) + 1])
            if hidden is not None:
                return (
                    f"'{target.id}' is inside loop '{hidden}', whose steps are seen only inside"
                    f" it; read steps.{hidden}.outputs.iterations instead"
                )
            return None
        return None  # not reached: two steps of one file share at least the top level

    def reaches(self, earlier: str, later: str, scope_key: str | None) -> bool:
        """Whether `earlier` has finished whenever `later` starts (both of one scope)."""
        links = self._links(scope_key)
        direct = links.get(later, ())
        if earlier in direct:
            return True
        order = self._topological(scope_key)
        if order is None or earlier not in order or later not in order:
            return True  # a cycle: reported by the graph checks, no guess here
        floor = order[earlier]
        seen = {later}
        queue = deque([later])
        while queue:
            node = queue.popleft()
            for pred in links.get(node, ()):
                if pred == earlier:
                    return True
                if pred not in seen and order.get(pred, -1) > floor:
                    seen.add(pred)
                    queue.append(pred)
        return False

    def _links(self, scope_key: str | None) -> dict[str, tuple[str, ...]]:
        """Each step's steps that have finished when it starts, one level: its
        dependencies, the steps it handles, and the handlers of its dependencies (a failed
        step settles only after its handlers)."""
        found = self._links_by_scope.get(scope_key)
        if found is not None:
            return found
        scope = self.index.scope(scope_key)
        found = {}
        for node in scope.steps:
            preds = scope.preds_of(node)
            extra = [h for p in preds for h in scope.steps[p].error_handlers if h in scope.steps]
            merged = dict.fromkeys((*preds, *scope.triggers_of(node), *extra))
            merged.pop(node, None)
            if merged:
                found[node] = tuple(merged)
        self._links_by_scope[scope_key] = found
        return found

    def _topological(self, scope_key: str | None) -> dict[str, int] | None:
        """Each step's position in a topological order of its links; None if they cycle."""
        if scope_key in self._order:
            return self._order[scope_key]
        scope = self.index.scope(scope_key)
        links = self._links(scope_key)
        succs: dict[str, list[str]] = {}
        indegree = dict.fromkeys(scope.steps, 0)
        for node, preds in links.items():
            for pred in preds:
                if pred in indegree:
                    succs.setdefault(pred, []).append(node)
                    indegree[node] += 1
        queue = deque(n for n, d in indegree.items() if d == 0)
        order: dict[str, int] = {}
        while queue:
            node = queue.popleft()
            order[node] = len(order)
            for succ in succs.get(node, ()):
                indegree[succ] -= 1
                if indegree[succ] == 0:
                    queue.append(succ)
        result = order if len(order) == len(indegree) else None
        self._order[scope_key] = result
        return result


def _parent(index: StepIndex, step_id: str) -> str | None:
    container = index.placed[step_id].container
    return None if container is None else container.id


def _through_loop(index: StepIndex, containers: list[str]) -> str | None:
    """The first loop among `containers` (ids), whose children's names stay inside it."""
    for step_id in containers:
        step = index.placed[step_id].step
        if isinstance(step, LoopStep) or step.type is StepType.LOOP:
            return step_id
    return None

"""Plans computed on one scope's DAG: levels for a dry run, the critical path.

Plain dicts over Scope's edges, in O(n log n + e): a dry run must not pay networkx's import
(about 0.2 s) for what a topological pass computes.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence

from flowctl.errors import Problem, SpecError
from flowctl.graph.scope import Scope, format_cycle
from flowctl.spec.model import Step


def _acyclic(steps: Sequence[Step], *, include_handlers: bool) -> tuple[Scope, list[str]]:
    """The scope and its topological order; raises SpecError on a cycle."""
    scope = Scope(steps, include_handlers=include_handlers)
    ordered = scope.topological_order
    if ordered is None:
        problems = [
            Problem(
                f"cycle: {format_cycle(path)}",
                scope.steps[path[0]].location,
                path=path[0],
                code="cycle",
            )
            for path in scope.cycles
        ]
        raise SpecError(problems)
    return scope, ordered


def _predecessors(scope: Scope) -> dict[str, list[str]]:
    preds: dict[str, list[str]] = {}
    for u, v in scope.edges:
        preds.setdefault(v, []).append(u)
    return preds


def topological_levels(steps: Sequence[Step], *, include_handlers: bool = True) -> list[list[str]]:
    """Steps by level: level k holds the steps whose longest chain of predecessors is k.

    Ids within a level are in file order. Raises SpecError on a cycle.
    """
    scope, ordered = _acyclic(steps, include_handlers=include_handlers)
    preds = _predecessors(scope)
    level: dict[str, int] = {}
    for node in ordered:
        level[node] = max((level[p] + 1 for p in preds.get(node, ())), default=0)
    levels: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for node in scope.steps:  # file order
        levels[level[node]].append(node)
    return levels


def critical_path(
    steps: Sequence[Step],
    durations: Mapping[str, float],
    *,
    include_handlers: bool = True,
) -> tuple[list[str], float]:
    """The chain of steps with the largest summed duration (a missing duration counts 0).

    Ties go to the step earlier in the file. Raises SpecError on a cycle.
    """
    scope, _ = _acyclic(steps, include_handlers=include_handlers)
    order = scope.order
    preds = _predecessors(scope)
    succs: dict[str, list[str]] = {}
    indegree = dict.fromkeys(scope.steps, 0)
    for u, v in scope.edges:
        succs.setdefault(u, []).append(v)
        indegree[v] += 1
    # Kahn's algorithm taking the earliest ready step in file order each time.
    ready = [(order[n], n) for n, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}
    end: str | None = None
    while ready:
        _, node = heapq.heappop(ready)
        best: str | None = None
        for pred in preds.get(node, ()):
            if (
                best is None
                or finish[pred] > finish[best]
                or (finish[pred] == finish[best] and order[pred] < order[best])
            ):
                best = pred
        via[node] = best
        finish[node] = float(durations.get(node, 0.0)) + (finish[best] if best is not None else 0.0)
        # `>=`: among equally long chains, the one that runs on to later steps, so that
        # zero-length steps at the end are not cut off.
        if end is None or finish[node] >= finish[end]:
            end = node
        for succ in succs.get(node, ()):
            indegree[succ] -= 1
            if indegree[succ] == 0:
                heapq.heappush(ready, (order[succ], succ))
    if end is None:
        return [], 0.0
    path: list[str] = []
    cursor: str | None = end
    while cursor is not None:
        path.append(cursor)
        cursor = via[cursor]
    path.reverse()
    return path, finish[end]

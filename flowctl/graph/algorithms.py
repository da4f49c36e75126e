"""Plans computed on one scope's DAG: levels for a dry run, the critical path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from flowctl.errors import Problem, SpecError
from flowctl.graph.scope import Scope, format_cycle
from flowctl.spec.model import Step

if TYPE_CHECKING:  # networkx costs ~0.2 s to import: only where a graph is built
    import networkx as nx


def _acyclic(steps: Sequence[Step], *, include_handlers: bool) -> nx.DiGraph:

    scope = Scope(steps, include_handlers=include_handlers)
    graph = scope.graph
    cycles = scope.cycles
    if cycles:
        problems = [
            Problem(
                f"cycle: {format_cycle(path)}",
                graph.nodes[path[0]]["step"].location,
                path=path[0],
                code="cycle",
            )
            for path in cycles
        ]
        raise SpecError(problems)
    return graph


def topological_levels(steps: Sequence[Step], *, include_handlers: bool = True) -> list[list[str]]:
    """Steps by level: level k holds the steps whose longest chain of predecessors is k.

    Ids within a level are in file order. Raises SpecError on a cycle.
    """
    import networkx as nx

    graph = _acyclic(steps, include_handlers=include_handlers)
    order: Mapping[str, int] = nx.get_node_attributes(graph, "order")
    return [sorted(level, key=order.__getitem__) for level in nx.topological_generations(graph)]


def critical_path(
    steps: Sequence[Step],
    durations: Mapping[str, float],
    *,
    include_handlers: bool = True,
) -> tuple[list[str], float]:
    """The chain of steps with the largest summed duration (a missing duration counts 0).

    Ties go to the step earlier in the file. Raises SpecError on a cycle.
    """
    import networkx as nx

    graph = _acyclic(steps, include_handlers=include_handlers)
    order: Mapping[str, int] = nx.get_node_attributes(graph, "order")
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}
    end: str | None = None
    for node in nx.lexicographical_topological_sort(graph, key=order.__getitem__):
        best: str | None = None
        for pred in graph.predecessors(node):
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
    if end is None:
        return [], 0.0
    path: list[str] = []
    cursor: str | None = end
    while cursor is not None:
        path.append(cursor)
        cursor = via[cursor]
    path.reverse()
    return path, finish[end]

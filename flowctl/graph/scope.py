"""One scope's steps and edges (the top level, or one container's children), and its cycles."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING

from flowctl.graph.refs import EdgeKind, Ref, step_refs
from flowctl.spec.model import Step

if TYPE_CHECKING:  # networkx costs ~0.2 s to import: only where a graph is built
    import networkx as nx


class Scope:
    """The steps of one scope and the edges between them, computed once for every check.

    Plain dicts carry the checks; the networkx graph is built only when asked for (for
    drawing, or to trace a cycle): on a large workflow it costs more than the checks.
    """

    def __init__(self, steps: Sequence[Step], *, include_handlers: bool = True) -> None:
        self.steps: dict[str, Step] = {}  # the first step of each id, in file order
        for step in steps:
            self.steps.setdefault(step.id, step)
        self.order = {step_id: i for i, step_id in enumerate(self.steps)}
        self.refs: list[Ref] = step_refs(steps)  # every reference, in or out of the scope
        # u -> v: u comes first. Run-order edges (dependency, next step, case) win over an
        # error-handler edge between the same two steps.
        self.edges: dict[tuple[str, str], EdgeKind] = {}
        handler_edges: dict[tuple[str, str], None] = {}
        for ref in self.refs:
            edge = ref.edge
            if ref.folded or edge[0] not in self.steps or edge[1] not in self.steps:
                continue
            if ref.kind is EdgeKind.ERROR_HANDLER:
                handler_edges[edge] = None
            else:
                self.edges.setdefault(edge, ref.kind)
        self.preds: dict[str, list[str]] = {}  # id -> steps it runs after
        for u, v in self.edges:
            self.preds.setdefault(v, []).append(u)
        self.triggers: dict[str, list[str]] = {}  # id -> steps whose error_handlers list it
        for u, v in handler_edges:
            self.triggers.setdefault(v, []).append(u)
        if include_handlers:
            for edge in handler_edges:
                self.edges.setdefault(edge, EdgeKind.ERROR_HANDLER)

    def preds_of(self, step_id: str) -> list[str]:
        return self.preds.get(step_id, [])

    def triggers_of(self, step_id: str) -> list[str]:
        return self.triggers.get(step_id, [])

    @cached_property
    def graph(self) -> nx.DiGraph:
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(
            (step_id, {"step": step, "order": self.order[step_id]})
            for step_id, step in self.steps.items()
        )
        graph.add_edges_from((u, v, {"kind": kind}) for (u, v), kind in self.edges.items())
        return graph

    @cached_property
    def topological_order(self) -> list[str] | None:
        """Every id, each after all its predecessors (Kahn); None when there is a cycle."""
        succs: dict[str, list[str]] = {}
        indegree = dict.fromkeys(self.steps, 0)
        for u, v in self.edges:
            succs.setdefault(u, []).append(v)
            indegree[v] += 1
        ready = deque(i for i, d in indegree.items() if d == 0)
        ordered: list[str] = []
        while ready:
            node = ready.popleft()
            ordered.append(node)
            for succ in succs.get(node, ()):
                indegree[succ] -= 1
                if indegree[succ] == 0:
                    ready.append(succ)
        return ordered if len(ordered) == len(self.steps) else None

    @cached_property
    def cycles(self) -> list[list[str]]:
        """One closed path per cycle (see find_cycles); empty for a DAG, found in O(n + e)."""
        if self.topological_order is not None:
            return []
        return find_cycles(self.graph)


def scope_graph(steps: Sequence[Step], *, include_handlers: bool = True) -> nx.DiGraph:
    """The DAG of one scope (the top level, or one container's children).

    Nodes are step ids (attribute `step`, and `order` = position in the file among
    `steps`); an edge u -> v means u comes first (attribute `kind`, an EdgeKind; error
    handlers are edges step -> handler). References that leave the scope or name no step
    are not edges: `check_workflow` reports them.
    """
    return Scope(steps, include_handlers=include_handlers).graph


def find_cycles(graph: nx.DiGraph) -> list[list[str]]:
    """One cycle per strongly connected component that has one, as a closed path.

    Each path starts (and ends) at the cycle's earliest step in file order; the list is in
    that order too. Costs O(n + e): nothing is enumerated when the graph is a DAG.
    """
    import networkx as nx

    if nx.is_directed_acyclic_graph(graph):
        return []
    order: Mapping[str, int] = nx.get_node_attributes(graph, "order")
    cycles: list[list[str]] = []
    for component in nx.strongly_connected_components(graph):
        start = min(component, key=order.__getitem__)
        if len(component) == 1 and not graph.has_edge(start, start):
            continue
        edges = nx.find_cycle(graph.subgraph(component), source=start)
        nodes = [u for u, _ in edges]
        first = min(range(len(nodes)), key=lambda i: order[nodes[i]])
        path = nodes[first:] + nodes[:first]
        cycles.append([*path, path[0]])
    cycles.sort(key=lambda path: order[path[0]])
    return cycles


def format_cycle(path: Sequence[str]) -> str:
    return " -> ".join(path)

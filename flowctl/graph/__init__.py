"""Graph checks and algorithms over a workflow's steps, and its drawings (networkx)."""

from typing import TYPE_CHECKING

from flowctl.graph.algorithms import critical_path, topological_levels
from flowctl.graph.checks import check_workflow
from flowctl.graph.refs import EdgeKind, Ref, step_refs
from flowctl.graph.scope import Scope, find_cycles, scope_graph

if TYPE_CHECKING:
    from flowctl.graph.render import to_dot, to_mermaid

__all__ = [
    "EdgeKind",
    "Ref",
    "Scope",
    "check_workflow",
    "critical_path",
    "find_cycles",
    "scope_graph",
    "step_refs",
    "to_dot",
    "to_mermaid",
    "topological_levels",
]


def __getattr__(name: str) -> object:
    # The drawings are for `flowctl graph`: loading a workflow to run it never needs them.
    if name in ("to_dot", "to_mermaid"):
        from flowctl.graph import render

        return getattr(render, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Graph checks and algorithms over a workflow's steps, and its drawings (networkx)."""

from flowctl.graph.algorithms import critical_path, topological_levels
from flowctl.graph.checks import check_workflow
from flowctl.graph.refs import EdgeKind, Ref, step_refs
from flowctl.graph.render import to_dot, to_mermaid
from flowctl.graph.scope import Scope, find_cycles, scope_graph

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

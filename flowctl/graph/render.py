"""Drawings of a workflow: Mermaid flowcharts and Graphviz dot, containers as groups."""

from __future__ import annotations

from collections.abc import Iterator

from msgspec import Struct

from flowctl.graph.refs import EdgeKind, step_refs
from flowctl.spec.model import ConditionStep, Step, StepType, Workflow

# Error handlers run only on failure; file edges were inferred, not written.
_DASHED = frozenset({EdgeKind.ERROR_HANDLER, EdgeKind.FILES})
_MAX_LABEL = 48  # long `when` expressions would swamp the drawing

_MERMAID_SHAPES = {
    StepType.CONDITION: ('{"', '"}'),
    StepType.WEBHOOK: ('[/"', '"/]'),
    StepType.WAIT: ('(["', '"])'),
    StepType.HUMAN_TASK: ('[\\"', '"\\]'),
}
_DOT_SHAPES = {
    StepType.CONDITION: "diamond",
    StepType.WEBHOOK: "parallelogram",
    StepType.WAIT: "ellipse",
    StepType.HUMAN_TASK: "house",
    StepType.PARALLEL: "folder",
    StepType.LOOP: "folder",
}


class _Edge(Struct, frozen=True):
    source: str
    target: str
    kind: EdgeKind
    label: str | None


def _edges(wf: Workflow) -> Iterator[_Edge]:
    """Every edge to draw, scope by scope in file order, without repeats."""
    known = {step.id for step, _ in wf.walk()}
    seen: set[_Edge] = set()
    scopes = [wf.steps, *(s.children() for s, _ in wf.walk() if s.children())]
    for steps in scopes:
        for ref in step_refs(steps):
            if ref.folded:
                continue
            source, target = ref.edge
            if source not in known or target not in known:
                continue
            edge = _Edge(source, target, ref.kind, _edge_label(ref.owner, ref.kind, ref.case))
            if edge not in seen:
                seen.add(edge)
                yield edge


def _edge_label(owner: Step, kind: EdgeKind, case: int | None) -> str | None:
    if kind is EdgeKind.ERROR_HANDLER:
        return "on failure"
    if kind is EdgeKind.FILES:
        return "files"
    if kind is not EdgeKind.CASE or not isinstance(owner, ConditionStep):
        return None
    if case is None:
        return "default"
    text = " ".join(owner.cases[case].when.split())
    return text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 3] + "..."


def _container_label(step: Step) -> str:
    return f"{step.id} ({step.type.value})"


# -- Mermaid -------------------------------------------------------------------------------


def _mermaid_text(text: str) -> str:
    """Text safe inside a quoted Mermaid label: entity codes for what Mermaid or the
    Markdown/HTML around it would interpret."""
    out = text.replace("#", "#35;")
    for char, code in (('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("`", "#96;")):
        out = out.replace(char, code)
    return out


def to_mermaid(wf: Workflow) -> str:
    """A Mermaid flowchart: containers as subgraphs, condition edges labelled with their
    `when`, error handlers as dotted `on failure` edges. Node ids are generated (s0, s1, ...)
    so no step id can collide with Mermaid keywords such as `end`."""
    ids: dict[str, str] = {}
    lines = [f"%% workflow: {wf.name}", "flowchart TD"]

    def node(step: Step, depth: int) -> None:
        pad = "    " * depth
        if step.id in ids:
            return
        ids[step.id] = f"s{len(ids)}"
        if step.children():
            label = _mermaid_text(_container_label(step))
            lines.append(f'{pad}subgraph {ids[step.id]}["{label}"]')
            for child in step.children():
                node(child, depth + 1)
            lines.append(f"{pad}end")
            return
        opening, closing = _MERMAID_SHAPES.get(step.type, ('["', '"]'))
        lines.append(f"{pad}{ids[step.id]}{opening}{_mermaid_text(step.id)}{closing}")

    for step in wf.steps:
        node(step, 1)
    for edge in _edges(wf):
        arrow = "-.->" if edge.kind in _DASHED else "-->"
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label is not None else ""
        lines.append(f"    {ids[edge.source]} {arrow}{label} {ids[edge.target]}")
    return "\n".join(lines) + "\n"


# -- Graphviz dot --------------------------------------------------------------------------


def _dot_quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def to_dot(wf: Workflow) -> str:
    """A Graphviz digraph: each container is a cluster holding a node for the container
    itself (edges to and from the container attach there) and its children."""
    lines = [f"digraph {_dot_quote(wf.name)} {{", "    node [shape=box];"]
    drawn: set[str] = set()

    def node(step: Step, depth: int) -> None:
        pad = "    " * depth
        if step.id in drawn:
            return
        drawn.add(step.id)
        shape = _DOT_SHAPES.get(step.type)
        attrs = f" [shape={shape}]" if shape else ""
        if not step.children():
            lines.append(f"{pad}{_dot_quote(step.id)}{attrs};")
            return
        lines.append(f"{pad}subgraph {_dot_quote('cluster_' + step.id)} {{")
        lines.append(f"{pad}    label={_dot_quote(_container_label(step))};")
        lines.append(f"{pad}    {_dot_quote(step.id)}{attrs};")
        for child in step.children():
            node(child, depth + 1)
        lines.append(f"{pad}}}")

    for step in wf.steps:
        node(step, 1)
    for edge in _edges(wf):
        attrs = []
        if edge.label is not None:
            attrs.append(f"label={_dot_quote(edge.label)}")
        if edge.kind in _DASHED:
            attrs.append("style=dashed")
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f"    {_dot_quote(edge.source)} -> {_dot_quote(edge.target)}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"

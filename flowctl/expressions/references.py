"""Which names an expression or template reads: `steps.ocr.outputs.text` and the like."""

from __future__ import annotations

import functools
from collections.abc import Iterator

from jinja2 import meta, nodes

from flowctl.expressions.engine import (
    parse_expression,
    parse_template,
    translate,
    whole_expression,
)
from flowctl.expressions.sandbox import get_environment

NamePath = tuple[str, ...]


def references(source: str, *, template: bool) -> frozenset[NamePath]:
    """The name paths `source` reads, each as long as its constant keys go.

    "steps.ocr.outputs.text | upper" -> {("steps", "ocr", "outputs", "text")};
    "workflow['order'].id" -> {("workflow", "order", "id")}; "item" -> {("item",)}.
    A computed key ends the path (`steps[x].outputs` -> ("steps",) and what `x` reads);
    a method call reads its object (`name.upper()` -> ("name",)); names a template sets
    itself ({% set %}, loop variables, macro arguments) and the globals `range` and `dict`
    are left out.
    Raises ExpressionError when the source does not parse.
    """
    return _references(source, template)


@functools.lru_cache(maxsize=4096)
def _references(source: str, template: bool) -> frozenset[NamePath]:
    try:
        if template:
            tree = parse_template(source)
            free = meta.find_undeclared_variables(tree)
            return frozenset(p for p in _paths(tree) if p[0] in free)
        inner = whole_expression(source.strip())
        expression = parse_expression(source if inner is None else inner)
        builtins = get_environment().globals
        return frozenset(p for p in _paths(expression) if p[0] not in builtins)
    except Exception as exc:
        raise translate(source, exc) from exc


def _paths(node: nodes.Node) -> Iterator[NamePath]:
    if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
        path, _, rest = _chain(node)
        if path:
            yield path
        for child in rest:
            yield from _paths(child)
        return
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
        # A method call: the method's name is not data.
        yield from _paths(node.node.node)
        extra = [node.dyn_args, node.dyn_kwargs]
        for child in [*node.args, *(kw.value for kw in node.kwargs), *filter(None, extra)]:
            yield from _paths(child)
        return
    for child in node.iter_child_nodes():
        yield from _paths(child)


def _chain(node: nodes.Node) -> tuple[NamePath, bool, list[nodes.Node]]:
    """(path so far, whether it is closed to longer paths, nodes still to visit)."""
    if isinstance(node, nodes.Name):
        return ((node.name,), False, []) if node.ctx == "load" else ((), True, [])
    if isinstance(node, nodes.Getattr):
        path, closed, rest = _chain(node.node)
        return (path if closed or not path else (*path, node.attr)), closed, rest
    if isinstance(node, nodes.Getitem):
        path, closed, rest = _chain(node.node)
        key = node.arg
        if path and not closed and isinstance(key, nodes.Const) and isinstance(key.value, str):
            return (*path, key.value), False, rest
        return path, True, [*rest, key]
    return (), True, [node]

"""references(): the name paths an expression or template reads."""

from __future__ import annotations

import pytest

from flowctl.errors import ExpressionError
from flowctl.expressions.references import references


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("steps.ocr.outputs.text | upper", {("steps", "ocr", "outputs", "text")}),
        ("workflow['order'].id", {("workflow", "order", "id")}),
        ("item", {("item",)}),
        (
            "steps.a.outputs.n > 3 and steps.b.status == 'ok'",
            {("steps", "a", "outputs", "n"), ("steps", "b", "status")},
        ),
        ("steps[name].outputs", {("steps",), ("name",)}),
        ("steps.a.outputs.list[0].x", {("steps", "a", "outputs", "list")}),
        ("inputs.name.upper()", {("inputs", "name")}),
        ("'{}'.format(workflow.x)", {("workflow", "x")}),
        (
            "steps.a.outputs.x | default(workflow.fallback)",
            {("steps", "a", "outputs", "x"), ("workflow", "fallback")},
        ),
        ("(steps.a.outputs | dictsort)[0]", {("steps", "a", "outputs")}),
        ("range(3) | map(attribute=x)", {("x",)}),
        ("1 + 2", set()),
        ("{{ workflow.order.id }}", {("workflow", "order", "id")}),
        ("[x, y.z]", {("x",), ("y", "z")}),
        ("d[k.m]['n']", {("d",), ("k", "m")}),
    ],
)
def test_expression_references(source: str, expected: set[tuple[str, ...]]) -> None:
    assert references(source, template=False) == frozenset(expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "echo {{ steps.ocr.outputs.text }} > {{ inputs.out }}",
            {("steps", "ocr", "outputs", "text"), ("inputs", "out")},
        ),
        (
            "{% for p in steps.a.outputs.pages %}{{ p.name }} {{ item }}{% endfor %}",
            {("steps", "a", "outputs", "pages"), ("item",)},
        ),
        ("{% set t = workflow.t %}{{ t.x }}", {("workflow", "t")}),
        ("{% macro m(v) %}{{ v.x }}{% endmacro %}{{ m(env.HOME) }}", {("env", "HOME")}),
        ("no template here", set()),
        ("{% if run.id %}{{ run.workflow }}{% endif %}", {("run", "id"), ("run", "workflow")}),
    ],
)
def test_template_references(source: str, expected: set[tuple[str, ...]]) -> None:
    assert references(source, template=True) == frozenset(expected)


def test_a_syntax_error_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError) as info:
        references("steps.a.", template=False)
    assert info.value.expression == "steps.a."
    with pytest.raises(ExpressionError):
        references("{% for %}", template=True)

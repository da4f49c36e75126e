"""Expressions and templates: Jinja2 in an immutable, resource-bounded sandbox."""

from flowctl.expressions.engine import (
    Expression,
    Template,
    compile_expression,
    compile_template,
    evaluate_condition,
    is_template,
    render_json,
)
from flowctl.expressions.references import references
from flowctl.expressions.shell import ShellScript, render_shell

__all__ = [
    "Expression",
    "ShellScript",
    "Template",
    "compile_expression",
    "compile_template",
    "evaluate_condition",
    "is_template",
    "references",
    "render_json",
    "render_shell",
]

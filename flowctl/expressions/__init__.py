"""Expressions and templates: Jinja2 in an immutable, resource-bounded sandbox.

The names below are imported on first use (PEP 562), so that a workflow without a single
`{{ }}` never imports Jinja2: `is_template` needs nothing but the text. `references` is
imported from `flowctl.expressions.references`, its module of the same name.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowctl.expressions.engine import (
        Expression,
        Template,
        compile_expression,
        compile_template,
        evaluate_condition,
        render_json,
    )
    from flowctl.expressions.shell import ShellScript, render_shell


def is_template(text: str) -> bool:
    """Whether the text has anything to render (`{{` or `{%`)."""
    return "{{" in text or "{%" in text


_MODULE_OF = {
    "Expression": "engine",
    "Template": "engine",
    "compile_expression": "engine",
    "compile_template": "engine",
    "evaluate_condition": "engine",
    "render_json": "engine",
    "ShellScript": "shell",
    "render_shell": "shell",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Expression",
    "ShellScript",
    "Template",
    "compile_expression",
    "compile_template",
    "evaluate_condition",
    "is_template",
    "render_json",
    "render_shell",
]

"""SECURITY.md case 1: sandbox escapes in conditions and templates fail, and nothing runs."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest

from flowctl.errors import ExpressionError, SecurityError
from flowctl.expressions import (
    compile_expression,
    compile_template,
    evaluate_condition,
    render_json,
    render_shell,
)


def names() -> dict[str, Any]:
    return {
        "steps": {"a": {"status": "completed", "outputs": {"x": "v", "list": [1, 2]}}},
        "workflow": {"x": [1, 2], "order": {"id": 1}},
        "x": {"k": "v"},
        "item": "i",
    }


def refused(source: str, *, template: bool = False, scope: dict[str, Any] | None = None) -> Any:
    """Evaluate hostile `source`; return the error, asserting it came fast."""
    scope = names() if scope is None else scope
    started = time.thread_time()
    with pytest.raises(ExpressionError) as info:
        if template:
            compile_template(source).render(scope)
        else:
            compile_expression(source).evaluate(scope)
    assert time.thread_time() - started < 2.0
    return info.value


# Each of these reaches for an internal attribute: the sandbox itself refuses it.
SANDBOX_REFUSALS = [
    "''.__class__",
    "''.__class__.__mro__[1].__subclasses__()",
    "().__class__.__base__.__subclasses__()",
    "x.__class__.__mro__",
    "x.__init__.__globals__",
    "x.items.__self__",
    "range.__globals__",
    "dict.__base__.__subclasses__()",
    "dict(a=1).__class__",
    "''['__class__']",
    "x['__class__']['__mro__']",
    "x | attr('__class__')",
    r"x | attr('\x5f\x5fclass\x5f\x5f')",
    r"'' | attr('\x5f\x5fclass\x5f\x5f') | attr('\x5f\x5fmro\x5f\x5f')",
    "'{0.__class__}'.format(x)",
    "'{0.__class__.__init__.__globals__}'.format(x)",
    "'{a.__class__}'.format_map({'a': x})",
    "('{0.__class__}' | attr('format'))(x)",
    "('{a.__class__}' | attr('format_map'))({'a': x})",
    "'%s' | format(x.__class__)",
    "'%s' % x.__class__",
    "x | attr(('%c' * 9) | format(95, 95, 99, 108, 97, 115, 115, 95, 95))",
    "[x] | map(attribute='__class__') | list",
    "[x] | selectattr('__class__') | list",
    "''.join.__self__.__class__",
    "steps.update({})",
    "workflow.x.append(1)",
    "workflow.pop('x')",
    "workflow.x.clear()",
    "workflow.x.extend([3])",
    "workflow.x.sort()",
    "workflow.x.insert(0, 1)",
    "workflow.order.setdefault('a', 1)",
    "workflow.order.popitem()",
    "steps.a.outputs.__setitem__('x', 1)",
    "dict(a=1).update(b=2)",
]


@pytest.mark.parametrize("source", SANDBOX_REFUSALS)
def test_expression_escape_is_refused(source: str) -> None:
    assert isinstance(refused(source), SecurityError)


@pytest.mark.parametrize("source", SANDBOX_REFUSALS)
def test_condition_escape_is_refused(source: str) -> None:
    with pytest.raises(SecurityError):
        evaluate_condition(source, names())


@pytest.mark.parametrize("source", SANDBOX_REFUSALS)
def test_template_escape_is_refused(source: str) -> None:
    assert isinstance(refused("a {{ " + source + " }} b", template=True), SecurityError)


@pytest.mark.parametrize(
    "source",
    [
        "{{ self.__init__.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{% for i in [1] %}{{ loop.__class__ }}{% endfor %}",
        "{% set f = x.__class__ %}{{ f.__mro__ }}",
        "{% for k in ''.__class__.__mro__ %}{{ k }}{% endfor %}",
        "{% macro m() %}{% endmacro %}{{ m.__class__ }}",
        "{% macro m() %}{% endmacro %}{{ m._func.__globals__ }}",
        "{% filter attr('__class__') %}x{% endfilter %}",
    ],
)
def test_template_only_escape_is_refused(source: str) -> None:
    assert isinstance(refused(source, template=True), SecurityError)


@pytest.mark.parametrize("name", ["cycler", "joiner", "namespace", "lipsum"])
def test_globals_used_in_known_escapes_are_gone(name: str) -> None:
    err = refused(f"{name}.__init__.__globals__.os.popen('id').read()")
    assert err.reason.startswith(f"unknown name {name!r}")


def test_exploit_chains_run_nothing(tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    touch = f"'touch {canary}'"
    chains = [
        f"''.__class__.__mro__[1].__subclasses__()[133].__init__.__globals__['popen']({touch})",
        f"cycler.__init__.__globals__.os.popen({touch}).read()",
        f"joiner.__init__.__globals__.os.popen({touch}).read()",
        f"namespace.__init__.__globals__.os.popen({touch}).read()",
        f"lipsum.__globals__['os'].popen({touch}).read()",
        f"self.__init__.__globals__.__builtins__.__import__('os').popen({touch})",
        f"self._TemplateReference__context.cycler.__init__.__globals__.os.popen({touch})",
        f"request.application.__globals__.__builtins__.__import__('os').popen({touch})",
        f"config.__class__.__init__.__globals__['os'].popen({touch})",
        f"x|attr('__init__')|attr('__globals__')|attr('__getitem__')('os')|attr('popen')({touch})",
        f"range.__globals__['__builtins__']['__import__']('os').system({touch})",
    ]
    for chain in chains:
        refused(chain)
        refused("{{ " + chain + " }}", template=True)
        with pytest.raises(ExpressionError):
            render_shell("echo {{ " + chain + " }}", names())
        with pytest.raises(ExpressionError):
            render_json({"a": "{{ " + chain + " }}"}, names())
    assert not canary.exists()


def test_failed_mutations_leave_the_names_unchanged() -> None:
    scope = names()
    before = copy.deepcopy(scope)
    for source in ["steps.update({})", "workflow.x.append(1)", "workflow.pop('x')"]:
        refused(source, scope=scope)
    assert scope == before


def test_the_refusal_says_what_was_unsafe() -> None:
    err = refused("workflow.x.append(1)")
    assert err.reason == "access to attribute 'append' of 'list' object is unsafe"
    err = refused("''.__class__")
    assert err.reason == "access to attribute '__class__' of 'str' object is unsafe"

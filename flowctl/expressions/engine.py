"""Compile and evaluate expressions and templates; every failure becomes ExpressionError."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError as JinjaSecurityError
from jinja2.exceptions import TemplateError, TemplateSyntaxError
from jinja2.parser import Parser
from msgspec import Struct

from flowctl.errors import ExpressionError, FlowctlError, SecurityError
from flowctl.expressions import is_template
from flowctl.expressions.runtime import Evaluation, ShellCapture, enter, leave
from flowctl.expressions.sandbox import get_environment
from flowctl.expressions.values import to_native

_CACHE_SIZE = 4096  # distinct sources kept compiled; a workflow has far fewer
_RESULT = "flowctl_result"
# A whole string that is one `{{ expression }}` (whitespace control marks allowed).
_ONE_EXPRESSION = re.compile(r"\A\{\{[-+]?((?:(?!\}\}|\{\{|\{%|\{#).)*?)[-+]?\}\}\Z", re.S)
_T = TypeVar("_T")
# Python's message for comparing text with a number: `'>=' not supported between
# instances of 'str' and 'int'`.
_TEXT_VS_NUMBER = re.compile(
    r"between instances of '(?:str' and '(?:int|float)|(?:int|float)' and 'str)'"
)


class Expression(Struct, frozen=True, eq=False):
    """A compiled bare expression such as `steps.a.outputs.n > 3`."""

    source: str
    _template: jinja2.Template

    def evaluate(self, names: Mapping[str, Any]) -> Any:
        """The expression's value as plain data (lists, dicts, str, numbers, bool, None)."""
        return _guarded(self.source, names, None, self._run)

    def _run(self, names: Mapping[str, Any]) -> Any:
        context = self._template.new_context(_as_vars(names))
        for _ in self._template.root_render_func(context):
            pass
        return to_native(context.vars[_RESULT])


class Template(Struct, frozen=True, eq=False):
    """A compiled template: text with `{{ }}` and `{% %}` inside."""

    source: str
    _template: jinja2.Template

    def render(self, names: Mapping[str, Any]) -> str:
        """The rendered text; values print as to_text shows them (none as "", JSON, ...)."""
        return _guarded(self.source, names, None, self._run)

    def render_captured(self, names: Mapping[str, Any], capture: ShellCapture) -> str:
        """Render with every `{{ }}` output replaced by a token of `capture` (see shell)."""
        return _guarded(self.source, names, capture, self._run)

    def _run(self, names: Mapping[str, Any]) -> str:
        env = get_environment()
        context = self._template.new_context(_as_vars(names))
        return env.concat(self._template.root_render_func(context))


def _as_vars(names: Mapping[str, Any]) -> dict[str, Any]:
    # new_context copies the names into a fresh dict with **: any mapping works, uncopied.
    return cast(dict[str, Any], names)


def _guarded(
    source: str,
    names: Mapping[str, Any],
    capture: ShellCapture | None,
    run: Callable[[Mapping[str, Any]], _T],
) -> _T:
    token = enter(Evaluation(names, capture))
    try:
        return run(names)
    except Exception as exc:
        raise translate(source, exc) from exc
    finally:
        leave(token)


def whole_expression(text: str) -> str | None:
    """The inner expression when the text is exactly one `{{ expression }}`."""
    match = _ONE_EXPRESSION.match(text)
    return match.group(1) if match else None


@functools.lru_cache(maxsize=_CACHE_SIZE)
def compile_expression(source: str) -> Expression:
    """Compile a bare expression (a `{{ }}` around the whole of it is accepted too)."""
    _require_text(source)
    inner = whole_expression(source.strip())
    if inner is None and is_template(source):
        raise ExpressionError(
            source, "an expression is bare, not a template: write `a == b`, not `{{ a }} == b`"
        )
    try:
        node = parse_expression(source if inner is None else inner)
        body = nodes.Template([nodes.Assign(nodes.Name(_RESULT, "store"), node)], lineno=1)
        compiled = get_environment().from_string(body)
    except Exception as exc:
        raise translate(source, exc) from exc
    return Expression(source, compiled)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def compile_template(source: str) -> Template:
    """Compile a template (text with `{{ }}` / `{% %}`)."""
    _require_text(source)
    try:
        compiled = get_environment().from_string(source)
    except Exception as exc:
        raise translate(source, exc) from exc
    return Template(source, compiled)


def _require_text(source: object) -> None:
    if not isinstance(source, str):
        raise ExpressionError(repr(source), "an expression or template must be a string")


def parse_expression(source: str) -> nodes.Expr:
    """The syntax tree of a bare expression; Jinja errors propagate."""
    env = get_environment()
    parser = Parser(env, source, state="variable")
    try:
        expr = parser.parse_expression()
    except TemplateSyntaxError as exc:
        message = (exc.message or "").replace("'end of template'", "end of the expression")
        raise TemplateSyntaxError(message, exc.lineno) from exc
    if not parser.stream.eos:
        token = parser.stream.current
        raise TemplateSyntaxError(f"unexpected {token.value!r} after the expression", token.lineno)
    expr.set_environment(env)
    return expr


def parse_template(source: str) -> nodes.Template:
    """The syntax tree of a template; Jinja errors propagate."""
    return get_environment().parse(source)


def evaluate_condition(source: str, names: Mapping[str, Any]) -> bool:
    """A condition's truth: bool as is, none false, numbers non-zero, lists and mappings
    non-empty. A string is an error, so the string "False" is never true by accident."""
    value = compile_expression(source).evaluate(names)
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, list | dict):
        return bool(value)
    from flowctl.secrets import clip

    shown = clip(value, 40)
    raise ExpressionError(
        source,
        f"it evaluates to the string {shown!r}, not a boolean; compare explicitly, e.g. x == 'yes'",
    )


def render_json(value: Any, names: Mapping[str, Any]) -> Any:
    """Render every string of a JSON structure (keys too). A string that is exactly one
    `{{ expression }}` keeps the expression's type: a number stays a number."""
    if isinstance(value, str):
        if not is_template(value):
            return value
        if whole_expression(value) is not None:
            return compile_expression(value).evaluate(names)
        return compile_template(value).render(names)
    if isinstance(value, Mapping):
        return {
            (compile_template(k).render(names) if isinstance(k, str) and is_template(k) else k): (
                render_json(v, names)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [render_json(v, names) for v in value]
    return value


def translate(source: str, exc: BaseException) -> ExpressionError:
    """The error a user sees for anything raised while compiling or evaluating `source`."""
    if isinstance(exc, ExpressionError):
        return exc
    if isinstance(exc, FlowctlError):
        return ExpressionError(source, exc.message)
    if isinstance(exc, JinjaSecurityError):
        return SecurityError(source, _sentence(str(exc)))
    if isinstance(exc, MemoryError):
        return SecurityError(source, "it ran out of memory")
    if isinstance(exc, RecursionError):
        return ExpressionError(source, "it is nested too deeply (recursion limit)")
    if isinstance(exc, TemplateSyntaxError):
        where = f" (line {exc.lineno})" if "\n" in source.strip() else ""
        return ExpressionError(source, f"syntax error: {_sentence(exc.message or '')}{where}")
    if isinstance(exc, TemplateError):
        return ExpressionError(source, _sentence(exc.message or type(exc).__name__))
    if isinstance(exc, ZeroDivisionError):
        return ExpressionError(source, "division by zero")
    if isinstance(exc, OverflowError):
        return ExpressionError(source, "a number is too large")
    if isinstance(exc, KeyError):
        return ExpressionError(source, f"no key {exc.args[0]!r}" if exc.args else "no such key")
    if isinstance(exc, TypeError) and _TEXT_VS_NUMBER.search(str(exc)):
        return ExpressionError(
            source,
            f"{_sentence(str(exc))} (outputs of shell steps are text: convert with `| int` or"
            " `| float`, or declare the step's `outputs` with their types)",
        )
    return ExpressionError(source, _sentence(str(exc)) or type(exc).__name__)


def _sentence(text: str) -> str:
    return text.strip().rstrip(".")

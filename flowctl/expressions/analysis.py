"""What one expression or template does, parsed by Jinja, for `validate`: the names it reads,
the numbers it compares them with, and its mistakes (syntax, unknown filters and tests),
each with the offset in the text of the token at fault. Simple texts never get here
(flowctl.graph.exprscan reads them with patterns).
"""

from __future__ import annotations

import difflib
import re

from jinja2 import meta, nodes
from jinja2.exceptions import TemplateError, TemplateSyntaxError
from jinja2.parser import Parser

from flowctl.expressions.engine import whole_expression
from flowctl.expressions.sandbox import get_environment
from flowctl.graph.exprscan import Analysis, Mistake, NamePath, Read

_OPENERS = {"{{": "}}", "{%": "%}", "{#": "#}"}
_OPENER = re.compile(r"\{\{|\{%|\{#")
_COMPARES = frozenset({"eq", "ne", "lt", "lteq", "gt", "gteq"})
_GUARD_FILTERS = frozenset({"default", "d"})
_GUARD_TESTS = frozenset({"defined", "undefined"})
_LOADING = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)


def parsed(source: str, *, template: bool) -> Analysis:
    """The analysis of a text, from Jinja's syntax tree."""
    return _parsed_template(source) if template else _parsed_expression(source)


def _parsed_template(source: str) -> Analysis:
    unclosed = _unclosed(source)
    if unclosed is not None:
        return Analysis(mistakes=(unclosed,))
    env = get_environment()
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        return Analysis(mistakes=(_template_syntax(source, exc),))
    walker = _Walker(source)
    walker.visit(tree, guarded=False)
    try:
        free = meta.find_undeclared_variables(tree)
    except TemplateError:  # an unknown filter or test, already a mistake: keep every read
        free = {r.path[0] for r in walker.reads} | {p[0] for p in walker.compares}
    for tag in tree.find_all(_LOADING):
        walker.mistakes.append(
            Mistake(
                "expression-syntax",
                "extends, include and import are not available in flowctl",
                _line_offset(source, tag.lineno),
            )
        )
    reads = tuple(r for r in walker.reads if r.path[0] in free)
    compares = tuple(p for p in walker.compares if p[0] in free)
    return Analysis(reads, compares, tuple(walker.mistakes))


def _parsed_expression(source: str) -> Analysis:
    stripped = source.strip()
    inner = whole_expression(stripped)
    if inner is None and ("{{" in source or "{%" in source):
        return Analysis(
            mistakes=(
                Mistake(
                    "expression-syntax",
                    "an expression is bare, not a template: write `a == b`, not `{{ a }} == b`",
                    source.find("{"),
                ),
            )
        )
    text = source if inner is None else inner
    base = 0 if inner is None else source.find(inner)
    env = get_environment()
    try:
        parser = Parser(env, text, state="variable")  # lexes the first token: it may fail
    except TemplateSyntaxError as exc:
        message = _no_quotes(exc.message or "invalid expression")
        return Analysis(mistakes=(Mistake("expression-syntax", message, base),))
    try:
        tree = parser.parse_expression()
        if not parser.stream.eos:
            token = parser.stream.current
            raise TemplateSyntaxError(f"unexpected {token.value!r} after the expression", 1)
    except TemplateSyntaxError as exc:
        message = _no_quotes(exc.message or "").replace("end of template", "end of the expression")
        offset = _token_offset(text, parser)
        return Analysis(mistakes=(Mistake("expression-syntax", message, base + offset),))
    walker = _Walker(source)
    walker.visit(tree, guarded=False)
    builtins = env.globals
    reads = tuple(r for r in walker.reads if r.path[0] not in builtins)
    compares = tuple(p for p in walker.compares if p[0] not in builtins)
    return Analysis(reads, compares, tuple(walker.mistakes))


def _unclosed(source: str) -> Mistake | None:
    """A `{{`, `{%` or `{#` with no closing delimiter (Jinja says only "end of template")."""
    at = 0
    while True:
        match = _OPENER.search(source, at)
        if match is None:
            return None
        opener = match.group(0)
        closer = _OPENERS[opener]
        end = source.find(closer, match.end())
        if end < 0:
            return Mistake(
                "unbalanced-delimiters",
                f"'{opener}' is never closed with '{closer}'",
                match.start(),
            )
        at = end + len(closer)


def _template_syntax(source: str, exc: TemplateSyntaxError) -> Mistake:
    """Point at the `{{ }}` block that does not parse, else at the start of the line."""
    message = exc.message or "invalid template"
    for match in re.finditer(r"\{\{-?(.*?)-?\}\}", source, re.DOTALL):
        inner = match.group(1)
        try:
            parser = Parser(get_environment(), inner, state="variable")  # lexes a first token
        except TemplateSyntaxError as inner_exc:
            message = _no_quotes(inner_exc.message or message)
            return Mistake("expression-syntax", message, match.start(1))
        try:
            parser.parse_expression()
            if parser.stream.eos:
                continue
        except TemplateSyntaxError as inner_exc:
            message = inner_exc.message or message
        offset = match.start(1) + _token_offset(inner, parser, at_end=len(inner))
        message = _no_quotes(message).replace("end of template", "'}}'")
        if inner.strip().startswith("."):
            message += " (Go templates' {{.NAME}} is {{ workflow.NAME }} or {{ env.NAME }} here)"
        return Mistake("expression-syntax", message, offset)
    return Mistake("expression-syntax", message, _line_offset(source, exc.lineno))


def _no_quotes(message: str) -> str:
    return message.replace("'end of template'", "end of template")


def _token_offset(text: str, parser: Parser, *, at_end: int | None = None) -> int:
    """The offset of the token the parser stopped at (Jinja tokens carry lines, not columns)."""
    token = parser.stream.current
    if token.type == "eof":
        return len(text.rstrip()) if at_end is None else at_end
    start = _line_offset(text, token.lineno)
    found = text.find(str(token.value), start)
    return found if found >= 0 else start


def _line_offset(text: str, lineno: int) -> int:
    offset = 0
    for _ in range(max(0, lineno - 1)):
        newline = text.find("\n", offset)
        if newline < 0:
            break
        offset = newline + 1
    return offset


class _Walker:
    """Collects reads (with guards), number comparisons, unknown filters and tests."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.reads: list[Read] = []
        self.compares: list[NamePath] = []
        self.mistakes: list[Mistake] = []

    def visit(self, node: nodes.Node, *, guarded: bool) -> None:
        if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
            path, rest = _chain(node)
            if path:
                self.reads.append(Read(path, guarded))
            for child in rest:
                self.visit(child, guarded=False)
            return
        if isinstance(node, nodes.Filter):
            self._known(node.name, "filter")
            if node.node is not None:
                self.visit(node.node, guarded=guarded or node.name in _GUARD_FILTERS)
            self._visit_call_args(node)
            return
        if isinstance(node, nodes.Test):
            self._known(node.name, "test")
            self.visit(node.node, guarded=guarded or node.name in _GUARD_TESTS)
            self._visit_call_args(node)
            return
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            self.visit(node.node.node, guarded=guarded)  # a method's name is not data
            self._visit_call_args(node)
            return
        if isinstance(node, nodes.Compare):
            self._compares(node)
        for child in node.iter_child_nodes():
            self.visit(child, guarded=guarded)

    def _visit_call_args(self, node: nodes.Filter | nodes.Test | nodes.Call) -> None:
        extra = [node.dyn_args, node.dyn_kwargs]
        for child in [*node.args, *(kw.value for kw in node.kwargs), *filter(None, extra)]:
            self.visit(child, guarded=False)

    def _compares(self, node: nodes.Compare) -> None:
        left = node.expr
        for operand in node.ops:
            right = operand.expr
            if operand.op in _COMPARES:
                for a, b in ((left, right), (right, left)):
                    if _is_number(b) and isinstance(a, nodes.Name | nodes.Getattr | nodes.Getitem):
                        path, _ = _chain(a)
                        if path:
                            self.compares.append(path)
            left = right

    def _known(self, name: str, kind: str) -> None:
        env = get_environment()
        table = env.filters if kind == "filter" else env.tests
        if name in table:
            return
        close = difflib.get_close_matches(name, list(table), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        pattern = (
            rf"\|\s*{re.escape(name)}\b"
            if kind == "filter"
            else rf"\bis\s+(?:not\s+)?{re.escape(name)}\b"
        )
        found = re.search(pattern, self.source)
        offset = found.end() - len(name) if found else 0
        self.mistakes.append(Mistake(f"unknown-{kind}", f"unknown {kind} '{name}'{hint}", offset))


def _is_number(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Neg | nodes.Pos):
        node = node.node
    return (
        isinstance(node, nodes.Const)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    )


def _chain(node: nodes.Node) -> tuple[NamePath, list[nodes.Node]]:
    """The constant name path of `a.b['c']` and the nodes left to visit (computed keys)."""
    if isinstance(node, nodes.Name):
        return ((node.name,), []) if node.ctx == "load" else ((), [])
    if isinstance(node, nodes.Getattr):
        path, rest = _chain(node.node)
        if path and not rest:
            return (*path, node.attr), rest
        return path, rest
    if isinstance(node, nodes.Getitem):
        path, rest = _chain(node.node)
        key = node.arg
        if path and not rest and isinstance(key, nodes.Const) and isinstance(key.value, str):
            return (*path, key.value), rest
        return path, [*rest, key]
    return (), [node]

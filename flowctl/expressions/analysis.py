"""What one expression or template does, for `validate`: the names it reads, the numbers
it compares them with, and its mistakes (syntax, unknown filters and tests), each with the
offset in the text of the token at fault.

Parsing with Jinja costs ~100 us a text; most texts are `{{ a.b.c }}` or `a.b == 1`, which
patterns read exactly, so only the rest is parsed.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass

from jinja2 import meta, nodes
from jinja2.exceptions import TemplateError, TemplateSyntaxError
from jinja2.parser import Parser

from flowctl.expressions.engine import whole_expression
from flowctl.expressions.sandbox import get_environment

NamePath = tuple[str, ...]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTTED = rf"{_NAME}(?:\.{_NAME})*"
_SIMPLE_BLOCK = re.compile(rf"\{{\{{\s*({_DOTTED})\s*\}}\}}")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_LITERAL = rf"""{_NUMBER}|'[^'\\]*'|"[^"\\]*"|true|false|none|True|False|None"""
_SIMPLE_EXPRESSION = re.compile(
    rf"\s*({_DOTTED})\s*(?:(==|!=|<=|>=|<|>)\s*({_LITERAL})\s*)?", re.DOTALL
)
_IS_NUMBER = re.compile(_NUMBER)
# Names Jinja reads as constants or operators, never as variables.
_CONSTANTS = frozenset(
    {"true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if"}
)
_OPENERS = {"{{": "}}", "{%": "%}", "{#": "#}"}
_OPENER = re.compile(r"\{\{|\{%|\{#")
_COMPARES = frozenset({"eq", "ne", "lt", "lteq", "gt", "gteq"})
_GUARD_FILTERS = frozenset({"default", "d"})
_GUARD_TESTS = frozenset({"defined", "undefined"})
_LOADING = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)


@dataclass(frozen=True, slots=True)
class Read:
    """A name path the text reads; `guarded` under `| default(...)` or `is defined`."""

    path: NamePath
    guarded: bool = False


@dataclass(frozen=True, slots=True)
class Mistake:
    """Something wrong in the text itself, at `offset` (an index into the text)."""

    code: str
    message: str
    offset: int


@dataclass(frozen=True, slots=True)
class Analysis:
    reads: tuple[Read, ...] = ()
    # Paths compared directly with a number literal (`x.n >= 2`, not `x.n | int >= 2`).
    number_compares: tuple[NamePath, ...] = ()
    mistakes: tuple[Mistake, ...] = ()


@functools.lru_cache(maxsize=16384)
def analyse(source: str, *, template: bool) -> Analysis:
    """Reads, number comparisons and mistakes of an expression (or a template)."""
    fast = _fast_template(source) if template else _fast_expression(source)
    if fast is not None:
        return fast
    return _parsed_template(source) if template else _parsed_expression(source)


# -- without the parser ------------------------------------------------------------------------
def _fast_template(source: str) -> Analysis | None:
    if "{" not in source:
        return Analysis()
    reads: list[Read] = []
    for match in _SIMPLE_BLOCK.finditer(source):
        path = tuple(match.group(1).split("."))
        if path[0] in _CONSTANTS:
            return None
        reads.append(Read(path))
    rest = _SIMPLE_BLOCK.sub("", source)
    if _OPENER.search(rest):
        return None
    return Analysis(tuple(reads))


def _fast_expression(source: str) -> Analysis | None:
    inner = whole_expression(source.strip())
    text = source if inner is None else inner
    match = _SIMPLE_EXPRESSION.fullmatch(text)
    if match is None:
        return None
    dotted, op, literal = match.groups()
    path = tuple(dotted.split("."))
    if path[0] in _CONSTANTS:
        return None if op else Analysis()
    compares = (path,) if op and _IS_NUMBER.fullmatch(literal) else ()
    return Analysis((Read(path),), compares)


# -- with the parser ---------------------------------------------------------------------------
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
    parser = Parser(env, text, state="variable")
    try:
        tree = parser.parse_expression()
        if not parser.stream.eos:
            token = parser.stream.current
            raise TemplateSyntaxError(f"unexpected {token.value!r} after the expression", 1)
    except TemplateSyntaxError as exc:
        message = (exc.message or "").replace("'end of template'", "end of the expression")
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
                "unbalanced-delimiters", f"'{opener}' is never closed with '{closer}'", match.start()
            )
        at = end + len(closer)


def _template_syntax(source: str, exc: TemplateSyntaxError) -> Mistake:
    """Point at the `{{ }}` block that does not parse, else at the start of the line."""
    message = exc.message or "invalid template"
    for match in re.finditer(r"\{\{-?(.*?)-?\}\}", source, re.DOTALL):
        inner = match.group(1)
        parser = Parser(get_environment(), inner, state="variable")
        try:
            parser.parse_expression()
            if parser.stream.eos:
                continue
        except TemplateSyntaxError as inner_exc:
            message = inner_exc.message or message
        offset = match.start(1) + _token_offset(inner, parser, at_end=len(inner))
        return Mistake("expression-syntax", message.replace("'end of template'", "'}}'"), offset)
    return Mistake("expression-syntax", message, _line_offset(source, exc.lineno))


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
        pattern = rf"\|\s*{re.escape(name)}\b" if kind == "filter" else rf"\bis\s+(?:not\s+)?{re.escape(name)}\b"
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


def path_offset(source: str, path: NamePath, length: int) -> int:
    """Where the first `length` names of `path` are written in `source` (`a.b`, `a['b']`);
    the offset of the last of those names, or of the first name, or 0."""
    sep = r"""\s*(?:\.\s*|\[\s*['"])"""
    parts = path[:length]
    pattern = r"(?<![\w.])" + re.escape(parts[0])
    for part in parts[1:]:
        pattern += sep + "(" + re.escape(part) + r")\b"
    found = re.search(pattern, source)
    if found is not None:
        return found.start(found.lastindex) if found.lastindex else found.start()
    first = re.search(r"(?<![\w.])" + re.escape(parts[0]) + r"\b", source)
    return first.start() if first else 0

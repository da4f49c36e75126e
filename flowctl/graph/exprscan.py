"""What one expression or template reads, found without Jinja when the text is simple.

Parsing with Jinja costs ~100 us a text (and ~50 ms to import); most texts are `{{ a.b.c }}`
or `a.b == 1`, which patterns read exactly. The rest goes to flowctl.expressions.analysis.
"""

from __future__ import annotations

import functools
import re

from msgspec import Struct

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
_OPENER = re.compile(r"\{\{|\{%|\{#")
# A whole text that is one `{{ expression }}` (as flowctl.expressions.engine reads it).
_ONE_EXPRESSION = re.compile(r"\A\{\{[-+]?((?:(?!\}\}|\{\{|\{%|\{#).)*?)[-+]?\}\}\Z", re.S)


class Read(Struct, frozen=True):
    """A name path the text reads; `guarded` under `| default(...)` or `is defined`."""

    path: NamePath
    guarded: bool = False


class Mistake(Struct, frozen=True):
    """Something wrong in the text itself, at `offset` (an index into the text)."""

    code: str
    message: str
    offset: int


class Analysis(Struct, frozen=True):
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
    from flowctl.expressions.analysis import parsed

    return parsed(source, template=template)


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
    one = _ONE_EXPRESSION.match(source.strip())
    inner = one.group(1) if one else None
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


def path_offset(source: str, path: NamePath, length: int) -> int:
    """Where the first `length` names of `path` are written in `source` (`a.b`, `a['b']`):
    the offset of the last of those names (of the first one when `length` is negative),
    else of the first name anywhere, else 0."""
    sep = r"""\s*(?:\.\s*|\[\s*['"])"""
    parts = path[: abs(length)]
    pattern = r"(?<![\w.])" + re.escape(parts[0])
    for part in parts[1:]:
        pattern += sep + "(" + re.escape(part) + r")\b"
    found = re.search(pattern, source)
    if found is not None:
        if length < 0 or not found.lastindex:
            return found.start()
        return found.start(found.lastindex)
    first = re.search(r"(?<![\w.])" + re.escape(parts[0]) + r"\b", source)
    return first.start() if first else 0

"""Can two glob patterns match the same path? (Used to infer dependencies from files.)

Patterns are split on `/`; `**` stands for any number of segments; within a segment `*`
matches any run of characters, `?` one character, `[...]` one of a set. `{{ … }}`
templates are unknown text and count as `*`. The answer errs on the side of "yes": a
dependency inferred by mistake only orders two steps, a missed one breaks a build.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Callable, Sequence
from typing import TypeVar

_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)

# A token of a segment: ("*",), ("?",), ("lit", c) or ("set", chars, negated).
Token = tuple[str, ...]
T = TypeVar("T")


def normalize(pattern: str, base: str = "") -> str:
    """The pattern joined to its step's directory, templates made `*`, `.`/`..` folded."""
    text = _TEMPLATE.sub("*", pattern)
    if base and not text.startswith("/"):
        text = f"{_TEMPLATE.sub('*', base)}/{text}"
    text = posixpath.normpath(text) if text else text
    return text[2:] if text.startswith("./") else text


def overlap(a: str, b: str) -> bool:
    """True when some path could match both normalized patterns."""
    return _segments_overlap(tuple(a.split("/")), tuple(b.split("/")))


@functools.lru_cache(maxsize=4096)
def _segments_overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return _star_overlap(a, b, "**", lambda x, y: _text_overlap(_tokens(x), _tokens(y)))


@functools.lru_cache(maxsize=4096)
def _tokens(segment: str) -> tuple[Token, ...]:
    tokens: list[Token] = []
    i = 0
    while i < len(segment):
        c = segment[i]
        if c == "*":
            if not tokens or tokens[-1] != ("*",):
                tokens.append(("*",))
        elif c == "?":
            tokens.append(("?",))
        elif c == "[":
            end = segment.find("]", i + 2)
            if end < 0:
                tokens.append(("lit", c))
            else:
                body = segment[i + 1 : end]
                negated = body.startswith(("!", "^"))
                tokens.append(("set", _expand_set(body[1:] if negated else body), str(negated)))
                i = end
        else:
            tokens.append(("lit", c))
        i += 1
    return tuple(tokens)


def _expand_set(body: str) -> str:
    chars: list[str] = []
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            chars.extend(chr(c) for c in range(ord(body[i]), ord(body[i + 2]) + 1))
            i += 3
        else:
            chars.append(body[i])
            i += 1
    return "".join(chars)


def _one_char_overlap(x: Token, y: Token) -> bool:
    if x[0] == "?" or y[0] == "?":
        return True
    if x[0] == "lit" and y[0] == "lit":
        return x[1] == y[1]
    if x[0] == "lit":
        x, y = y, x
    if y[0] == "lit":  # x is a set
        return (y[1] in x[1]) != (x[2] == "True")
    # two sets: overlap unless both are plain and disjoint (negated sets almost always meet)
    if x[2] == "True" or y[2] == "True":
        return True
    return bool(set(x[1]) & set(y[1]))


def _text_overlap(a: tuple[Token, ...], b: tuple[Token, ...]) -> bool:
    return _star_overlap(a, b, ("*",), _one_char_overlap)


def _star_overlap(
    a: Sequence[T], b: Sequence[T], star: T, one_overlap: Callable[[T, T], bool]
) -> bool:
    """True when some string matches both sequences, where `star` matches any run of
    elements and every other pair matches when `one_overlap` says so: a search over pairs
    of positions, each visited once (paths: `**` over segments; a segment: `*` over
    characters)."""
    seen: set[tuple[int, int]] = set()
    stack = [(0, 0)]
    while stack:
        i, j = stack.pop()
        if (i, j) in seen:
            continue
        seen.add((i, j))
        if i == len(a) and j == len(b):
            return True
        a_star = i < len(a) and a[i] == star
        b_star = j < len(b) and b[j] == star
        if a_star:
            stack.append((i + 1, j))  # the star matching nothing
            if j < len(b):
                stack.append((i, j + 1))  # the star eating one of b's elements
        if b_star:
            stack.append((i, j + 1))
            if i < len(a):
                stack.append((i + 1, j))
        if i < len(a) and j < len(b) and not a_star and not b_star and one_overlap(a[i], b[j]):
            stack.append((i + 1, j + 1))
    return False

"""Filters that replace Jinja's where an argument could make a huge result, plus `raw`."""

from __future__ import annotations

import json
import pprint as _pprint
import re
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import Any

from jinja2 import filters as jf
from jinja2 import pass_environment, pass_eval_context
from jinja2.environment import Environment
from jinja2.exceptions import FilterArgumentError
from jinja2.nodes import EvalContext

from flowctl.expressions.guards import check_replace, percent_format
from flowctl.expressions.limits import (
    MAX_JSON_INDENT,
    MAX_REPEAT,
    MAX_TEXT,
    refuse,
    text_size,
)
from flowctl.expressions.values import raw, to_native, to_text

# Jinja's urlize and wordwrap take time quadratic in the length of one word (urlize's
# regexes backtrack over a long run of dots; textwrap re-slices a long word per line), in
# C code that no operation budget or signal interrupts. Both are refused past these costs,
# which keep one call well under 0.1 s.
MAX_WRAP_LINES = 100_000
MAX_QUADRATIC_COST = 4_000_000  # urlize: sum of squared word lengths
MAX_WRAP_COST = 10_000_000_000  # wordwrap: sum of (long word length)**2 / width
MAX_URLIZE_TEXT = 200_000
_WORDS = re.compile(r"\S+")


def _word_lengths(text: str) -> Iterator[int]:
    return (m.end() - m.start() for m in _WORDS.finditer(text))


def _width(width: Any, what: str) -> int:
    size = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    if size > MAX_REPEAT:
        raise refuse(f"{what} above {MAX_REPEAT:,} is not allowed")
    return size


def center(value: Any, width: int = 80) -> str:
    _width(width, "a center width")
    return to_text(value).center(width)


def indent(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = to_text(s)
    pad = _width(width, "an indent width")
    if len(text) + (text.count("\n") + 1) * pad > MAX_TEXT:
        raise refuse(f"indent would make more than {MAX_TEXT:,} characters")
    return jf.do_indent(text, width, first, blank)


@pass_environment
def wordwrap(
    env: Environment,
    s: Any,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    text = to_text(s)
    separator = env.newline_sequence if wrapstring is None else wrapstring
    if isinstance(width, int) and width > 0:
        lines = len(text) // width + text.count("\n") + 1
        if len(text) + lines * len(separator) > MAX_TEXT:
            raise refuse(f"wordwrap would make more than {MAX_TEXT:,} characters")
        if lines > MAX_WRAP_LINES:
            raise refuse(f"wordwrap would make more than {MAX_WRAP_LINES:,} lines")
        cost = sum(n * n // width for n in _word_lengths(text) if n > width)
        if cost > MAX_WRAP_COST:
            raise refuse("wordwrap would take too long: words far longer than the width")
    return jf.do_wordwrap(env, text, width, break_long_words, wrapstring, break_on_hyphens)


@pass_eval_context
def urlize(eval_ctx: EvalContext, value: Any, *args: Any, **kwargs: Any) -> str:
    text = to_text(value)
    if len(text) > MAX_URLIZE_TEXT:
        raise refuse(f"urlize takes at most {MAX_URLIZE_TEXT:,} characters")
    if sum(n * n for n in _word_lengths(text)) > MAX_QUADRATIC_COST:
        raise refuse("urlize would take too long: a word of the text is far too long")
    return str(jf.do_urlize(eval_ctx, text, *args, **kwargs))


def batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> Iterator[list[Any]]:
    if fill_with is not None and isinstance(linecount, int):
        _width(linecount, "a batch size with a fill value")
        if linecount * text_size(fill_with) > MAX_TEXT:
            raise refuse(f"batch would make more than {MAX_TEXT:,} characters of fill")
    return jf.do_batch(value, linecount, fill_with)


def slice_(value: Iterable[Any], slices: int, fill_with: Any = None) -> Iterator[list[Any]]:
    _width(slices, "a number of slices")
    return jf.sync_do_slice(list(value), slices, fill_with)


def format_(value: Any, *args: Any, **kwargs: Any) -> str:
    if args and kwargs:
        raise FilterArgumentError("format takes positional or keyword arguments, not both")
    return percent_format(to_text(value), kwargs or args)


@pass_eval_context
def replace(eval_ctx: EvalContext, s: Any, old: Any, new: Any, count: int | None = None) -> str:
    text, old_text, new_text = to_text(s), to_text(old), to_text(new)
    check_replace(text, old_text, new_text, -1 if count is None else count)
    return text.replace(old_text, new_text, -1 if count is None else count)


@pass_eval_context
def join(
    eval_ctx: EvalContext, value: Iterable[Any], d: Any = "", attribute: str | int | None = None
) -> str:
    if attribute is not None:
        value = map(jf.make_attrgetter(eval_ctx.environment, attribute), value)
    separator = to_text(d)
    texts: list[str] = []
    total = 0
    for item in value:
        text = to_text(item)
        total += len(text) + len(separator)
        if total > MAX_TEXT:
            raise refuse(f"join would make more than {MAX_TEXT:,} characters")
        texts.append(text)
    return separator.join(texts)


def string(value: Any) -> str:
    return to_text(value)


def tojson(value: Any, indent: int | None = None) -> str:
    if indent is not None and (
        not isinstance(indent, int)
        or isinstance(indent, bool)
        or not 0 <= indent <= MAX_JSON_INDENT
    ):
        raise FilterArgumentError(f"tojson indent must be a number from 0 to {MAX_JSON_INDENT}")
    native = to_native(value)
    if text_size(native, indent=indent or 0) > MAX_TEXT:
        raise refuse(f"the JSON text would be longer than {MAX_TEXT:,} characters")
    return json.dumps(native, ensure_ascii=False, indent=indent)


def pprint(value: Any) -> str:
    if text_size(value, indent=1) > MAX_TEXT:
        raise refuse(f"the printed text would be longer than {MAX_TEXT:,} characters")
    return _pprint.pformat(value)


@pass_environment
def sum_(
    env: Environment, iterable: Iterable[Any], attribute: str | int | None = None, start: Any = 0
) -> Any:
    if attribute is not None:
        iterable = map(jf.make_attrgetter(env, attribute), iterable)
    items = list(iterable)
    if not all(isinstance(v, int | float) for v in [start, *items]):
        if sum(len(v) for v in [start, *items] if isinstance(v, Sized)) > MAX_REPEAT:
            raise refuse(f"sum would make more than {MAX_REPEAT:,} items")
        if text_size([start, *items]) > MAX_TEXT:
            raise refuse(f"sum would make more than {MAX_TEXT:,} characters")
    return sum(items, start)


FILTERS: dict[str, Callable[..., Any]] = {
    "batch": batch,
    "center": center,
    "format": format_,
    "indent": indent,
    "join": join,
    "pprint": pprint,
    "raw": raw,
    "replace": replace,
    "slice": slice_,
    "string": string,
    "sum": sum_,
    "tojson": tojson,
    "urlize": urlize,
    "wordwrap": wordwrap,
}

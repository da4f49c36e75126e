"""Checked versions of the operations that can exhaust the machine: `*`, `**`, `+`, `%`,
str.format and the str/bytes/int methods whose result size an argument chooses."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from types import BuiltinMethodType
from typing import Any

from jinja2.sandbox import SandboxedFormatter

from flowctl.expressions.limits import (
    MAX_INT_BITS,
    MAX_REPEAT,
    MAX_TEXT,
    ensure_size,
    refuse,
    text_size,
)

_SEQUENCE = (str, bytes, bytearray, list, tuple)
_TEXT = (str, bytes, bytearray)
_PADDING = frozenset({"center", "ljust", "rjust", "zfill"})
# One printf-style conversion: %(key)flags width .precision length type
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.?)", re.S)
_DIGITS = re.compile(r"\d+")


def power(left: Any, right: Any) -> Any:
    if (
        isinstance(left, int)
        and isinstance(right, int)
        and abs(left) > 1
        # |left| >= 2, so the result has at least `right` bits: no float overflow below.
        and (right > MAX_INT_BITS or right * math.log2(abs(left)) > MAX_INT_BITS)
    ):
        raise refuse(f"the result of ** would have more than {MAX_INT_BITS} bits")
    return left**right


def multiply(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise refuse(f"the result of * would have more than {MAX_INT_BITS} bits")
    elif isinstance(left, _SEQUENCE) and isinstance(right, int):
        _check_repeat(left, right)
    elif isinstance(right, _SEQUENCE) and isinstance(left, int):
        _check_repeat(right, left)
    return left * right


def _check_repeat(seq: Any, times: int) -> None:
    if times <= 1:
        return
    unit = "characters" if isinstance(seq, _TEXT) else "items"
    if len(seq) * times > MAX_REPEAT:
        made = len(seq) * times
        raise refuse(f"* would make {made:,} {unit}; at most {MAX_REPEAT:,} are allowed")
    if not isinstance(seq, _TEXT) and text_size(seq) * times > MAX_TEXT:
        raise refuse(f"the repeated list would be larger than {MAX_TEXT:,} characters")


def add(left: Any, right: Any) -> Any:
    if isinstance(left, _SEQUENCE) and isinstance(right, _SEQUENCE):
        if len(left) + len(right) > MAX_TEXT:
            raise refuse(f"the result of + would be longer than {MAX_TEXT:,}")
        if isinstance(left, list | tuple) and (text_size(left) + text_size(right) > MAX_TEXT):
            raise refuse(f"the result of + would be larger than {MAX_TEXT:,} characters")
    return left + right


def modulo(left: Any, right: Any) -> Any:
    if isinstance(left, str):
        return percent_format(left, right)
    if isinstance(left, bytes | bytearray):
        raise refuse("% formatting of bytes is not supported")
    return left % right


def percent_format(fmt: str, args: Any) -> str:
    """`fmt % args` after checking that widths and the result stay within limits."""
    specs = 0
    widest = 0
    uses_repr = False
    for match in _PERCENT.finditer(fmt):
        width, precision, conversion = match.groups()
        if conversion == "%":
            continue
        if width == "*" or precision == "*":
            raise refuse("'*' widths in % formatting are not supported")
        widest = max(widest, _width(width), _width(precision))
        specs += 1
        uses_repr = uses_repr or conversion in ("r", "a")
    if specs:
        values: Sequence[Any] = args if isinstance(args, tuple) else (args,)
        biggest = max((text_size(v) for v in values), default=0) * (4 if uses_repr else 1)
        if len(fmt) + specs * (widest + biggest) > MAX_TEXT:
            raise refuse(f"the formatted text would be longer than {MAX_TEXT:,} characters")
    text: str = fmt % args
    return text


def _width(digits: str | None) -> int:
    if not digits:
        return 0
    if len(digits) > 7 or int(digits) > MAX_REPEAT:
        raise refuse(f"a format width or precision above {MAX_REPEAT:,} is not allowed")
    return int(digits)


class CheckedFormatter(SandboxedFormatter):
    """Jinja's sandboxed str.format, plus bounded widths and a bounded result."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self._made = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        for digits in _DIGITS.findall(format_spec):
            _width(digits)
        ensure_size(value, "a formatted field")
        text = super().format_field(value, format_spec)
        self._made += len(text)
        if self._made > MAX_TEXT:
            raise refuse(f"the formatted text would be longer than {MAX_TEXT:,} characters")
        return text


def prepare_call(
    func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Check a call of a builtin method whose arguments choose the size of its result;
    returns the arguments to use (an iterable given to join is read once, here)."""
    if not isinstance(func, BuiltinMethodType):
        return args, kwargs
    owner = func.__self__
    name = func.__name__
    if isinstance(owner, _TEXT):
        check = _TEXT_CHECKS.get(name)
        if check is not None:
            return check(owner, args, kwargs)
    elif isinstance(owner, int) and name == "to_bytes":
        length = _arg(args, kwargs, 0, "length", 1)
        if isinstance(length, int) and length > MAX_REPEAT:
            raise refuse(f"to_bytes of more than {MAX_REPEAT:,} bytes is not allowed")
    return args, kwargs


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], pos: int, name: str, default: Any) -> Any:
    return args[pos] if len(args) > pos else kwargs.get(name, default)


_Args = tuple[tuple[Any, ...], dict[str, Any]]


def _padding(owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Args:
    width = _arg(args, kwargs, 0, "width", 0)
    if isinstance(width, int) and width > MAX_REPEAT:
        raise refuse(f"padding to more than {MAX_REPEAT:,} characters is not allowed")
    return args, kwargs


def _expandtabs(owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Args:
    size = _arg(args, kwargs, 0, "tabsize", 8)
    tab = "\t" if isinstance(owner, str) else b"\t"
    if isinstance(size, int) and len(owner) + owner.count(tab) * size > MAX_TEXT:
        raise refuse(f"expandtabs would make more than {MAX_TEXT:,} characters")
    return args, kwargs


def _replace(owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Args:
    if len(args) >= 2:
        check_replace(owner, args[0], args[1], _arg(args, kwargs, 2, "count", -1))
    return args, kwargs


def check_replace(text: Any, old: Any, new: Any, count: Any) -> None:
    """Refuse a replace whose result would exceed MAX_TEXT characters."""
    if not (isinstance(old, _TEXT) and isinstance(new, _TEXT)) or len(new) <= len(old):
        return
    try:
        found = text.count(old) if old else len(text) + 1
    except TypeError:
        return  # str and bytes mixed: the call itself reports it
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    if len(text) + found * (len(new) - len(old)) > MAX_TEXT:
        raise refuse(f"replace would make more than {MAX_TEXT:,} characters")


def _join(owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Args:
    if len(args) != 1:
        return args, kwargs
    items = list(args[0])
    size = sum(len(i) for i in items if isinstance(i, _TEXT))
    if size + len(owner) * max(len(items) - 1, 0) > MAX_TEXT:
        raise refuse(f"join would make more than {MAX_TEXT:,} characters")
    return (items,), kwargs


def _translate(owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Args:
    table = _arg(args, kwargs, 0, "table", None)
    if isinstance(table, Mapping):
        pieces: Any = table.values()
    elif isinstance(table, list | tuple):
        pieces = table
    else:
        return args, kwargs
    longest = max((len(p) for p in pieces if isinstance(p, _TEXT)), default=1)
    if len(owner) * longest > MAX_TEXT:
        raise refuse(f"translate would make more than {MAX_TEXT:,} characters")
    return args, kwargs


_TEXT_CHECKS: dict[str, Callable[[Any, tuple[Any, ...], dict[str, Any]], _Args]] = {
    **dict.fromkeys(_PADDING, _padding),
    "expandtabs": _expandtabs,
    "replace": _replace,
    "join": _join,
    "translate": _translate,
}


def check_result(value: Any) -> None:
    """Refuse a call's result that is too big (the last line of defence)."""
    ensure_size(value, "the result")


BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "**": power,
    "*": multiply,
    "+": add,
    "%": modulo,
}

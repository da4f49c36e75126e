"""Resource limits of one evaluation and the size estimate that enforces them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2.exceptions import SecurityError as JinjaSecurityError

MAX_INT_BITS = 4096  # results of `*` and `**` on integers
MAX_REPEAT = 1_000_000  # items or characters made by repetition, padding, fill or widths
MAX_TEXT = 32_000_000  # characters of any one value made or printed (above the 16 MiB output file)
MAX_RANGE = 100_000  # items of one range(), as Jinja's own sandbox allows
MAX_OPERATIONS = 10_000_000  # loop iterations, calls and filter work of one evaluation
MAX_CPU_SECONDS = 0.5  # CPU time of one evaluation: a timeout or Ctrl-C waits at most this
MAX_JSON_INDENT = 8


class LimitExceeded(JinjaSecurityError):
    """An evaluation went over a resource limit (a bomb, or a template far too heavy).

    A Jinja SecurityError so that nothing inside Jinja swallows it on the way out; the
    engine reports it as flowctl's SecurityError.
    """


def refuse(reason: str) -> LimitExceeded:
    return LimitExceeded(reason)


def text_size(value: Any, limit: int = MAX_TEXT, *, indent: int = 0) -> int:
    """About how many characters `value` takes as text (JSON or str()), counting every
    shared reference again; stops counting once over `limit`, so the cost is bounded.

    `indent` adds the indentation a pretty-printer would put before each nested item.
    """
    total = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif item is None or isinstance(item, bool):
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, float):
            total += 24
        elif isinstance(item, Mapping):
            total += 2 + (4 + indent * (depth + 1)) * len(item)
            stack.extend((k, depth + 1) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + (2 + indent * (depth + 1)) * len(item)
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, bytes | bytearray):
            total += 4 * len(item) + 3
        else:
            total += 32
        if total > limit:
            return total
    return total


def ensure_size(value: Any, what: str = "the value") -> None:
    """Refuse a value whose text would exceed MAX_TEXT characters."""
    if isinstance(value, str | bytes):
        size = len(value)
    elif isinstance(value, list | tuple | dict | set | frozenset):
        size = text_size(value)
    else:
        return
    if size > MAX_TEXT:
        raise refuse(f"{what} would be larger than {MAX_TEXT:,} characters")

"""How values leave the sandbox: as plain data (to_native) or as text (to_text)."""

from __future__ import annotations

import json
from collections.abc import ItemsView, Iterator, KeysView, Mapping, Set, ValuesView
from typing import Any

from jinja2.exceptions import TemplateRuntimeError
from jinja2.runtime import Undefined

from flowctl.expressions.limits import ensure_size


class NotData(TemplateRuntimeError):
    """A result is not data (a function, a loop object, ...)."""


class Raw(str):
    """Text marked by the `raw` filter: pasted into a `run:` command, not passed as data."""

    __slots__ = ()


def raw(value: Any) -> Raw:
    """The `raw` filter: `{{ value | raw }}` pastes the text (for trusted values only)."""
    return Raw(to_text(value))


def to_text(value: Any) -> str:
    """The one text form of a value, used by `{{ }}`, `~`, `string`, `join` and the shell.

    Strings as they are, none as "", booleans as true/false, numbers as Python prints
    them, lists and mappings as JSON (as a user of GitHub Actions expects).
    """
    if isinstance(value, str):
        return value if type(value) is str else str.__str__(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    native = to_native(value)
    if isinstance(native, str):
        return native
    ensure_size(native, "the text")
    return json.dumps(native, ensure_ascii=False)


def to_native(value: Any) -> Any:
    """Plain data from a result: lists for tuples, ranges, generators and views; str for
    str subclasses; an error for Undefined and for anything that is not data."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if type(value) is str else str.__str__(value)
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, Mapping):
        return {_key(k): to_native(v) for k, v in value.items()}
    if isinstance(value, list | tuple | range | Set | KeysView | ValuesView | ItemsView | Iterator):
        return [to_native(v) for v in value]
    if isinstance(value, bytes | bytearray):
        raise NotData("the result is bytes, not text; decode it first")
    if callable(value):
        name = getattr(value, "__name__", None) or type(value).__name__
        raise NotData(f"the result is the function {name!r}, not data (call it with ())")
    raise NotData(f"the result is a {type(value).__name__} object, not data")


def _key(key: Any) -> Any:
    if isinstance(key, str) and type(key) is not str:
        return str.__str__(key)
    if isinstance(key, Undefined):
        key._fail_with_undefined_error()
    return key

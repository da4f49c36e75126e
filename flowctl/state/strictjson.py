"""Strict JSON in and out: NaN and Infinity are not JSON, and state files hold only JSON.

Python's json module writes `NaN` and reads it back by default; other tools (jq, browsers,
Go) reject such files, and a crafted `NaN` or `1e999` in a journal reached arithmetic that
raised in resume. Readers reject the constants; writers turn a non-finite float into null.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def loads_strict(text: str | bytes) -> Any:
    """json.loads without NaN, Infinity and -Infinity; ValueError for them."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    value = _DECODER.decode(text)
    return value


def finite(value: Any) -> Any:
    """A copy of a JSON-like value with every NaN or infinite float replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def dumps_strict(value: Any, dumps: Callable[..., str] = json.dumps, **options: Any) -> str:
    """json.dumps that never writes NaN or Infinity (the common case costs one attempt)."""
    try:
        return dumps(value, allow_nan=False, **options)
    except ValueError:
        return dumps(finite(value), allow_nan=False, **options)

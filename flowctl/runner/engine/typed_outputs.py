"""Declared `outputs:` types: a step's outputs converted to them, or the step fails."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from flowctl.runner.steps.base import FailureKind, StepFailure

_INTEGER = re.compile(r"[-+]?\d+")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


class _Unconvertible(ValueError):
    """The value cannot be read as the declared type; the message says what it is."""


def convert_outputs(declared: Mapping[str, str], outputs: Mapping[str, Any]) -> dict[str, Any]:
    """`outputs` with every declared one converted (text from `key=value` lines is parsed).

    Raises StepFailure, never retried, naming each missing or unconvertible output.
    """
    converted = dict(outputs)
    problems: list[str] = []
    for name, type_name in declared.items():
        if name not in outputs:
            problems.append(
                f"declared output '{name}' ({type_name}) is missing:"
                f" write `{name}=...` to $FLOWCTL_OUTPUT (or return it)"
            )
            continue
        try:
            converted[name] = convert(outputs[name], type_name)
        except _Unconvertible as exc:
            problems.append(f"output '{name}' is not {_a(type_name)}: {exc}")
    if problems:
        raise StepFailure(
            "; ".join(problems),
            kind=FailureKind.VALIDATION,
            retryable=False,
            outputs=converted,
        )
    return converted


def convert(value: Any, type_name: str) -> Any:
    """One value as `type_name` (string, integer, number, boolean, array, object)."""
    text = value.strip() if isinstance(value, str) else None
    match type_name:
        case "string":
            if isinstance(value, str):
                return value
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, int | float):
                return str(value)
        case "integer":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, float) and math.isfinite(value) and value.is_integer():
                return int(value)
            if text is not None and _INTEGER.fullmatch(text):
                return int(text)
        case "number":
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value
            if text is not None and _NUMBER.fullmatch(text):
                return int(text) if _INTEGER.fullmatch(text) else float(text)
        case "boolean":
            if isinstance(value, bool):
                return value
            if text is not None and text.lower() in _TRUE | _FALSE:
                return text.lower() in _TRUE
        case "array" | "object":
            wanted = list if type_name == "array" else dict
            if isinstance(value, wanted):
                return value
            if text is not None:
                try:
                    decoded = json.loads(text)
                except ValueError:
                    raise _Unconvertible(f"{_show(value)} is not JSON") from None
                if isinstance(decoded, wanted):
                    return decoded
    raise _Unconvertible(f"got {_show(value)}")


def _a(type_name: str) -> str:
    return {"integer": "an integer", "array": "an array", "object": "an object"}.get(
        type_name, f"a {type_name}"
    )


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:56] + '…"'

"""Workflow inputs resolved against the spec: coerced, defaulted and validated.

Reading them from the command line (`--input k=v`, `--inputs-file`) is `commands.input_args`.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from flowctl.errors import InputError, Problem
from flowctl.secrets import clip
from flowctl.spec.model import InputSpec, Workflow
from flowctl.spec.yamlload import DEFAULT_MAX_DEPTH

_INTEGER = re.compile(r"^[-+]?[0-9]+$")
_NUMBER = re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$")


class InputsError(InputError):
    """One or more workflow inputs are wrong; `problems` has one line per mistake."""

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("InputsError needs at least one problem")
        super().__init__(problems[0].message, location=problems[0].location)
        self._problems = problems

    @property
    def problems(self) -> list[Problem]:
        return list(self._problems)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self._problems)


# An input error names the value; a jsonschema message can hold all of it.
_MAX_MESSAGE = 500


def problem(message: str, *, path: str | None = None) -> Problem:
    # Masked (every `secrets:` value, once the run's masker exists), then shortened.
    return Problem(clip(message, _MAX_MESSAGE), path=path, code="input")


def resolve_inputs(wf: Workflow, given: Mapping[str, Any]) -> dict[str, Any]:
    """The run's inputs: `given` coerced to the declared types, defaults filled in, validated.

    Text values (every `--input`) are converted to the declared type: integer, number,
    boolean (`true`/`false` only), null, array/object (JSON text). Each value is then
    checked against its input's JSON Schema.

    Raises InputsError listing every unknown, missing or invalid input.
    """
    problems: list[Problem] = []
    declared = wf.inputs
    for name in given:
        if name not in declared:
            problems.append(problem(_unknown_message(name, declared), path=f"inputs.{name}"))
    resolved: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in given:
            try:
                value = coerce(spec, given[name])
            except ValueError as exc:
                problems.append(problem(f"input {name!r}: {exc}", path=f"inputs.{name}"))
                continue
        elif "default" in spec.schema:
            value = _plain(spec.schema["default"])  # a fresh copy: the model is read-only
        else:
            problems.append(
                problem(
                    f"input {name!r} is required ({_describe(spec)}); "
                    f"give it with --input {name}=VALUE",
                    path=f"inputs.{name}",
                )
            )
            continue
        depth = nesting_depth(value, DEFAULT_MAX_DEPTH)
        if depth > DEFAULT_MAX_DEPTH:
            # Everything that walks the value (schema checks, the journal) would recurse.
            problems.append(
                problem(
                    f"input {name!r} is nested deeper than the limit of {DEFAULT_MAX_DEPTH} levels",
                    path=f"inputs.{name}",
                )
            )
            continue
        problems.extend(_validate(spec, value))
        resolved[name] = value
    if problems:
        raise InputsError(problems)
    return resolved


def nesting_depth(value: Any, limit: int) -> int:
    """Levels of lists and mappings in `value` (0 for a scalar), counted without recursion;
    stops at limit + 1."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth) for child in children)
    return deepest


def _unknown_message(name: str, declared: Mapping[str, InputSpec]) -> str:
    message = f"unknown input {name!r}"
    close = difflib.get_close_matches(name, list(declared), n=1)
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    if declared:
        return f"{message}; this workflow takes: {', '.join(declared)}"
    return f"{message}; this workflow declares no inputs"


def _describe(spec: InputSpec) -> str:
    parts = []
    kind = spec.schema.get("type")
    if kind is not None:
        parts.append(" or ".join(kind) if isinstance(kind, list | tuple) else str(kind))
    description = spec.description or spec.schema.get("description")
    if isinstance(description, str) and description:
        parts.append(description)
    return ": ".join(parts) if parts else "no default"


def _declared_types(spec: InputSpec) -> list[str]:
    kind = spec.schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list | tuple):
        return [k for k in kind if isinstance(k, str)]
    return []


def coerce(spec: InputSpec, value: Any) -> Any:
    """Convert a text value to the input's declared type; other values pass unchanged.

    With several declared types the first one the text converts to wins, and "string"
    (when declared) is the fallback. ValueError says what was expected.
    """
    if not isinstance(value, str):
        return value
    types = _declared_types(spec)
    if not types or types == ["string"]:
        return value
    for kind in types:
        if kind == "string":
            continue
        converted = _convert(kind, value)
        if converted is not _NO:
            return converted
    if "string" in types:
        return value
    expected = " or ".join(_EXPECTED.get(k, k) for k in types)
    shown = clip(value, 60)
    raise ValueError(f"expected {expected}, got {shown!r}")


_NO = object()
_EXPECTED = {
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
    "array": "a JSON array",
    "object": "a JSON object",
}


def _convert(kind: str, text: str) -> Any:
    stripped = text.strip()
    if kind == "integer":
        return int(stripped) if _INTEGER.match(stripped) else _NO
    if kind == "number":
        if _INTEGER.match(stripped):
            return int(stripped)
        if _NUMBER.match(stripped):
            number = float(stripped)
            return number if math.isfinite(number) else _NO
        return _NO
    if kind == "boolean":
        return {"true": True, "false": False}.get(stripped, _NO)
    if kind == "null":
        return None if stripped == "null" else _NO
    if kind in ("array", "object"):
        try:
            parsed = json.loads(stripped)
        except (ValueError, RecursionError):
            return _NO
        wanted = list if kind == "array" else dict
        return parsed if isinstance(parsed, wanted) else _NO
    return _NO


def _plain(value: Any) -> Any:
    """Read-only mappings and tuples as fresh dicts and lists (what jsonschema expects)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _validate(spec: InputSpec, value: Any) -> list[Problem]:
    # Imported here: only an input with a `schema` needs jsonschema.
    import jsonschema
    from jsonschema.exceptions import SchemaError

    schema = _plain(spec.schema)
    try:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    except SchemaError as exc:
        return [problem(f"input {spec.name!r} has an invalid schema: {exc.message}")]
    problems = []
    for error in errors:
        where = "".join(f"[{p!r}]" for p in error.absolute_path)
        problems.append(
            problem(f"input {spec.name!r}{where}: {error.message}", path=f"inputs.{spec.name}")
        )
    return problems


def json_type(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


__all__ = [
    "InputsError",
    "coerce",
    "json_type",
    "resolve_inputs",
]

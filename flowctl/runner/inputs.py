"""Workflow inputs from `--input k=v` and `--inputs-file`: coerced, defaulted and validated."""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flowctl.errors import InputError, Location, Problem, SpecError
from flowctl.spec.model import InputSpec, Workflow
from flowctl.spec.yamlload import DEFAULT_MAX_BYTES, load_yaml_text

_INTEGER = re.compile(r"^[-+]?[0-9]+$")
_NUMBER = re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


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


def _problem(message: str, *, path: str | None = None) -> Problem:
    return Problem(message, path=path, code="input")


def parse_input_args(pairs: Sequence[str]) -> dict[str, str]:
    """`--input` values ("name=value", value may contain '=') as a mapping of strings."""
    values: dict[str, str] = {}
    problems: list[Problem] = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            problems.append(_problem(f"--input {pair!r}: expected NAME=VALUE"))
        elif not _NAME.match(name):
            problems.append(_problem(f"--input {pair!r}: {name!r} is not a valid input name"))
        elif name in values:
            problems.append(_problem(f"--input {name!r} is given more than once"))
        else:
            values[name] = value
    if problems:
        raise InputsError(problems)
    return values


def load_inputs_file(path: Path) -> dict[str, Any]:
    """Inputs from a JSON (`.json`) or YAML file whose top level is a mapping."""
    source = str(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(DEFAULT_MAX_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"inputs file {source}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"inputs file {source}: is a directory") from None
    except OSError as exc:
        raise InputError(f"inputs file {source}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > DEFAULT_MAX_BYTES:
        raise InputError(
            f"inputs file {source} is over the {DEFAULT_MAX_BYTES:,}-byte limit",
            location=Location(source, 1, 1),
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            "file is not valid UTF-8 text", location=Location(source, line, 1)
        ) from None
    data = (
        _parse_json(text, source) if path.suffix.lower() == ".json" else _parse_yaml(text, source)
    )
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(
            f"inputs file must hold a mapping of input names to values, not a {_json_type(data)}",
            location=Location(source, 1, 1),
        )
    return data


def _parse_json(text: str, source: str) -> Any:
    if not text.strip():
        return None

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise ValueError(f"duplicate key {key!r}")
            result[key] = value
        return result

    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"invalid JSON: {exc.msg}", location=Location(source, exc.lineno, exc.colno)
        ) from None
    except (ValueError, RecursionError) as exc:
        reason = "nesting is too deep" if isinstance(exc, RecursionError) else str(exc)
        raise InputError(f"invalid JSON: {reason}", location=Location(source, 1, 1)) from None


def _parse_yaml(text: str, source: str) -> Any:
    if not _has_content(text):
        return None
    try:
        # The workflow file's hardened loader: no alias bombs, tags, duplicates, 1.1 surprises.
        return load_yaml_text(text, source).data
    except SpecError as exc:
        raise InputError(exc.message, location=exc.location) from None


def _has_content(text: str) -> bool:
    return any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines())


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
            problems.append(_problem(_unknown_message(name, declared), path=f"inputs.{name}"))
    resolved: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in given:
            try:
                value = coerce(spec, given[name])
            except ValueError as exc:
                problems.append(_problem(f"input {name!r}: {exc}", path=f"inputs.{name}"))
                continue
        elif "default" in spec.schema:
            value = _plain(spec.schema["default"])  # a fresh copy: the model is read-only
        else:
            problems.append(
                _problem(
                    f"input {name!r} is required ({_describe(spec)}); "
                    f"give it with --input {name}=VALUE",
                    path=f"inputs.{name}",
                )
            )
            continue
        problems.extend(_validate(spec, value))
        resolved[name] = value
    if problems:
        raise InputsError(problems)
    return resolved


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
    shown = value if len(value) <= 60 else value[:57] + "..."
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
        return [_problem(f"input {spec.name!r} has an invalid schema: {exc.message}")]
    problems = []
    for error in errors:
        where = "".join(f"[{p!r}]" for p in error.absolute_path)
        problems.append(
            _problem(f"input {spec.name!r}{where}: {error.message}", path=f"inputs.{spec.name}")
        )
    return problems


def _json_type(value: Any) -> str:
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
    "load_inputs_file",
    "parse_input_args",
    "resolve_inputs",
]

"""Workflow inputs as the command line gives them: `--input NAME=VALUE` pairs, `--inputs-file`.

What the values mean (coercion, defaults, validation) is `runner.inputs.resolve_inputs`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flowctl.errors import InputError, Location, Problem, SpecError
from flowctl.runner.inputs import InputsError, json_type, problem
from flowctl.spec.yamlload import DEFAULT_MAX_BYTES, load_yaml_text

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def parse_input_args(pairs: Sequence[str]) -> dict[str, str]:
    """`--input` values ("name=value", value may contain '=') as a mapping of strings."""
    values: dict[str, str] = {}
    problems: list[Problem] = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            problems.append(problem(f"--input {pair!r}: expected NAME=VALUE"))
        elif not _NAME.match(name):
            problems.append(problem(f"--input {pair!r}: {name!r} is not a valid input name"))
        elif name in values:
            problems.append(problem(f"--input {name!r} is given more than once"))
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
            f"inputs file must hold a mapping of input names to values, not a {json_type(data)}",
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

"""The workflow format's JSON Schema, compiled once, and its errors as plain located problems.

`jsonschema` takes about 2.6 s on a 10,000-step file, so the schema is compiled here into
closures that implement the draft 2020-12 keywords it uses (tests check the verdicts agree
with jsonschema). The compiled checker also keeps `flowctl validate` free of the jsonschema
import unless a step declares `input_validation`.
"""

from __future__ import annotations

import functools
import json
import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from flowctl.errors import Location, Problem
from flowctl.spec.hints import other_tool_hint
from flowctl.spec.schemacheck import (
    Check,
    SchemaCompiler,
    Violation,
    first_duplicate,
)
from flowctl.spec.yamlload import JsonPath, LoadedDocument

SCHEMA_RESOURCE = ("schemas", "workflow.schema.json")


# -- the schema -------------------------------------------------------------------------------
@functools.cache
def schema_text() -> str:
    """The schema file exactly as shipped (what `flowctl schema` prints)."""
    # A plain file next to the package: importlib.resources would import zipfile, tempfile
    # and threading for it, a tenth of a dry run's start-up.
    return Path(__file__).parents[1].joinpath(*SCHEMA_RESOURCE).read_text(encoding="utf-8")


@functools.cache
def _schema() -> Mapping[str, Any]:
    data: dict[str, Any] = json.loads(schema_text())
    return data


def workflow_schema() -> dict[str, Any]:
    """The parsed schema; a fresh copy each call, so callers may change it freely."""
    data: dict[str, Any] = json.loads(schema_text())
    return data


# -- the compiled checker ---------------------------------------------------------------------
@functools.cache
def _workflow_check() -> Check:
    return SchemaCompiler(_schema()).compile(_schema())


def check_data(data: Any) -> list[Violation]:
    """Every way `data` (a parsed workflow file) breaks the schema, in document order."""
    out: list[Violation] = []
    _workflow_check()(data, (), out)
    return out


# -- errors as problems -------------------------------------------------------------------------
def schema_problems(doc: LoadedDocument) -> list[Problem]:
    """Every schema problem of a document, with its line:col, sorted by position."""
    try:
        errors = check_data(doc.data)
    except RecursionError:
        # The loader's depth limit keeps real files far from this; a LoadedDocument built
        # some other way might not be.
        return [Problem("the file nests too deeply to check", doc.locate(()), code="schema")]
    explain = _Explainer(doc)
    problems = [explain.problem(e) for e in errors]
    broken_inputs = {e.path[1] for e in errors if len(e.path) > 1 and e.path[0] == "inputs"}
    problems.extend(_input_problems(doc, explain, skip=broken_inputs))
    if not errors:
        problems.extend(_input_validation_problems(doc))
    return _sorted_unique(problems)


def _sorted_unique(problems: Iterable[Problem]) -> list[Problem]:
    seen: set[tuple[Location | None, str]] = set()
    unique: list[Problem] = []
    for problem in problems:
        key = (problem.location, problem.message)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    unique.sort(key=lambda p: (p.location.line, p.location.col) if p.location else (0, 0))
    return unique


_YAML11_BOOLEANS = frozenset(
    {"yes", "no", "on", "off", "y", "n", "true", "false"}
)  # compared lower-cased
_DEF_PHRASES = {
    "duration": "a duration: seconds, or a string such as 500ms, 30s, 5m, 1h30m",
    "stepId": "a step id (a string)",
    "identifier": "a name (a string)",
    "expression": "an expression (a string, or true or false)",
    "template": "a string (a template)",
    "pythonRef": 'a function as "package.module:function"',
    "stepIds": "a list of step ids",
    "steps": "a list of steps",
    "env": "a mapping of NAME: value",
    "textMap": "a mapping of names to text values",
}
_TYPE_PHRASES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}
_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_STEP_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_MAX_SHOWN = 60


def render_path(path: Sequence[str | int]) -> str:
    """A JSON path as people read it: steps[2].loop.max_iterations, env["A B"]."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _SIMPLE_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out


def _quote(name: str) -> str:
    """A key or id for a message: 'name', or JSON-escaped when it holds odd characters."""
    if name.isprintable() and "'" not in name and len(name) <= _MAX_SHOWN:
        return f"'{name}'"
    return _show(name)


def _show(value: Any) -> str:
    """A value for a message, short and on one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null (an empty value)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 4] + '…"'
    return repr(value)


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _one_of(options: Sequence[Any]) -> str:
    shown = [_quote(o) if isinstance(o, str) else _show(o) for o in options]
    if len(shown) <= 2:
        return " or ".join(shown)
    return ", ".join(shown[:-1]) + " or " + shown[-1]


def _close(word: Any, options: Iterable[str]) -> str | None:
    if not isinstance(word, str):
        return None
    options = list(options)
    lowered = {o.lower(): o for o in options}
    if word.lower() in lowered:
        return lowered[word.lower()]
    import difflib  # only a misspelt key needs it

    found = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return found[0] if found else None


def _step_ends(path: JsonPath) -> list[int]:
    """Lengths of the prefixes of `path` that are steps (top level or nested)."""
    ends: list[int] = []
    at = 0
    while True:
        rest = path[at:]
        if at == 0:
            patterns: tuple[tuple[str, ...], ...] = (("steps",),)
        else:
            patterns = (("parallel_steps",), ("loop", "steps"))
        for keys in patterns:
            n = len(keys)
            if len(rest) > n and tuple(rest[:n]) == keys and isinstance(rest[n], int):
                at += n + 1
                ends.append(at)
                break
        else:
            return ends


class _Explainer:
    """Turns Violations into Problems that name the step, the key and the fix."""

    def __init__(self, doc: LoadedDocument) -> None:
        self.doc = doc
        root = _schema()
        defs: Mapping[str, Any] = root["$defs"]
        self.def_names = {id(schema): name for name, schema in defs.items()}
        common = set(defs["stepCommon"]["properties"])
        self.type_keys: dict[str, set[str]] = {}
        for branch in defs["step"]["allOf"]:
            if "if" not in branch:
                continue
            step_type = branch["if"]["properties"]["type"]["const"]
            target = self._def(branch["then"]["$ref"])
            self.type_keys[step_type] = set(target["properties"]) - common

    def _def(self, ref: str) -> Mapping[str, Any]:
        node: Mapping[str, Any] = _schema()["$defs"][ref.rsplit("/", 1)[-1]]
        return node

    # -- where ----------------------------------------------------------------------------------
    def node(self, path: JsonPath) -> Any:
        node: Any = self.doc.data
        for part in path:
            node = node[part]
        return node

    def step_label(self, step_path: JsonPath, kind: str | None = None) -> str:
        """step 'ocr', loop step 'ocr', or the step at steps[3] when it has no usable id."""
        step = self.node(step_path)
        sid = step.get("id") if isinstance(step, dict) else None
        noun = f"{kind} step" if kind else "step"
        if isinstance(sid, str) and _STEP_ID.match(sid):
            return f"{noun} '{sid}'"
        return f"the {noun} at {render_path(step_path)}"

    def subject(self, path: JsonPath) -> str:
        """What `path` is, for a sentence: the workflow, step 'x', 'loop' of step 'x'."""
        if not path:
            return "the workflow"
        ends = _step_ends(path)
        if not ends:
            if path[0] == "agents" and len(path) == 2:
                return f"agent {_quote(str(path[1]))}"
            if path[0] == "inputs" and len(path) == 2:
                return f"input {_quote(str(path[1]))}"
            return f"'{render_path(path)}'"
        end = ends[-1]
        label = self.step_label(path[:end])
        if end == len(path):
            return label
        return f"'{render_path(path[end:])}' of {label}"

    def where(self, path: JsonPath) -> str:
        return "at the top level of the workflow" if not path else f"in {self.subject(path)}"

    def name(self, path: JsonPath) -> str:
        """The key a value sits under, as the author wrote it: 'timeout', 'dependencies[1]'."""
        if not path:
            return "the workflow"
        last = path[-1]
        if isinstance(last, int):
            parent = path[-2] if len(path) > 1 else ""
            return f"'{parent}[{last}]'" if isinstance(parent, str) else f"'[{last}]'"
        return _quote(last)

    def is_step(self, path: JsonPath) -> bool:
        ends = _step_ends(path)
        return bool(ends) and ends[-1] == len(path)

    # -- what -----------------------------------------------------------------------------------
    def expected(self, schema: Mapping[str, Any]) -> str:
        def_name = self.def_names.get(id(schema))
        if def_name in _DEF_PHRASES:
            return _DEF_PHRASES[def_name]
        types = schema.get("type", [])
        names = [types] if isinstance(types, str) else list(types)
        if not names and "enum" in schema:
            return f"one of {_one_of(schema['enum'])}"
        phrases = []
        for name in names:
            phrase = _TYPE_PHRASES.get(name, name)
            if name in ("integer", "number"):
                phrase += _bounds(schema)
            phrases.append(phrase)
        return " or ".join(phrases) or "a valid value"

    def problem(self, error: Violation) -> Problem:
        message, location_path, key = self.explain(error)
        return Problem(
            message,
            self.doc.locate(location_path, key=key),
            render_path(location_path) or None,
            code="schema",
        )

    def explain(self, error: Violation) -> tuple[str, JsonPath, bool]:
        """The message, the path to point at, and whether to point at its key."""
        path, kw, schema, value = error.path, error.keyword, error.schema, error.instance
        if kw == "additionalProperties":
            assert error.name is not None
            return self.unknown_key(path, error.name, schema), (*path, error.name), True
        if kw == "required":
            return self.missing_key(path, error.name or ""), path, False
        if kw == "propertyNames":
            key = error.name or ""
            inner = error.context[0].schema if error.context else {}
            rule = inner.get("patternErrorMessage", "is not allowed")
            where = self.subject(path)
            return (f"{_quote(key)} is not a valid name in {where}: it {rule}", (*path, key), True)
        if kw == "dependentRequired":
            key = error.name or ""
            needs = [n for n in schema["dependentRequired"][key] if n not in value]
            return (
                f"{_quote(key)} is only allowed together with {_one_of(needs)} {self.where(path)}",
                (*path, key),
                True,
            )
        if kw in ("oneOf", "not") and isinstance(value, dict):
            choice = self.exclusive_keys(path, kw, schema, value)
            if choice is not None:
                return choice
        return self.bad_value(error), path, False

    def unknown_key(self, path: JsonPath, key: str, schema: Mapping[str, Any]) -> str:
        message = f"unknown key {_quote(key)} {self.where(path)}"
        allowed = [k for k in schema.get("properties", {}) if k not in ("type",)]
        guess = _close(key, [*allowed, "type"])
        # Another tool's word says more than a spelling guess (`runs-on` is not `run`).
        hint = None
        if self.is_step(path):
            hint = other_tool_hint(key, step=True)
        elif not path:
            hint = other_tool_hint(key, step=False)
        if hint is not None and (guess is None or guess.lower() != key.lower()):
            return f"{message} ({hint})"
        if guess is not None:
            return f"{message} (did you mean '{guess}'?)"
        if self.is_step(path):
            owners = [t for t, keys in self.type_keys.items() if key in keys]
            if owners:
                kind = owners[0]
                return f"{message} ('{key}' belongs to steps of type '{kind}': add 'type: {kind}')"
        return message

    def missing_key(self, path: JsonPath, key: str) -> str:
        if not path:
            extra = " (a list of steps)" if key == "steps" else ""
            return f"the workflow needs '{key}'{extra}"
        if self.is_step(path):
            step = self.node(path)
            if key == "id":
                return "a step needs an 'id'"
            step_type = step.get("type", "action")
            return f"{self.step_label(path)} of type '{step_type}' needs '{key}'"
        return f"{self.subject(path)} needs '{key}'"

    def exclusive_keys(
        self, path: JsonPath, keyword: str, schema: Mapping[str, Any], value: Mapping[str, Any]
    ) -> tuple[str, JsonPath, bool] | None:
        """Messages for `exactly one of` (oneOf of requireds) and `not both` (not required)."""
        if keyword == "oneOf":
            alternatives = schema["oneOf"]
            if not all(set(a) == {"required"} and len(a["required"]) == 1 for a in alternatives):
                return None
            keys = [a["required"][0] for a in alternatives]
        else:
            inner = schema["not"]
            if set(inner) != {"required"}:
                return None
            keys = list(inner["required"])
        present = [k for k in keys if k in value]
        if self.is_step(path):
            subject = self.step_label(path, str(value.get("type", "action")))
        else:
            subject = self.subject(path)
        if len(present) > 1:
            both = " and ".join(f"'{k}'" for k in present)
            return (f"{subject} has {both}: use only one", (*path, present[1]), True)
        needs = _one_of(keys) if len(keys) == 2 else f"one of {_one_of(keys)}"
        return (f"{subject} needs {needs}", path, False)

    def bad_value(self, error: Violation) -> str:
        path, kw, schema, value = error.path, error.keyword, error.schema, error.instance
        name = self.name(path)
        shown = _show(value)
        if kw == "type":
            if not path:
                return (
                    f"a workflow file must be a mapping of keys such as name and steps, got {shown}"
                )
            if self.is_step(path):
                return f"each step must be a mapping with an 'id' and its keys, got {shown}"
            if path == ("version",):
                return f"'version' must be a string, got {shown}: quote it (version: \"{value}\")"
            message = f"{name} must be {self.expected(schema)}, got {shown}"
            if (
                "boolean" in _types(schema)
                and isinstance(value, str)
                and value.lower() in _YAML11_BOOLEANS
            ):
                message += " (flowctl reads yes/no/on/off as strings: write true or false)"
            return message
        if kw in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            return f"{name} must be {self.expected(schema)}, got {shown}"
        if kw == "enum":
            message = f"{name} must be one of {_one_of(schema['enum'])}, got {shown}"
            options = [o for o in schema["enum"] if isinstance(o, str)]
            guess = _close(value, options)
            return f"{message} (did you mean '{guess}'?)" if guess else message
        if kw == "const":
            return f"{name} must be {_show(schema['const'])}, got {shown}"
        if kw == "pattern":
            rule = schema.get("patternErrorMessage")
            if rule is None:
                return f"{name} must match {schema['pattern']}, got {shown}"
            return f"{name} {rule}, got {shown}"
        if kw == "minLength":
            if schema["minLength"] == 1:
                return f"{name} must not be empty"
            return f"{name} must be at least {schema['minLength']} characters long"
        if kw == "maxLength":
            return f"{name} must be at most {schema['maxLength']} characters long"
        if kw == "minItems":
            if schema["minItems"] == 1:
                things = "step" if path and path[-1] in ("steps", "parallel_steps") else "item"
                return f"{name} must list at least one {things}"
            return f"{name} must list at least {schema['minItems']} items"
        if kw == "maxItems":
            return f"{name} must list at most {schema['maxItems']} items"
        if kw == "uniqueItems":
            return f"{name} lists {_show(first_duplicate(value))} more than once"
        if kw in ("oneOf", "anyOf") and error.context:
            # Report the alternative that got furthest: its deepest error.
            deepest = max(error.context, key=lambda e: len(e.path))
            return self.explain(deepest)[0]
        if kw == "not":
            return f"{name} is not allowed here"
        return f"{name} is not allowed here ({kw})"


def _types(schema: Mapping[str, Any]) -> list[str]:
    types = schema.get("type", [])
    return [types] if isinstance(types, str) else list(types)


def _bounds(schema: Mapping[str, Any]) -> str:
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        return f" between {_number(low)} and {_number(high)}"
    if low is not None:
        return f" ≥ {_number(low)}"
    if high is not None:
        return f" ≤ {_number(high)}"
    if "exclusiveMinimum" in schema:
        return f" > {_number(schema['exclusiveMinimum'])}"
    if "exclusiveMaximum" in schema:
        return f" < {_number(schema['exclusiveMaximum'])}"
    return ""


# -- checks a schema cannot express ------------------------------------------------------------
def _input_problems(
    doc: LoadedDocument, explain: _Explainer, *, skip: set[str | int]
) -> list[Problem]:
    """Each input's pattern must compile and its default must fit its own declaration.

    Inputs in `skip` already broke the schema: their declarations are not worth compiling.
    """
    inputs = doc.data.get("inputs") if isinstance(doc.data, dict) else None
    if not isinstance(inputs, dict):
        return []
    problems: list[Problem] = []
    for name, spec in inputs.items():
        if name in skip or not isinstance(spec, dict):
            continue
        base: JsonPath = ("inputs", name)
        pattern = spec.get("pattern")
        if isinstance(pattern, str):
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(
                    Problem(
                        f"the pattern of input {_quote(name)} is not a valid regular "
                        f"expression: {exc}",
                        doc.locate((*base, "pattern")),
                        render_path((*base, "pattern")),
                        code="schema",
                    )
                )
                continue
        found = check_data_against(spec, spec["default"]) if "default" in spec else None
        for error in found or ():
            moved = Violation(
                (*base, "default", *error.path),
                error.keyword,
                error.schema,
                error.instance,
                error.name,
                error.context,
            )
            problem = explain.problem(moved)
            problems.append(
                Problem(
                    f"the default of input {_quote(name)} does not fit it: {problem.message}",
                    problem.location,
                    problem.path,
                    code="schema",
                )
            )
    return problems


def check_data_against(schema: Mapping[str, Any], data: Any) -> list[Violation] | None:
    """Check `data` against a small schema (an input declaration); None if it cannot compile."""
    try:
        check = SchemaCompiler(schema).compile(schema)
    except (ValueError, TypeError, KeyError, re.error):
        return None
    out: list[Violation] = []
    check(data, (), out)
    return out


def _walk_steps(steps: Any, path: JsonPath) -> Iterable[tuple[JsonPath, dict[str, Any]]]:
    if not isinstance(steps, list):
        return
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        here = (*path, index)
        yield here, step
        yield from _walk_steps(step.get("parallel_steps"), (*here, "parallel_steps"))
        loop = step.get("loop")
        if isinstance(loop, dict):
            yield from _walk_steps(loop.get("steps"), (*here, "loop", "steps"))


def _input_validation_problems(doc: LoadedDocument) -> list[Problem]:
    """Each step's input_validation must itself be a valid JSON Schema."""
    found = [
        (path, step["input_validation"])
        for path, step in _walk_steps(doc.data.get("steps"), ("steps",))
        if isinstance(step.get("input_validation"), dict)
    ]
    if not found:
        return []
    # Imported only here: most workflows never pay for jsonschema at validate time.
    import jsonschema

    problems: list[Problem] = []
    for path, schema in found:
        with warnings.catch_warnings():
            # An unknown $schema only warns; it falls back to draft 2020-12 like the runner.
            warnings.simplefilter("ignore", DeprecationWarning)
            cls = jsonschema.validators.validator_for(
                schema, default=jsonschema.Draft202012Validator
            )
        errors = sorted(cls(cls.META_SCHEMA).iter_errors(schema), key=lambda e: list(e.path))
        if not errors:
            continue
        where = (*path, "input_validation", *errors[0].absolute_path)
        reason = errors[0].message.splitlines()[0][:200]
        problems.append(
            Problem(
                f"'input_validation' is not a valid JSON Schema: {reason}",
                doc.locate(where),
                render_path(where),
                code="schema",
            )
        )
    return problems

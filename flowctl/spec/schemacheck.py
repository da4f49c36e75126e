"""A JSON Schema (draft 2020-12) compiled into plain Python checks: fast, and exact.

Implements the keywords flowctl's own schemas use; any other keyword is an error at compile
time, never silently ignored. Tests keep its verdicts equal to jsonschema's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from msgspec import Struct

from flowctl.spec.yamlload import JsonPath


class Violation(Struct, frozen=True):
    """One failed keyword: where (path of the value), which keyword, in which (sub)schema.

    `name` is the key concerned when the keyword is about keys: the unknown key
    (additionalProperties), the missing one (required), the badly named one (propertyNames)
    or the one that needs another (dependentRequired).
    """

    path: JsonPath
    keyword: str
    schema: Mapping[str, Any]
    instance: Any
    name: str | None = None
    context: tuple[Violation, ...] = ()


Check = Callable[[Any, JsonPath, list[Violation]], None]

_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "title",
        "description",
        "default",
        "examples",
        "format",
        "deprecated",
        "readOnly",
        "writeOnly",
        "patternErrorMessage",
    }
)


def _accept(instance: Any, path: JsonPath, out: list[Violation]) -> None:
    """The check of an empty or `true` schema."""


def _is_number(value: Any) -> bool:
    # A NaN or an infinity is not a usable number anywhere in a workflow; JSON has neither.
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    # Stricter than JSON Schema's "1.0 is an integer": the model holds real ints.
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": _is_number,
}


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values, where true is not 1 and false is not 0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(json_equal(v, b[k]) for k, v in a.items())
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(json_equal, a, b))
    return bool(type(a) is type(b) or (_is_numeric(a) and _is_numeric(b))) and a == b


def _is_numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def first_duplicate(items: Sequence[Any]) -> Any:
    """The first item that equals an earlier one, or None."""
    seen: set[str] = set()
    for index, item in enumerate(items):
        if isinstance(item, str):
            if item in seen:
                return item
            seen.add(item)
        elif any(json_equal(item, earlier) for earlier in items[:index]):
            return item
    return None


class SchemaCompiler:
    """Turns a JSON Schema (draft 2020-12, the keywords flowctl's schema uses) into a Check.

    Unsupported keywords and non-local `$ref`s raise ValueError at compile time, so a
    schema edit that needs more is noticed by the tests rather than silently ignored.
    """

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self._refs: dict[str, list[Check]] = {}

    def compile(self, schema: Any) -> Check:
        if schema is True or schema == {}:
            return _accept
        if schema is False:
            return self._false(schema)
        if not isinstance(schema, Mapping):
            raise ValueError(f"not a schema: {schema!r}")
        type_check: Check | None = None
        checks: list[Check] = []
        for keyword, value in schema.items():
            if keyword in _ANNOTATIONS or keyword in ("then", "else", "additionalProperties"):
                continue
            if keyword == "type":
                type_check = self._type(schema, value)
                continue
            build = getattr(self, "_kw_" + keyword.lstrip("$"), None)
            if build is None:
                raise ValueError(f"schema keyword {keyword!r} is not supported")
            checks.append(build(schema, value))
        if "additionalProperties" in schema:
            checks.append(self._additional(schema))
        checks = [c for c in checks if c is not _accept]
        return _combine(type_check, checks)

    # -- keywords ------------------------------------------------------------------------------
    def _false(self, schema: Any) -> Check:
        def check(instance: Any, path: JsonPath, out: list[Violation]) -> None:
            out.append(Violation(path, "false", {}, instance))

        return check

    def _type(self, schema: Mapping[str, Any], value: Any) -> Check:
        names = [value] if isinstance(value, str) else list(value)
        tests = [_TYPE_TESTS[n] for n in names]

        def check(instance: Any, path: JsonPath, out: list[Violation]) -> None:
            for test in tests:
                if test(instance):
                    return
            out.append(Violation(path, "type", schema, instance))

        return check

    def _kw_ref(self, schema: Mapping[str, Any], ref: str) -> Check:
        cell = self._refs.get(ref)
        if cell is None:
            cell = []
            self._refs[ref] = cell
            cell.append(self.compile(self._resolve(ref)))

        def check(instance: Any, path: JsonPath, out: list[Violation]) -> None:
            cell[0](instance, path, out)

        return check

    def _resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise ValueError(f"only local $ref is supported, not {ref!r}")
        node: Any = self.root
        for token in ref[1:].split("/")[1:]:
            key = token.replace("~1", "/").replace("~0", "~")
            node = node[int(key)] if isinstance(node, list) else node[key]
        return node

    def _kw_properties(self, schema: Mapping[str, Any], value: Mapping[str, Any]) -> Check:
        subs = {k: c for k, s in value.items() if (c := self.compile(s)) is not _accept}
        if not subs:
            return _accept

        def check(instance: Any, path: JsonPath, out: list[Violation]) -> None:
            if isinstance(instance, dict):
                for key, item in instance.items():
                    sub = subs.get(key)
                    if sub is not None:
                        sub(item, (*path, key), out)

        return check

    def _kw_patternProperties(self, schema: Mapping[str, Any], value: Mapping[str, Any]) -> Check:
        subs = [
            (re.compile(p), c) for p, s in value.items() if (c := self.compile(s)) is not _accept
        ]
        if not subs:
            return _accept

        def check(instance: Any, path: JsonPath, out: list[Violation]) -> None:
            if isinstance(instance, dict):
                for key, item in instance.items():
                    for pattern, sub in subs:
                        if isinstance(key, str) and pattern.search(key):
                            sub(item, (*path, key), out)

        return check

    def _additional(self, schema: Mapping[str, Any]) -> Check:
        known = frozenset(schema.get("properties", ()))
        patterns = [re.compile(p) for p in schema.get("patternProperties", ())]

        def is_known(key: str) -> bool:
            return key in known or any(p.search(key) for p in patterns)

        extra = schema["additionalProperties"]
        if extra is False:

            def refuse(instance: Any, path: JsonPath, out: list[Violation]) -> None:
                if isinstance(instance, dict):
                    for key in instance:
                        if not is_known(key):
                            out.append(
                                Violation(path, "additionalProperties", schema, instance, key)
                            )

            return refuse
        sub = self.compile(extra)
        if sub is _accept:
            return _accept

        def each(instance: Any, path: JsonPath, out: list[Violation]) -> None:
            if isinstance(instance, dict):
                for key, item in instance.items():
                    if not is_known(key):
                        sub(item, (*path, key), out)

        return each

    def _kw_required(self, schema: Mapping[str, Any], value: Sequence[str]) -> Check:
        def check(instance: Any, path: JsonPath, out: list[Violation]) -> None:
            if isinstance(instance, dict):
                for key in value:
                    if key not in instance:
                        out.append(Violation(path, "required", schema, instance, key))

        return check

    def _kw_dependentRequired(
        self, schema: Mapping[str, Any], value: Mapping[str, Sequence[str]]
    ) -> Check:
        def check(instance: Any, path: JsonPath, out: list[Violation]) -> None:
            if isinstance(instance, dict):
                for key, needs in value.items():
                    if key in instance and any(n not in instance for n in needs):
                        out.append(Violation(path, "dependentRequired", schema, instance, key))

        return check

    def _kw_propertyNames(self, schema: Mapping[str, Any], value: Any) -> Check:
        sub = self.compile(value)

        def check(instance: Any, path: JsonPath, out: list[Violation]) -> None:
            if isinstance(instance, dict):
                for key in instance:
                    found: list[Violation] = []
                    sub(key, path, found)
                    if found:
                        out.append(
                            Violation(path, "propertyNames", schema, instance, key, tuple(found))
                        )

        return check

    def _kw_items(self, schema: Mapping[str, Any], value: Any) -> Check:
        sub = self.compile(value)
        if sub is _accept:
            return _accept

        def check(instance: Any, path: JsonPath, out: list[Violation]) -> None:
            if isinstance(instance, list):
                for index, item in enumerate(instance):
                    sub(item, (*path, index), out)

        return check

    def _kw_minItems(self, schema: Mapping[str, Any], value: int) -> Check:
        return _when(list, lambda v: len(v) >= value, "minItems", schema)

    def _kw_maxItems(self, schema: Mapping[str, Any], value: int) -> Check:
        return _when(list, lambda v: len(v) <= value, "maxItems", schema)

    def _kw_uniqueItems(self, schema: Mapping[str, Any], value: bool) -> Check:
        if not value:
            return _accept
        return _when(list, lambda v: first_duplicate(v) is None, "uniqueItems", schema)

    def _kw_minLength(self, schema: Mapping[str, Any], value: int) -> Check:
        return _when(str, lambda v: len(v) >= value, "minLength", schema)

    def _kw_maxLength(self, schema: Mapping[str, Any], value: int) -> Check:
        return _when(str, lambda v: len(v) <= value, "maxLength", schema)

    def _kw_pattern(self, schema: Mapping[str, Any], value: str) -> Check:
        search = re.compile(value).search
        return _when(str, lambda v: search(v) is not None, "pattern", schema)

    def _kw_minimum(self, schema: Mapping[str, Any], value: float) -> Check:
        return _when_number(lambda v: v >= value, "minimum", schema)

    def _kw_maximum(self, schema: Mapping[str, Any], value: float) -> Check:
        return _when_number(lambda v: v <= value, "maximum", schema)

    def _kw_exclusiveMinimum(self, schema: Mapping[str, Any], value: float) -> Check:
        return _when_number(lambda v: v > value, "exclusiveMinimum", schema)

    def _kw_exclusiveMaximum(self, schema: Mapping[str, Any], value: float) -> Check:
        return _when_number(lambda v: v < value, "exclusiveMaximum", schema)

    def _kw_enum(self, schema: Mapping[str, Any], value: Sequence[Any]) -> Check:
        if all(isinstance(v, str) for v in value):
            options = frozenset(value)

            def strings(instance: Any, path: JsonPath, out: list[Violation]) -> None:
                if not (isinstance(instance, str) and instance in options):
                    out.append(Violation(path, "enum", schema, instance))

            return strings

        def check(instance: Any, path: JsonPath, out: list[Violation]) -> None:
            if not any(json_equal(instance, v) for v in value):
                out.append(Violation(path, "enum", schema, instance))

        return check

    def _kw_const(self, schema: Mapping[str, Any], value: Any) -> Check:
        def check(instance: Any, path: JsonPath, out: list[Violation]) -> None:
            if not json_equal(instance, value):
                out.append(Violation(path, "const", schema, instance))

        return check

    def _kw_allOf(self, schema: Mapping[str, Any], value: Sequence[Any]) -> Check:
        subs = [c for c in map(self.compile, value) if c is not _accept]
        return _combine(None, subs)

    def _kw_anyOf(self, schema: Mapping[str, Any], value: Sequence[Any]) -> Check:
        subs = [self.compile(s) for s in value]

        def check(instance: Any, path: JsonPath, out: list[Violation]) -> None:
            found: list[Violation] = []
            for sub in subs:
                mine: list[Violation] = []
                sub(instance, path, mine)
                if not mine:
                    return
                found.extend(mine)
            out.append(Violation(path, "anyOf", schema, instance, context=tuple(found)))

        return check

    def _kw_oneOf(self, schema: Mapping[str, Any], value: Sequence[Any]) -> Check:
        subs = [self.compile(s) for s in value]

        def check(instance: Any, path: JsonPath, out: list[Violation]) -> None:
            found: list[Violation] = []
            passed = 0
            for sub in subs:
                mine: list[Violation] = []
                sub(instance, path, mine)
                if mine:
                    found.extend(mine)
                else:
                    passed += 1
            if passed != 1:
                out.append(Violation(path, "oneOf", schema, instance, context=tuple(found)))

        return check

    def _kw_not(self, schema: Mapping[str, Any], value: Any) -> Check:
        sub = self.compile(value)

        def check(instance: Any, path: JsonPath, out: list[Violation]) -> None:
            mine: list[Violation] = []
            sub(instance, path, mine)
            if not mine:
                out.append(Violation(path, "not", schema, instance))

        return check

    def _kw_if(self, schema: Mapping[str, Any], value: Any) -> Check:
        test = self.compile(value)
        then = self.compile(schema.get("then", True))
        otherwise = self.compile(schema.get("else", True))

        def check(instance: Any, path: JsonPath, out: list[Violation]) -> None:
            mine: list[Violation] = []
            test(instance, path, mine)
            (otherwise if mine else then)(instance, path, out)

        return check


def _combine(type_check: Check | None, checks: list[Check]) -> Check:
    """All checks of one schema; when its `type` fails the others are not worth reporting."""
    if type_check is None:
        if not checks:
            return _accept
        if len(checks) == 1:
            return checks[0]

        def every(instance: Any, path: JsonPath, out: list[Violation]) -> None:
            for check in checks:
                check(instance, path, out)

        return every

    def typed(instance: Any, path: JsonPath, out: list[Violation]) -> None:
        before = len(out)
        type_check(instance, path, out)
        if len(out) == before:
            for check in checks:
                check(instance, path, out)

    return typed


def _when(
    kind: type, test: Callable[[Any], bool], keyword: str, schema: Mapping[str, Any]
) -> Check:
    def check(instance: Any, path: JsonPath, out: list[Violation]) -> None:
        if isinstance(instance, kind) and not test(instance):
            out.append(Violation(path, keyword, schema, instance))

    return check


def _when_number(test: Callable[[Any], bool], keyword: str, schema: Mapping[str, Any]) -> Check:
    def check(instance: Any, path: JsonPath, out: list[Violation]) -> None:
        if _is_numeric(instance) and not test(instance):
            out.append(Violation(path, keyword, schema, instance))

    return check

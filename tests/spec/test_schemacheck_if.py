"""`if` on one constant property (how the step schema tells step types apart) takes a fast
path in the compiled checker; its verdicts must stay those of jsonschema."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from flowctl.spec.schemacheck import SchemaCompiler, Violation, _discriminator

KINDS = [
    {"type": "object", "properties": {"type": {"const": "wait"}}, "required": ["type"]},
    {"type": "object", "properties": {"type": {"const": "action"}}},  # absent means action
    {"type": "object", "properties": {"n": {"const": 1}}, "required": ["n"]},
]
INSTANCES: list[Any] = [
    {},
    {"type": "wait"},
    {"type": "action"},
    {"type": "webhook", "until": 3},
    {"type": ["wait"]},
    {"type": None},
    {"n": 1},
    {"n": True},
    {"n": 1.0},
    {"n": "1"},
    "wait",
    ["type"],
    None,
    3,
]


@pytest.mark.parametrize("test", KINDS)
@pytest.mark.parametrize("instance", INSTANCES)
def test_the_fast_if_agrees_with_jsonschema(test: dict[str, Any], instance: Any) -> None:
    schema = {"if": test, "then": {"required": ["then"]}, "else": {"required": ["else"]}}
    holds = _discriminator(test)
    assert holds is not None
    assert holds(instance) == jsonschema.Draft202012Validator(test).is_valid(instance)
    found: list[Violation] = []
    SchemaCompiler(schema).compile(schema)(instance, (), found)
    expected = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(instance)]
    assert [v.keyword for v in found] == ["required"] * len(expected)
    assert [v.name for v in found] == [m.split("'")[1] for m in expected]


@pytest.mark.parametrize(
    "test",
    [
        {"type": "object", "properties": {"type": {"const": "wait"}}, "minProperties": 2},
        {"type": "object", "properties": {"a": {"const": 1}, "b": {"const": 2}}},
        {"type": "object", "properties": {"type": {"enum": ["wait"]}}},
        {"type": "object", "properties": {"type": {"const": "wait"}}, "required": ["other"]},
        {"type": "array"},
    ],
)
def test_other_tests_take_the_general_path(test: dict[str, Any]) -> None:
    assert _discriminator(test) is None

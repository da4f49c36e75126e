"""The workflow schema: the file itself, its messages, and the compiled checker."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest

from flowctl.errors import Problem
from flowctl.spec import model
from flowctl.spec.schema import (
    check_data,
    render_path,
    schema_problems,
    schema_text,
    workflow_schema,
)
from flowctl.spec.schemacheck import SchemaCompiler, Violation, first_duplicate, json_equal
from flowctl.spec.yamlload import load_yaml_text
from tests.spec.test_schema_kit import FULL_SPEC

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "flowctl" / "schemas" / "workflow.schema.json"
TOP_COPY = ROOT / "schemas" / "workflow.schema.json"
DOCS = ROOT / "docs" / "workflow-format.md"


def problems(text: str) -> list[Problem]:
    return schema_problems(load_yaml_text(text, "wf.yaml"))


def messages(text: str) -> list[str]:
    return [p.message for p in problems(text)]


def subschemas(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object in the schema, with a JSON pointer to it."""
    if not isinstance(node, dict):
        return
    yield path, node
    for key in ("properties", "$defs"):
        for name, sub in node.get(key, {}).items():
            yield from subschemas(sub, f"{path}/{key}/{name}")
    # `if` subschemas are tests, not definitions: they are left out.
    for key in ("items", "additionalProperties", "propertyNames", "not", "then"):
        if isinstance(node.get(key), dict):
            yield from subschemas(node[key], f"{path}/{key}")
    for key in ("allOf", "oneOf", "anyOf"):
        for i, sub in enumerate(node.get(key, [])):
            yield from subschemas(sub, f"{path}/{key}/{i}")


# -- the file ---------------------------------------------------------------------------------
def test_shipped_schema_and_top_level_copy_are_byte_identical() -> None:
    assert SHIPPED.read_bytes() == TOP_COPY.read_bytes()


def test_schema_is_valid_draft_2020_12() -> None:
    schema = workflow_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_text_is_the_shipped_file_and_workflow_schema_is_a_fresh_copy() -> None:
    assert schema_text() == SHIPPED.read_text(encoding="utf-8")
    first = workflow_schema()
    first["properties"].clear()
    assert workflow_schema()["properties"], "callers must not be able to change the cache"


def test_every_property_has_a_description() -> None:
    missing = []
    for path, node in subschemas(workflow_schema()):
        for name, sub in node.get("properties", {}).items():
            if sub is True:
                continue  # whitelisted here, described where it is defined (stepCommon, ...)
            described = "description" in sub or (
                "$ref" in sub and "description" in _deref(sub["$ref"])
            )
            if not described:
                missing.append(f"{path}/properties/{name}")
    assert missing == []


def _deref(ref: str) -> dict[str, Any]:
    node: Any = workflow_schema()
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    assert isinstance(node, dict)
    return node


# Mixins whose keys are whitelisted by the schemas that include them.
OPEN_BY_DESIGN = {"#/$defs/stepCommon", "#/$defs/shellKeys"}


def test_every_object_schema_refuses_unknown_keys() -> None:
    open_objects = [
        path
        for path, node in subschemas(workflow_schema())
        if "properties" in node and "additionalProperties" not in node
    ]
    assert sorted(open_objects) == sorted(OPEN_BY_DESIGN)


def test_every_step_type_whitelists_exactly_the_common_keys() -> None:
    defs = workflow_schema()["$defs"]
    common = set(defs["stepCommon"]["properties"])
    for branch in defs["step"]["allOf"][1:]:
        target = _deref(branch["then"]["$ref"])
        whitelisted = {k for k, v in target["properties"].items() if v is True}
        assert common <= whitelisted, branch["then"]["$ref"]


def test_the_step_types_of_the_schema_are_the_model_step_types() -> None:
    defs = workflow_schema()["$defs"]
    branches = [b["if"]["properties"]["type"]["const"] for b in defs["step"]["allOf"][1:]]
    assert branches == [t.value for t in model.StepType]
    assert defs["stepCommon"]["properties"]["type"]["enum"] == branches


# Keys whose model field has another name; everything else maps one to one.
RENAMED = {"run": "command", "shell": "command", "working_dir": "command", "env": "command"}


@pytest.mark.parametrize(
    ("definition", "cls"),
    [
        ("stepCommon", model.Step),
        ("actionStep", model.ActionStep),
        ("webhookStep", model.WebhookStep),
        ("waitStep", model.WaitStep),
        ("humanTaskStep", model.HumanTaskStep),
        ("parallelStep", model.ParallelStep),
        ("loopStep", model.LoopStep),
        ("conditionStep", model.ConditionStep),
        ("retryPolicy", model.RetryPolicy),
        ("circuitBreaker", model.CircuitBreakerSpec),
        ("cache", model.CacheSpec),
        ("httpRequest", model.HttpRequest),
        ("approval", model.ApprovalSpec),
        ("rollbackAction", model.RollbackAction),
        ("agent", model.AgentSpec),
        ("slaTargets", model.SlaTargets),
        ("conditionCase", model.ConditionCase),
    ],
)
def test_every_schema_key_has_a_home_in_the_model(definition: str, cls: type) -> None:
    fields = {f.name.rstrip("_") for f in msgspec.structs.fields(cls)}
    keys = set(workflow_schema()["$defs"][definition]["properties"])
    if definition == "loopStep":  # `loop:` holds the LoopStep fields one level down
        keys = (keys - {"loop"}) | set(workflow_schema()["$defs"]["loop"]["properties"])
        fields.add("step")  # loop.steps -> LoopStep.steps
    homeless = {k for k in keys if RENAMED.get(k, k) not in fields}
    assert homeless == set()


def test_workflow_keys_have_a_home_in_the_model() -> None:
    fields = {f.name for f in msgspec.structs.fields(model.Workflow)}
    assert set(workflow_schema()["properties"]) <= fields


def test_docs_describe_every_key() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    keys = set()
    for _, node in subschemas(workflow_schema()):
        keys.update(node.get("properties", {}))
    undocumented = sorted(k for k in keys if f"`{k}`" not in docs)
    assert undocumented == []


def test_full_spec_uses_every_key() -> None:
    keys = set()
    for _, node in subschemas(workflow_schema()):
        keys.update(node.get("properties", {}))
    # Input declarations are JSON Schema keywords; the kit uses the ones that matter.
    unused = sorted(k for k in keys if not re.search(rf"\b{re.escape(k)}:", FULL_SPEC))
    assert unused == []


# -- messages ---------------------------------------------------------------------------------
STEP = "name: w\nsteps:\n  - id: ocr\n"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            STEP + "    run: x\n    retyr_policy: {max_attempts: 2}\n",
            5,
            "unknown key 'retyr_policy' in step 'ocr' (did you mean 'retry_policy'?)",
        ),
        (
            STEP + "    run: x\n    retry_policy: {max_attempts: three}\n",
            5,
            "'max_attempts' must be an integer ≥ 1, got \"three\"",
        ),
        (STEP + "    type: loop\n", 3, "step 'ocr' of type 'loop' needs 'loop'"),
        (
            STEP + "    run: x\n    continue_on_failure: yes\n",
            5,
            "'continue_on_failure' must be true or false, got \"yes\" "
            "(flowctl reads yes/no/on/off as strings: write true or false)",
        ),
        (
            "name: w\nversion: 2.0\nsteps: [{id: a, run: x}]\n",
            2,
            "'version' must be a string, got 2.0: quote it (version: \"2.0\")",
        ),
        (
            STEP + "    run: x\n    timeout: -1\n",
            5,
            "'timeout' must be a duration: seconds, or a string such as 500ms, 30s, 5m, "
            "1h30m, got -1",
        ),
        (
            STEP + "    run: x\n    timeout: .nan\n",
            5,
            "'timeout' must be a duration: seconds, or a string such as 500ms, 30s, 5m, "
            "1h30m, got .nan",
        ),
        (
            STEP + "    run: x\n    trigger_rule: all_sucess\n",
            5,
            "'trigger_rule' must be one of 'none_failed', 'all_success' or 'all_done', "
            "got \"all_sucess\" (did you mean 'all_success'?)",
        ),
        (
            STEP + "    type: webhook\n    http: {url: x, method: post}\n",
            5,
            "'method' must be one of 'GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD' or "
            "'OPTIONS', got \"post\" (did you mean 'POST'?)",
        ),
        (
            STEP + "    run: x\n    retry_policy: {max_attempts: 2.0}\n",
            5,
            "'max_attempts' must be an integer ≥ 1, got 2.0",
        ),
        (
            STEP + "    run: x\n    dependencies: a\n",
            5,
            "'dependencies' must be a list of step ids, got \"a\"",
        ),
        (
            STEP + "    run: x\n    condition: null\n",
            5,
            "'condition' must be an expression (a string, or true or false), "
            "got null (an empty value)",
        ),
        ("name: w\nsteps: {id: a}\n", 2, "'steps' must be a list of steps, got a mapping"),
        ("name: w\nsteps:\n  - 42\n", 3, "each step must be a mapping with an 'id' and its keys"),
        ("name: 'my flow'\nsteps: [{id: a, run: x}]\n", 1, "'name' must hold only letters"),
        ("steps: [{id: a, run: x}]\n", 1, "the workflow needs 'name'"),
        ("name: w\n", 1, "the workflow needs 'steps' (a list of steps)"),
        (
            STEP + "    run: x\n    parallel_steps: [{id: b, run: y}]\n",
            5,
            "unknown key 'parallel_steps' in step 'ocr' ('parallel_steps' belongs to steps of "
            "type 'parallel': add 'type: parallel')",
        ),
        (
            STEP + "    type: wait\n    run: x\n    duration: 1s\n",
            5,
            "unknown key 'run' in step 'ocr' ('run' belongs to steps of type 'action': "
            "add 'type: action')",
        ),
        (STEP + "    type: wait\n", 3, "wait step 'ocr' needs 'duration' or 'until'"),
        (
            STEP + "    run: x\n    cache: {ttl: 1h}\n",
            5,
            "'cache' of step 'ocr' needs 'key'",
        ),
        (
            STEP + "    run: x\n    input_mapping: {2fast: a}\n",
            5,
            "'2fast' is not a valid name in 'input_mapping' of step 'ocr': it must start with "
            "a letter or '_' and hold only letters, digits and '_'",
        ),
        (
            "name: w\ninputs:\n  n: {type: integer, default: 1, minimum: 1, max: 3}\n"
            "steps: [{id: a, run: x}]\n",
            3,
            "unknown key 'max' in input 'n' (did you mean 'maximum'?)",
        ),
        (
            "name: w\ninputs:\n  n: {type: string, pattern: '(', default: x}\n"
            "steps: [{id: a, run: x}]\n",
            3,
            "the pattern of input 'n' is not a valid regular expression",
        ),
        (
            "name: w\ninputs:\n  n: {type: string, enum: [a, b], default: c}\n"
            "steps: [{id: a, run: x}]\n",
            3,
            "the default of input 'n' does not fit it: 'default' must be one of 'a' or 'b', "
            'got "c"',
        ),
        (
            STEP + "    type: parallel\n    parallel_steps:\n      - {id: p, run: x, bad: 1}\n",
            6,
            "unknown key 'bad' in step 'p'",
        ),
        (
            STEP + "    run: x\n    env: {A: [1]}\n",
            5,
            "'A' must be a string or a number or true or false, got a list",
        ),
        (
            "name: w\nsecrets: [TOKEN, TOKEN]\nsteps: [{id: a, run: x}]\n",
            2,
            "'secrets' lists \"TOKEN\" more than once",
        ),
        (
            STEP + "    run: x\n    custom_metrics: ['']\n",
            5,
            "'custom_metrics[0]' must start with a letter or '_'",
        ),
        (
            STEP + "    type: webhook\n    http: {url: ''}\n",
            5,
            "'url' must not be empty",
        ),
    ],
)
def test_message_and_line(text: str, line: int, message: str) -> None:
    found = problems(text)
    assert any(p.location and p.location.line == line and message in p.message for p in found), [
        str(p) for p in found
    ]


def test_problem_fields() -> None:
    (problem,) = problems(STEP + "    run: x\n    retry_policy: {max_attempts: 0}\n")
    assert problem.code == "schema"
    assert problem.path == "steps[0].retry_policy.max_attempts"
    assert problem.location is not None
    where = (problem.location.file, problem.location.line, problem.location.col)
    assert where == ("wf.yaml", 5, 34)


def test_unknown_key_points_at_the_key_itself() -> None:
    (problem,) = problems(STEP + "    run: x\n    colour: red\n")
    assert problem.location is not None
    assert (problem.location.line, problem.location.col) == (5, 5)
    assert problem.path == "steps[0].colour"


def test_all_problems_are_reported_sorted_by_line() -> None:
    text = (
        "name: w\nsteps:\n"
        "  - {id: a, run: x, timeout: soon}\n"
        "  - {id: b, type: wait}\n"
        "  - {id: c, run: x, retry_policy: {max_attempts: 0}}\n"
        "  - {id: d, run: x, bogus: 1}\n"
    )
    lines = [p.location.line for p in problems(text) if p.location]
    assert lines == [3, 4, 5, 6]


def test_combinator_noise_is_suppressed() -> None:
    # A step that is not a mapping gives one problem, not one per step type.
    assert messages("name: w\nsteps: [oops]\n") == [
        "each step must be a mapping with an 'id' and its keys, got \"oops\""
    ]
    # An unknown type gives the enum problem only, not every type's required keys.
    assert len(messages("name: w\nsteps: [{id: a, type: lop, loop: 1}]\n")) == 1
    # A wrong type skips that value's other keywords (no pattern error for a number id).
    assert messages("name: w\nsteps: [{id: 7, run: x}]\n") == [
        "'id' must be a step id (a string), got 7"
    ]


def test_input_validation_must_be_a_valid_schema() -> None:
    text = STEP + "    run: x\n    input_validation: {type: strng}\n"
    (problem,) = problems(text)
    assert problem.message.startswith("'input_validation' is not a valid JSON Schema: ")
    assert problem.path == "steps[0].input_validation.type"


def test_full_spec_has_no_problem() -> None:
    assert problems(FULL_SPEC) == []


def test_render_path() -> None:
    assert render_path(("steps", 2, "loop", "max_iterations")) == "steps[2].loop.max_iterations"
    assert render_path(("env", "A B")) == 'env["A B"]'
    assert render_path(()) == ""


# -- durations agree with the builder's parser ---------------------------------------------------
@pytest.mark.parametrize("value", ["500ms", "30s", "5m", "1h", "1h30m", "1.5d", "2h0m10s", 0, 2.5])
def test_durations_accepted(value: object) -> None:
    from flowctl.durations import parse_duration

    assert problems(f"name: w\ntimeout: {json.dumps(value)}\nsteps: [{{id: a, run: x}}]\n") == []
    parse_duration(value)


@pytest.mark.parametrize("value", ["", "5", "5 m", "m5", "1.h", "5min", "-1s", "1H", True])
def test_durations_refused(value: object) -> None:
    text = f"name: w\ntimeout: {json.dumps(value)}\nsteps: [{{id: a, run: x}}]\n"
    (problem,) = problems(text)
    assert problem.message.startswith("'timeout' must be a duration")


# -- the compiled checker ---------------------------------------------------------------------
def compiled(schema: dict[str, Any], data: Any) -> list[Violation]:
    out: list[Violation] = []
    SchemaCompiler(schema).compile(schema)(data, (), out)
    return out


def test_json_equality_keeps_booleans_apart_from_numbers() -> None:
    assert json_equal(1, 1.0)
    assert not json_equal(True, 1)
    assert not json_equal([False], [0])
    assert json_equal({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]})
    assert not json_equal({"a": 1}, {"b": 1})
    assert not json_equal("1", 1)


def test_first_duplicate() -> None:
    assert first_duplicate(["a", "b", "a"]) == "a"
    assert first_duplicate([1, True]) is None
    assert first_duplicate([{"x": 1}, {"x": 1.0}]) == {"x": 1.0}
    assert first_duplicate([]) is None


def test_compiler_keywords() -> None:
    assert [e.keyword for e in compiled({"enum": [1, "a"]}, True)] == ["enum"]
    assert compiled({"enum": [1, "a"]}, 1.0) == []
    assert [e.keyword for e in compiled({"const": False}, 0)] == ["const"]
    assert [e.keyword for e in compiled({"not": {"type": "string"}}, "x")] == ["not"]
    any_of = {"anyOf": [{"type": "string"}, {"minimum": 3}]}
    assert compiled(any_of, 5) == []
    assert [e.keyword for e in compiled(any_of, 1)] == ["anyOf"]
    one_of = {"oneOf": [{"type": "integer"}, {"minimum": 0}]}
    assert [e.keyword for e in compiled(one_of, 5)] == ["oneOf"]  # both match
    assert compiled(one_of, -1) == []
    cond = {"if": {"type": "string"}, "then": {"minLength": 2}, "else": {"minimum": 0}}
    assert [e.keyword for e in compiled(cond, "a")] == ["minLength"]
    assert [e.keyword for e in compiled(cond, -1)] == ["minimum"]
    assert [e.keyword for e in compiled({"exclusiveMaximum": 3}, 3)] == ["exclusiveMaximum"]
    assert [e.keyword for e in compiled({"exclusiveMinimum": 3}, 3)] == ["exclusiveMinimum"]
    assert [e.keyword for e in compiled({"maxItems": 1}, [1, 2])] == ["maxItems"]
    assert [e.keyword for e in compiled({"maxLength": 1}, "ab")] == ["maxLength"]
    assert [e.keyword for e in compiled(False, 1)] == ["false"]  # type: ignore[arg-type]
    # `pattern` searches, as JSON Schema says; it is not anchored.
    assert compiled({"pattern": "b"}, "abc") == []


def test_compiler_types_are_strict_about_json() -> None:
    assert [e.keyword for e in compiled({"type": "integer"}, 1.0)] == ["type"]
    assert [e.keyword for e in compiled({"type": "integer"}, True)] == ["type"]
    assert [e.keyword for e in compiled({"type": "number"}, float("inf"))] == ["type"]
    assert compiled({"type": "number"}, 3) == []
    assert compiled({"type": ["null", "array"]}, None) == []


def test_compiler_key_keywords_name_the_key() -> None:
    schema = {
        "properties": {"a": {"type": "integer"}, "b": True},
        "additionalProperties": False,
        "required": ["c"],
        "dependentRequired": {"a": ["b"]},
        "propertyNames": {"maxLength": 1},
    }
    found = {(e.keyword, e.name, e.path) for e in compiled(schema, {"a": "x", "zz": 1})}
    assert found == {
        ("type", None, ("a",)),
        ("additionalProperties", "zz", ()),
        ("required", "c", ()),
        ("dependentRequired", "a", ()),
        ("propertyNames", "zz", ()),
    }


def test_compiler_follows_recursive_refs() -> None:
    schema = {
        "$defs": {
            "node": {"type": "object", "properties": {"kids": {"items": {"$ref": "#/$defs/node"}}}}
        },
        "$ref": "#/$defs/node",
    }
    (error,) = compiled(schema, {"kids": [{"kids": [{"kids": 3}, 4]}]})
    assert error.path == ("kids", 0, "kids", 1)
    assert error.keyword == "type"


def test_compiler_refuses_what_it_does_not_implement() -> None:
    with pytest.raises(ValueError, match="'contains' is not supported"):
        SchemaCompiler({}).compile({"contains": {"type": "string"}})
    with pytest.raises(ValueError, match="only local"):
        SchemaCompiler({}).compile({"$ref": "https://example.com/s.json"})


def test_compiler_agrees_with_jsonschema_on_the_full_spec() -> None:
    data = load_yaml_text(FULL_SPEC).data
    assert check_data(data) == []
    assert not list(jsonschema.Draft202012Validator(workflow_schema()).iter_errors(data))

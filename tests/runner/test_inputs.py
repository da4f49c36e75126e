"""Workflow inputs: --input parsing, inputs files, coercion, defaults, validation, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowctl.commands.input_args import load_inputs_file, parse_input_args
from flowctl.errors import ExitCode, InputError
from flowctl.runner.inputs import InputsError, coerce, resolve_inputs
from flowctl.spec.model import InputSpec, Workflow


def workflow(**inputs: dict[str, Any]) -> Workflow:
    return Workflow(
        name="wf",
        steps=(),
        source="wf.yaml",
        sha256="0" * 64,
        inputs={
            name: InputSpec(name=name, schema=schema, description=schema.get("description"))
            for name, schema in inputs.items()
        },
    )


def messages(exc: pytest.ExceptionInfo[InputError]) -> list[str]:
    return [p.message for p in exc.value.problems]


# -- --input k=v -------------------------------------------------------------------------------


def test_input_args_split_on_the_first_equals_sign() -> None:
    assert parse_input_args(["a=1", "url=http://x/?q=1", "empty="]) == {
        "a": "1",
        "url": "http://x/?q=1",
        "empty": "",
    }


def test_bad_input_args_are_all_reported() -> None:
    with pytest.raises(InputsError) as exc:
        parse_input_args(["novalue", "=x", "a=1", "a=2", "bad name=1"])
    assert messages(exc) == [
        "--input 'novalue': expected NAME=VALUE",
        "--input '=x': expected NAME=VALUE",
        "--input 'a' is given more than once",
        "--input 'bad name=1': 'bad name' is not a valid input name",
    ]
    assert exc.value.exit_code is ExitCode.USAGE


# -- inputs files ------------------------------------------------------------------------------


def test_inputs_file_json_and_yaml(tmp_path: Path) -> None:
    (tmp_path / "in.json").write_text('{"pages": 4, "tags": ["a"]}')
    (tmp_path / "in.yaml").write_text("pages: 4\nflag: yes\nwhen: 2030-01-01\n")
    assert load_inputs_file(tmp_path / "in.json") == {"pages": 4, "tags": ["a"]}
    # The workflow loader's rules: no YAML 1.1 surprises.
    assert load_inputs_file(tmp_path / "in.yaml") == {
        "pages": 4,
        "flag": "yes",
        "when": "2030-01-01",
    }


def test_empty_inputs_files_mean_no_inputs(tmp_path: Path) -> None:
    (tmp_path / "e.yaml").write_text("# nothing\n")
    (tmp_path / "e.json").write_text("  \n")
    assert load_inputs_file(tmp_path / "e.yaml") == {}
    assert load_inputs_file(tmp_path / "e.json") == {}


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("bad.json", '{"a": 1,\n "b": }', "bad.json:2:7: invalid JSON: Expecting value"),
        ("dup.json", '{"a": 1, "a": 2}', "dup.json:1:1: invalid JSON: duplicate key 'a'"),
        ("list.json", "[1, 2]", "list.json:1:1: inputs file must hold a mapping"),
        ("dup.yaml", "a: 1\na: 2\n", "dup.yaml:2:1: duplicate key 'a' in this mapping"),
        ("tag.yaml", "a: !!python/name:os.system x\n", "tag.yaml:1:4: tag !!python/name:"),
        ("bad.yaml", "a: [1, 2\n", "bad.yaml:2:1: invalid YAML"),
    ],
)
def test_broken_inputs_files_are_input_errors_with_locations(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(InputError) as exc:
        load_inputs_file(tmp_path / name)
    assert str(exc.value).replace(str(tmp_path) + "/", "").startswith(expected)


def test_alias_bombs_in_inputs_files_are_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="aliases expand to more than"):
        load_inputs_file(tmp_path / "bomb.yaml")


def test_missing_inputs_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"inputs file .*nope.json: no such file"):
        load_inputs_file(tmp_path / "nope.json")


# -- resolve -----------------------------------------------------------------------------------


def test_text_values_are_coerced_to_the_declared_types() -> None:
    wf = workflow(
        n={"type": "integer"},
        x={"type": "number"},
        f={"type": "boolean"},
        s={"type": "string"},
        a={"type": "array"},
        o={"type": "object"},
        z={"type": "null"},
        any={},
    )
    given_text = {
        "n": "42",
        "x": "2.5",
        "f": "false",
        "s": "007",
        "a": '[1, "b"]',
        "o": '{"k": [true]}',
        "z": "null",
        "any": "text",
    }
    assert resolve_inputs(wf, given_text) == {
        "n": 42,
        "x": 2.5,
        "f": False,
        "s": "007",
        "a": [1, "b"],
        "o": {"k": [True]},
        "z": None,
        "any": "text",
    }


def test_values_from_a_file_keep_their_types() -> None:
    wf = workflow(n={"type": "integer"}, s={"type": "string"})
    assert resolve_inputs(wf, {"n": 3, "s": "x"}) == {"n": 3, "s": "x"}


def test_defaults_fill_in_and_are_copies() -> None:
    default = ["a", "b"]
    wf = workflow(
        pages={"type": "integer", "default": 3}, tags={"type": "array", "default": default}
    )
    resolved = resolve_inputs(wf, {})
    assert resolved == {"pages": 3, "tags": ["a", "b"]}
    resolved["tags"].append("c")
    assert default == ["a", "b"]


def test_union_types_take_the_first_that_fits() -> None:
    wf = workflow(v={"type": ["integer", "string"]}, w={"type": ["boolean", "null"]})
    assert resolve_inputs(wf, {"v": "12", "w": "null"}) == {"v": 12, "w": None}
    assert resolve_inputs(wf, {"v": "twelve", "w": "true"}) == {"v": "twelve", "w": True}


def test_every_problem_is_listed_at_once() -> None:
    wf = workflow(
        document={"type": "string", "description": "Path of the document"},
        pages={"type": "integer", "minimum": 1, "default": 3},
        flag={"type": "boolean"},
        mode={"type": "string", "enum": ["fast", "slow"], "default": "fast"},
    )
    with pytest.raises(InputsError) as exc:
        resolve_inputs(wf, {"pagez": "2", "pages": "0", "flag": "yes", "mode": "medium"})
    assert messages(exc) == [
        "unknown input 'pagez'; did you mean 'pages'?",
        "input 'document' is required (string: Path of the document); "
        "give it with --input document=VALUE",
        "input 'pages': 0 is less than the minimum of 1",
        "input 'flag': expected true or false, got 'yes'",
        "input 'mode': 'medium' is not one of ['fast', 'slow']",
    ]
    assert exc.value.exit_code is ExitCode.USAGE
    assert str(exc.value).count("\n") == 4


@pytest.mark.parametrize(
    ("schema", "text", "expected"),
    [
        ({"type": "integer"}, "1.5", "expected an integer, got '1.5'"),
        ({"type": "integer"}, "", "expected an integer, got ''"),
        ({"type": "number"}, "nan", "expected a number, got 'nan'"),
        ({"type": "number"}, "1e999", "expected a number, got '1e999'"),
        ({"type": "boolean"}, "True", "expected true or false, got 'True'"),
        ({"type": "array"}, '{"a": 1}', "expected a JSON array, got '{\"a\": 1}'"),
        ({"type": "object"}, "[1", "expected a JSON object, got '[1'"),
    ],
)
def test_text_that_does_not_convert_is_an_error(
    schema: dict[str, Any], text: str, expected: str
) -> None:
    with pytest.raises(InputsError) as exc:
        resolve_inputs(workflow(v=schema), {"v": text})
    assert messages(exc) == [f"input 'v': {expected}"]


def test_nested_schema_errors_name_the_item() -> None:
    wf = workflow(ids={"type": "array", "items": {"type": "integer"}})
    with pytest.raises(InputsError) as exc:
        resolve_inputs(wf, {"ids": '[1, "x"]'})
    assert messages(exc) == ["input 'ids'[1]: 'x' is not of type 'integer'"]


def test_unknown_input_without_a_close_match_lists_the_declared_ones() -> None:
    with pytest.raises(InputsError) as exc:
        resolve_inputs(workflow(alpha={"default": 1}, beta={"default": 2}), {"zzz": "1"})
    assert messages(exc) == ["unknown input 'zzz'; this workflow takes: alpha, beta"]
    with pytest.raises(InputsError) as exc:
        resolve_inputs(workflow(), {"zzz": "1"})
    assert messages(exc) == ["unknown input 'zzz'; this workflow declares no inputs"]


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_integer_text_round_trips(n: int) -> None:
    assert coerce(InputSpec(name="n", schema={"type": "integer"}), str(n)) == n


@settings(max_examples=50, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_number_text_round_trips(x: float) -> None:
    assert coerce(InputSpec(name="x", schema={"type": "number"}), repr(x)) == x

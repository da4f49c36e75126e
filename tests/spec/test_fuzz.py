"""Random edits of valid specs never end in a traceback, and the compiled schema agrees with
jsonschema on every edited document."""

from __future__ import annotations

import contextlib
import copy
import json
import math
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowctl.errors import FlowctlError, SpecError
from flowctl.spec.load import load_workflow_text, validate_text
from flowctl.spec.schema import check_data, workflow_schema
from flowctl.spec.yamlload import load_yaml_text
from tests.spec.test_schema_kit import FULL_SPEC

ROOT = Path(__file__).resolve().parents[2]
SEEDS = [FULL_SPEC, *(p.read_text() for p in sorted((ROOT / "examples").glob("*.yaml")))]
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _schema_keys() -> list[str]:
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            keys.update(node.get("properties", {}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(workflow_schema())
    return sorted(keys)


KEYS = [*_schema_keys(), "x-note"]
# Texts the expression checks have something to say about (and some they accept).
TEMPLATES = [
    "{{ steps.greet.outputs.stdout }}",
    "steps.count.outputs.letters >= 2",
    "{{ 1 + }}",
    "{{ inputs.who | nosuchfilter }}",
    "{% for x in steps.count.outputs %}{{ x }}{% endfor %}",
    "{% if %}",
    "echo {{ item }} {{ index }}",
    "result.stdout",
    "params.letters is strnig",
    "{{ workflow.nothing }}",
    "{{ steps['a'].outputs['n'] | default(0) }}",
    "echo {{ inputs.who",
    "run.nope",
]
STEP_TYPES = ["action", "webhook", "wait", "human_task", "parallel", "loop", "condition"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["30s", "1h30m", "yes", "on", "1:30", "0777", "a:b", "{{ x }}", *STEP_TYPES])
    | st.sampled_from(TEMPLATES)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _strict_jsonschema() -> Any:
    """jsonschema with flowctl's stricter integer and number types."""
    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine(
        "integer", lambda _, v: isinstance(v, int) and not isinstance(v, bool)
    ).redefine(
        "number",
        lambda _, v: (
            not isinstance(v, bool)
            and (isinstance(v, int) or (isinstance(v, float) and math.isfinite(v)))
        ),
    )
    extended = jsonschema.validators.extend(base, type_checker=checker)  # type: ignore[no-untyped-call]
    return extended(workflow_schema())


REFERENCE = _strict_jsonschema()


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*path, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*path, index)))
    return found


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


@st.composite
def edited_documents(draw: st.DrawFn) -> Any:
    """A seed spec's data with one to three structural edits."""
    data = copy.deepcopy(load_yaml_text(draw(st.sampled_from(SEEDS))).data)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(data, path)
        key = path[-1]
        op = draw(st.sampled_from(["delete", "replace", "insert", "retype", "type"]))
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(json_values)
        elif op == "insert" and isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS) | st.text(max_size=8))] = draw(json_values)
        elif op == "insert":
            parent.insert(key, draw(json_values))
        elif op == "retype":
            value = parent[key]
            parent[key] = draw(
                st.sampled_from([[value], str(value), {"value": value}, None, 1.5, True])
            )
        elif isinstance(parent, dict):
            parent["type"] = draw(st.sampled_from(STEP_TYPES))
    return data


def _dump(data: Any, block: bool) -> str:
    if block:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return json.dumps(data, ensure_ascii=False)


def assert_clean(text: str) -> None:
    """validate_text returns plain, located problems; load raises only FlowctlError."""
    validation = validate_text(text, "fuzz.yaml")
    lines = text.count("\n") + 2
    for problem in validation.problems:
        assert problem.message
        assert "\n" not in problem.message
        assert problem.location is not None, problem
        assert 1 <= problem.location.line <= lines
        assert problem.location.col >= 1
    assert validation.ok == (validation.workflow is not None)
    with contextlib.suppress(FlowctlError):
        load_workflow_text(text, "fuzz.yaml")


@pytest.mark.slow
@FUZZ
@given(edited_documents(), st.booleans())
def test_structural_edits_never_crash(data: Any, block: bool) -> None:
    assert_clean(_dump(data, block))


@pytest.mark.slow
@FUZZ
@given(edited_documents(), st.booleans())
def test_compiled_schema_agrees_with_jsonschema(data: Any, block: bool) -> None:
    # Through YAML text and back, as the loader would see it (NaN, big ints, odd keys).
    try:
        loaded = load_yaml_text(_dump(data, block)).data
    except SpecError:
        return  # the YAML layer refused it (control characters, ...): nothing to compare
    ours = check_data(loaded)
    reference = list(REFERENCE.iter_errors(loaded))
    assert (ours == []) == (reference == []), (
        [(e.path, e.keyword) for e in ours],
        [(list(e.absolute_path), e.validator) for e in reference],
    )


TEXT_NOISE = st.text(
    alphabet=st.sampled_from(list("abc:{}[]-#&*!|>'\"%@`,? \t\n0123456789.~\\")), max_size=12
)


@st.composite
def edited_texts(draw: st.DrawFn) -> str:
    """A seed spec's text with characters deleted, inserted, replaced or cut off."""
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 40)))
        op = draw(st.sampled_from(["delete", "insert", "replace", "truncate", "duplicate"]))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + draw(TEXT_NOISE) + text[i:]
        elif op == "replace":
            text = text[:i] + draw(TEXT_NOISE) + text[j:]
        elif op == "truncate":
            text = text[:i]
        else:
            text = text[:j] + text[i:j] + text[j:]
    return text


@pytest.mark.slow
@FUZZ
@given(edited_texts())
def test_text_edits_never_crash(text: str) -> None:
    assert_clean(text)


def test_a_few_edits_through_the_command_line(tmp_path: Path) -> None:
    rnd = random.Random(20240611)
    files = []
    for n in range(8):
        text = rnd.choice(SEEDS)
        i = rnd.randrange(len(text))
        text = text[:i] + rnd.choice([":", "[", "- ", "\n  x", "{{", "'", ""]) + text[i + 3 :]
        path = tmp_path / f"edit{n}.yaml"
        path.write_text(text)
        files.append(str(path))
    result = subprocess.run(
        [sys.executable, "-m", "flowctl", "validate", *files],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode in (0, 2)
    assert "Traceback" not in result.stdout + result.stderr
    assert "internal error" not in result.stdout + result.stderr
    assert result.stdout.count(": ok (") + result.stdout.count(": invalid (") == len(files)

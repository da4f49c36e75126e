"""The hardened YAML reader: locations, limits and YAML 1.1 surprises (SECURITY.md case 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowctl.errors import Location, SpecError
from flowctl.spec.yamlload import load_yaml, load_yaml_text


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as info:
        load_yaml_text(text, "t.yaml")
    return str(info.value)


def test_keeps_line_and_column_of_values_and_keys() -> None:
    doc = load_yaml_text("name: x\nsteps:\n  - id: a\n    run: echo hi\n", "t.yaml")
    assert doc.data == {"name": "x", "steps": [{"id": "a", "run": "echo hi"}]}
    assert doc.locate(("steps", 0, "run")) == Location("t.yaml", 4, 10)
    assert doc.locate(("steps", 0, "run"), key=True) == Location("t.yaml", 4, 5)
    # a path that does not exist falls back to its nearest ancestor
    assert doc.locate(("steps", 0, "nope")) == Location("t.yaml", 3, 5)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("v: yes", "yes"),
        ("v: on", "on"),
        ("v: No", "No"),
        ("v: 0777", "0777"),
        ("v: 1:30", "1:30"),
        ("v: 2024-01-01", "2024-01-01"),
        ("v: 12", 12),
        ("v: -3", -3),
        ("v: 1.5", 1.5),
        ("v: 1e3", 1000.0),
        ("v: 0x1F", 31),
        ("v: 0o17", 15),
        ("v: true", True),
        ("v: False", False),
        ("v: ~", None),
        ("v:", None),
        ("v: '12'", "12"),
        ("v: !!str 12", "12"),
        ("v: !!float 2", 2.0),
    ],
)
def test_scalars_resolve_like_json_not_yaml_1_1(text: str, value: object) -> None:
    assert load_yaml_text(text).data == {"v": value}


def test_duplicate_key_is_reported_at_the_second_key() -> None:
    assert error_of("a: 1\nb: 2\na: 3\n") == "t.yaml:3:1: duplicate key 'a' in this mapping"


def test_merge_keys_work_and_explicit_keys_win() -> None:
    doc = load_yaml_text("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n")
    assert doc.data["use"] == {"x": 1, "y": 3}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: !!python/object/apply:os.system [ls]", "t.yaml:1:4: tag !!python/object/apply"),
        ("a: !!binary aGk=", "tag !!binary is not allowed"),
        ("a: !!set {x}", "tag !!set is not allowed"),
        ("a: !custom x", "tag !custom is not allowed"),
        ("a: 1\n---\nb: 2\n", "t.yaml:2:1: the file holds more than one YAML document"),
        ("a: *nowhere", "unknown alias *nowhere"),
        ("a: [1, 2", "invalid YAML"),
        ("", "the file is empty"),
        ("a: !!int twelve", "'twelve' is not a valid !!int"),
    ],
)
def test_refused_documents(text: str, fragment: str) -> None:
    assert fragment in error_of(text)


def test_billion_laughs_is_refused_with_the_alias_location() -> None:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        refs = ", ".join([f"*l{i - 1}"] * 9)
        lines.append(f"l{i}: &l{i} [{refs}]")
    message = error_of("\n".join(lines))  # refused before expanding, or pytest-timeout
    assert "aliases expand to more than 100,000 nodes" in message
    assert message.startswith("t.yaml:")


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    message = error_of("[" * 10_000 + "]" * 10_000)
    assert message.startswith("t.yaml:1:")
    assert "nesting" in message


def test_file_size_limit(tmp_path: Path) -> None:
    spec = tmp_path / "big.yaml"
    spec.write_text("a: " + "x" * 2000 + "\n")
    with pytest.raises(SpecError, match=r"big.yaml:1:1: file is 2,004 bytes, over the 1,000"):
        load_yaml(spec, max_bytes=1000)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"nope\.yaml: no such file"):
        load_yaml(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match="is a directory"):
        load_yaml(tmp_path)


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    spec = tmp_path / "bin.yaml"
    spec.write_bytes(b"a: 1\nb: \xff\xfe\n")
    with pytest.raises(SpecError, match=r"bin.yaml:2:1: file is not valid UTF-8"):
        load_yaml(spec)


def test_control_characters_are_located_on_one_line() -> None:
    assert error_of("a: 1\nb: x\x7fy\n") == (
        "t.yaml:2:5: invalid YAML: character U+007F is not allowed "
        "(control characters are not allowed)"
    )

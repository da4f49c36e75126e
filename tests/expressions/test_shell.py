"""render_shell: `{{ }}` values become environment variables; the script runs as written."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest

from flowctl.errors import ExpressionError
from flowctl.expressions import ShellScript, render_shell


def run(script: ShellScript, shell: str = "/bin/sh") -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **script.env}
    done = subprocess.run(
        [shell, "-c", script.script], env=env, capture_output=True, text=True, timeout=10
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_each_value_is_an_environment_variable() -> None:
    script = render_shell("echo {{ a }} \"{{ b }}\" '{{ c }}'", {"a": 1, "b": "two", "c": None})
    assert script.script == 'echo "${FLOWCTL_T0}" "${FLOWCTL_T1}" \'\'"${FLOWCTL_T2}"\'\''
    assert script.env == {"FLOWCTL_T0": "1", "FLOWCTL_T1": "two", "FLOWCTL_T2": ""}
    assert run(script) == "1 two \n"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (2.5, "2.5"),
        ("s p a c e s", "s p a c e s"),
        ([1, "a"], '[1, "a"]'),
        ({"k": [None]}, '{"k": [null]}'),
    ],
)
def test_values_become_text(value: Any, text: str) -> None:
    script = render_shell("printf '%s' {{ v }}", {"v": value})
    assert script.env == {"FLOWCTL_T0": text}
    assert run(script) == text


def test_blocks_work_and_each_output_is_data() -> None:
    script = render_shell(
        "{% for f in files %}\nprintf '[%s]' {{ f }}\n{% endfor %}", {"files": ["a b", "*", "c"]}
    )
    assert run(script) == "[a b][*][c]"


def test_raw_pastes_trusted_text() -> None:
    script = render_shell("{{ cmd | raw }} {{ arg }}", {"cmd": "printf '%s|'", "arg": "x y"})
    assert script.script == "printf '%s|' \"${FLOWCTL_T0}\""
    assert run(script) == "x y|"


def test_a_pasted_macro_keeps_its_values_as_data() -> None:
    source = "{% macro q(v) %}{{ v }}{% endmacro %}printf '%s' {{ q(x) | raw }}"
    assert run(render_shell(source, {"x": "$(echo no)"})) == "$(echo no)"


def test_a_value_built_from_other_outputs_holds_their_text() -> None:
    source = "{% set msg %}hi {{ who }}{% endset %}printf '%s' {{ msg }}"
    script = render_shell(source, {"who": "$USER"})
    assert run(script) == "hi $USER"


def test_double_quoted_and_here_document() -> None:
    source = 'cat <<EOF\nvalue: {{ v }}\nEOF\necho "and {{ v }}"'
    assert run(render_shell(source, {"v": "$HOME `x`"})) == "value: $HOME `x`\nand $HOME `x`\n"


def test_arithmetic_takes_integers_only() -> None:
    assert run(render_shell("echo $(( {{ n }} + 1 ))", {"n": 41})) == "42\n"
    with pytest.raises(ExpressionError) as info:
        render_shell("echo $(( {{ n }} + 1 ))", {"n": "a[$(id)]"})
    assert info.value.reason == (
        "value 1 is used in shell arithmetic ($(( ))) but is not an integer:"
        " bash would run code hidden in it"
    )


def test_a_nul_byte_is_refused() -> None:
    with pytest.raises(ExpressionError) as info:
        render_shell("echo {{ v }}", {"v": "a\0b"})
    assert info.value.reason == "value 1 contains a NUL byte, which a shell cannot receive"


def test_a_value_too_big_for_the_environment_is_refused() -> None:
    with pytest.raises(ExpressionError) as info:
        render_shell("echo {{ v }}", {"v": "x" * 200_000})
    assert info.value.reason == (
        "value 1 is 200,012 bytes; one environment variable holds at most 128 KiB:"
        " write big data to a file and pass its path"
    )


def test_a_value_after_a_backslash_is_refused() -> None:
    with pytest.raises(ExpressionError) as info:
        render_shell("echo \\{{ v }}", {"v": "x"})
    assert info.value.reason == "a {{ }} value right after a backslash cannot be passed safely"


def test_a_value_in_a_quoted_here_document_is_refused() -> None:
    with pytest.raises(ExpressionError) as info:
        render_shell("cat <<'EOF'\n{{ v }}\nEOF", {"v": "x"})
    assert "quoted here-document" in info.value.reason


def test_unknown_names_fail() -> None:
    with pytest.raises(ExpressionError) as info:
        render_shell("echo {{ nope }}", {})
    assert info.value.reason == "unknown name 'nope'"


def test_a_comment_does_not_confuse_the_quoting() -> None:
    script = render_shell("echo a # it's fine {{ v }}\nprintf '%s' {{ v }}", {"v": "x' y"})
    assert run(script) == "a\nx' y"


def test_text_without_values_is_unchanged() -> None:
    script = render_shell("echo 'plain' \"$HOME\" | cat", {})
    assert script == ShellScript("echo 'plain' \"$HOME\" | cat", {})

"""SECURITY.md case 4: hostile values in `run:` commands reach a real shell as data only.

Values come from inputs, step outputs and loop items; the placeholder stands unquoted,
single-quoted, double-quoted and in other shell contexts. The shell must print the value
exactly where a word is expected, and never run any of it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from flowctl.expressions import render_shell

# /bin/sh, and bash and dash when installed; each real shell once.
SHELLS = list(
    {
        os.path.realpath(s): s for s in ("/bin/sh", "/bin/bash", "/bin/dash") if Path(s).exists()
    }.values()
)

PAYLOADS = [
    "$(touch pwned)",
    "`touch pwned`",
    "'; touch pwned; '",
    '" && touch pwned "',
    '"; touch pwned; echo "',
    "x\ntouch pwned\n",
    '\\"; touch pwned; \\"',
    "'\"$(touch pwned)\"'",
    "$HOME ${PATH} $0 $1 $@ $*",
    "* ? [a-z] ~ ~root",
    "; touch pwned",
    "| touch pwned",
    "& touch pwned &",
    "$(touch${IFS}pwned)",
    "a'b\"c`d$e\\f",
    "$'\\x27'; touch pwned",
    "{{ 7*7 }}",  # a template in data stays data
    "@@FLOWCTL_000000000000_0@@",  # a forged placeholder stays data
    "-n",
    "",
    "   spaces   around   ",
    "ü ✓ \t tab",
]

# (command, how the value appears in the output)
CONTEXTS = [
    ("printf '%s' {{ V }}", "{}"),
    ("printf '%s' '{{ V }}'", "{}"),
    ("printf '%s' \"{{ V }}\"", "{}"),
    ("printf '%s' pre{{ V }}post", "pre{}post"),
    ("printf '%s' 'pre{{ V }}post'", "pre{}post"),
    ("printf '%s' \"pre{{ V }}post\"", "pre{}post"),
    ("X={{ V }}; printf '%s' \"$X\"", "{}"),
    ("printf '%s' \"$(printf '%s' \"{{ V }}\")\"", "{}"),
    ("printf '%s' \"$(printf '%s' '{{ V }}')\"", "{}"),
    ("cat <<EOF\n{{ V }}\nEOF", "{}\n"),
    ("# a comment: don't {{ V }}\nprintf '%s' {{ V }}", "{}"),
]

SOURCES = [
    ("inputs.v", lambda v: {"inputs": {"v": v}}),
    ("steps.fetch.outputs.body", lambda v: {"steps": {"fetch": {"outputs": {"body": v}}}}),
    ("item", lambda v: {"item": v}),
]


def run(command: str, scope: dict[str, Any], shell: str, cwd: Path) -> str:
    script = render_shell(command, scope)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent"}
    done = subprocess.run(
        [shell, "-c", script.script],
        env={**env, **script.env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert done.returncode == 0, (script, done.stderr)
    return done.stdout


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(("command", "shape"), CONTEXTS)
def test_values_stay_data(shell: str, command: str, shape: str, tmp_path: Path) -> None:
    for path, scope_of in SOURCES:
        for payload in PAYLOADS:
            if command.startswith("cat <<") and "\n" in payload:
                continue  # a here-document line cannot hold a newline and stay one line
            out = run(command.replace("V", path), scope_of(payload), shell, tmp_path)
            # $( ) drops trailing newlines: that is the shell, not the value.
            value = payload.rstrip("\n") if "$(" in command else payload
            assert out == shape.replace("{}", value), (command, path, payload)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("shell", SHELLS)
def test_values_in_loops_and_substitutions_run_nothing(shell: str, tmp_path: Path) -> None:
    commands = [
        "{% for f in items %}echo {{ f }}\n{% endfor %}",
        "echo `echo {{ item }}`",
        "echo $(echo {{ item }})",
        'echo "`echo {{ item }}`"',
        "echo $'{{ item }}'",
        "echo {{ item }}{{ item }}'{{ item }}'\"{{ item }}\"",
        "cat <<-EOF\n\t{{ item }}\n\tEOF",
        "case {{ item }} in x) echo x;; *) echo other;; esac",
        "test {{ item }} = x && echo same || echo different",
        '[ "{{ item }}" = x ] || echo different',
    ]
    for command in commands:
        for payload in PAYLOADS:
            run(command, {"item": payload, "items": [payload, payload]}, shell, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_value_is_never_in_the_script(tmp_path: Path) -> None:
    payload = "$(touch pwned)"
    script = render_shell("echo {{ a }} '{{ a }}' \"{{ a }}\"", {"a": payload})
    assert payload not in script.script
    assert set(script.env.values()) == {payload}

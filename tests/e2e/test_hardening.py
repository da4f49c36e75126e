"""Issue 14: each class of hole found by the outside attack, tried through the CLI.

Each test runs `python -m flowctl` as a user would (tests/e2e/kit.py) with the hostile
value or file of the report, and checks that nothing the author did not write ran, nothing
secret was written, and the command ended in one clear message.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.kit import Proc, Workspace, cli_env, q

def flowctl(ws: Workspace, *args: str, stdin: bytes | None = None) -> Proc:
    """A flowctl command that takes no --state-dir (validate), run in the workspace."""
    argv = [sys.executable, "-m", "flowctl", *args]
    done = subprocess.run(
        argv, cwd=ws.root, env=cli_env(), input=stdin, capture_output=True, timeout=60
    )
    stdout, stderr = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    assert "Traceback" not in stderr, stderr
    return Proc(tuple(argv), done.returncode, stdout, stderr)


BASH = shutil.which("bash")
needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")

# The red team's value: any arithmetic context of bash runs the command in the subscript.
ARITH_PAYLOAD = "a[$(touch PWN)]"

ARITHMETIC_COMMANDS = [
    "for((i=0;i<{{ inputs.n }};i++)); do :; done",
    "if(({{ inputs.n }} > 1)); then :; fi",
    "while (( {{ inputs.n }} )); do break; done",
    "true && (( {{ inputs.n }} )) || true",
    "echo $[{{ inputs.n }}]",
    'echo "$(( {{ inputs.n }} + 1 ))"',
    's=abc; echo "${s:{{ inputs.n }}}"',
    "s=abc; echo ${s:1:{{ inputs.n }}}",
    "a=(1 2); echo ${a[{{ inputs.n }}]}",
    "a[{{ inputs.n }}]=1",
    "a=(1); unset 'a[{{ inputs.n }}]'",
    'printf -v "a[{{ inputs.n }}]" %s x',
    "let x={{ inputs.n }}",
    'let "x={{ inputs.n }}+1"',
    "declare -i x={{ inputs.n }}",
    "typeset -i x; x={{ inputs.n }}",
    "[[ {{ inputs.n }} -eq 1 ]] || true",
    '[[ x == x && 1 -lt "{{ inputs.n }}" ]] || true',
    "cat <<EOF\n$(( {{ inputs.n }} ))\nEOF",
    "s=abc; cat <<EOF\n${s:{{ inputs.n }}}\nEOF",
]


@needs_bash
def test_values_in_bash_arithmetic_must_be_integers(ws: Workspace) -> None:
    steps = "".join(
        f"  - id: ctx{n}\n    shell: bash\n    run: {q(command)}\n"
        for n, command in enumerate(ARITHMETIC_COMMANDS)
    )
    spec = ws.spec("name: arith\ninputs:\n  n: {type: string}\nsteps:\n" + steps)
    hostile = ws.run(spec, "--input", f"n={ARITH_PAYLOAD}")
    assert hostile.code == 1, hostile.explain()
    assert not ws.path("PWN").exists()
    for n in range(len(ARITHMETIC_COMMANDS)):
        report = hostile.run.step_report(f"ctx{n}")
        assert report["status"] == "failed", (ARITHMETIC_COMMANDS[n], report)
        assert "is used in shell arithmetic" in str(report["error"]), report
        assert "but is not an integer" in str(report["error"]), report
    fine = ws.run(spec, "--input", "n=1")
    assert fine.code == 0, fine.explain()


@pytest.mark.parametrize(
    "command",
    [
        "echo $(( 1 << 2 )); printf '[%s]\\n' {{ inputs.x }} >seen",
        "s=a; echo ${s//<</x}; printf '[%s]\\n' {{ inputs.x }} >seen",
        "x=$(( 8 <<1 ))\nprintf '[%s]\\n' {{ inputs.x }} >seen",
    ],
)
def test_a_shift_or_pattern_is_no_here_document(ws: Workspace, command: str) -> None:
    (ws.root / "listed-if-globbed").write_text("")
    spec = ws.spec(
        f"""
        name: shift
        inputs:
          x: {{type: string}}
        steps:
          - id: show
            shell: bash
            run: {q(command)}
        """
    )
    done = ws.run(spec, "--input", "x=-n * two")
    assert done.code == 0, done.explain()
    assert ws.path("seen").read_text() == "[-n * two]\n"


def test_validate_warns_of_a_value_handed_to_a_nested_shell(ws: Workspace) -> None:
    spec = ws.spec(
        """
        name: nested
        inputs:
          x: {type: string}
        steps:
          - id: inner
            run: sh -c 'echo {{ inputs.x }}'
          - id: safe
            run: sh -c 'echo "$1"' sh {{ inputs.x }}
          - id: piped
            run: echo "{{ inputs.x }}" | bash
        """
    )
    done = flowctl(ws, "validate", str(spec))
    assert done.code == 0, done.explain()
    warnings = [line for line in done.stdout.splitlines() if "nested interpreter" in line]
    assert len(warnings) == 2, done.stdout
    assert warnings[0].startswith(f"{spec}:6:5: warning: step 'inner': {{{{ inputs.x }}}}")
    assert warnings[1].startswith(f"{spec}:10:5: warning: step 'piped'")
    assert flowctl(ws, "validate", "--strict", str(spec)).code == 2

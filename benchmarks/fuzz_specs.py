"""Spec and input fuzzer (issue 14): nothing may crash, hang, go unlocated or blow memory.

    .venv/bin/python benchmarks/fuzz_specs.py [--cases 10000] [--seed 14] [--cli-every 50]

Each case is one of:

- a workflow file made by mutating a valid one (examples/*.yaml and a generated spec):
  flipped, deleted or inserted characters, YAML syntax (`&a`, `*a`, `!!python/`, `<<`,
  `{`, `[`, tabs), lines duplicated or re-indented, deep nesting, alias fans, long scalars;
  validated in-process (`flowctl.spec.load.validate_text`);
- `--input` values for a spec with typed inputs (random text, JSON, deep nesting, NaN);
- a `run:` template with random shell syntax around `{{ }}` placeholders and hostile values,
  rendered by the shell quoter.

Failures: an exception other than flowctl's own errors (a traceback), an error problem
without `file:line:col`, a case over 5 s (a hang), or the process over 2 GiB of address
space (RLIMIT_AS). Every `--cli-every`-th spec case also runs `python -m flowctl validate`
in a subprocess and fails on a traceback or an exit code other than 0 and 2.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CASE_SECONDS = 5
MEMORY_CAP = 2 * 1024**3

SEED_SPECS = [p.read_text() for p in sorted((REPO / "examples").glob("*.yaml"))]
SEED_SPECS.append(
    """name: fuzz
inputs:
  n: {type: integer, default: 2}
  who: {type: string, pattern: "^[a-z]+$"}
  tags: {type: array, items: {type: string}}
retry_policy: {max_attempts: 3, backoff_strategy: exponential}
steps:
  - id: a
    run: echo "{{ inputs.who }}" && echo "v=1" >> "$FLOWCTL_OUTPUT"
    timeout: 5s
  - id: b
    dependencies: [a]
    condition: "steps.a.outputs.v == '1'"
    type: loop
    loop:
      for_each: "inputs.tags"
      steps:
        - id: c
          run: printf '%s\\n' {{ item }}
  - id: d
    type: webhook
    dependencies: [b]
    http: {url: "https://example.com/{{ inputs.n }}", method: POST, json: {n: "{{ inputs.n }}"}}
"""
)
FRAGMENTS = [
    "&a ",
    "*a",
    "*b",
    "!!python/object:os.system ",
    "!!binary ",
    "!!set ",
    "<<: *a",
    "{",
    "}",
    "[",
    "]",
    ": ",
    "- ",
    "\t",
    "'",
    '"',
    "#",
    "|",
    ">",
    "~",
    "null",
    "yes",
    "0777",
    "1:30",
    "2024-01-01",
    "1e999",
    ".nan",
    "-.inf",
    "{{",
    "}}",
    "{%",
    "%}",
    "\\",
    "\x00",
    "\ufeff",
    "\u2028",
    "%YAML 1.1\n",
    "---\n",
    "...\n",
    "? ",
    "!",
    "&b [*a, *a, *a, *a]",
]


def mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 6)):
        kind = rng.randrange(9)
        pos = rng.randint(0, len(text))
        if kind == 0 and text:
            text = text[:pos] + text[pos + 1 :]
        elif kind == 1:
            text = text[:pos] + rng.choice(FRAGMENTS) + text[pos:]
        elif kind == 2:
            text = text[:pos] + chr(rng.randint(1, 0x2FFF)) + text[pos:]
        elif kind == 3:
            lines = text.splitlines(keepends=True)
            if lines:
                i = rng.randrange(len(lines))
                lines.insert(i, lines[i])
                text = "".join(lines)
        elif kind == 4:
            lines = text.splitlines(keepends=True)
            if lines:
                i = rng.randrange(len(lines))
                lines[i] = " " * rng.randint(0, 9) + lines[i].lstrip(" ")
                text = "".join(lines)
        elif kind == 5:
            depth = rng.choice([10, 63, 65, 200, 5000])
            text += f"\nx: {'[' * depth}{']' * depth}\n"
        elif kind == 6:
            size = rng.choice([10, 1000, 100_000])
            text += f"\ns: &s {'x' * rng.randint(1, 20)}\nb: [{', '.join(['*s'] * size)}]\n"
        elif kind == 7:
            text += f"\nlong: {'y' * rng.choice([10, 10_000, 1_000_000])}\n"
        else:
            text = text.replace(
                rng.choice(["id:", "run:", "steps:", "type:"]),
                rng.choice(["id: ", "run: [", "steps: {", "type: loop", "dependencies: [x]", ""]),
                1,
            )
    return text


class Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Hang()


def check_spec(text: str) -> str | None:
    from flowctl.errors import Severity
    from flowctl.spec.load import validate_text

    validation = validate_text(text, "fuzz.yaml")
    for problem in validation.problems:
        if problem.severity is Severity.ERROR and problem.location is None:
            return f"unlocated error: {problem.message[:200]}"
    return None


def check_input(rng: random.Random) -> str | None:
    from flowctl.errors import FlowctlError
    from flowctl.runner.inputs import resolve_inputs
    from flowctl.spec.load import load_workflow_text

    wf = load_workflow_text(SEED_SPECS[-1], "fuzz.yaml")
    depth = rng.choice([1, 5, 64, 65, 900, 20_000])
    values = [
        "".join(chr(rng.randint(1, 0x7F)) for _ in range(rng.randint(0, 40))),
        "[" * depth + "]" * depth,
        '{"a": ' * min(depth, 5000) + "1" + "}" * min(depth, 5000),
        "NaN",
        "1e999",
        "-0",
        "007",
        "[1, NaN]",
        '["a", {"b": [null]}]',
        "x" * 100_000,
    ]
    given = {rng.choice(["n", "who", "tags", "zz"]): rng.choice(values) for _ in range(3)}
    with contextlib.suppress(FlowctlError):  # a clear refusal is a right answer
        resolve_inputs(wf, given)
    return None


SHELL_BITS = [
    "echo ",
    "$((",
    "))",
    "((",
    "$[",
    "]",
    "${s:",
    "}",
    "${a[",
    "[[ ",
    " -eq ",
    " ]]",
    "let ",
    "declare -i x=",
    "<<EOF\n",
    "\nEOF\n",
    "<<'E'\n",
    "\nE\n",
    "'",
    '"',
    "`",
    "$(",
    ")",
    "#",
    "\\",
    ";",
    "|",
    "&&",
    "\n",
    "a[",
    "for((",
    "if((",
    " << ",
    "${v//<<",
    "case x in (a) ;; esac",
]
VALUES = ["a[$(touch PWN)]", "1", "-7", "$(id)", "'\"`", "\n", "x y * ?", "", "010", "1e3"]


def check_shell(rng: random.Random) -> str | None:
    from flowctl.errors import FlowctlError
    from flowctl.expressions import render_shell

    parts = [rng.choice(SHELL_BITS + ["{{ v }}"] * 6) for _ in range(rng.randint(1, 14))]
    with contextlib.suppress(FlowctlError):
        render_shell("".join(parts), {"v": rng.choice(VALUES)})
    return None


def check_cli(text: str, workdir: Path) -> str | None:
    path = workdir / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    done = subprocess.run(
        [sys.executable, "-m", "flowctl", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=workdir,
    )
    if "Traceback" in done.stderr or done.returncode not in (0, 2):
        return f"validate exited {done.returncode}: {done.stderr[-300:]}"
    return None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--cli-every", type=int, default=50)
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    signal.signal(signal.SIGALRM, _alarm)
    rng = random.Random(args.seed)
    failures: list[str] = []
    counts = {"spec": 0, "input": 0, "shell": 0, "cli": 0}
    slowest = (0.0, "")
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for case in range(args.cases):
            kind = rng.choices(["spec", "input", "shell"], weights=[6, 2, 2])[0]
            text = mutate(rng.choice(SEED_SPECS), rng) if kind == "spec" else ""
            checks: list[tuple[str, Callable[[], str | None]]] = []
            if kind == "spec":
                checks.append(("spec", functools.partial(check_spec, text)))
                if case % args.cli_every == 0:
                    checks.append(("cli", functools.partial(check_cli, text, Path(tmp))))
            elif kind == "input":
                checks.append(("input", functools.partial(check_input, rng)))
            else:
                checks.append(("shell", functools.partial(check_shell, rng)))
            for name, check in checks:
                counts[name] += 1
                start = time.monotonic()
                signal.alarm(CASE_SECONDS if name != "cli" else 60)
                try:
                    problem = check()
                except Hang:
                    problem = f"over {CASE_SECONDS} s"
                except MemoryError:
                    problem = "MemoryError"
                except Exception:  # the very thing the fuzzer looks for
                    problem = "traceback:\n" + traceback.format_exc(limit=6)
                finally:
                    signal.alarm(0)
                took = time.monotonic() - start
                if took > slowest[0]:
                    slowest = (took, f"case {case} ({name})")
                if problem is not None:
                    failures.append(f"case {case} ({name}): {problem}")
                    if name == "spec":
                        Path(tmp, f"failure-{case}.yaml").write_text(text, errors="replace")
    elapsed = time.monotonic() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "cases": args.cases,
                "checks": counts,
                "failures": len(failures),
                "seconds": round(elapsed, 1),
                "slowest_case_s": round(slowest[0], 3),
                "slowest": slowest[1],
                "peak_rss_mib": round(peak),
            },
            indent=2,
        )
    )
    for failure in failures[:20]:
        print(failure)
    print("PASS" if not failures else f"FAIL: {len(failures)} failures")
    return 0 if not failures else 1


if __name__ == "__main__":
    raise SystemExit(main())

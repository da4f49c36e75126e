"""Dependencies implied by files: inference, scopes, cycles, validate and graph output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flowctl.errors import SpecError
from flowctl.files.globmatch import normalize, overlap
from flowctl.spec.load import load_workflow
from tests.runner.sched_kit import REPO, write_spec


@pytest.mark.parametrize(
    ("a", "b", "meets"),
    [
        ("lapi.o", "lapi.o", True),
        ("lapi.o", "*.o", True),
        ("lapi.o", "*.c", False),
        ("build/*.o", "build/lapi.o", True),
        ("build/*.o", "src/*.o", False),
        ("**/*.o", "a/b/c.o", True),
        ("a/**/x.o", "a/x.o", True),
        ("a/**", "b/x", False),
        ("l[a-c]pi.o", "lbpi.o", True),
        ("l[a-c]pi.o", "lzpi.o", False),
        ("l?pi.o", "lapi.o", True),
        ("*.tar.gz", "*.gz", True),
        ("x*", "*y", True),
    ],
)
def test_overlap_of_two_patterns(a: str, b: str, meets: bool) -> None:
    assert overlap(a, b) is meets
    assert overlap(b, a) is meets


def test_normalize_joins_working_dir_and_turns_templates_into_stars() -> None:
    assert normalize("x.o", "build") == "build/x.o"
    assert normalize("../src/x.c", "build") == "src/x.c"
    assert normalize("{{ params.name }}.o") == "*.o"
    assert normalize("./a.c") == "a.c"


def _load(tmp_path: Path, text: str) -> object:
    return load_workflow(write_spec(tmp_path, text))


def test_generates_matching_sources_makes_a_dependency(tmp_path: Path) -> None:
    wf = load_workflow(
        write_spec(
            tmp_path,
            """
            name: w
            steps:
              - id: link
                run: cc -o prog *.o
                sources: ["*.o"]
                generates: [prog]
              - id: a
                run: cc -c a.c
                sources: [a.c]
                generates: [a.o]
              - id: b
                working_dir: sub
                run: cc -c b.c -o ../b.o
                sources: [b.c]
                generates: [../b.o]
              - id: fmt
                run: indent a.c
                sources: [a.c]
                generates: [a.c]
              - id: explicit
                dependencies: [a]
                run: cat a.o
                sources: [a.o]
            """,
        )
    )
    by_id = {s.id: s for s, _ in wf.walk()}
    assert by_id["link"].dependencies == ("a", "b")
    assert by_id["link"].file_dependencies == ("a", "b")
    # fmt rewrites its own source: not its own dependency; but `a` reads what fmt generates
    assert by_id["fmt"].dependencies == ()
    assert by_id["a"].dependencies == ("fmt",)
    # An explicit dependency that duplicates an inferred one is fine, and stays explicit.
    assert by_id["explicit"].dependencies == ("a",)
    assert by_id["explicit"].file_dependencies == ()


def test_inference_never_crosses_a_container(tmp_path: Path) -> None:
    wf = load_workflow(
        write_spec(
            tmp_path,
            """
            name: w
            steps:
              - id: make
                run: touch x.o
                generates: [x.o]
              - id: group
                type: parallel
                parallel_steps:
                  - id: use
                    run: cat x.o
                    sources: [x.o]
                  - id: inner
                    run: touch y.o
                    generates: [y.o]
                  - id: inner_use
                    run: cat y.o
                    sources: [y.o]
            """,
        )
    )
    by_id = {s.id: s for s, _ in wf.walk()}
    assert by_id["use"].dependencies == ()
    assert by_id["inner_use"].dependencies == ("inner",)
    assert by_id["group"].dependencies == ()


def test_a_cycle_through_files_is_reported_like_any_cycle(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_workflow(
            write_spec(
                tmp_path,
                """
                name: w
                steps:
                  - id: a
                    run: cp y x
                    sources: [y]
                    generates: [x]
                  - id: b
                    run: cp x y
                    sources: [x]
                    generates: [y]
                """,
            )
        )
    text = str(caught.value)
    assert "cycle: a -> b -> a (through files: sources/generates)" in text
    assert "wf.yaml:" in text


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowctl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(REPO), "NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )


SPEC = """
name: w
steps:
  - id: a
    run: touch a.o
    generates: [a.o]
  - id: link
    run: cat a.o
    sources: ["*.o"]
"""


def test_validate_shows_inferred_edges_in_verbose_and_json(tmp_path: Path) -> None:
    write_spec(tmp_path, SPEC)
    plain = _cli("validate", "wf.yaml", cwd=tmp_path)
    assert plain.returncode == 0 and "inferred" not in plain.stdout
    verbose = _cli("validate", "-v", "wf.yaml", cwd=tmp_path)
    assert verbose.stdout.splitlines() == [
        "wf.yaml: ok (2 steps)",
        "  inferred from files: link runs after a (its sources match what a generates)",
    ]
    data = json.loads(_cli("validate", "--format", "json", "wf.yaml", cwd=tmp_path).stdout)
    assert data["files"][0]["inferred_edges"] == [{"from": "a", "to": "link", "why": "files"}]


def test_graph_draws_inferred_edges_dashed(tmp_path: Path) -> None:
    write_spec(tmp_path, SPEC)
    mermaid = _cli("graph", "wf.yaml", cwd=tmp_path).stdout
    assert '    s0 -.->|"files"| s1' in mermaid.splitlines()
    dot = _cli("graph", "wf.yaml", "--format", "dot", cwd=tmp_path).stdout
    assert '    "a" -> "link" [label="files", style=dashed];' in dot.splitlines()

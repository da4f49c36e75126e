"""Mermaid and dot drawings of a small workflow with a container and a condition."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flowctl.graph import to_dot, to_mermaid
from tests.graph.kit import load

DOCS = """
name: docs
steps:
  - id: fetch
    run: echo
    error_handlers: [alert]
  - id: route
    type: condition
    dependencies: [fetch]
    cases:
      - when: workflow.kind == "pdf"
        next_steps: [ocr]
    default: [store]
  - id: ocr
    type: parallel
    parallel_steps:
      - id: page_1
        run: echo
      - id: page_2
        run: echo
        dependencies: [page_1]
  - id: store
    type: wait
    duration: 1s
  - id: end
    run: echo
    dependencies: [ocr, store]
  - id: alert
    run: echo
"""


def test_mermaid_draws_containers_as_subgraphs_and_labels_condition_edges() -> None:
    assert to_mermaid(load(DOCS)) == textwrap.dedent(
        """\
        %% workflow: docs
        flowchart TD
            s0["fetch"]
            s1{"route"}
            subgraph s2["ocr (parallel)"]
                s3["page_1"]
                s4["page_2"]
            end
            s5(["store"])
            s6["end"]
            s7["alert"]
            s0 -.->|"on failure"| s7
            s0 --> s1
            s1 -->|"workflow.kind == #quot;pdf#quot;"| s2
            s1 -->|"default"| s5
            s2 --> s6
            s5 --> s6
            s3 --> s4
        """
    )


def test_dot_draws_containers_as_clusters_and_labels_condition_edges() -> None:
    assert to_dot(load(DOCS)) == textwrap.dedent(
        """\
        digraph "docs" {
            node [shape=box];
            "fetch";
            "route" [shape=diamond];
            subgraph "cluster_ocr" {
                label="ocr (parallel)";
                "ocr" [shape=folder];
                "page_1";
                "page_2";
            }
            "store" [shape=ellipse];
            "end";
            "alert";
            "fetch" -> "alert" [label="on failure", style=dashed];
            "fetch" -> "route";
            "route" -> "ocr" [label="workflow.kind == \\"pdf\\""];
            "route" -> "store" [label="default"];
            "ocr" -> "end";
            "store" -> "end";
            "page_1" -> "page_2";
        }
        """
    )


def test_labels_cannot_break_out_of_their_quotes() -> None:
    wf = load(
        """
        name: tricky
        steps:
          - id: route
            type: condition
            cases:
              - when: "'<script>' ~ \\"`x`#\\" != '\\\\\\"]; evil -> x'"
                next_steps: [a]
          - {id: a, run: echo}
        """
    )
    mermaid = to_mermaid(wf)
    edge = next(line for line in mermaid.splitlines() if "s0 -->" in line)
    label = edge.split('|"', 1)[1].rsplit('"|', 1)[0]
    assert not set(label) & set('"<>`')
    assert "#lt;script#gt;" in label
    dot = to_dot(wf)
    edge = next(line for line in dot.splitlines() if '"route" -> "a"' in line)
    assert edge.endswith('"];')
    body = edge.split('label="', 1)[1][: -len('"];')]
    # Every quote inside the label is escaped, and so is every backslash.
    assert body.replace("\\\\", "").replace('\\"', "").count('"') == 0


def test_long_conditions_are_shortened_in_labels() -> None:
    when = " or ".join(f"x == {i}" for i in range(30))
    wf = load(
        f"""
        name: long
        steps:
          - id: route
            type: condition
            cases:
              - when: "{when}"
                next_steps: [a]
          - {{id: a, run: echo}}
        """
    )
    edge = next(line for line in to_mermaid(wf).splitlines() if "-->|" in line)
    assert edge.endswith('..."| s1')
    assert len(edge) < 80


def test_graph_command_prints_the_drawing(tmp_path: Path) -> None:
    spec = tmp_path / "docs.yaml"
    spec.write_text(DOCS)
    for fmt, first_line in (("mermaid", "%% workflow: docs"), ("dot", 'digraph "docs" {')):
        done = subprocess.run(
            [sys.executable, "-m", "flowctl", "graph", str(spec), "--format", fmt],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[0] == first_line


@pytest.mark.slow
def test_graph_command_refuses_an_unknown_format_and_a_broken_spec(tmp_path: Path) -> None:
    spec = tmp_path / "docs.yaml"
    spec.write_text(DOCS)
    done = subprocess.run(
        [sys.executable, "-m", "flowctl", "graph", str(spec), "--format", "png"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    # The command line lists the choices before the core sees the value.
    assert "'png' is not one of 'mermaid', 'dot'" in done.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: b\nsteps:\n  - {id: a, run: echo, dependencies: [a]}\n")
    done = subprocess.run(
        [sys.executable, "-m", "flowctl", "graph", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"{broken}:3:24: error: cycle: a -> a (at a)" in done.stderr
    assert "Traceback" not in done.stderr

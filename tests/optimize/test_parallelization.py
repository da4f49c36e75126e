"""parallelization (--spec): dependencies that carry no data, worth what the replay says."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowctl.optimize.dataflow import DataFlow
from flowctl.optimize.report import ChangeAction, RecommendationType
from flowctl.spec.load import load_workflow, load_workflow_text
from tests.optimize.kit import analyze, by_id, of_type, run, step, write

# Shell steps say they read no files (`sources: []`): their data flow is then fully known.
SPEC = """\
name: wf
steps:
  - id: a
    run: echo a
    sources: []
    output_mapping: {result.stdout: workflow.token}
  - id: b
    run: echo b
    sources: []
    dependencies: [a]
  - id: c
    run: "echo {{ steps.a.outputs.stdout }}"
    sources: []
    dependencies: [a]
  - id: d
    run: echo d
    sources: []
    dependencies: [a]
    input_mapping: {tok: workflow.token}
  - id: e
    run: echo e
    sources: []
    next_steps: [f]
  - id: f
    run: echo f
    sources: []
  - id: g
    type: parallel
    dependencies: [b]
    parallel_steps:
      - id: x
        run: echo x
        sources: []
      - id: y
        run: echo y
        sources: []
        dependencies: [x]
"""


@pytest.fixture
def spec_path(tmp_path: Path) -> Path:
    path = tmp_path / "wf.yaml"
    path.write_text(SPEC)
    return path


def history(tmp_path: Path, durations: dict[str, float]) -> Path:
    parents = {"x": "g", "y": "g"}
    records = [
        run(
            i,
            [step(name, d, parent=parents.get(name)) for name, d in durations.items()],
            edges=[("a", "b"), ("a", "c"), ("a", "d"), ("e", "f"), ("b", "g"), ("x", "y")],
        )
        for i in range(3)
    ]
    return write(tmp_path / "h.jsonl", records)


def test_dependencies_without_data_flow_are_advised_by_replayed_gain(
    tmp_path: Path, spec_path: Path
) -> None:
    # a 2 -> b 3 -> g 5 (x 2 -> y 3 inside); c and d 1 s after a.   Baseline: 10 s.
    path = history(tmp_path, {"a": 2, "b": 3, "c": 1, "d": 1, "g": 5, "x": 2, "y": 3})
    report = analyze(path, spec=load_workflow(spec_path))
    found = of_type(report, RecommendationType.PARALLELIZATION)
    assert report.summary.median_makespan == 10.0
    # g free of b: 5 s (50%); b free of a: 8 s; y beside x: g 3 s, 8 s (20% each).
    assert [r.id for r in found] == [
        "parallelization:g",
        "parallelization:b",
        "parallelization:y",
    ]
    assert [r.expected_improvement for r in found] == pytest.approx([50.0, 20.0, 20.0])
    b = by_id(report)["parallelization:b"]
    (change,) = b.specific_changes
    assert change.action is ChangeAction.REMOVE
    assert (change.step, change.key, change.value, change.current) == (
        "b",
        "dependencies",
        "a",
        ["a"],
    )
    assert change.yaml == "- id: b\n  dependencies: []"
    assert change.location == f"{spec_path}:10:5"
    assert "'a' fails" in b.description


def test_a_step_reading_its_upstream_is_never_cut_loose(tmp_path: Path, spec_path: Path) -> None:
    # c reads steps.a.outputs; d reads workflow.token that a writes: no advice for either,
    # even where it would pay (make them long and a short).
    path = history(tmp_path, {"a": 1, "b": 0, "c": 9, "d": 9, "g": 0, "x": 0, "y": 0})
    report = analyze(path, spec=load_workflow(spec_path))
    ids = {r.id for r in of_type(report, RecommendationType.PARALLELIZATION)}
    assert "parallelization:c" not in ids and "parallelization:d" not in ids


def test_an_edge_from_next_steps_is_edited_where_it_is_written(
    tmp_path: Path, spec_path: Path
) -> None:
    path = history(tmp_path, {"e": 1, "f": 4})
    report = analyze(path, spec=load_workflow(spec_path))
    rec = by_id(report)["parallelization:f"]
    assert rec.expected_improvement == pytest.approx(20.0)
    (change,) = rec.specific_changes
    assert (change.step, change.key, change.value) == ("e", "next_steps", "f")
    assert change.yaml == "- id: e\n  next_steps: []"


def test_no_gain_no_advice(tmp_path: Path, spec_path: Path) -> None:
    # Only a long independent step: cutting any edge saves nothing.
    path = history(tmp_path, {"f": 100, "a": 1, "b": 1})
    report = analyze(path, spec=load_workflow(spec_path))
    assert not of_type(report, RecommendationType.PARALLELIZATION)


def test_without_a_spec_there_is_no_parallelization_advice(tmp_path: Path) -> None:
    path = history(tmp_path, {"a": 2, "b": 3, "c": 1, "d": 1, "g": 5, "x": 2, "y": 3})
    report = analyze(path)
    assert not of_type(report, RecommendationType.PARALLELIZATION)
    assert "without --spec, dependencies are not checked for data flow" in report.notes


CONTROL = """\
name: control
steps:
  - id: gate
    type: human_task
    approval: {message: ok?}
  - id: pause
    type: wait
    duration: 1s
  - id: route
    type: condition
    cases: [{when: "1 == 1", next_steps: [left]}]
    default: [right]
  - id: left
    run: echo left
  - id: right
    run: echo right
  - id: after_gate
    run: echo x
    dependencies: [gate, pause]
  - id: writer
    run: echo w
    output_mapping: {result.stdout: workflow.report.text}
  - id: also_writer
    run: echo w
    dependencies: [writer]
    output_mapping: {result.stdout: workflow.report}
  - id: reader
    run: "echo {{ workflow.shared }}"
  - id: overwriter
    run: echo o
    dependencies: [reader]
    output_mapping: {result.stdout: workflow.shared}
  - id: cleanup
    run: echo bye
    dependencies: [writer]
    trigger_rule: all_done
  - id: fails
    run: "false"
    error_handlers: [handler]
  - id: handler
    run: echo handled
  - id: bad_template
    run: "echo {{ steps. }}"
    dependencies: [writer]
"""


def test_control_edges_and_races_are_kept() -> None:
    flow = DataFlow(load_workflow_text(CONTROL, "control.yaml", graph_checks=False))
    assert flow.needed("gate", "after_gate") == "waits for the approval in 'gate'"
    assert flow.needed("pause", "after_gate") == "'pause' is a wait step"
    assert flow.needed("route", "left") == "routed by condition 'route'"
    assert flow.needed("writer", "also_writer") == "both write workflow.report.text"
    assert flow.needed("reader", "overwriter") == "writes workflow.shared, which 'reader' reads"
    assert flow.needed("writer", "cleanup") == (
        "trigger_rule all_done: it runs after its dependencies whatever happened"
    )
    assert flow.needed("fails", "handler") == "an error handler"
    # A template that does not parse might read anything.
    assert flow.needed("writer", "bad_template") is not None


def test_a_dependency_is_advised_when_its_dependent_then_waited_for_a_slot(
    tmp_path: Path,
) -> None:
    # Two slots. a 4 and b 3 start; c (after b, reading nothing of it) becomes ready at 3
    # but e, ready since 0, takes the slot first: c 4-5, d (after a, c) 5-8.   Baseline 8 s.
    # Without b -> c, c runs 3-4 and d 4-7: 7 s, 12.5% saved. (c started after b finished,
    # so "started when its upstream finished" alone would have missed this.)
    spec = tmp_path / "wf.yaml"
    spec.write_text(
        "name: wf\nmax_parallel_steps: 2\nsteps:\n"
        "  - {id: a, run: echo a, sources: []}\n"
        "  - {id: b, run: echo b, sources: []}\n"
        "  - {id: c, run: echo c, sources: [], dependencies: [b]}\n"
        "  - {id: d, run: echo d, sources: [], dependencies: [a, c]}\n"
        "  - {id: e, run: echo e, sources: []}\n"
    )
    durations = {"a": 4, "b": 3, "c": 1, "d": 3, "e": 3}
    records = [
        run(
            i,
            [step(name, d) for name, d in durations.items()],
            edges=[("a", "d"), ("b", "c"), ("c", "d")],
            max_parallel_steps=2,
        )
        for i in range(3)
    ]
    report = analyze(write(tmp_path / "h.jsonl", records), spec=load_workflow(spec))
    assert report.summary.median_makespan == 8.0
    found = {r.id: r for r in of_type(report, RecommendationType.PARALLELIZATION)}
    assert found["parallelization:c"].expected_improvement == pytest.approx(12.5)

"""The optimizer respects files: file edges are used, undeclared shell edges are unknown."""

from __future__ import annotations

from pathlib import Path

from flowctl.optimize.report import RecommendationType
from flowctl.spec.load import load_workflow
from tests.optimize.kit import analyze, of_type, run, step, write

BUILD = """\
name: wf
steps:
  - id: compile
    run: cc -c a.c -o a.o
    sources: [a.c]
    generates: [a.o]
  - id: other
    run: cc -c b.c -o b.o
    sources: [b.c]
    generates: [b.o]
  - id: archive
    run: ar rcs lib.a *.o
    sources: ["*.o"]
    generates: [lib.a]
  - id: install
    run: cp prog /usr/local/bin
  - id: unittest
    run: ./run-tests
    dependencies: [install]
"""


def _history(tmp_path: Path) -> Path:
    durations = {"compile": 3.0, "other": 1.0, "archive": 1.0, "install": 2.0, "unittest": 2.0}
    records = [
        run(
            i,
            [step(n, d, inputs="same", outputs="same") for n, d in durations.items()],
            edges=[("compile", "archive"), ("other", "archive"), ("install", "unittest")],
        )
        for i in range(8)
    ]
    return write(tmp_path / "h.jsonl", records)


def test_no_advice_that_would_break_a_build(tmp_path: Path) -> None:
    spec = tmp_path / "wf.yaml"
    spec.write_text(BUILD)
    report = analyze(_history(tmp_path), spec=load_workflow(spec))
    ids = [r.id for r in report.recommendations]
    # archive reads what compile generates; unittest/install declare no files: unknown.
    assert "parallelization:archive" not in ids
    assert "parallelization:unittest" not in ids
    assert "caching:install" not in ids and "caching:unittest" not in ids
    (declare,) = [r for r in of_type(report, RecommendationType.PARALLELIZATION)]
    assert declare.id == "parallelization:declare-files"
    assert declare.expected_improvement == 0.0
    assert declare.steps == ("install", "unittest")
    assert declare.description.startswith(
        "1 dependency links shell steps that declare no files ('install', 'unittest')"
    )
    assert declare.evidence["unknown_dependencies"] == [["install", "unittest"]]


def test_the_file_edge_reason_is_named(tmp_path: Path) -> None:
    from flowctl.optimize.dataflow import DataFlow

    spec = tmp_path / "wf.yaml"
    spec.write_text(BUILD)
    flow = DataFlow(load_workflow(spec))
    assert flow.needed("compile", "archive") == "reads files '*.o' that 'compile' generates"
    assert flow.needed("install", "unittest") == (
        "file effects unknown: shell steps that declare no sources or generates"
    )


def test_the_declare_files_recommendation_fits_the_report_schema(tmp_path: Path) -> None:
    from tests.optimize.test_schema import validator

    spec = tmp_path / "wf.yaml"
    spec.write_text(BUILD)
    report = analyze(_history(tmp_path), spec=load_workflow(spec))
    data = report.to_json()
    assert any(r["id"] == "parallelization:declare-files" for r in data["recommendations"])
    errors = sorted(validator().iter_errors(data), key=str)
    assert errors == []

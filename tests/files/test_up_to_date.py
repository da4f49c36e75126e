"""sources/generates: up-to-date steps are not run, outputs come back, forcing, failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flowctl.api import RunResult
from flowctl.commands.run import summary_lines
from flowctl.errors import UsageError
from flowctl.status import RunStatus, StepStatus
from tests.runner.sched_kit import events, run_spec

BUILD = """
    name: build
    steps:
      - id: compile_a
        run: >-
          cp a.src a.obj && echo compile_a >> ran.log &&
          echo "size=$(wc -c < a.src)" >> "$FLOWCTL_OUTPUT"
        sources: [a.src]
        generates: [a.obj]
      - id: compile_b
        run: cp b.src b.obj && echo compile_b >> ran.log
        sources: [b.src]
        generates: [b.obj]
      - id: link
        run: cat a.obj b.obj > prog && echo link >> ran.log
        sources: ["*.obj"]
        generates: [prog]
    """


def _tree(tmp_path: Path) -> None:
    (tmp_path / "a.src").write_text("alpha\n")
    (tmp_path / "b.src").write_text("beta\n")


def _run(tmp_path: Path, text: str = BUILD, **options: Any) -> RunResult:
    return run_spec(tmp_path, text, workdir=tmp_path, **options)


def _ran(tmp_path: Path) -> list[str]:
    log = tmp_path / "ran.log"
    lines = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return lines


def _fresh(result: RunResult) -> set[str]:
    return {sid for sid, r in result.steps.items() if r.up_to_date}


def test_a_second_run_runs_nothing_and_restores_outputs(tmp_path: Path) -> None:
    _tree(tmp_path)
    first = _run(tmp_path)
    assert first.status is RunStatus.COMPLETED
    assert sorted(_ran(tmp_path)) == ["compile_a", "compile_b", "link"]
    second = _run(tmp_path)
    assert second.status is RunStatus.COMPLETED
    assert _ran(tmp_path) == []
    assert _fresh(second) == {"compile_a", "compile_b", "link"}
    restored = second.step("compile_a")
    assert restored.status is StepStatus.COMPLETED and restored.attempts == 0
    assert restored.outputs["size"] == "6"
    finished = [e for e in events(second) if e.event == "step_completed"]
    assert all(e.data.get("up_to_date") is True for e in finished)
    assert not [e for e in events(second) if e.event == "step_started"]
    history = (tmp_path / ".flowctl" / "history.jsonl").read_text().splitlines()
    last = json.loads(history[-1])
    assert {s["id"]: s["up_to_date"] for s in last["steps"]} == {
        "compile_a": True,
        "compile_b": True,
        "link": True,
    }


def test_the_summary_says_how_many_completed_steps_did_not_run(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert "3 completed (" not in summary_lines(_run(tmp_path))[0][0]
    assert summary_lines(_run(tmp_path))[0][0].endswith(": 3 step runs: 3 completed (3 up to date)")
    (tmp_path / "b.src").write_text("BETA\n")
    assert summary_lines(_run(tmp_path))[0][0].endswith("3 completed (1 up to date)")


def test_a_changed_source_reruns_its_step_and_the_steps_whose_sources_changed(
    tmp_path: Path,
) -> None:
    _tree(tmp_path)
    _run(tmp_path)
    _ran(tmp_path)
    (tmp_path / "b.src").write_text("BETA\n")
    result = _run(tmp_path)
    assert _ran(tmp_path) == ["compile_b", "link"]
    assert _fresh(result) == {"compile_a"}
    # Same bytes written again: nothing downstream changes (content, not mtime, decides).
    (tmp_path / "a.src").write_text("alpha\n")
    result = _run(tmp_path)
    assert _ran(tmp_path) == []


def test_a_deleted_generated_file_reruns_the_step_that_makes_it(tmp_path: Path) -> None:
    _tree(tmp_path)
    _run(tmp_path)
    _ran(tmp_path)
    (tmp_path / "a.obj").unlink()
    result = _run(tmp_path)
    assert _ran(tmp_path) == ["compile_a"]  # a.obj is rebuilt identical: link stays fresh
    log = result.step("compile_a").log_path
    assert log is not None
    assert "[flowctl] not up to date: generated file missing: a.obj" in log.read_text()


def test_a_changed_command_or_param_reruns(tmp_path: Path) -> None:
    _tree(tmp_path)
    _run(tmp_path)
    _ran(tmp_path)
    _run(tmp_path, BUILD.replace("cat a.obj b.obj > prog", "cat b.obj a.obj > prog"))
    assert _ran(tmp_path) == ["link"]


def test_a_step_that_does_not_produce_what_it_generates_fails_naming_it(tmp_path: Path) -> None:
    _tree(tmp_path)
    result = _run(
        tmp_path,
        """
        name: lazy
        steps:
          - id: make
            run: "true"
            sources: [a.src]
            generates: [out/a.obj, "out/*.map"]
        """,
    )
    assert result.status is RunStatus.FAILED
    error = result.step("make").error or ""
    assert error.startswith(
        "the step did not produce what it generates: no file matches out/a.obj, out/*.map"
    )


def test_a_failed_run_is_never_up_to_date_next_time(tmp_path: Path) -> None:
    _tree(tmp_path)
    _run(tmp_path)
    _ran(tmp_path)
    failing = BUILD.replace(
        "cat a.obj b.obj > prog && echo link >> ran.log",
        "echo link >> ran.log && test -f go",
    )
    assert _run(tmp_path, failing).status is RunStatus.FAILED
    assert _ran(tmp_path) == ["link"]
    (tmp_path / "go").write_text("")
    # Back to the old definition: its record was dropped when the failing version started.
    _run(tmp_path)
    assert _ran(tmp_path) == ["link"]


def test_force_all_and_force_run_with_dependents(tmp_path: Path) -> None:
    _tree(tmp_path)
    _run(tmp_path)
    _ran(tmp_path)
    _run(tmp_path, force_all=True)
    assert sorted(_ran(tmp_path)) == ["compile_a", "compile_b", "link"]
    _run(tmp_path, force_run=["compile_b"])
    assert _ran(tmp_path) == ["compile_b", "link"]
    _run(tmp_path, force_run=["link"])
    assert _ran(tmp_path) == ["link"]
    with pytest.raises(UsageError, match="--force-run nope: the workflow has no step 'nope'"):
        _run(tmp_path, force_run=["nope"])


def test_templated_patterns_and_working_dir(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "x.txt").write_text("x")
    spec = """
        name: templated
        inputs:
          name: {type: string, default: x}
        steps:
          - id: upper
            working_dir: src
            run: >-
              tr a-z A-Z < "{{ inputs.name }}.txt" > "{{ inputs.name }}.up" &&
              echo upper >> ../ran.log
            sources: ["{{ inputs.name }}.txt"]
            generates: ["{{ inputs.name }}.up"]
        """
    _run(tmp_path, spec)
    assert (tmp_path / "src" / "x.up").read_text() == "X"
    assert _ran(tmp_path) == ["upper"]
    _run(tmp_path, spec)
    assert _ran(tmp_path) == []
    (tmp_path / "src" / "y.txt").write_text("y")
    _run(tmp_path, spec, inputs={"name": "y"})
    assert _ran(tmp_path) == ["upper"]


def test_python_steps_fingerprint_their_params(tmp_path: Path) -> None:
    _tree(tmp_path)
    spec = """
        name: py
        inputs:
          n: {type: integer, default: 1}
          root: {type: string}
        steps:
          - id: count
            python: tests.files.file_funcs:copy_count
            input_mapping: {n: inputs.n, root: inputs.root}
            sources: [a.src]
            generates: [a.copy]
        """
    root = {"root": str(tmp_path)}
    _run(tmp_path, spec, inputs=root)
    assert (tmp_path / "a.copy").read_text() == "alpha\n1"
    assert _run(tmp_path, spec, inputs=root).step("count").up_to_date
    assert not _run(tmp_path, spec, inputs={**root, "n": 2}).step("count").up_to_date
    assert (tmp_path / "a.copy").read_text() == "alpha\n2"


def test_recorded_outputs_hold_secrets_masked(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("API_TOKEN", "s3cr3t-value-42")
    _tree(tmp_path)
    spec = """
        name: secretive
        secrets: [API_TOKEN]
        steps:
          - id: leak
            run: cp a.src a.obj && echo "token=$API_TOKEN" >> "$FLOWCTL_OUTPUT"
            env: {API_TOKEN: "{{ env.API_TOKEN }}"}
            sources: [a.src]
            generates: [a.obj]
        """
    first = _run(tmp_path, spec)
    assert first.step("leak").outputs["token"] == "s3cr3t-value-42"
    records = list((tmp_path / ".flowctl" / "fingerprints").glob("*/*.json"))
    assert len(records) == 1
    text = records[0].read_text()
    assert "s3cr3t-value-42" not in text and '"token":"***"' in text
    assert _run(tmp_path, spec).step("leak").outputs["token"] == "***"
    # The secret is not part of the fingerprint (only a digest would be stored): a rotated
    # one leaves the step up to date.
    monkeypatch.setenv("API_TOKEN", "rotated-value-43")
    assert _run(tmp_path, spec).step("leak").up_to_date


def test_a_no_op_run_skips_the_end_of_run_analysis(tmp_path: Path) -> None:
    # The history gains nothing an up-to-date step could teach: no analysis, a note why.
    _tree(tmp_path)
    first = _run(tmp_path)
    assert first.report_path is not None
    assert json.loads(first.report_path.read_text())["optimization"] is not None
    second = _run(tmp_path)
    assert second.report_path is not None
    report = json.loads(second.report_path.read_text())
    assert report["optimization"] is None
    assert report["optimization_note"].startswith("optimization skipped: every step was up to date")
    assert "flowctl optimize" in report["optimization_note"]
    # One changed source: the run did work, and is analysed again.
    (tmp_path / "b.src").write_text("beta 2\n")
    third = _run(tmp_path)
    assert third.report_path is not None
    assert json.loads(third.report_path.read_text())["optimization"] is not None


def test_a_touched_source_is_hashed_once_then_known_by_its_new_time(
    tmp_path: Path, monkeypatch: Any
) -> None:
    import os

    from flowctl.files import freshness

    _tree(tmp_path)
    _run(tmp_path)
    source = tmp_path / "a.src"
    info = source.stat()
    os.utime(source, ns=(info.st_atime_ns, info.st_mtime_ns + 5_000_000_000))  # same bytes
    hashed: list[str] = []
    real = freshness.file_digest

    def counting(path: Path) -> str:
        hashed.append(path.name)
        return real(path)

    monkeypatch.setattr(freshness, "file_digest", counting)
    second = _run(tmp_path)
    assert _fresh(second) == {"compile_a", "compile_b", "link"}  # content unchanged
    assert hashed == ["a.src"]
    hashed.clear()
    third = _run(tmp_path)
    assert _fresh(third) == {"compile_a", "compile_b", "link"}
    assert hashed == []  # the record now holds the new time

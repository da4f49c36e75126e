"""error_kind: a FailureKind (plus an exit code) in memory, "exit_code:N" in every file."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from flowctl.api import run_workflow
from flowctl.runner.resume.restore import Restored
from flowctl.runner.steps.base import FailureKind, failure_tag, parse_failure_tag
from flowctl.spec.model import StepType
from flowctl.state.audit import read_journal


@pytest.mark.parametrize("kind", list(FailureKind))
def test_every_kind_is_written_as_its_word_and_read_back(kind: FailureKind) -> None:
    assert failure_tag(kind) == kind.value
    assert parse_failure_tag(kind.value) == (kind, None)


@pytest.mark.parametrize("code", [0, 3, 75, 255, -9])
def test_an_exit_code_is_written_after_the_kind_and_read_back(code: int) -> None:
    assert failure_tag(FailureKind.EXIT_CODE, code) == f"exit_code:{code}"
    assert parse_failure_tag(f"exit_code:{code}") == (FailureKind.EXIT_CODE, code)


def test_an_exit_code_goes_only_with_the_exit_code_kind() -> None:
    assert failure_tag(FailureKind.TIMEOUT, 3) == "timeout"


@pytest.mark.parametrize("tag", ["nonsense", "timeout:3", "exit_code:x", "", None, 3])
def test_what_is_not_a_tag_reads_as_none(tag: object) -> None:
    assert parse_failure_tag(tag) is None


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_journal_report_and_history_still_say_exit_code_n_and_resume_reads_it(
    tmp_path: Path,
) -> None:
    spec = tmp_path / "wf.yaml"
    spec.write_text(
        textwrap.dedent(
            """
            name: kinds
            steps:
              - id: three
                run: exit 3
                continue_on_failure: true
              - id: after
                run: "true"
                dependencies: [three]
            """
        ),
        encoding="utf-8",
    )
    state = tmp_path / "state"
    first = run_workflow(spec, state_dir=state, workdir=tmp_path)
    failed = first.step("three")
    assert failed.error_kind is FailureKind.EXIT_CODE and failed.error_exit_code == 3
    assert first.paths is not None and first.history_path is not None
    journal = [e for e in _lines(first.paths.audit) if e.get("step") == "three"]
    assert [e["data"]["error_kind"] for e in journal if e["event"] == "step_failed"] == [  # type: ignore[index]
        "exit_code:3"
    ]
    report = json.loads(first.paths.report.read_text(encoding="utf-8"))
    assert [s["error_kind"] for s in report["steps"] if s["id"] == "three"] == ["exit_code:3"]
    history = _lines(first.history_path)
    assert [s["error_kind"] for s in history[-1]["steps"] if s["id"] == "three"] == [  # type: ignore[attr-defined]
        "exit_code:3"
    ]
    # What resume restores from that journal line is the kind and its exit code again.
    line = next(e for e in read_journal(first.paths.audit).events if e.event == "step_failed")
    restored = Restored("three", line, 0).result(StepType.ACTION, None)
    assert restored.error_kind is FailureKind.EXIT_CODE and restored.error_exit_code == 3
    assert restored.error_tag == "exit_code:3"

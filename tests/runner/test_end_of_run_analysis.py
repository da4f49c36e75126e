"""The end-of-run optimization analysis keeps within its budget: 5% of the run or 50 ms
(issue 8). The budget is decided from sizes by a cost model, so these verdicts never
depend on how fast the machine is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import flowctl.optimize.analyze  # noqa: F401  (imported: the model then counts no import cost)
from flowctl.runner import analysis
from flowctl.runner.analysis import BUDGET_FLOOR, plan_analysis
from tests.runner.sched_kit import FUNCS, run_spec

SPEC = f"""
    name: budgeted
    steps:
      - id: a
        python: {FUNCS}:noop
      - id: b
        python: {FUNCS}:noop
        dependencies: [a]
    """


def report_of(result: Any) -> dict[str, Any]:
    assert result.report_path is not None
    report: dict[str, Any] = json.loads(result.report_path.read_text())
    return report


def test_a_small_workflow_and_history_are_analysed_whole() -> None:
    plan = plan_analysis(10, 50_000, 0.2, imported=False)
    assert (plan.budget, plan.tail_bytes, plan.skip) == (BUDGET_FLOOR, None, None)


def test_the_budget_is_five_percent_of_a_long_run() -> None:
    assert plan_analysis(10, 50_000, 10.0, imported=True).budget == pytest.approx(0.5)


def test_a_long_history_is_read_from_its_end_only() -> None:
    plan = plan_analysis(10, 10**9, 0.2, imported=True)
    assert plan.skip is None
    assert plan.tail_bytes is not None and 0 < plan.tail_bytes < 10**9
    # What is read costs no more than what is left of the budget.
    spent = analysis.STEP_SECONDS * 10 + analysis.BYTE_SECONDS * plan.tail_bytes
    assert spent <= plan.budget


def test_a_big_workflow_after_a_short_run_is_not_analysed() -> None:
    plan = plan_analysis(10_000, 1_000, 0.4, imported=False)
    assert plan.tail_bytes is None
    assert plan.skip is not None and "analysing 10000 steps would take about" in plan.skip
    # The same workflow after a run long enough to pay for it is.
    assert plan_analysis(10_000, 1_000, 60.0, imported=False).skip is None


def test_the_history_of_the_latest_runs_that_fit_is_analysed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(5):
        result = run_spec(tmp_path, SPEC)
    assert result.history_path is not None
    lines = result.history_path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 5
    # Make reading cost so much that only the last two records fit in the budget.
    fits = len(lines[-1]) + len(lines[-2]) + 10
    room = BUDGET_FLOOR - analysis.STEP_SECONDS * 2
    monkeypatch.setattr(analysis, "BYTE_SECONDS", room / fits)
    report = report_of(run_spec(tmp_path, SPEC))
    assert report["optimization"]["summary"]["runs"] == 2
    note = report["optimization_note"]
    assert note.startswith("analysed the latest 2 runs only (the last ")
    assert "`flowctl optimize " in note


def test_a_run_whose_analysis_cannot_fit_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(analysis, "STEP_SECONDS", BUDGET_FLOOR)
    report = report_of(run_spec(tmp_path, SPEC))
    assert report["optimization"] is None
    note = report["optimization_note"]
    assert note.startswith("optimization skipped: analysing 2 steps would take about 100 ms")
    assert "5% of the run or 50 ms, whichever is larger" in note


def test_a_history_whose_latest_record_is_too_big_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_spec(tmp_path, SPEC)
    # Room for 100 bytes of history: less than one record.
    room = BUDGET_FLOOR - analysis.STEP_SECONDS * 2
    monkeypatch.setattr(analysis, "BYTE_SECONDS", room / 100)
    report = report_of(run_spec(tmp_path, SPEC))
    assert report["optimization"] is None
    assert report["optimization_note"].startswith(
        "optimization skipped: the latest run's record is more history than 50 ms can analyse"
    )

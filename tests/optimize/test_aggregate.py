"""Aggregates: one pass gives the answers, and ranges merged in order give the same ones."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowctl.optimize.aggregate import (
    CACHED,
    FAILED,
    RETRIED,
    StepAggregate,
    WorkflowAggregate,
    normalize_step_id,
)
from flowctl.optimize.scan import ScanResult, scan_history, scan_range
from flowctl.state.records import RunRecord
from tests.optimize.kit import run, step, write


def test_loop_iterations_share_a_name() -> None:
    assert normalize_step_id("scan[12].ocr") == "scan[*].ocr"
    assert normalize_step_id("outer[1].inner[2].x") == "outer[*].inner[*].x"
    assert normalize_step_id("plain") == "plain"


def test_one_step_across_runs(tmp_path: Path) -> None:
    path = write(
        tmp_path / "h.jsonl",
        [
            run(0, [step("a", 1.0, inputs="i1", outputs="o1")]),
            run(1, [step("a", 3.0, status="failed", inputs="i2", error_kind="timeout")]),
            run(2, [step("a", 2.0, inputs="i2", outputs="o2")]),  # heals run 1
            run(3, [step("a", 5.0, attempts=3, inputs="i1", outputs="o1")]),
            run(4, [step("a", 0.0, status="skipped")]),
            run(5, [step("a", 0.01, cached=True, inputs="i1", outputs="o1")]),
            run(6, [step("a", 4.0, status="failed", attempts=2, error_kind="exit_code:2")]),
        ],
    )
    agg = scan_history(path, workers=1).aggregates["wf"].steps["a"]
    assert list(agg.durations) == [1.0, 3.0, 2.0, 5.0, 0.01, 4.0]
    assert list(agg.runs) == [0, 1, 2, 3, 5, 6]
    assert list(agg.flags) == [0, FAILED, 0, RETRIED, CACHED, FAILED | RETRIED]
    assert (agg.failures, agg.timeouts, agg.skipped, agg.cache_hits) == (2, 1, 1, 1)
    assert (agg.retries, agg.retried_passed, agg.retried_failed) == (3, 1, 1)
    assert agg.error_kinds == {"timeout": 1, "exit_code:2": 1}
    assert agg.healed_next == 1
    assert agg.cache_repeats() == (1, 0)  # i1 again with o1; i2 passed once
    assert agg.with_hashes == 3


def test_different_outputs_for_the_same_inputs_are_inconsistent(tmp_path: Path) -> None:
    path = write(
        tmp_path / "h.jsonl",
        [run(i, [step("a", 1.0, inputs="same", outputs=f"out{i % 2}")]) for i in range(4)],
    )
    agg = scan_history(path, workers=1).aggregates["wf"].steps["a"]
    assert agg.cache_repeats() == (0, 1)


def test_the_input_map_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import flowctl.optimize.aggregate as aggregate

    monkeypatch.setattr(aggregate, "KEY_CAP", 3)
    path = write(
        tmp_path / "h.jsonl",
        [run(i, [step("a", 1.0, inputs=f"i{i}", outputs="o")]) for i in range(5)],
    )
    agg = scan_history(path, workers=1).aggregates["wf"].steps["a"]
    assert len(agg.keys) == 3 and agg.untracked == 2


statuses = st.sampled_from(["completed", "completed", "failed", "skipped", "cancelled"])


@st.composite
def histories(draw: st.DrawFn) -> list[RunRecord]:
    records = []
    for i in range(draw(st.integers(1, 14))):
        steps = []
        for name in draw(st.lists(st.sampled_from(["a", "b", "c"]), unique=True, min_size=1)):
            status = draw(statuses)
            steps.append(
                step(
                    name,
                    float(draw(st.integers(0, 5))),
                    status=status,
                    attempts=draw(st.integers(0, 3)),
                    cached=draw(st.booleans()) if status == "completed" else False,
                    inputs=draw(st.sampled_from(["x", "y", None])),
                    outputs=draw(st.sampled_from(["p", "q"])) if status == "completed" else None,
                    queued=float(draw(st.integers(0, 2))),
                    error_kind="timeout" if status == "failed" else None,
                )
            )
        records.append(
            run(
                i,
                steps,
                workflow=draw(st.sampled_from(["wf", "other"])),
                status=draw(st.sampled_from(["completed", "failed"])),
                workflow_version=draw(st.sampled_from(["1", "2"])),
            )
        )
    return records


def _facts(step: StepAggregate) -> dict[str, object]:
    facts = {name: getattr(step, name) for name in StepAggregate.__slots__}
    for name in ("durations", "runs", "flags"):
        facts[name] = list(getattr(step, name))
    return facts


def _workflow_facts(agg: WorkflowAggregate) -> dict[str, object]:
    facts: dict[str, object] = {
        "durations": list(agg.durations),
        "statuses": list(agg.statuses),
        "offsets": list(agg.offsets),
        "lines": list(agg.lines),
        "queued": list(agg.queued),
        "specs": [agg.spec_versions[i] for i in agg.specs],
        "max_parallel": agg.max_parallel,
        "first": agg.first_started,
        "last": agg.last_started,
    }
    facts["steps"] = {name: _facts(s) for name, s in sorted(agg.steps.items())}
    return facts


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(records=histories(), data=st.data())
def test_ranges_merged_in_order_equal_one_pass(
    tmp_path_factory: pytest.TempPathFactory, records: list[RunRecord], data: st.DataObject
) -> None:
    path = write(tmp_path_factory.mktemp("merge") / "h.jsonl", records)
    with path.open("a") as f:
        f.write("garbage line\n")
    size = path.stat().st_size
    cuts = sorted(data.draw(st.lists(st.integers(0, size), max_size=3)))
    bounds = [0, *cuts, size]
    whole = scan_range(path, 0, None, None)
    merged = ScanResult()
    for start, end in itertools.pairwise(bounds):
        merged.merge(scan_range(path, start, end, None))
    assert merged.lines == whole.lines
    assert merged.issues == whole.issues
    assert sorted(merged.aggregates) == sorted(whole.aggregates)
    for name in whole.aggregates:
        assert _workflow_facts(merged.aggregates[name]) == _workflow_facts(whole.aggregates[name])


def test_worker_processes_give_the_single_pass_answer(tmp_path: Path) -> None:
    records = [
        run(i, [step("a", float(i % 7), inputs=f"i{i % 3}", outputs="o"), step("b", 1.0)])
        for i in range(300)
    ]
    path = write(tmp_path / "h.jsonl", records)
    alone = scan_history(path, workers=1)
    split = scan_history(path, workers=3)
    assert _workflow_facts(split.aggregates["wf"]) == _workflow_facts(alone.aggregates["wf"])


def test_a_filter_counts_the_other_workflows(tmp_path: Path) -> None:
    path = write(
        tmp_path / "h.jsonl",
        [run(0, [step("a", 1.0)], workflow="x"), run(1, [step("a", 1.0)], workflow="y")],
    )
    result = scan_history(path, workflow="x", workers=1)
    assert list(result.aggregates) == ["x"] and result.other_runs == {"y": 1}


def test_a_worker_that_fails_is_read_here_instead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [run(i, [step("a", float(i))]) for i in range(50)]
    path = write(tmp_path / "h.jsonl", records)
    monkeypatch.setattr(sys, "executable", "/bin/false")  # every worker exits 1 at once
    split = scan_history(path, workers=3)
    assert list(split.aggregates["wf"].durations) == [float(i) for i in range(50)]


def test_step_names_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import flowctl.optimize.aggregate as aggregate

    monkeypatch.setattr(aggregate, "MAX_STEPS", 2)
    path = write(tmp_path / "h.jsonl", [run(0, [step(f"s{i}", 1.0) for i in range(5)])])
    agg = scan_history(path, workers=1).aggregates["wf"]
    assert sorted(agg.steps) == ["s0", "s1"] and agg.dropped_steps == 3

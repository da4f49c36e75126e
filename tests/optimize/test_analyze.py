"""analyze_history: the metrics of hand-built histories, and what it does with bad ones."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from flowctl.errors import ExitCode, HistoryError, UsageError
from flowctl.optimize import analyze_history
from tests.optimize.kit import analyze, run, step, write


def four_runs(tmp_path: Path) -> Path:
    # a -> b; a takes 1, 2, 3, 4 s; b 2 s. Run 3 failed.
    records = [
        run(
            i,
            [step("a", float(i + 1)), step("b", 2.0)],
            edges=[("a", "b")],
            status="failed" if i == 3 else "completed",
        )
        for i in range(4)
    ]
    return write(tmp_path / "h.jsonl", records)


def test_run_metrics(tmp_path: Path) -> None:
    s = analyze(four_runs(tmp_path)).summary
    assert (s.runs, dict(s.status_counts)) == (4, {"completed": 3, "failed": 1})
    assert (s.success_rate, s.error_rate) == (0.75, 0.25)
    # Completed runs took 3, 4 and 5 s.
    assert (s.duration_of, s.duration.mean, s.duration.p50) == ("completed", 4.0, 4.0)
    assert s.duration.p95 == pytest.approx(4.9)
    # Replay: a's median 2.5 s, then b 2 s.
    assert s.median_makespan == 4.5
    assert s.max_parallel_steps == 10


def test_step_metrics_and_bottlenecks(tmp_path: Path) -> None:
    report = analyze(four_runs(tmp_path))
    a, b = report.steps
    assert (a.id, a.duration.count, a.duration.mean, a.duration.p50) == ("a", 4, 2.5, 2.5)
    assert a.duration.stdev == pytest.approx(statistics.stdev([1, 2, 3, 4]))
    assert a.duration.cv == pytest.approx(statistics.stdev([1, 2, 3, 4]) / 2.5)
    # Means 2.5 and 2: the threshold mean + stdev is 2.60, so nothing is slow; a's CV 0.52
    # is over 0.5: variable.
    assert a.bottleneck_reasons == ("variable",) and b.bottleneck_reasons == ()
    assert report.bottlenecks == ("a",)


def test_a_slow_step_stands_out(tmp_path: Path) -> None:
    durations = {"s1": 1.0, "s2": 1.0, "s3": 1.0, "s4": 10.0}
    records = [run(i, [step(n, d) for n, d in durations.items()]) for i in range(3)]
    report = analyze(write(tmp_path / "h.jsonl", records))
    assert report.bottlenecks == ("s4",)
    assert report.steps[3].bottleneck_reasons == ("slow",)


def test_critical_path_of_the_median_completed_run(tmp_path: Path) -> None:
    report = analyze(four_runs(tmp_path))
    path = report.critical_path
    assert path is not None
    # Completed runs last 3, 4, 5 s: the median is run 1 (a 2 s, b 2 s).
    assert (path.run_id, path.run_duration, path.length) == ("run-0001", 4.0, 4.0)
    assert [p.id for p in path.steps] == ["a", "b"]
    assert [s.on_critical_path for s in report.steps] == [True, True]


def test_critical_path_counts_queue_time(tmp_path: Path) -> None:
    records = [
        run(
            0,
            [step("a", 1.0), step("b", 1.0, queued=5.0), step("c", 3.0)],
            edges=[("a", "b")],
        )
    ]
    path = analyze(write(tmp_path / "h.jsonl", records)).critical_path
    assert path is not None and [p.id for p in path.steps] == ["a", "b"] and path.length == 7.0


def test_skipped_runs_count_as_zero_in_the_replay(tmp_path: Path) -> None:
    # "rare" runs in 1 of 3 runs: its median over runs is 0; the replay ignores it.
    records = [
        run(
            i,
            [
                step("main", 2.0),
                step("rare", 10.0 if i == 0 else 0.0, status="completed" if i == 0 else "skipped"),
            ],
        )
        for i in range(3)
    ]
    report = analyze(write(tmp_path / "h.jsonl", records))
    assert report.summary.median_makespan == 2.0
    rare = report.steps[1]
    assert (rare.duration.count, rare.skipped, rare.replay_duration) == (1, 2, 0.0)


def test_loop_iterations_are_one_step_and_the_loop_is_replayed_whole(tmp_path: Path) -> None:
    records = [
        run(
            i,
            [
                step("prep", 1.0),
                step("scan", 6.0, type="loop"),
                *[step(f"scan[{k}].ocr", 2.0, parent="scan") for k in range(3)],
            ],
            edges=[("prep", "scan")],
        )
        for i in range(2)
    ]
    report = analyze(write(tmp_path / "h.jsonl", records))
    names = [s.id for s in report.steps]
    assert names == ["prep", "scan", "scan[*].ocr"]
    assert report.steps[2].duration.count == 6 and report.steps[2].parent == "scan"
    assert report.summary.median_makespan == 7.0


def test_the_workflow_with_most_runs_is_picked_and_the_others_named(tmp_path: Path) -> None:
    records = [run(i, [step("a", 1.0)], workflow="small") for i in range(2)]
    records += [run(10 + i, [step("b", 1.0)], workflow="big") for i in range(3)]
    path = write(tmp_path / "h.jsonl", records)
    report = analyze(path)
    assert report.workflow == "big"
    assert dict(report.history.other_workflows) == {"small": 2}
    assert any("--workflow" in note for note in report.notes)
    assert analyze(path, workflow="small").summary.runs == 2


def test_an_unknown_workflow_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "h.jsonl", [run(0, [step("a", 1.0)], workflow="real")])
    with pytest.raises(HistoryError) as info:
        analyze(path, workflow="nope")
    assert str(info.value) == f"{path}: no runs of workflow 'nope'; it has runs of real"
    assert info.value.exit_code is ExitCode.USAGE


def test_nothing_usable_is_an_error_that_names_the_first_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text("garbage\n{}\n")
    with pytest.raises(HistoryError) as info:
        analyze(path)
    assert str(info.value) == (
        f"{path}: no usable run records (2 malformed lines; line 1: not valid JSON "
        "(Expecting value))"
    )
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(HistoryError, match=r"no usable run records$"):
        analyze(empty)
    with pytest.raises(HistoryError, match="no such file"):
        analyze(tmp_path / "missing.jsonl")


def test_bad_lines_are_skipped_and_listed(tmp_path: Path) -> None:
    path = four_runs(tmp_path)
    with path.open("a") as f:
        f.write('{"format": 1, "oops": true}\n{"format": 1, "run_id": "torn')
    report = analyze(path)
    assert report.summary.runs == 4
    assert report.history.skipped_lines == 1 and report.history.torn_last_line
    assert [(i.line, i.message, i.torn) for i in report.issues] == [
        (5, "missing field 'steps'", False),
        (6, "torn last line ignored (an interrupted write)", True),
    ]


def test_a_cycle_in_the_latest_run_falls_back_to_an_earlier_run(tmp_path: Path) -> None:
    records = [run(0, [step("a", 1.0), step("b", 2.0)], edges=[("a", "b")])]
    records.append(run(1, [step("a", 1.0), step("b", 2.0)], edges=[("a", "b"), ("b", "a")]))
    report = analyze(write(tmp_path / "h.jsonl", records))
    assert report.summary.median_makespan == 3.0
    assert any("form a cycle (a -> b -> a)" in note for note in report.notes)


def test_score_formula(tmp_path: Path) -> None:
    report = analyze(four_runs(tmp_path))
    score = report.summary.score
    done = [3.0, 4.0, 5.0]
    assert score.reliability == 0.75
    assert score.consistency == pytest.approx(1 / (1 + statistics.stdev(done) / 4.0))
    expected = 100 * (0.4 * 0.75 + 0.4 * score.efficiency + 0.2 * score.consistency)
    assert score.value == round(expected)


def test_negative_top_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        analyze_history(four_runs(tmp_path), top=-1)


def test_report_json_is_plain_json(tmp_path: Path) -> None:
    report = analyze(four_runs(tmp_path))
    data = report.to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["summary"]["optimization_score"] == report.summary.score.value


def test_critical_path_counts_a_wait_before_a_retry_once(tmp_path: Path) -> None:
    # b waited 5 s for a slot, 4 s of it before its retry: inside its 6 s already.
    records = [
        run(
            0,
            [
                step("a", 1.0),
                step("b", 6.0, queued=5.0, requeued=4.0, retry_wait=4.5, attempts=2),
                step("c", 3.0),
            ],
            edges=[("a", "b")],
        )
    ]
    path = analyze(write(tmp_path / "h.jsonl", records)).critical_path
    assert path is not None and [p.id for p in path.steps] == ["a", "b"]
    assert path.length == 8.0
    assert [p.queued for p in path.steps] == [0.0, 1.0]

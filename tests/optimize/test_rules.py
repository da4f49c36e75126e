"""Each recommendation fires when the history calls for it, and stays silent otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowctl.optimize.report import ChangeAction, Level, RecommendationType
from flowctl.state.records import RunRecord
from tests.optimize.kit import analyze, by_id, chain, of_type, run, simple_runs, step, write

T = RecommendationType


# -- caching ------------------------------------------------------------------------------


def test_caching_fires_when_inputs_repeat_with_the_same_outputs(tmp_path: Path) -> None:
    # a (2 s) -> b (4 s); b sees 2 distinct inputs over 10 runs: 8 repeats, hit rate 0.8.
    records = [
        run(
            i,
            [step("a", 2.0), step("b", 4.0, inputs=f"doc{i % 2}", outputs=f"text{i % 2}")],
            edges=[("a", "b")],
        )
        for i in range(10)
    ]
    report = analyze(write(tmp_path / "h.jsonl", records))
    (rec,) = of_type(report, T.CACHING)
    assert rec.id == "caching:b"
    # Replay: a 2 s + b 4 s * (1 - 0.8) = 2.8 s instead of 6 s.
    assert rec.expected_improvement == pytest.approx(100 * (6 - 2.8) / 6)
    (change,) = rec.specific_changes
    assert change.action is ChangeAction.SET and change.key == "cache"
    assert change.yaml == "- id: b\n  cache: {key: '{{ params | tojson }}'}"
    assert rec.evidence["repeats"] == 8 and rec.evidence["hit_rate"] == 0.8


def test_caching_is_silent_when_the_same_inputs_give_other_outputs(tmp_path: Path) -> None:
    records = [
        run(i, [step("b", 4.0, inputs=f"doc{i % 2}", outputs=f"text{i}")]) for i in range(10)
    ]
    assert not of_type(analyze(write(tmp_path / "h.jsonl", records)), T.CACHING)


def test_caching_is_silent_for_unique_inputs_and_for_cached_steps(tmp_path: Path) -> None:
    unique = [run(i, [step("b", 4.0, inputs=f"doc{i}", outputs="same")]) for i in range(10)]
    assert not of_type(analyze(write(tmp_path / "u.jsonl", unique)), T.CACHING)
    cached = [
        run(i, [step("b", 4.0, inputs="doc", outputs="text", cached=i > 0)]) for i in range(10)
    ]
    assert not of_type(analyze(write(tmp_path / "c.jsonl", cached)), T.CACHING)


# -- retry --------------------------------------------------------------------------------


def test_retry_fires_for_failures_that_pass_on_the_next_run(tmp_path: Path) -> None:
    records = []
    for i in range(12):
        failed = i in (2, 6, 9)
        status = "failed" if failed else "completed"
        fetch = step("fetch", 1.0, status=status, inputs=f"day{i // 2}", error_kind="error")
        records.append(
            run(i, [step("prepare", 5.0), fetch], edges=[("prepare", "fetch")], status=status)
        )
    # Runs 2 and 3 share inputs day1, runs 6 and 7 day3: two failures passed on the next run
    # with the same inputs. Run 9 (day4) has no later run with day4.
    report = analyze(write(tmp_path / "h.jsonl", records))
    rec = by_id(report)["retry:fetch"]
    assert rec.evidence["passed_on_next_run"] == 2
    assert rec.specific_changes[0].yaml == (
        "- id: fetch\n  retry_policy: {max_attempts: 3, backoff_strategy: exponential, delay: 1s}"
    )
    # share = 2/12. Today a transient failure re-runs all 6 s: 6 * (1 + share) per success.
    # With retries: prepare 5 s + fetch 1 s * (1 + share) + share * 1 s of backoff.
    share = 2 / 12
    before, after = 6 * (1 + share), 5 + (1 + share) + share
    assert rec.expected_improvement == pytest.approx(100 * (before - after) / before)


def test_retry_is_silent_when_failures_do_not_heal(tmp_path: Path) -> None:
    # The same inputs fail every time: a retry would fail too.
    records = [
        run(i, [step("fetch", 1.0, status="failed", inputs="bad")], status="failed")
        for i in range(6)
    ]
    assert not of_type(analyze(write(tmp_path / "h.jsonl", records)), T.RETRY)


def test_retries_that_never_help_are_called_out(tmp_path: Path) -> None:
    # 3 attempts every time, always failing: 6 s spent where one attempt fails in 2 s.
    records = [
        run(
            i,
            [
                step("a", 1.0),
                step(
                    "flaky_api",
                    6.0,
                    status="failed",
                    attempts=3,
                    max_attempts=3,
                    error_kind="exit_code:2",
                ),
            ],
            edges=[("a", "flaky_api")],
            status="failed",
        )
        for i in range(4)
    ]
    report = analyze(write(tmp_path / "h.jsonl", records))
    rec = by_id(report)["retry:flaky_api"]
    (change,) = rec.specific_changes
    assert (change.key, change.value, change.current) == ("retry_policy.max_attempts", 1, 3)
    assert change.yaml == "- id: flaky_api\n  retry_policy: {max_attempts: 1}"
    # Every run fails this way: 1 + 6 = 7 s -> 1 + 2 = 3 s.
    assert rec.expected_improvement == pytest.approx(100 * 4 / 7)


def test_retries_that_sometimes_help_are_left_alone(tmp_path: Path) -> None:
    records = [
        run(
            i,
            [
                step(
                    "api",
                    6.0,
                    status="completed" if i % 2 else "failed",
                    attempts=3,
                    max_attempts=3,
                )
            ],
        )
        for i in range(6)
    ]
    report = analyze(write(tmp_path / "h.jsonl", records))
    assert not of_type(report, T.RETRY)
    assert "flaky:api" in by_id(report)  # it passes only on retry: flaky


# -- flaky --------------------------------------------------------------------------------


def test_flaky_scores_passes_on_retry(tmp_path: Path) -> None:
    # 10 executions: 3 passed on the second attempt (3 s instead of 1 s).
    records = [
        run(i, [step("s", 3.0 if i < 3 else 1.0, attempts=2 if i < 3 else 1, max_attempts=2)])
        for i in range(10)
    ]
    report = analyze(write(tmp_path / "h.jsonl", records))
    rec = by_id(report)["flaky:s"]
    assert rec.evidence["score"] == pytest.approx(0.3)
    (stats,) = report.steps
    assert stats.flakiness == pytest.approx(0.3)
    # Today the step takes 1 + 0.3 * (3 - 1) = 1.6 s in expectation; fixed, 1 s.
    assert rec.expected_improvement == pytest.approx(100 * 0.6 / 1.6)
    assert rec.specific_changes[0].action is ChangeAction.INVESTIGATE


def test_a_steady_step_is_not_flaky(tmp_path: Path) -> None:
    records = simple_runs({"s": [1.0] * 10})
    assert not of_type(analyze(write(tmp_path / "h.jsonl", records)), T.FLAKY)


# -- timeout ------------------------------------------------------------------------------


def test_a_timeout_far_above_p99_is_flagged_with_no_gain_claimed(tmp_path: Path) -> None:
    records = [run(i, [step("s", 1.0 + i / 100, timeout=900.0)]) for i in range(25)]
    report = analyze(write(tmp_path / "h.jsonl", records))
    rec = by_id(report)["timeout:s"]
    assert rec.expected_improvement == 0.0
    (change,) = rec.specific_changes
    assert (change.key, change.value, change.current) == ("timeout", "10s", 900.0)


def test_a_timeout_close_to_p99_is_fine(tmp_path: Path) -> None:
    records = [run(i, [step("s", 1.0, timeout=5.0)]) for i in range(25)]
    assert not of_type(analyze(write(tmp_path / "h.jsonl", records)), T.TIMEOUT)


def test_a_default_timeout_is_left_alone_until_hit(tmp_path: Path) -> None:
    records = [run(i, [step("s", 1.0, timeout=300.0)]) for i in range(25)]
    assert not of_type(analyze(write(tmp_path / "h.jsonl", records)), T.TIMEOUT)


def test_a_timeout_that_cuts_into_normal_durations_should_be_raised(tmp_path: Path) -> None:
    records = [
        run(
            i,
            [
                step(
                    "s",
                    10.0 if i % 5 == 0 else 8.0,
                    status="failed" if i % 5 == 0 else "completed",
                    error_kind="timeout" if i % 5 == 0 else None,
                    timeout=10.0,
                )
            ],
        )
        for i in range(20)
    ]
    report = analyze(write(tmp_path / "h.jsonl", records))
    rec = by_id(report)["timeout:s"]
    assert rec.specific_changes[0].value == "16s"  # twice the longest passing run
    assert "Raise it" in rec.description
    assert rec.expected_improvement > 0


def test_a_hanging_step_gets_a_shorter_timeout_and_a_retry(tmp_path: Path) -> None:
    records = [
        run(
            i,
            [
                step(
                    "s",
                    600.0 if i == 3 else 1.0,
                    status="failed" if i == 3 else "completed",
                    error_kind="timeout" if i == 3 else None,
                    timeout=600.0,
                )
            ],
        )
        for i in range(20)
    ]
    report = analyze(write(tmp_path / "h.jsonl", records))
    rec = by_id(report)["timeout:s"]
    assert [c.key for c in rec.specific_changes] == ["timeout", "retry_policy"]
    assert rec.specific_changes[0].value == "10s"
    assert rec.specific_changes[1].value == {"max_attempts": 2, "retry_on": ["timeout"]}
    # p = 1/20: before = 0.95 * 1 + 0.05 * (600 + 1); after = 0.95 * 1 + 0.05 * (10 + 1).
    before, after = 0.95 + 0.05 * 601, 0.95 + 0.05 * 11
    assert rec.expected_improvement == pytest.approx(100 * (before - after) / before)


# -- concurrency --------------------------------------------------------------------------


def test_queued_runs_get_a_higher_limit_worth_what_the_replay_says(tmp_path: Path) -> None:
    # Three independent 1 s steps under max_parallel_steps=1: 3 s; with 3 slots: 1 s.
    records = [
        run(
            i,
            [step("a", 1.0), step("b", 1.0, queued=1.0), step("c", 1.0, queued=2.0)],
            max_parallel_steps=1,
        )
        for i in range(5)
    ]
    report = analyze(write(tmp_path / "h.jsonl", records))
    rec = by_id(report)["concurrency:max_parallel_steps"]
    assert rec.expected_improvement == pytest.approx(100 * 2 / 3)
    (change,) = rec.specific_changes
    assert (change.step, change.key, change.value, change.current) == (
        None,
        "max_parallel_steps",
        3,
        1,
    )
    assert change.yaml == "max_parallel_steps: 3"


def _queued_runs(**fields: object) -> list[RunRecord]:
    # Four independent 1 s steps under max_parallel_steps=1: 4 s; with 4 slots: 1 s.
    steps = [step(name, 1.0, queued=float(i)) for i, name in enumerate("abcd")]
    return [run(i, steps, max_parallel_steps=1, **fields) for i in range(5)]


def test_on_a_dask_cluster_the_advice_stops_at_its_capacity(tmp_path: Path) -> None:
    report = analyze(write(tmp_path / "h.jsonl", _queued_runs(executor_capacity=2)))
    rec = by_id(report)["concurrency:max_parallel_steps"]
    (change,) = rec.specific_changes
    assert change.value == 2  # the DAG's width is 4, the cluster runs 2 at once
    assert rec.expected_improvement == pytest.approx(100 * 2 / 4)
    assert rec.evidence["executor_capacity"] == 2
    assert rec.description.endswith(
        "The Dask cluster runs 2 steps at once; add workers to go further."
    )
    assert (
        "executor_capacity"
        not in by_id(analyze(write(tmp_path / "l.jsonl", _queued_runs())))[
            "concurrency:max_parallel_steps"
        ].evidence
    )


def test_no_concurrency_advice_when_the_cluster_is_already_full(tmp_path: Path) -> None:
    report = analyze(write(tmp_path / "h.jsonl", _queued_runs(executor_capacity=1)))
    assert not of_type(report, T.CONCURRENCY)


def test_no_queueing_no_concurrency_advice(tmp_path: Path) -> None:
    records = [run(i, [step("a", 1.0), step("b", 1.0)], max_parallel_steps=1) for i in range(5)]
    assert not of_type(analyze(write(tmp_path / "h.jsonl", records)), T.CONCURRENCY)


# -- sla ----------------------------------------------------------------------------------


def test_sla_over_target_combines_the_speedups(tmp_path: Path) -> None:
    records = [
        run(
            i,
            [step("a", 2.0), step("b", 4.0, inputs=f"d{i % 2}", outputs=f"t{i % 2}")],
            edges=[("a", "b")],
            sla_targets={"max_execution_time": 5.0, "min_success_rate": 0.5},
        )
        for i in range(10)
    ]
    report = analyze(write(tmp_path / "h.jsonl", records))
    rec = by_id(report)["sla:max_execution_time"]
    caching = by_id(report)["caching:b"]
    assert rec.expected_improvement == pytest.approx(caching.expected_improvement)
    assert "caching:b" in rec.description and "within the target" in rec.description
    assert [c.action for c in rec.specific_changes] == [ChangeAction.INVESTIGATE, ChangeAction.SET]
    # the whole mapping, so that pasting it keeps min_success_rate
    assert rec.specific_changes[1].yaml == (
        "sla_targets: {max_execution_time: 6s, min_success_rate: 0.5}"
    )
    assert "sla:min_success_rate" not in by_id(report)


def test_sla_success_rate_under_target(tmp_path: Path) -> None:
    records = [
        run(
            i,
            [step("a", 1.0, status="failed" if i < 4 else "completed")],
            status="failed" if i < 4 else "completed",
            sla_targets={"min_success_rate": 0.9},
        )
        for i in range(10)
    ]
    rec = by_id(analyze(write(tmp_path / "h.jsonl", records)))["sla:min_success_rate"]
    assert rec.steps == ("a",)
    assert "60%" in rec.description


def test_sla_met_is_silent(tmp_path: Path) -> None:
    records = simple_runs({"a": [1.0] * 5}, sla_targets={"max_execution_time": 5.0})
    assert not of_type(analyze(write(tmp_path / "h.jsonl", records)), T.SLA)


# -- regression ---------------------------------------------------------------------------


def test_a_step_that_got_slower_names_the_run_where_it_began(tmp_path: Path) -> None:
    durations = [1.0 + (i % 3) / 100 for i in range(40)] + [2.0 + (i % 3) / 100 for i in range(12)]
    records = [
        run(
            i,
            [step("warmup", 0.5), step("ocr", d)],
            edges=[("warmup", "ocr")],
            workflow_version="1.0" if i < 40 else "1.1",
        )
        for i, d in enumerate(durations)
    ]
    report = analyze(write(tmp_path / "h.jsonl", records))
    rec = by_id(report)["regression:ocr"]
    assert rec.evidence["since_run"] == "run-0040"
    assert rec.evidence["spec_changed"] is True
    assert "version 1.0 -> 1.1" in rec.description
    assert rec.evidence["p50_before"] == pytest.approx(1.01)
    assert rec.evidence["p50_after"] == pytest.approx(2.01)
    # Replay: warmup 0.5 + ocr 2.01 now, 0.5 + 1.01 reverted.
    assert rec.expected_improvement == pytest.approx(100 * 1.0 / 2.51)
    assert not of_type(report, T.CACHING)


def test_noise_is_not_a_regression(tmp_path: Path) -> None:
    durations = [1.0 + ((i * 7) % 10) / 10 for i in range(60)]  # 1.0 .. 1.9, no trend
    records = simple_runs({"ocr": durations})
    assert not of_type(analyze(write(tmp_path / "h.jsonl", records)), T.REGRESSION)


# -- ranking ------------------------------------------------------------------------------


def test_recommendations_are_sorted_and_cut_to_top(tmp_path: Path) -> None:
    records = [
        run(
            i,
            [
                step("a", 2.0, inputs=f"x{i % 2}", outputs=f"y{i % 2}"),
                step("b", 8.0, inputs=f"d{i % 2}", outputs=f"t{i % 2}"),
                step("c", 1.0, timeout=900.0),
            ],
            edges=chain("a", "b", "c"),
        )
        for i in range(25)
    ]
    path = write(tmp_path / "h.jsonl", records)
    full = analyze(path)
    gains = [r.expected_improvement for r in full.recommendations]
    assert gains == sorted(gains, reverse=True)
    assert [r.id for r in full.recommendations][:2] == ["caching:b", "caching:a"]
    top = analyze(path, top=1)
    assert [r.id for r in top.recommendations] == ["caching:b"]
    assert top.recommendations_total == full.recommendations_total
    effort = {r.id: r.implementation_effort for r in full.recommendations}
    assert effort["caching:b"] is Level.LOW


def test_the_wait_between_retries_is_no_attempt(tmp_path: Path) -> None:
    # 3 attempts of 1 s each, and 3 s waited between them (backoff, a slot again): 6 s.
    # One attempt fails in 1 s, not in 6 / 3 = 2 s; the waits hold no slot.
    records = [
        run(
            i,
            [
                step("a", 1.0),
                step(
                    "flaky_api",
                    6.0,
                    status="failed",
                    attempts=3,
                    max_attempts=3,
                    error_kind="exit_code:2",
                    retry_wait=3.0,
                    requeued=0.5,
                    queued=0.5,
                ),
            ],
            edges=[("a", "flaky_api")],
            status="failed",
        )
        for i in range(4)
    ]
    report = analyze(write(tmp_path / "h.jsonl", records))
    rec = by_id(report)["retry:flaky_api"]
    assert "one attempt fails in 1.0s" in rec.description
    # 1 + 6 = 7 s -> 1 + 1 = 2 s.
    assert rec.expected_improvement == pytest.approx(100 * 5 / 7)

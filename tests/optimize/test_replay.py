"""The discrete-event replay against makespans worked out by hand."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowctl.optimize.replay import (
    ReplayError,
    critical_path,
    find_cycle,
    replay_makespan,
    replay_schedule,
)

DIAMOND = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 1.0}
DIAMOND_EDGES = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]


def test_a_chain_takes_the_sum() -> None:
    assert replay_makespan({"a": 1.0, "b": 2.0, "c": 4.0}, [("a", "b"), ("b", "c")], None) == 7.0


def test_independent_steps_take_the_longest_without_a_limit() -> None:
    assert replay_makespan({"a": 1.0, "b": 2.0, "c": 4.0}, [], None) == 4.0


def test_a_diamond_takes_its_longest_branch() -> None:
    # a(0-1), b(1-3) and c(1-4) together, d(4-5).
    assert replay_makespan(DIAMOND, DIAMOND_EDGES, None) == 5.0
    # One slot: everything in a row.
    assert replay_makespan(DIAMOND, DIAMOND_EDGES, 1) == 7.0


def test_a_limit_of_two_queues_the_third_ready_step() -> None:
    # a, b start at 0; c waits for a slot: a ends at 1, so c runs 1-4; b ends at 3.
    schedule = replay_schedule({"a": 1.0, "b": 3.0, "c": 3.0}, [], 2)
    assert schedule.start == {"a": 0.0, "b": 0.0, "c": 1.0}
    assert schedule.makespan == 4.0
    assert schedule.peak_running == 2


def test_ready_steps_wait_in_the_order_they_became_ready() -> None:
    # x (0-1) then y ready at 1; z ready at 0 but the single slot is busy until 1; z was
    # ready first, so z runs 1-3, y runs 3-4.
    durations = {"x": 1.0, "z": 2.0, "y": 1.0}
    schedule = replay_schedule(durations, [("x", "y")], 1)
    assert schedule.start == {"x": 0.0, "z": 1.0, "y": 3.0}
    assert schedule.makespan == 4.0


def test_no_waves_a_step_starts_when_its_own_dependencies_finish() -> None:
    # Waves would start c only after the slow b; event-driven starts it at 1.
    durations = {"a": 1.0, "b": 10.0, "c": 2.0, "d": 1.0}
    schedule = replay_schedule(durations, [("a", "c"), ("c", "d")], None)
    assert schedule.start["c"] == 1.0 and schedule.start["d"] == 3.0
    assert schedule.makespan == 10.0


def test_zero_durations_and_an_empty_graph() -> None:
    assert replay_makespan({"a": 0.0, "b": 0.0}, [("a", "b")], 1) == 0.0
    assert replay_makespan({}, [], None) == 0.0


def test_a_cycle_is_named() -> None:
    with pytest.raises(ReplayError, match=r"cycle: a -> b -> c -> a"):
        replay_makespan({"a": 1.0, "b": 1.0, "c": 1.0}, [("a", "b"), ("b", "c"), ("c", "a")], None)
    assert find_cycle(["a", "b"], [("a", "b")]) is None


def test_unknown_steps_and_bad_limits_are_refused() -> None:
    with pytest.raises(ReplayError, match="unknown step 'zz'"):
        replay_makespan({"a": 1.0}, [("a", "zz")], None)
    with pytest.raises(ReplayError, match="at least 1"):
        replay_makespan({"a": 1.0}, [], 0)
    with pytest.raises(ReplayError, match="invalid duration"):
        replay_makespan({"a": -1.0}, [], None)


def test_the_critical_path_of_a_diamond() -> None:
    path = critical_path(DIAMOND, DIAMOND_EDGES)
    assert path.steps == ("a", "c", "d") and path.length == 5.0
    # On a tie the upstream listed first binds.
    tie = critical_path({"a": 1.0, "b": 1.0, "c": 1.0}, [("a", "c"), ("b", "c")])
    assert tie.steps == ("a", "c")
    assert critical_path({}, []).steps == ()


@st.composite
def dags(draw: st.DrawFn) -> tuple[dict[str, float], list[tuple[str, str]]]:
    n = draw(st.integers(1, 8))
    names = [f"s{i}" for i in range(n)]
    durations = {name: float(draw(st.integers(0, 9))) for name in names}
    edges = [(names[i], names[j]) for i in range(n) for j in range(i + 1, n) if draw(st.booleans())]
    return durations, edges


@pytest.mark.slow
@settings(max_examples=80, deadline=None)
@given(dags(), st.integers(1, 4))
def test_makespan_bounds(dag: tuple[dict[str, float], list[tuple[str, str]]], limit: int) -> None:
    durations, edges = dag
    longest = critical_path(durations, edges).length
    unlimited = replay_makespan(durations, edges, None)
    limited = replay_makespan(durations, edges, limit)
    assert unlimited == longest
    assert longest <= limited <= sum(durations.values())
    assert replay_makespan(durations, edges, 1) == sum(durations.values())
    # Graham's bound for list scheduling.
    assert limited <= sum(durations.values()) / limit + longest

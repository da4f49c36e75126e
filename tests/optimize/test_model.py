"""The replay model: containers' children take the run's slots as in the runner, by hand."""

from __future__ import annotations

import pytest

from flowctl.optimize.model import Change, DagModel, Level


def model() -> DagModel:
    # x (1 s) then loop L: 3 iterations, one at a time, of c1 (1 s) -> c2 (2 s).
    # y (4 s) runs beside them. No slot limit.
    levels = {
        None: Level(None, ("x", "L", "y"), frozenset({("x", "L")}), None),
        "L": Level(
            "L",
            ("L[*].c1", "L[*].c2"),
            frozenset({("L[*].c1", "L[*].c2")}),
            None,
            kind="loop",
            iterations=3,
            concurrency=1,
        ),
    }
    durations = {"x": 1.0, "L": 10.0, "y": 4.0, "L[*].c1": 1.0, "L[*].c2": 2.0}
    return DagModel(levels, durations)


def test_a_loop_runs_its_iterations_on_its_workers() -> None:
    # x 1 s, then three iterations of 3 s: 10 s (the loop's measured 10 s is not used).
    assert model().baseline == 10.0


def test_a_child_change_moves_its_container_by_iterations() -> None:
    m = model()
    # c2 2 s -> 1 s: each iteration 3 s -> 2 s: 1 + 6 = 7 s.
    change = Change(durations={"L[*].c2": 1.0})
    assert m.makespan(change) == 7.0
    assert m.improvement(change) == pytest.approx(30.0)


def test_dropping_an_edge_inside_a_container() -> None:
    m = model()
    # c1 and c2 side by side: each iteration 2 s: 7 s.
    assert m.makespan(Change(removed_edges=frozenset({("L[*].c1", "L[*].c2")}))) == 7.0


def test_a_container_given_a_duration_is_one_delay() -> None:
    assert model().makespan(Change(durations={"L": 2.0})) == 4.0  # y (4 s) is then longest


def test_top_level_changes_and_limits() -> None:
    m = model()
    assert m.makespan(Change(removed_edges=frozenset({("x", "L")}))) == 9.0
    limited = DagModel({None: Level(None, ("a", "b"), frozenset(), 1)}, {"a": 2.0, "b": 3.0})
    assert limited.baseline == 5.0
    assert limited.makespan(Change(max_parallel=2, sets_max_parallel=True)) == 3.0
    assert limited.improvement(Change(durations={"a": 9.0})) == 0.0  # slower: nothing saved


def parallel_model(limit: int, concurrency: int | None = None) -> DagModel:
    # Top: P (a parallel of four 1 s children) beside a 2 s step z, under `limit` slots.
    levels = {
        None: Level(None, ("P", "z"), frozenset(), limit),
        "P": Level(
            "P",
            ("p1", "p2", "p3", "p4"),
            frozenset(),
            None,
            kind="parallel",
            concurrency=concurrency,
        ),
    }
    durations = {"P": 0.0, "z": 2.0, "p1": 1.0, "p2": 1.0, "p3": 1.0, "p4": 1.0}
    return DagModel(levels, durations)


def test_container_children_take_the_runs_slots() -> None:
    # Limit 2. As in the runner, z asks for a slot before P's children do (P's children
    # are scheduled after the top level's steps): 0-2 z, 0-1 p1, 1-2 p2, 2-3 p3 and p4:
    # 3 s. A container counted as one slot would have said 2 s.
    m = parallel_model(2)
    assert m.baseline == 3.0
    assert m.base.peak_running == 2
    assert m.replay(Change(), unlimited=True).peak_running == 5
    # Limit 5: everything at once: 2 s.
    assert m.makespan(Change(max_parallel=5, sets_max_parallel=True)) == 2.0


def test_a_parallel_max_concurrency_bounds_its_children() -> None:
    # Unlimited run, but P runs two children at a time: 2 s, beside z (2 s).
    assert parallel_model(10, concurrency=2).baseline == 2.0
    assert parallel_model(10, concurrency=1).baseline == 4.0


def test_a_retry_wait_holds_no_slot() -> None:
    # a: 1 s of work then 5 s between attempts; b 1 s; one slot. b runs while a waits.
    levels = {None: Level(None, ("a", "b"), frozenset(), 1)}
    m = DagModel(levels, {"a": 1.0, "b": 1.0}, {"a": 5.0})
    assert m.baseline == 6.0
    assert m.with_durations({"a": 1.0}, {"a": 0.0}) == 2.0


def test_changes_combine() -> None:
    one = Change(durations={"a": 1.0}, max_parallel=4, sets_max_parallel=True)
    two = Change(durations={"a": 2.0, "b": 0.5}, removed_edges=frozenset({("a", "b")}))
    both = one.combine(two)
    assert dict(both.durations) == {"a": 1.0, "b": 0.5}
    assert both.removed_edges == {("a", "b")}
    assert (both.max_parallel, both.sets_max_parallel) == (4, True)
    unlimited = both.combine(Change(max_parallel=None, sets_max_parallel=True))
    assert unlimited.max_parallel is None


def test_a_long_loop_is_folded_without_changing_its_work() -> None:
    # 1,000 iterations of x -> y -> z (0.4 s) on 8 workers: 125 rounds, 50 s, between two
    # 1 s steps. The replay runs 256 iterations of 1000/256 times the durations.
    levels = {
        None: Level(None, ("a", "L", "b"), frozenset({("a", "L"), ("L", "b")}), 10),
        "L": Level(
            "L",
            ("x", "y", "z"),
            frozenset({("x", "y"), ("y", "z")}),
            None,
            kind="loop",
            iterations=1000,
            concurrency=8,
        ),
    }
    durations = {"a": 1.0, "L": 0.0, "b": 1.0, "x": 0.1, "y": 0.2, "z": 0.1}
    m = DagModel(levels, durations)
    assert m.baseline == pytest.approx(52.0)
    assert m.makespan(Change(durations={"y": 0.0})) == pytest.approx(27.0)

"""The replay model: changes inside containers move the container, worked out by hand."""

from __future__ import annotations

import pytest

from flowctl.optimize.model import Change, DagModel, Level, loop_rounds


def model() -> DagModel:
    # x (1 s) then loop L, measured at 10 s: 3 sequential rounds of c1 (1 s) -> c2 (2 s),
    # plus 1 s of overhead. y (4 s) runs beside them.
    levels = {
        None: Level(None, ("x", "L", "y"), frozenset({("x", "L")}), None),
        "L": Level("L", ("L[*].c1", "L[*].c2"), frozenset({("L[*].c1", "L[*].c2")}), None, 3.0),
    }
    durations = {"x": 1.0, "L": 10.0, "y": 4.0, "L[*].c1": 1.0, "L[*].c2": 2.0}
    return DagModel(levels, durations)


def test_the_baseline_is_the_top_level_replay() -> None:
    assert model().baseline == 11.0


def test_a_child_change_moves_its_container_by_rounds() -> None:
    m = model()
    # c2 2 s -> 1 s: each round 3 s -> 2 s, three rounds: L 10 s -> 7 s; makespan 8 s.
    change = Change(durations={"L[*].c2": 1.0})
    assert m.makespan(change) == 8.0
    assert m.improvement(change) == pytest.approx(100 * 3 / 11)


def test_dropping_an_edge_inside_a_container() -> None:
    m = model()
    # c1 and c2 side by side: each round 2 s instead of 3 s; L 7 s.
    assert m.makespan(Change(removed_edges=frozenset({("L[*].c1", "L[*].c2")}))) == 8.0


def test_top_level_changes_and_limits() -> None:
    m = model()
    assert m.makespan(Change(removed_edges=frozenset({("x", "L")}))) == 10.0
    limited = DagModel({None: Level(None, ("a", "b"), frozenset(), 1)}, {"a": 2.0, "b": 3.0})
    assert limited.baseline == 5.0
    assert limited.makespan(Change(max_parallel=2, sets_max_parallel=True)) == 3.0
    assert limited.improvement(Change(durations={"a": 9.0})) == 0.0  # slower: nothing saved


def test_changes_combine() -> None:
    one = Change(durations={"a": 1.0}, max_parallel=4, sets_max_parallel=True)
    two = Change(durations={"a": 2.0, "b": 0.5}, removed_edges=frozenset({("a", "b")}))
    both = one.combine(two)
    assert dict(both.durations) == {"a": 1.0, "b": 0.5}
    assert both.removed_edges == {("a", "b")}
    assert (both.max_parallel, both.sets_max_parallel) == (4, True)
    unlimited = both.combine(Change(max_parallel=None, sets_max_parallel=True))
    assert unlimited.max_parallel is None


def test_loop_rounds() -> None:
    assert loop_rounds(10, 1) == 10.0
    assert loop_rounds(10, 3) == 4.0
    assert loop_rounds(0, 2) == 0.0

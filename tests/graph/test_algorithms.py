"""scope_graph, topological_levels, critical_path and cycle finding, on graphs solved by hand."""

from __future__ import annotations

import itertools

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowctl.errors import SpecError
from flowctl.graph import (
    EdgeKind,
    check_workflow,
    critical_path,
    find_cycles,
    scope_graph,
    topological_levels,
)
from tests.graph.kit import action, condition, random_dag_workflow, workflow

# A diamond with a tail:   a -> b -> d -> e
#                          a -> c -> d
DIAMOND = (
    action("a"),
    action("b", "a"),
    action("c", "a"),
    action("d", "b", "c"),
    action("e", "d"),
)


def test_scope_graph_edges_run_from_dependency_to_dependent() -> None:
    graph = scope_graph(DIAMOND)
    assert sorted(graph.edges) == [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e")]
    assert graph.edges["a", "b"]["kind"] is EdgeKind.DEPENDENCY
    assert graph.nodes["d"]["step"] is DIAMOND[3]


def test_scope_graph_error_handlers_point_from_step_to_handler() -> None:
    steps = (action("a", error_handlers=("fix",)), action("fix"), action("b", "a"))
    assert ("a", "fix") in scope_graph(steps).edges
    assert ("a", "fix") not in scope_graph(steps, include_handlers=False).edges
    assert scope_graph(steps).edges["a", "fix"]["kind"] is EdgeKind.ERROR_HANDLER


def test_scope_graph_leaves_out_references_outside_the_scope() -> None:
    graph = scope_graph((action("a", "elsewhere"), action("b", "a")))
    assert list(graph.edges) == [("a", "b")]


def test_topological_levels_of_the_diamond() -> None:
    assert topological_levels(DIAMOND) == [["a"], ["b", "c"], ["d"], ["e"]]


def test_topological_levels_put_a_step_after_its_longest_chain() -> None:
    # x waits for a (level 0) and d (level 2): it belongs to level 3, not 1.
    steps = (*DIAMOND, action("x", "a", "d"), action("lone"))
    assert topological_levels(steps) == [["a", "lone"], ["b", "c"], ["d"], ["e", "x"]]


def test_topological_levels_keep_file_order_within_a_level() -> None:
    steps = (action("z"), action("m"), action("a"), action("k", "z", "a"))
    assert topological_levels(steps) == [["z", "m", "a"], ["k"]]


def test_topological_levels_refuse_a_cycle_naming_it() -> None:
    with pytest.raises(SpecError, match=r"cycle: a -> b -> a"):
        topological_levels((action("a", "b"), action("b", "a")))


def test_critical_path_of_the_diamond_takes_the_slow_branch() -> None:
    durations = {"a": 1.0, "b": 2.0, "c": 5.0, "d": 1.0, "e": 0.5}
    assert critical_path(DIAMOND, durations) == (["a", "c", "d", "e"], 7.5)
    durations["b"] = 6.0
    assert critical_path(DIAMOND, durations) == (["a", "b", "d", "e"], 8.5)


def test_critical_path_counts_missing_durations_as_zero() -> None:
    # Without e: a(1) -> c(5) -> d(?) = 6, against the lone step's 7.
    steps = (*DIAMOND, action("lone"))
    assert critical_path(steps, {"a": 1, "c": 5, "lone": 7}) == (["lone"], 7.0)
    assert critical_path(steps, {"a": 1, "c": 5, "lone": 5.5}) == (["a", "c", "d", "e"], 6.0)


def test_critical_path_breaks_ties_by_file_order() -> None:
    assert critical_path(DIAMOND, {"b": 1, "c": 1}) == (["a", "b", "d", "e"], 1.0)


def test_critical_path_of_nothing() -> None:
    assert critical_path((), {}) == ([], 0.0)


def test_find_cycles_reports_one_path_per_strongly_connected_component() -> None:
    steps = (
        action("a", "c"),
        action("b", "a"),
        action("c", "b"),
        action("ok", "a"),
        action("self", "self"),
        action("x", "y"),
        action("y", "x"),
    )
    assert find_cycles(scope_graph(steps)) == [
        ["a", "b", "c", "a"],
        ["self", "self"],
        ["x", "y", "x"],
    ]


def test_condition_targets_are_edges_even_before_folding() -> None:
    route = condition("route", {"x > 1": ["big"]})
    graph = scope_graph((route, action("big")))
    assert graph.edges["route", "big"]["kind"] is EdgeKind.CASE


# -- property: the cycle check agrees with networkx on random graphs -----------------------

edges_strategy = st.integers(min_value=1, max_value=30).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
            max_size=3 * n,
            unique=True,
        ),
    )
)


@settings(max_examples=100, deadline=None)
@given(edges_strategy)
def test_no_cycle_error_exactly_when_networkx_says_acyclic(case: tuple[int, list]) -> None:
    n, edges = case
    deps: dict[int, list[str]] = {i: [] for i in range(n)}
    for i, j in edges:
        deps[j].append(f"n{i}")  # edge i -> j: j depends on i
    wf = workflow(*(action(f"n{i}", *deps[i]) for i in range(n)))
    reference = nx.DiGraph()
    reference.add_nodes_from(range(n))
    reference.add_edges_from(edges)

    found = [p for p in check_workflow(wf) if p.code == "cycle"]

    assert (not found) == nx.is_directed_acyclic_graph(reference)
    for problem in found:
        path = problem.message.removeprefix("cycle: ").split(" -> ")
        assert path[0] == path[-1]
        for u, v in itertools.pairwise(path):
            assert (int(u[1:]), int(v[1:])) in reference.edges


# -- scale -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_check_workflow_on_ten_thousand_steps_finds_nothing_wrong() -> None:
    # How long it takes is benchmarks/bench_validate.py's job (graph checks of a
    # 10,000-step spec); here, only that a large random DAG is checked, and clean.
    wf = random_dag_workflow(10_000, seed=7)
    assert sum(1 for _ in wf.walk()) == 10_000
    assert check_workflow(wf) == []

"""Discrete-event replay of step durations through a DAG, and its critical path.

The replay schedules like the runner does (SPEC.md section 4): a step starts the moment its
own dependencies have finished and a slot is free under the concurrency limit; ready steps
wait in the order they became ready, ties broken by their order in `durations`.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping

from msgspec import Struct


class ReplayError(ValueError):
    """The graph cannot be replayed: an edge names an unknown step, or there is a cycle."""


class Schedule(Struct, frozen=True):
    """When each step started and finished in a replay (seconds from the start)."""

    start: Mapping[str, float]
    finish: Mapping[str, float]
    makespan: float
    peak_running: int  # the most steps running at one instant


class CriticalPath(Struct, frozen=True):
    """The longest chain of dependent steps, weighted by their durations."""

    steps: tuple[str, ...]
    length: float


def replay_makespan(
    durations: Mapping[str, float],
    edges: Iterable[tuple[str, str]],
    max_parallel: int | None,
) -> float:
    """Makespan of the DAG when each step takes its duration; `None` means no limit."""
    return replay_schedule(durations, edges, max_parallel).makespan


def replay_schedule(
    durations: Mapping[str, float],
    edges: Iterable[tuple[str, str]],
    max_parallel: int | None,
) -> Schedule:
    """List-schedule the DAG event by event; raises ReplayError on a cycle or unknown step."""
    if max_parallel is not None and max_parallel < 1:
        raise ReplayError(f"max_parallel must be at least 1, not {max_parallel}")
    order, successors, indegree = _graph(durations, edges)
    slots = math.inf if max_parallel is None else max_parallel
    ready: list[tuple[float, int, str]] = [(0.0, order[n], n) for n in order if indegree[n] == 0]
    heapq.heapify(ready)
    running: list[tuple[float, int, str]] = []
    start: dict[str, float] = {}
    finish: dict[str, float] = {}
    now = 0.0
    peak = 0
    while ready or running:
        while ready and len(running) < slots:
            _, index, node = heapq.heappop(ready)
            start[node] = now
            heapq.heappush(running, (now + durations[node], index, node))
        peak = max(peak, len(running))
        now = running[0][0]
        while running and running[0][0] == now:
            _, _, node = heapq.heappop(running)
            finish[node] = now
            for nxt in successors[node]:
                indegree[nxt] -= 1
                if indegree[nxt] == 0:
                    heapq.heappush(ready, (now, order[nxt], nxt))
    if len(finish) < len(order):
        raise ReplayError(_cycle_message(order, successors, finish))
    return Schedule(
        start=start, finish=finish, makespan=max(finish.values(), default=0.0), peak_running=peak
    )


def critical_path(durations: Mapping[str, float], edges: Iterable[tuple[str, str]]) -> CriticalPath:
    """The longest path through the DAG (no concurrency limit): classic CPM."""
    order, successors, indegree = _graph(durations, edges)
    ready = [(order[n], n) for n in order if indegree[n] == 0]
    heapq.heapify(ready)
    best_finish: dict[str, float] = {}
    earliest: dict[str, float] = dict.fromkeys(order, 0.0)
    via: dict[str, str | None] = dict.fromkeys(order)
    while ready:
        _, node = heapq.heappop(ready)
        done = earliest[node] + durations[node]
        best_finish[node] = done
        for nxt in successors[node]:
            held = via[nxt]
            # The latest-finishing upstream binds; on a tie, the one first in order.
            if (
                held is None
                or done > earliest[nxt]
                or (done == earliest[nxt] and order[node] < order[held])
            ):
                earliest[nxt] = done
                via[nxt] = node
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                heapq.heappush(ready, (order[nxt], nxt))
    if len(best_finish) < len(order):
        raise ReplayError(_cycle_message(order, successors, best_finish))
    if not best_finish:
        return CriticalPath((), 0.0)
    end = max(best_finish, key=lambda n: (best_finish[n], -order[n]))
    path = [end]
    while (prev := via[path[-1]]) is not None:
        path.append(prev)
    return CriticalPath(tuple(reversed(path)), best_finish[end])


def find_cycle(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> tuple[str, ...] | None:
    """A cycle as a path that returns to its first step (a, b, a), or None."""
    successors: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        successors.setdefault(a, []).append(b)
        successors.setdefault(b, [])
    state: dict[str, int] = {}  # 1 = on the current path, 2 = fully explored
    for root in successors:
        if root in state:
            continue
        path: list[str] = [root]
        stack = [iter(successors[root])]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return (*path[path.index(nxt) :], nxt)
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(successors[nxt]))
    return None


def _graph(
    durations: Mapping[str, float], edges: Iterable[tuple[str, str]]
) -> tuple[dict[str, int], dict[str, list[str]], dict[str, int]]:
    order = {node: i for i, node in enumerate(durations)}
    successors: dict[str, list[str]] = {n: [] for n in order}
    indegree = dict.fromkeys(order, 0)
    for a, b in dict.fromkeys(edges):
        if a not in order or b not in order:
            unknown = a if a not in order else b
            raise ReplayError(f"edge {a} -> {b} names an unknown step {unknown!r}")
        successors[a].append(b)
        indegree[b] += 1
    for node, duration in durations.items():
        if not (duration >= 0 and math.isfinite(duration)):
            raise ReplayError(f"step {node!r} has an invalid duration {duration!r}")
    return order, successors, indegree


def _cycle_message(
    order: Mapping[str, int], successors: Mapping[str, list[str]], done: Mapping[str, float]
) -> str:
    stuck = [n for n in order if n not in done]
    cycle = find_cycle(stuck, [(a, b) for a in stuck for b in successors[a] if b not in done])
    shown = " -> ".join(cycle) if cycle else ", ".join(stuck)
    return f"the steps form a cycle: {shown}"

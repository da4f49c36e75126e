"""Replay one recorded run with agent pools: what a bigger pool would have saved.

The run's leaf steps (containers unfolded: an edge to or from a container is an edge to
or from each step inside it) are list-scheduled with their recorded durations, under the
run's max_parallel_steps and every agent's pool size: a step on an agent starts only
when its dependencies have finished, a run slot is free and its agent has a free slot;
ready steps start in the order they became ready. Containers' own max_concurrency is
not modelled, so a gain from a bigger pool is an upper bound when a loop limits itself.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Mapping

from flowctl.state.records import RunRecord


def replay_with_pools(record: RunRecord, pools: Mapping[str, int]) -> float:
    """The makespan of `record`'s leaf steps under `pools` (agent -> size)."""
    children: dict[str, list[str]] = {}
    for step in record.steps:
        if step.parent is not None:
            children.setdefault(step.parent, []).append(step.id)
    leaves = [s for s in record.steps if s.id not in children and s.started_at is not None]
    if not leaves:
        return 0.0
    known = {s.id for s in leaves}

    def unfold(qid: str) -> list[str]:
        out, stack = [], [qid]
        while stack:
            node = stack.pop()
            if node in children:
                stack.extend(children[node])
            elif node in known:
                out.append(node)
        return out

    successors: dict[str, set[str]] = {s.id: set() for s in leaves}
    indegree = dict.fromkeys(successors, 0)
    for upstream, downstream in record.edges:
        for u in unfold(upstream):
            for v in unfold(downstream):
                if u != v and v not in successors[u]:
                    successors[u].add(v)
                    indegree[v] += 1
    order = {s.id: i for i, s in enumerate(leaves)}
    # A step on an agent takes the time of its attempts: its recorded duration also holds
    # the wait for a second agent after a failover, which the replay models itself.
    duration = {
        s.id: sum(a.duration for a in s.agent_attempts) if s.agent_attempts else max(s.duration, 0)
        for s in leaves
    }
    agent = {s.id: s.agent for s in leaves}
    slots = record.max_parallel_steps or math.inf
    free = {name: size for name, size in pools.items()}
    ready: list[tuple[float, int, str]] = [(0.0, order[n], n) for n, d in indegree.items() if not d]
    waiting: list[tuple[float, int, str]] = []  # ready, in order, not yet started
    running: list[tuple[float, int, str]] = []
    counter = itertools.count()
    now = 0.0
    busy = 0
    makespan = 0.0
    heapq.heapify(ready)
    while ready or waiting or running:
        while ready and ready[0][0] <= now:
            heapq.heappush(waiting, heapq.heappop(ready))
        kept = []
        while waiting:
            item = heapq.heappop(waiting)
            node = item[2]
            who = agent[node]
            if busy < slots and (who is None or free.get(who, math.inf) > 0):
                busy += 1
                if who is not None and who in free:
                    free[who] -= 1
                end = now + duration[node]
                heapq.heappush(running, (end, next(counter), node))
            else:
                kept.append(item)
        for item in kept:
            heapq.heappush(waiting, item)
        times = [t for t in (running[0][0] if running else None, ready[0][0] if ready else None)]
        upcoming = [t for t in times if t is not None]
        if not upcoming:
            break  # nothing can ever start (a pool of size 0): stop rather than spin
        now = max(now, min(upcoming))
        while running and running[0][0] <= now:
            end, _, node = heapq.heappop(running)
            makespan = max(makespan, end)
            busy -= 1
            who = agent[node]
            if who is not None and who in free:
                free[who] += 1
            for nxt in successors[node]:
                indegree[nxt] -= 1
                if indegree[nxt] == 0:
                    heapq.heappush(ready, (now, order[nxt], nxt))
    return makespan

"""Replay a workflow's levels the way the runner's scheduler runs them.

What the runner does (runner/engine/scheduler.py, stepexec.py, steps/loop.py), and so
what this replay does:

- a leaf step holds one of the run's `max_parallel_steps` slots while an attempt runs;
  between attempts (a retry's backoff) it holds none;
- a container (parallel, loop) holds no slot: its children are scheduled like steps and
  take slots of the same pool, so a container of four children under a limit of two
  runs them two at a time, beside whatever else wants a slot;
- a parallel container's `max_concurrency` is a token each child holds for its whole run,
  taken before the child asks for a slot;
- a loop runs its iterations in order on `min(max_concurrency, items)` workers, each
  iteration a copy of the loop's children;
- ready steps ask for a slot first come, first served; steps ready at the same instant go
  in file order, then iteration order.

Every step instance is an event; the work is O(n log n) in the step instances replayed.
A loop of more than MAX_ITERATIONS iterations is folded: MAX_ITERATIONS iterations are
replayed, each child taking iterations / MAX_ITERATIONS times its duration, so that the
loop's work and width stay what they are while its replay stays small.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from msgspec import Struct, field

if TYPE_CHECKING:
    from flowctl.optimize.model import Level

PARALLEL = "parallel"
LOOP = "loop"
MAX_ITERATIONS = 256


class Replayed(Struct, frozen=True):
    """One replay: when it ended, the most leaves running at once, when top steps ended."""

    makespan: float
    peak_running: int
    finish: Mapping[str, float]  # top-level steps, and the first instance of inner ones


class _Scope(Struct):
    """One run of a level: the top level, a parallel body, one loop iteration."""

    key: str | None
    iteration: int
    owner: _Container | None
    waiting: dict[str, int]
    left: int
    scale: float  # each replayed iteration of a folded loop stands for this many


class _Container(Struct):
    """A running container step: its scope(s), and for a parallel its concurrency tokens."""

    scope: _Scope  # the scope the container itself belongs to
    name: str
    tokens: float = math.inf
    queue: list[tuple[int, int, str]] = field(default_factory=list)  # children awaiting a token
    next_iteration: int = 0
    iterations: int = 0
    open_iterations: int = 0
    scale: float = 1.0  # of the container's children


class Simulation:
    """The replay of one set of levels with some durations and edges changed."""

    def __init__(
        self,
        levels: Mapping[str | None, Level],
        durations: Mapping[str, float],
        waits: Mapping[str, float],
        *,
        removed: frozenset[tuple[str, str]] = frozenset(),
        limit: int | None,
        opaque: frozenset[str] = frozenset(),
    ) -> None:
        self.levels = levels
        self.durations = durations
        self.waits = waits
        self.opaque = opaque  # containers replayed as one delay (their duration changed)
        self.slots = math.inf if limit is None else limit
        self.order: dict[str, int] = {}
        self.successors: dict[str, list[str]] = {}
        self.indegree: dict[str | None, dict[str, int]] = {}
        for key, level in levels.items():
            counts = dict.fromkeys(level.nodes, 0)
            for node in level.nodes:
                self.order.setdefault(node, len(self.order))
                self.successors.setdefault(node, [])
            for a, b in level.edges:
                if (a, b) in removed or a not in counts or b not in counts:
                    continue
                self.successors[a].append(b)
                counts[b] += 1
            self.indegree[key] = counts
        self.now = 0.0
        self.seq = itertools.count()
        self.events: list[tuple[float, int, int, _Scope, str]] = []  # kind 0: slot freed, 1: done
        self.ready: list[tuple[float, int, int, int, _Scope, str]] = []  # leaves awaiting a slot
        self.running = 0
        self.peak = 0
        self.finish: dict[str, float] = {}

    def run(self) -> Replayed:
        top = self._open(None, 0, None, 1.0)
        if top.left == 0:
            return Replayed(0.0, 0, {})
        self._dispatch()
        while self.events:
            self.now = self.events[0][0]
            while self.events and self.events[0][0] == self.now:
                _, _, kind, scope, node = heapq.heappop(self.events)
                if kind == 0:
                    self.running -= 1
                    wait = self.waits.get(node, 0.0) * scope.scale
                    if wait > 0:
                        self._at(self.now + wait, 1, scope, node)
                        continue
                self._done(scope, node)
            self._dispatch()
        return Replayed(self.now, self.peak, self.finish)

    # -- scopes ----------------------------------------------------------------------------

    def _open(
        self, key: str | None, iteration: int, owner: _Container | None, scale: float
    ) -> _Scope:
        level = self.levels[key]
        waiting = dict(self.indegree[key])
        scope = _Scope(key, iteration, owner, waiting, len(level.nodes), scale)
        for node in level.nodes:
            if waiting[node] == 0:
                self._ready(scope, node)
        return scope

    def _ready(self, scope: _Scope, node: str) -> None:
        owner = scope.owner
        if owner is not None and owner.tokens != math.inf:
            if owner.tokens < 1:
                heapq.heappush(owner.queue, (self.order[node], next(self.seq), node))
                return
            owner.tokens -= 1
        self._start(scope, node)

    def _start(self, scope: _Scope, node: str) -> None:
        level = self.levels.get(node)
        if level is None or node in self.opaque or not level.nodes:
            if level is None and node not in self.opaque:  # a leaf: it needs a slot
                order = self.order[node]
                heapq.heappush(
                    self.ready, (self.now, order, scope.iteration, next(self.seq), scope, node)
                )
                return
            self._at(self.now + self.durations.get(node, 0.0) * scope.scale, 1, scope, node)
            return
        container = _Container(scope, node, scale=scope.scale)
        if level.kind == LOOP:
            container.iterations = min(MAX_ITERATIONS, max(0, level.iterations))
            if level.iterations > MAX_ITERATIONS:
                container.scale *= level.iterations / MAX_ITERATIONS
            workers = max(1, min(level.concurrency or 1, container.iterations))
            for _ in range(min(workers, container.iterations)):
                self._next_iteration(container, node)
            if container.iterations == 0:
                self._at(self.now, 1, scope, node)
            return
        if level.concurrency is not None:
            container.tokens = level.concurrency
        self._open(node, scope.iteration, container, container.scale)

    def _next_iteration(self, container: _Container, key: str) -> None:
        index = container.next_iteration
        container.next_iteration += 1
        container.open_iterations += 1
        inner = self._open(key, index, container, container.scale)
        if inner.left == 0:
            self._closed(inner)

    def _done(self, scope: _Scope, node: str) -> None:
        self.finish.setdefault(node, self.now)
        owner = scope.owner
        if owner is not None and owner.tokens != math.inf:
            owner.tokens += 1
            if owner.queue:
                owner.tokens -= 1
                _, _, waiting = heapq.heappop(owner.queue)
                self._start(scope, waiting)
        for nxt in self.successors[node]:
            count = scope.waiting[nxt] - 1
            scope.waiting[nxt] = count
            if count == 0:
                self._ready(scope, nxt)
        scope.left -= 1
        if scope.left == 0:
            self._closed(scope)

    def _closed(self, scope: _Scope) -> None:
        """Every step of the scope finished: its container (or iteration) is done."""
        owner = scope.owner
        if owner is None:
            return
        level = self.levels[scope.key]
        if level.kind == LOOP:
            owner.open_iterations -= 1
            if owner.next_iteration < owner.iterations:
                self._next_iteration(owner, owner.name)
                return
            if owner.open_iterations > 0:
                return
        self._done(owner.scope, owner.name)

    # -- slots -----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        while self.ready and self.running < self.slots:
            _, _, _, _, scope, node = heapq.heappop(self.ready)
            self.running += 1
            self._at(self.now + self.durations.get(node, 0.0) * scope.scale, 0, scope, node)
        self.peak = max(self.peak, self.running)

    def _at(self, when: float, kind: int, scope: _Scope, node: str) -> None:
        heapq.heappush(self.events, (when, next(self.seq), kind, scope, node))

"""The replay model of a workflow: median step durations on its DAG, level by level.

Top-level steps are replayed under the run's concurrency limit. A container (parallel or
loop) is one node of its level whose duration is what was measured; when a change touches
its children, the children's own DAG is replayed before and after the change and the
container's duration moves by the difference (times the number of sequential rounds of a
loop). Every `expected_improvement` is a makespan of this model with a Change applied.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from flowctl.optimize.replay import replay_makespan

_NO_DURATIONS: Mapping[str, float] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Level:
    """The steps directly inside one container (None: the top level) and their edges."""

    container: str | None
    nodes: tuple[str, ...]
    edges: frozenset[tuple[str, str]]
    max_parallel: int | None  # None: no limit
    rounds: float = 1.0  # times the level runs back to back inside its container (loops)


@dataclass(frozen=True, slots=True)
class Change:
    """What a recommendation changes: step durations, dropped edges, the concurrency limit."""

    durations: Mapping[str, float] = field(default_factory=lambda: _NO_DURATIONS)
    removed_edges: frozenset[tuple[str, str]] = frozenset()
    max_parallel: int | None = None
    sets_max_parallel: bool = False  # max_parallel above is meant (None = no limit)

    def combine(self, other: Change) -> Change:
        """Both changes at once: the shorter duration, every dropped edge, the larger limit."""
        durations = dict(self.durations)
        for node, value in other.durations.items():
            durations[node] = min(value, durations.get(node, value))
        limit, sets = self.max_parallel, self.sets_max_parallel
        if other.sets_max_parallel:
            if not sets:
                limit, sets = other.max_parallel, True
            elif limit is not None:
                limit = None if other.max_parallel is None else max(limit, other.max_parallel)
        return Change(
            durations=MappingProxyType(durations),
            removed_edges=self.removed_edges | other.removed_edges,
            max_parallel=limit,
            sets_max_parallel=sets,
        )


class DagModel:
    """Median durations on a hierarchy of levels; `makespan(change)` replays it."""

    def __init__(self, levels: Mapping[str | None, Level], durations: Mapping[str, float]):
        self.levels = dict(levels)
        self.durations = dict(durations)
        self.parent: dict[str, str | None] = {
            node: level.container for level in self.levels.values() for node in level.nodes
        }
        self._depth = {key: self._level_depth(key) for key in self.levels}
        self._base: dict[str | None, float] = {}
        self.baseline = self.makespan(Change())

    @property
    def top(self) -> Level:
        return self.levels[None]

    def makespan(self, change: Change) -> float:
        """The top-level makespan with `change` applied (propagated up through containers)."""
        overrides = dict(change.durations)
        pending = {self.parent.get(node) for node in overrides}
        pending.update(self.parent.get(a) for a, _ in change.removed_edges)
        pending.discard(None)
        # Deepest level first, so a container's new duration is known before its own level.
        while pending:
            key = max(pending, key=lambda k: self._depth.get(k, 0))
            pending.remove(key)
            level = self.levels.get(key)
            if level is None or key is None:
                continue
            before = self._level_base(key)
            after = self._replay(level, overrides, change.removed_edges, level.max_parallel)
            saved = (before - after) * level.rounds
            current = overrides.get(key, self.durations.get(key, 0.0))
            overrides[key] = max(0.0, current - saved)
            pending.add(self.parent.get(key))
            pending.discard(None)
        top = self.top
        limit = change.max_parallel if change.sets_max_parallel else top.max_parallel
        return self._replay(top, overrides, change.removed_edges, limit)

    def improvement(self, change: Change, *, baseline: float | None = None) -> float:
        """Percent of the baseline makespan saved by `change` (0 when nothing is saved)."""
        return self.improvement_of(self.makespan(change), baseline=baseline)

    def improvement_of(self, makespan: float, *, baseline: float | None = None) -> float:
        """Percent of the baseline makespan saved by a replay that took `makespan`."""
        base = self.baseline if baseline is None else baseline
        if base <= 0:
            return 0.0
        return max(0.0, 100.0 * (base - makespan) / base)

    def with_durations(self, durations: Mapping[str, float]) -> float:
        """The makespan when some steps take other durations (a scenario, not a change)."""
        return self.makespan(Change(durations=durations))

    def _level_base(self, key: str | None) -> float:
        if key not in self._base:
            level = self.levels[key]
            self._base[key] = self._replay(level, {}, frozenset(), level.max_parallel)
        return self._base[key]

    def _replay(
        self,
        level: Level,
        overrides: Mapping[str, float],
        removed: frozenset[tuple[str, str]],
        limit: int | None,
    ) -> float:
        durations = {n: overrides.get(n, self.durations.get(n, 0.0)) for n in level.nodes}
        edges = [e for e in level.edges if e not in removed] if removed else level.edges
        return replay_makespan(durations, edges, limit)

    def _level_depth(self, key: str | None) -> int:
        depth = 0
        seen: set[str] = set()
        while key is not None and key not in seen:
            seen.add(key)
            key = self.parent.get(key)
            depth += 1
        return depth


def loop_rounds(iterations: float, concurrency: int) -> float:
    """Sequential rounds of a loop of `iterations` with `concurrency` running at once."""
    if iterations <= 0:
        return 0.0
    return float(math.ceil(round(iterations, 6) / max(1, concurrency)))
